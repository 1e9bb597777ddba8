//! The Basic authorization header and the API key format: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_ledger::api::credentials::parse_basic;
use session_ledger::secrets::company_of_key;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((key, _secret)) = parse_basic(header) {
        let _ = company_of_key(&key);
    }
    let _ = company_of_key(header);
});
