//! The video providers' webhooks: any body, under any provider, is read as
//! notices, an ignored event or a 400 naming what is wrong, and any headers
//! are a signature that checks or a refusal — never a panic.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use session_ledger::config::{ProviderSecrets, Secret};
use session_ledger::domain::Timestamp;
use session_ledger::providers::Provider;

fuzz_target!(|data: &[u8]| {
    let secret = |text: &str| Some(Secret::from(text.to_owned()));
    let secrets = ProviderSecrets {
        livekit_api_key: Some("key".to_owned()),
        livekit_api_secret: secret("secret"),
        daily_webhook_secret: secret("c2VjcmV0"),
        zoom_secret_token: secret("secret"),
        vonage_signature_secret: secret("secret"),
        whereby_webhook_secret: secret("secret"),
    };
    // The first line is a header value, the rest the body.
    let (head, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (&[][..], data),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(head) {
        for name in [
            "authorization",
            "x-webhook-signature",
            "x-webhook-timestamp",
            "x-zm-signature",
            "x-zm-request-timestamp",
            "whereby-signature",
        ] {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    for provider in Provider::ALL {
        let _ = provider.verify(&secrets, &headers, body, Timestamp::now());
        let _ = provider.parse(&secrets, body);
    }
});
