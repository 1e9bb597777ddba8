//! What the providers' schemes share: HMAC-SHA256, constant-time
//! comparison, the age window, and reading their JSON's numbers and times.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{MAX_AGE_SECONDS, Malformed, Refusal};
use crate::domain::Timestamp;

pub(super) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Compares a presented signature with the expected one in constant time.
pub(super) fn matches(presented: &[u8], expected: &[u8]) -> Result<(), Refusal> {
    if bool::from(presented.ct_eq(expected)) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

/// A request signed at `seconds` (Unix time) is fresh within
/// [`MAX_AGE_SECONDS`] either way of now.
pub(super) fn fresh(seconds: i64, now: Timestamp) -> Result<(), Refusal> {
    let now_seconds = now.as_micros().div_euclid(1_000_000);
    let age = now_seconds.checked_sub(seconds).map(i64::unsigned_abs);
    if age.is_some_and(|age| age <= MAX_AGE_SECONDS.unsigned_abs()) {
        Ok(())
    } else {
        Err(Refusal::Stale)
    }
}

/// A Unix time in seconds as a header carries it.
pub(super) fn header_seconds(value: Option<&str>) -> Result<i64, Refusal> {
    let value = value.ok_or(Refusal::Missing)?.trim();
    let seconds: i64 = value.parse().map_err(|_| Refusal::Missing)?;
    // Thirteen digits are milliseconds.
    Ok(if seconds > 100_000_000_000 {
        seconds / 1000
    } else {
        seconds
    })
}

/// A string field of a JSON object, by path.
pub(super) fn text<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    at(value, path)?.as_str()
}

pub(super) fn at<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

/// A required string field, or the error naming it.
pub(super) fn required<'a>(
    value: &'a serde_json::Value,
    path: &[&str],
) -> Result<&'a str, Malformed> {
    text(value, path)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Malformed(format!("{} is missing", path.join("."))))
}

/// An integer sent as a JSON number or a string of digits (protobuf JSON
/// writes 64-bit integers as strings).
pub(super) fn integer(value: &serde_json::Value, path: &[&str]) -> Option<i64> {
    match at(value, path)? {
        serde_json::Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|f| f as i64)),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Seconds as a JSON number, fractions kept to the microsecond.
pub(super) fn seconds_field(value: &serde_json::Value, path: &[&str]) -> Option<Timestamp> {
    match at(value, path)? {
        serde_json::Value::Number(number) => {
            let micros = (number.as_f64()? * 1_000_000.0).round();
            // Out of i64's range (or NaN) the cast would saturate: refused
            // by the calendar's range instead.
            if !(micros.is_finite() && micros.abs() < 9.0e18) {
                return None;
            }
            Timestamp::from_micros_in_calendar(micros as i64)
        }
        serde_json::Value::String(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|seconds| seconds.checked_mul(1_000_000))
            .and_then(Timestamp::from_micros_in_calendar),
        _ => None,
    }
}

/// Milliseconds since the epoch.
pub(super) fn millis_field(value: &serde_json::Value, path: &[&str]) -> Option<Timestamp> {
    integer(value, path)
        .and_then(|millis| millis.checked_mul(1000))
        .and_then(Timestamp::from_micros_in_calendar)
}

/// An ISO-8601 time (`2021-01-21T16:29:59.681Z`).
pub(super) fn iso_field(value: &serde_json::Value, path: &[&str]) -> Option<Timestamp> {
    Timestamp::parse(text(value, path)?).ok()
}

/// A time, or the error naming its field.
pub(super) fn time(found: Option<Timestamp>, name: &str) -> Result<Timestamp, Malformed> {
    found.ok_or_else(|| Malformed(format!("{name} is missing or not a time")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_fresh_for_five_minutes_either_way() {
        let now = Timestamp::from_micros(1_700_000_000 * 1_000_000);
        assert_eq!(fresh(1_700_000_000 - 300, now), Ok(()));
        assert_eq!(fresh(1_700_000_000 + 300, now), Ok(()));
        assert_eq!(fresh(1_700_000_000 - 301, now), Err(Refusal::Stale));
        assert_eq!(fresh(1_700_000_000 + 301, now), Err(Refusal::Stale));
        assert_eq!(fresh(i64::MIN, now), Err(Refusal::Stale));
        assert_eq!(fresh(i64::MAX, now), Err(Refusal::Stale));
    }

    /// Found by the `provider_webhook` fuzz target: a string of seconds
    /// whose microseconds overflow i64 panicked in debug builds (and
    /// wrapped silently in release ones).
    #[test]
    fn times_outside_the_calendar_are_not_times() {
        let value = serde_json::json!({
            "s": "9223372036854775807",
            "f": 1e300,
            "n": -1e300,
            "m": i64::MAX,
            "y": "253402300800",
            "ok": "253402300799",
        });
        assert_eq!(seconds_field(&value, &["s"]), None);
        assert_eq!(seconds_field(&value, &["f"]), None);
        assert_eq!(seconds_field(&value, &["n"]), None);
        assert_eq!(millis_field(&value, &["m"]), None);
        assert_eq!(seconds_field(&value, &["y"]), None, "year 10000");
        assert_eq!(
            seconds_field(&value, &["ok"]),
            Some(Timestamp::from_micros(253_402_300_799_000_000))
        );
    }

    #[test]
    fn protobuf_integers_may_be_strings() {
        let value = serde_json::json!({"a": "1692627290", "b": 7, "c": {"d": 1.5}});
        assert_eq!(integer(&value, &["a"]), Some(1_692_627_290));
        assert_eq!(integer(&value, &["b"]), Some(7));
        assert_eq!(
            seconds_field(&value, &["c", "d"]),
            Some(Timestamp::from_micros(1_500_000))
        );
        assert_eq!(integer(&value, &["missing"]), None);
    }
}
