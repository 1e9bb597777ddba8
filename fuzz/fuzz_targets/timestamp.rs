//! Timestamps: never a panic, and whatever parses prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_ledger::domain::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Timestamp::parse(text) {
        let printed = parsed.to_string();
        assert_eq!(
            Timestamp::parse(&printed).unwrap(),
            parsed,
            "{text:?} -> {printed}"
        );
    }
});
