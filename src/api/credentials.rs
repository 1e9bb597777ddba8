//! Reading credentials out of an `Authorization` header: pure parsing, no
//! lookup (the extractors in `auth` check what is found here).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Splits `Basic base64(key:secret)` into key and secret.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

/// The token of `Bearer <token>`, trimmed.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let header = format!("Basic {}", STANDARD.encode("k1_abc:se:cret"));
        assert_eq!(
            parse_basic(&header),
            Some(("k1_abc".into(), "se:cret".into()))
        );
        assert_eq!(
            parse_basic(&header.replace("Basic", "basic")).unwrap().0,
            "k1_abc"
        );
    }

    #[test]
    fn rejects_malformed_basic_credentials() {
        for bad in [
            "",
            "Basic",
            "Basic !!!",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("no-colon")),
        ] {
            assert_eq!(parse_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_bearer_tokens() {
        assert_eq!(parse_bearer("Bearer  tok "), Some("tok"));
        assert_eq!(parse_bearer("bearer tok"), Some("tok"));
        assert_eq!(parse_bearer("Basic tok"), None);
        assert_eq!(parse_bearer("tok"), None);
    }
}
