//! UTC instants kept to the microsecond, in the wire form of SPEC §1:
//! `yyyy-MM-ddTHH:mm:ss[.f]` with trailing fraction zeros removed and no zone.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month as TimeMonth, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// An instant in UTC, stored as microseconds since the Unix epoch — the one
/// portable form both databases keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a timestamp of the form yyyy-MM-ddTHH:mm:ss[.ffffff][Z|±hh:mm] (1 to 6 fraction digits)"
)]
pub struct TimestampError {
    input: String,
}

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// An instant given from outside (a provider's number), kept only when
    /// it falls within years 0000–9999 UTC, the range every timestamp is
    /// written in.
    pub fn from_micros_in_calendar(micros: i64) -> Option<Self> {
        const FIRST: i64 = -62_167_219_200 * MICROS_PER_SECOND;
        const LAST: i64 = 253_402_300_800 * MICROS_PER_SECOND - 1;
        (FIRST..=LAST).contains(&micros).then_some(Self(micros))
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        Self::from_offset_date_time(OffsetDateTime::now_utc())
    }

    pub fn from_offset_date_time(value: OffsetDateTime) -> Self {
        let micros = value.unix_timestamp_nanos() / 1_000;
        Self(micros as i64)
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .expect("stored timestamps are within the supported range")
    }

    /// Midnight UTC at the start of `date`.
    pub fn start_of(date: Date) -> Self {
        Self::from_offset_date_time(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc())
    }

    pub fn plus_minutes(self, minutes: i64) -> Self {
        Self(
            self.0
                .saturating_add(minutes.saturating_mul(60 * MICROS_PER_SECOND)),
        )
    }

    /// This instant with its fraction of a second dropped.
    pub fn whole_second(self) -> Self {
        Self(self.0 - self.0.rem_euclid(MICROS_PER_SECOND))
    }

    /// Seconds and fraction both zero, minute on a quarter hour: the only
    /// instants a scheduled session may start at.
    pub fn is_quarter_hour(self) -> bool {
        self.0.rem_euclid(15 * 60 * MICROS_PER_SECOND) == 0
    }

    pub fn parse(input: &str) -> Result<Self, TimestampError> {
        parse_timestamp(input.trim()).ok_or_else(|| TimestampError {
            input: input.to_owned(),
        })
    }
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let bytes = s.as_bytes();
    if bytes.len() < 19 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let date = parse_date(s.get(..10)?)?;
    let hour = two_digits(&bytes[11..13])?;
    let minute = two_digits(&bytes[14..16])?;
    let second = two_digits(&bytes[17..19])?;
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        // Instants are kept to the microsecond: a finer one is refused
        // rather than silently moved.
        if digits == 0 || digits > 6 {
            return None;
        }
        let kept = &fraction[..digits];
        micros = kept.parse::<i64>().ok()? * 10i64.pow(6 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => parse_offset(rest)?,
    };
    let time = Time::from_hms(hour, minute, second).ok()?;
    let instant = PrimitiveDateTime::new(date, time).assume_offset(offset);
    // An offset can carry the instant past 9999-12-31 or before 0000-01-01
    // in UTC, where no timestamp can be written (found by schemathesis: it
    // was stored, then panicked when written out).
    let utc = instant
        .checked_to_offset(UtcOffset::UTC)
        .filter(|utc| (0..=9999).contains(&utc.year()))?;
    Some(Timestamp(Timestamp::from_offset_date_time(utc).0 + micros))
}

fn parse_offset(s: &str) -> Option<UtcOffset> {
    let bytes = s.as_bytes();
    let sign: i8 = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = match bytes.len() {
        6 if bytes[3] == b':' => (two_digits(&bytes[1..3])?, two_digits(&bytes[4..6])?),
        5 => (two_digits(&bytes[1..3])?, two_digits(&bytes[3..5])?),
        3 => (two_digits(&bytes[1..3])?, 0),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * hours as i8, sign * minutes as i8, 0).ok()
}

fn two_digits(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

/// Parses exactly `yyyy-mm-dd` into a calendar date, rejecting impossible ones.
pub fn parse_date(s: &str) -> Option<Date> {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i32 = s[..4]
        .parse()
        .ok()
        .filter(|_| bytes[..4].iter().all(u8::is_ascii_digit))?;
    let month = TimeMonth::try_from(two_digits(&bytes[5..7])?).ok()?;
    let day = two_digits(&bytes[8..10])?;
    Date::from_calendar_date(year, month, day).ok()
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.to_offset_date_time();
        let Ok(year) = u32::try_from(value.year()) else {
            return self.fmt_slowly(f);
        };
        if year > 9999 {
            return self.fmt_slowly(f);
        }
        // Digit by digit into a buffer: a History answer writes two of
        // these a row, and `write!` with widths was most of the encoding.
        let mut text = *b"0000-00-00T00:00:00.000000";
        let mut put = |end: usize, width: usize, mut number: u32| {
            for digit in text[end - width..end].iter_mut().rev() {
                *digit = b'0' + (number % 10) as u8;
                number /= 10;
            }
        };
        put(4, 4, year);
        put(7, 2, u32::from(u8::from(value.month())));
        put(10, 2, u32::from(value.day()));
        put(13, 2, u32::from(value.hour()));
        put(16, 2, u32::from(value.minute()));
        put(19, 2, u32::from(value.second()));
        let micros = self.0.rem_euclid(MICROS_PER_SECOND) as u32;
        let mut length = 19;
        if micros != 0 {
            put(26, 6, micros);
            length = 26;
            while text[length - 1] == b'0' {
                length -= 1;
            }
        }
        f.write_str(std::str::from_utf8(&text[..length]).expect("ASCII"))
    }
}

impl Timestamp {
    /// The same form with `write!`, for years outside 0000–9999 (never
    /// stored: parsing refuses them).
    fn fmt_slowly(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.to_offset_date_time();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            value.year(),
            u8::from(value.month()),
            value.day(),
            value.hour(),
            value.minute(),
            value.second()
        )?;
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        if micros != 0 {
            let digits = format!("{micros:06}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn written_digit_by_digit_as_write_would(micros in -62_167_219_200_000_000i64..253_402_300_800_000_000) {
            let stamp = Timestamp::from_micros(micros);
            let mut slow = String::new();
            fmt::write(&mut slow, format_args!("{}", Slowly(stamp))).unwrap();
            proptest::prop_assert_eq!(stamp.to_string(), slow);
        }
    }

    struct Slowly(Timestamp);

    impl fmt::Display for Slowly {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_slowly(f)
        }
    }

    #[test]
    fn writes_whole_seconds_without_a_fraction_and_trims_its_zeros() {
        assert_eq!(ts("2016-11-03T21:46:16").to_string(), "2016-11-03T21:46:16");
        assert_eq!(
            ts("2016-11-03T21:46:16.1").to_string(),
            "2016-11-03T21:46:16.1"
        );
        assert_eq!(
            ts("0001-01-01T00:00:00.000001").to_string(),
            "0001-01-01T00:00:00.000001"
        );
        assert_eq!(
            ts("9999-12-31T23:59:59.99999").to_string(),
            "9999-12-31T23:59:59.99999"
        );
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn refuses_offsets_that_leave_the_writable_years() {
        assert!(Timestamp::from_micros_in_calendar(i64::MAX).is_none());
        assert!(Timestamp::from_micros_in_calendar(i64::MIN).is_none());
        let last = ts("9999-12-31T23:59:59.999999").as_micros();
        let first = ts("0000-01-01T00:00:00").as_micros();
        assert!(Timestamp::from_micros_in_calendar(last).is_some());
        assert!(Timestamp::from_micros_in_calendar(last + 1).is_none());
        assert!(Timestamp::from_micros_in_calendar(first).is_some());
        assert!(Timestamp::from_micros_in_calendar(first - 1).is_none());
        for input in ["9999-12-31T23:45:00-05:00", "0000-01-01T00:00:00+05:00"] {
            assert!(Timestamp::parse(input).is_err(), "{input}");
        }
        assert_eq!(
            ts("9999-12-31T18:45:00-05:00").to_string(),
            "9999-12-31T23:45:00"
        );
        assert_eq!(
            ts("0000-01-01T05:00:00+05:00").to_string(),
            "0000-01-01T00:00:00"
        );
    }

    #[test]
    fn formats_the_seed_examples_exactly() {
        for text in [
            "2016-11-03T21:46:16.1",
            "2016-11-03T21:45:09.467",
            "2016-11-03T22:00:00",
            "2016-11-03T21:56:30.72",
            "2016-11-03T21:56:30.000001",
        ] {
            assert_eq!(ts(text).to_string(), text);
        }
    }

    #[test]
    fn drops_trailing_zeros_and_whole_second_fractions() {
        assert_eq!(
            ts("2016-11-03T21:46:16.100").to_string(),
            "2016-11-03T21:46:16.1"
        );
        assert_eq!(
            ts("2016-11-03T21:46:16.000").to_string(),
            "2016-11-03T21:46:16"
        );
    }

    #[test]
    fn converts_zones_to_utc() {
        assert_eq!(ts("2016-11-03T21:46:16Z"), ts("2016-11-03T21:46:16"));
        assert_eq!(ts("2016-11-03T23:46:16+02:00"), ts("2016-11-03T21:46:16"));
        assert_eq!(
            ts("2016-11-03T16:46:16.5-0500"),
            ts("2016-11-03T21:46:16.5")
        );
    }

    #[test]
    fn keeps_microseconds_and_refuses_finer_digits() {
        assert_eq!(ts("1970-01-01T00:00:01.000001").as_micros(), 1_000_001);
        for finer in [
            "1970-01-01T00:00:01.0000019",
            "2016-11-03T21:46:16.1234567",
            "2016-11-03T21:46:16.1000000",
            "2016-11-03T21:46:16.123456789Z",
        ] {
            let error = Timestamp::parse(finer).unwrap_err();
            assert!(
                error.to_string().contains("1 to 6 fraction digits"),
                "{error}"
            );
        }
        assert_eq!(ts("1969-12-31T23:59:59.5").as_micros(), -500_000);
        assert_eq!(
            ts("1969-12-31T23:59:59.5").to_string(),
            "1969-12-31T23:59:59.5"
        );
    }

    #[test]
    fn rejects_malformed_and_impossible_input() {
        for bad in [
            "",
            "2016-11-03",
            "2016-13-03T00:00:00",
            "2016-02-30T00:00:00",
            "2016-11-03T24:00:00",
            "2016-11-03T21:60:00",
            "2016-11-03T21:46:16.",
            "2016-11-03T21:46:16+25:00",
            "2016-11-03T21:46:16 garbage",
            "+016-11-03T21:46:16",
            "２016-11-03T21:46:16",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn knows_quarter_hours() {
        assert!(ts("2016-11-03T22:00:00").is_quarter_hour());
        assert!(ts("2016-11-03T22:45:00").is_quarter_hour());
        assert!(!ts("2016-11-03T22:10:00").is_quarter_hour());
        assert!(!ts("2016-11-03T22:00:00.1").is_quarter_hour());
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(micros in -2_000_000_000_000_000i64..32_000_000_000_000_000i64) {
            let value = Timestamp::from_micros(micros);
            proptest::prop_assert_eq!(Timestamp::parse(&value.to_string()).unwrap(), value);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = Timestamp::parse(&input);
        }
    }
}
