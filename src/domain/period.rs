//! The date filters of the History and Usage APIs: a UTC month, or a range of
//! whole UTC days, each a half-open interval of instants.

use std::fmt;

use time::Date;

use super::timestamp::{Timestamp, parse_date};

/// A calendar month in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first_day: Date,
}

impl Month {
    /// Accepts `yyyy-mm-dd` (any valid day selects its month) or `yyyy-mm`.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        let date = match input.len() {
            7 => parse_date(&format!("{input}-01"))?,
            _ => parse_date(input)?,
        };
        Some(Self::containing(date))
    }

    pub fn containing(date: Date) -> Self {
        Self {
            first_day: date.replace_day(1).expect("day 1 exists in every month"),
        }
    }

    pub fn first_day(self) -> Date {
        self.first_day
    }

    pub fn start(self) -> Timestamp {
        Timestamp::start_of(self.first_day)
    }

    /// The first instant after the month. Counted in days rather than built
    /// as a date, so the end of December 9999 exists too.
    pub fn end(self) -> Timestamp {
        let days = time::util::days_in_month(self.first_day.month(), self.first_day.year());
        Timestamp::from_micros(self.start().as_micros() + i64::from(days) * MICROS_PER_DAY)
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl fmt::Display for Month {
    /// `yyyy-mm-01`, the form the seed documents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-01",
            self.first_day.year(),
            u8::from(self.first_day.month())
        )
    }
}

/// A half-open interval of instants `[start, end)`; either side may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl Period {
    pub fn month(month: Month) -> Self {
        Self {
            start: Some(month.start()),
            end: Some(month.end()),
        }
    }

    /// From midnight starting `start_day` to the midnight ending `end_day`,
    /// both days included.
    pub fn days(start_day: Option<Date>, end_day: Option<Date>) -> Self {
        Self {
            start: start_day.map(Timestamp::start_of),
            end: end_day.map(|day| match day.next_day() {
                Some(next) => Timestamp::start_of(next),
                None => Timestamp::from_micros(i64::MAX),
            }),
        }
    }

    pub fn is_unbounded(self) -> bool {
        self.start.is_none() && self.end.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_accepts_any_day_and_the_short_form() {
        let feb = Month::parse("2016-02-01").unwrap();
        assert_eq!(Month::parse("2016-02-29"), Some(feb));
        assert_eq!(Month::parse("2016-02"), Some(feb));
        assert_eq!(feb.to_string(), "2016-02-01");
        assert_eq!(feb.start().to_string(), "2016-02-01T00:00:00");
        assert_eq!(feb.end().to_string(), "2016-03-01T00:00:00");
    }

    #[test]
    fn december_ends_at_the_next_new_year() {
        let dec = Month::parse("2016-12-15").unwrap();
        assert_eq!(dec.end().to_string(), "2017-01-01T00:00:00");
    }

    #[test]
    fn the_last_month_of_the_calendar_has_an_end() {
        // Found by fuzzing: the end of 9999-12 is no representable date.
        let last = Month::parse("9999-12-12").unwrap();
        assert_eq!(
            last.end().as_micros() - last.start().as_micros(),
            31 * MICROS_PER_DAY
        );
        let february = Month::parse("2016-02").unwrap();
        assert_eq!(february.end().to_string(), "2016-03-01T00:00:00");
    }

    #[test]
    fn month_rejects_impossible_input() {
        for bad in [
            "2016-13-01",
            "2016-02-30",
            "2016-00",
            "2016",
            "16-02-01",
            "2016-2-1",
            "x",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_range_includes_the_end_day() {
        let start = parse_date("2016-11-03");
        let end = parse_date("2016-11-04");
        let period = Period::days(start, end);
        assert_eq!(period.start.unwrap().to_string(), "2016-11-03T00:00:00");
        assert_eq!(period.end.unwrap().to_string(), "2016-11-05T00:00:00");
    }
}
