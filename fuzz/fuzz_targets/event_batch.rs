//! The operator's event batches: any body is either a list of events or a
//! 400 naming what is wrong — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_ledger::api::operator::parse_events;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = parse_events(data) {
        for (_, event) in events {
            // What parsed serializes again.
            serde_json::to_string(&event).unwrap();
        }
    }
});
