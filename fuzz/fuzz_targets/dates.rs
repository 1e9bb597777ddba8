//! Months and days of the History and Usage filters: never a panic; a parsed
//! month prints as its first day and contains what it was parsed from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_ledger::domain::Month;
use session_ledger::domain::timestamp::parse_date;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(month) = Month::parse(text) {
        assert_eq!(Month::parse(&month.to_string()), Some(month));
        assert!(month.start() < month.end());
    }
    if let Some(day) = parse_date(text) {
        assert_eq!(Month::containing(day).first_day().month(), day.month());
    }
});
