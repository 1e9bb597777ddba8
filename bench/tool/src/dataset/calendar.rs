//! Dates and the log's timestamps, without a date library.

use super::Rng;

pub(super) const SECOND: i64 = 1_000_000;
pub(super) const MINUTE: i64 = 60 * SECOND;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds since the epoch as the log's timestamp (milliseconds kept).
pub fn format_ts(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let millis = micros.rem_euclid(1_000_000) / 1_000;
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let rest = seconds.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if millis == 0 {
        base
    } else {
        let fraction = format!("{millis:03}");
        format!("{base}.{}", fraction.trim_end_matches('0'))
    }
}

pub(super) fn quarter_hour_in(rng: &mut Rng, year: i32, month: u32) -> i64 {
    let day = rng.range(1, 29) as u32;
    let hour = rng.range(8, 18) as i64;
    let quarter = rng.range(0, 4) as i64;
    let days = days_from_civil(year, month, day);
    (days * 86_400 + hour * 3600 + quarter * 900) * SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2025, 6, 30)), (2025, 6, 30));
        let micros = (days_from_civil(2016, 11, 3) * 86_400 + 21 * 3600 + 45 * 60 + 9) * SECOND;
        assert_eq!(format_ts(micros + 467_000), "2016-11-03T21:45:09.467");
        assert_eq!(format_ts(micros + 100_000), "2016-11-03T21:45:09.1");
        assert_eq!(format_ts(micros), "2016-11-03T21:45:09");
    }
}
