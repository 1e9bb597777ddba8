//! Import lines: any line either parses as a log record, which writes back
//! to a line that parses to the same record, or is refused — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_ledger::records::LogLine;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = serde_json::from_slice::<LogLine>(data) {
        let written = serde_json::to_string(&line).unwrap();
        let again: LogLine = serde_json::from_str(&written).unwrap();
        assert_eq!(again, line);
    }
});
