//! Who is calling: a tenant by HTTP Basic (API key and secret), or the
//! operator by Bearer token (SPEC §2).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::app::AppState;
use crate::secrets::{company_of_key, secret_matches};
use crate::store::{Store, StoredKey};

/// A tenant whose key and secret checked out; every query is scoped to it.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub company_id: i64,
    /// The company's data version, read with the key.
    pub data_version: i64,
}

/// Most keys the cache holds; when full it starts again empty.
const MOST_KEYS: usize = 100_000;

/// API keys as read from the database, with the generation they were read
/// at (`Changes`): a key is reused only while nothing was committed since,
/// so a revocation, a new secret or any change to the company's data (its
/// version) is seen by the very next request. The secret is still checked
/// against the stored hash on every request; unknown keys are not kept.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (u64, StoredKey)>>,
}

impl KeyCache {
    async fn get(
        &self,
        store: &Store,
        company_id: i64,
        api_key: &str,
    ) -> Result<Option<StoredKey>, ApiError> {
        // The generation is taken before the read: a commit that lands
        // while the key is being read makes the kept copy stale at once.
        let generation = store.changes().generation();
        if let Some(generation) = generation
            && let Some((kept_at, key)) = self.read().get(api_key)
            && *kept_at == generation
        {
            return Ok(Some(key.clone()));
        }
        let stored = store.api_key(company_id, api_key).await?;
        if let (Some(generation), Some(key)) = (generation, &stored) {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            if keys.len() >= MOST_KEYS {
                keys.clear();
            }
            keys.insert(api_key.to_owned(), (generation, key.clone()));
        }
        Ok(stored)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, (u64, StoredKey)>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }
}

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

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (api_key, api_secret) = parse_basic(header).ok_or(ApiError::Unauthorized)?;
        let company_id = company_of_key(&api_key).ok_or(ApiError::Unauthorized)?;
        let stored = state
            .keys
            .get(&state.store, company_id, &api_key)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if stored.revoked || !secret_matches(&api_key, &api_secret, &stored.secret_hash) {
            return Err(ApiError::Unauthorized);
        }
        tracing::Span::current().record("company_id", company_id);
        Ok(Tenant {
            company_id,
            data_version: stored.data_version,
        })
    }
}

/// The platform operator. Without a configured token the operator API does
/// not exist (404); with one, anything but that token is a 401.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = &state.settings.operator_token else {
            return Err(ApiError::NotFound("Not found".into()));
        };
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(ApiError::Unauthorized)?;
        if bool::from(presented.trim().as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
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
}
