//! Outbound webhooks' rules (SPEC §13): the types a tenant subscribes to,
//! which URLs and addresses may be called, the SecureVideo envelope, the
//! Standard Webhooks signature and the retry schedule. No I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Timestamp;

/// What a webhook tells (SecureVideo's `WebhookType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookType {
    SessionStatus,
    SessionBilling,
    UsageThreshold,
}

impl WebhookType {
    pub const ALL: [WebhookType; 3] = [
        WebhookType::SessionStatus,
        WebhookType::SessionBilling,
        WebhookType::UsageThreshold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionStatus => "SESSION_STATUS",
            Self::SessionBilling => "SESSION_BILLING",
            Self::UsageThreshold => "USAGE_THRESHOLD",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The subscribed types as given: absent means every type; each must be
/// known; repeats count once. The error names what is wrong.
pub fn parse_types(given: Option<Vec<String>>) -> Result<Vec<WebhookType>, String> {
    let Some(given) = given else {
        return Ok(WebhookType::ALL.to_vec());
    };
    if given.is_empty() {
        return Err("Types must name at least one type (or be left out for all)".into());
    }
    let mut types = Vec::new();
    for text in &given {
        let kind = WebhookType::parse(text.trim()).ok_or_else(|| {
            format!(
                "Types: '{text}' is not a webhook type (SESSION_STATUS, SESSION_BILLING, USAGE_THRESHOLD)"
            )
        })?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    types.sort();
    Ok(types)
}

/// Types as stored: each between commas (`,SESSION_STATUS,`), so that
/// `LIKE '%,TYPE,%'` finds the subscribers of a type on both databases.
pub fn types_column(types: &[WebhookType]) -> String {
    let mut column = String::from(",");
    for kind in types {
        column.push_str(kind.as_str());
        column.push(',');
    }
    column
}

pub fn types_from_column(column: &str) -> Vec<WebhookType> {
    column.split(',').filter_map(WebhookType::parse).collect()
}

/// What the operator allows beyond public `https` endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// The longest URL an endpoint may have.
pub const MOST_URL_CHARS: usize = 2048;

/// Checks an endpoint URL as registered: `https` (or `http` when allowed),
/// a host, no credentials, and, when the host is an address (or
/// `localhost`), one that may be called. A host name is checked again after
/// DNS resolution at every delivery ([`refused_address`]).
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("Url is required".into());
    }
    if raw.chars().count() > MOST_URL_CHARS {
        return Err(format!("Url is longer than {MOST_URL_CHARS} characters"));
    }
    let url = url::Url::parse(raw).map_err(|error| format!("Url is not a valid URL: {error}"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err("Url must use https".into()),
        other => return Err(format!("Url must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Url must not carry a user name or password".into());
    }
    let refused = match url.host() {
        None => return Err("Url has no host".into()),
        Some(url::Host::Ipv4(ip)) => refused_address(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => refused_address(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost")).then_some("loopback")
        }
    };
    match refused {
        Some(kind) if !policy.allow_private => Err(format!(
            "Url's host is a {kind} address; only public addresses may be called"
        )),
        _ => Ok(url),
    }
}

/// Why an address may not be called without `--webhook-allow-private`:
/// what is not on the public internet (loopback, private, link-local and
/// so cloud metadata at 169.254.169.254, CGNAT, unique-local, unspecified,
/// multicast, reserved), also when written as an IPv4-mapped IPv6 address.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => refused_v4(mapped),
            None => refused_v6(ip),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the cloud metadata service.
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast()
        || ip.is_multicast()
        || a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        // Multicast, broadcast, IETF protocol assignments, benchmarking.
        Some("reserved")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("reserved")
    } else if let Some(embedded) = ip.to_ipv4() {
        // IPv4-compatible (::a.b.c.d) and NAT64 forms reach IPv4 addresses.
        refused_v4(embedded)
    } else if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., c, d] = ip.segments();
        refused_v4(Ipv4Addr::new(
            (c >> 8) as u8,
            c as u8,
            (d >> 8) as u8,
            d as u8,
        ))
    } else {
        None
    }
}

/// SecureVideo's webhook envelope. Attribute values are strings (or null),
/// as in SecureVideo's documentation.
pub fn envelope(
    kind: WebhookType,
    id: i64,
    status: Option<&str>,
    event_ts: Timestamp,
    attributes: &[(&str, Option<String>)],
) -> Value {
    let attributes: Vec<Value> = attributes
        .iter()
        .map(|(name, value)| json!({"AttributeName": name, "AttributeValue": value}))
        .collect();
    json!({
        "WebhookType": kind.as_str(),
        "ID": id,
        "Status": status,
        "EventTs": event_ts.to_string(),
        "Attributes": attributes,
    })
}

/// The prefix of a signing secret (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

/// The key a secret stands for: the base64 after `whsec_`.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    BASE64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` header of a message: `v1,` and the base64
/// HMAC-SHA256 of `id.timestamp.body` under the secret's key.
pub fn signature(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The `webhook-id` of an outbox message: the same on every attempt and
/// for every endpoint it goes to.
pub fn message_id(event_id: i64) -> String {
    format!("msg_{event_id}")
}

/// The longest wait between two attempts.
pub const MOST_RETRY_DELAY: Duration = Duration::from_secs(3_600);

/// An endpoint failing without a break for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3_600);

/// The wait after the `attempts`-th failed attempt: `base` doubled each
/// time, at most [`MOST_RETRY_DELAY`], with half of it random (`jitter` in
/// `[0, 1)`), so endpoints that failed together are not retried together.
pub fn retry_delay(attempts: u32, base: Duration, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let delay = doubled.min(MOST_RETRY_DELAY);
    delay / 2 + delay.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: UrlPolicy = UrlPolicy {
        allow_http: false,
        allow_private: false,
    };

    #[test]
    fn types_default_to_all_and_name_the_unknown() {
        assert_eq!(parse_types(None).unwrap(), WebhookType::ALL.to_vec());
        let given = vec!["SESSION_BILLING".into(), "SESSION_BILLING".into()];
        assert_eq!(
            parse_types(Some(given)).unwrap(),
            vec![WebhookType::SessionBilling]
        );
        assert!(parse_types(Some(vec![])).unwrap_err().contains("Types"));
        let error = parse_types(Some(vec!["SESSION_ENDED".into()])).unwrap_err();
        assert!(error.contains("SESSION_ENDED"), "{error}");
        let column = types_column(&WebhookType::ALL);
        assert_eq!(column, ",SESSION_STATUS,SESSION_BILLING,USAGE_THRESHOLD,");
        assert_eq!(types_from_column(&column), WebhookType::ALL.to_vec());
    }

    #[test]
    fn only_public_https_urls_by_default() {
        assert!(check_url("https://hooks.example.com/sv", OPEN).is_ok());
        for (url, needle) in [
            ("http://hooks.example.com/", "https"),
            ("ftp://hooks.example.com/", "https"),
            ("https://127.0.0.1/", "loopback"),
            ("https://localhost:8443/", "loopback"),
            ("https://10.1.2.3/", "private"),
            ("https://192.168.0.9/", "private"),
            ("https://172.16.0.1/", "private"),
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://100.64.0.1/", "CGNAT"),
            ("https://[::1]/", "loopback"),
            ("https://[fd00::1]/", "unique-local"),
            ("https://[fe80::1]/", "link-local"),
            ("https://[::ffff:127.0.0.1]/", "loopback"),
            ("https://[::ffff:169.254.169.254]/", "link-local"),
            ("https://0.0.0.0/", "unspecified"),
            ("https://[::]/", "unspecified"),
            ("https://user:pw@hooks.example.com/", "password"),
            ("not a url", "valid"),
            ("", "required"),
        ] {
            let error = check_url(url, OPEN).unwrap_err();
            assert!(error.contains(needle), "{url}: {error}");
            assert!(error.starts_with("Url"), "{url}: {error}");
        }
        let open = UrlPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert!(check_url("http://127.0.0.1:9000/hook", open).is_ok());
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(refused_address(ip.parse().unwrap()), None, "{ip}");
        }
        assert_eq!(
            refused_address("64:ff9b::7f00:1".parse().unwrap()),
            Some("loopback")
        );
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn retries_back_off_with_jitter_up_to_an_hour() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(1, base, 0.0), Duration::from_millis(2_500));
        assert_eq!(retry_delay(1, base, 1.0), base);
        assert_eq!(retry_delay(3, base, 1.0), Duration::from_secs(20));
        assert_eq!(retry_delay(40, base, 1.0), MOST_RETRY_DELAY);
        // Even with the least jitter, 60 attempts span more than a day
        // (and they go on until the endpoint has failed for 5 days).
        let total: Duration = (1..=60).map(|n| retry_delay(n, base, 0.0)).sum();
        assert!(total >= Duration::from_secs(24 * 3_600), "{total:?}");
    }
}
