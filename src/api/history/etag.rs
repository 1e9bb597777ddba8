//! Strong validators for History answers: a digest of what makes the
//! bytes besides the data (company, query, format, platform), and the
//! company's data version.

use std::io::Write as _;

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use super::filters::Format;
use crate::api::extract::Params;

/// What makes the bytes of an answer, besides the company's data version:
/// the company, the query, the format and the platform name. The key of a
/// kept answer, and the second half of its ETag.
pub(super) fn request_digest(
    company_id: i64,
    path: &str,
    params: &Params,
    format: Format,
    platform: &str,
) -> String {
    // Written into the hasher as they are formatted, with no string between.
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    write!(hasher, "\0{company_id}\0{path}\0{format:?}\0{platform}").expect("hashing cannot fail");
    let mut pairs: Vec<(String, &str)> = params
        .pairs
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();
    pairs.sort();
    for (name, value) in pairs {
        write!(hasher, "\0{name}={value}").expect("hashing cannot fail");
    }
    hex::encode(&hasher.finalize()[..12])
}

/// A strong validator for the exact bytes this request would get.
pub(super) fn entity_tag(data_version: i64, digest: &str) -> String {
    format!("\"{data_version}-{digest}\"")
}

pub(super) fn matches_tag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == tag || candidate == "*")
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;

    use super::*;

    #[tokio::test]
    async fn an_answers_digest_is_stable_for_the_same_request() {
        // Clients hold ETags made of this digest: the same request must keep
        // its digest within a version (it changes with the crate's version,
        // by design). Parameter names are compared in lower case and order.
        let digest = |uri: &'static str| async move {
            let (mut parts, ()) = axum::http::Request::builder()
                .uri(uri)
                .body(())
                .expect("request")
                .into_parts();
            let params = Params::from_request_parts(&mut parts, &())
                .await
                .expect("params");
            request_digest(7, "/history/9", &params, Format::Json, "SecureVideo")
        };
        assert_eq!(
            digest("/history/9?month=2025-06-01&format=json").await,
            "d52363195c312e678cf0518b"
        );
        assert_eq!(
            digest("/history/9?Format=json&Month=2025-06-01").await,
            "d52363195c312e678cf0518b"
        );
        assert_ne!(
            digest("/history/9?month=2025-07-01&format=json").await,
            "d52363195c312e678cf0518b"
        );
    }
}
