//! Who is calling: a tenant by HTTP Basic (API key and secret), or the
//! operator by Bearer token (SPEC §2).

use std::collections::HashMap;
use std::hash::Hash;
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
use crate::store::{Generation, Store};

/// A tenant whose key and secret checked out; every query is scoped to it.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub company_id: i64,
    /// The company's data version, when known without reading it: read with
    /// the key, or by a read since, and unchanged since (`KeyCache`).
    pub data_version: Option<i64>,
}

/// Most keys, and most companies' data versions, the cache holds (each);
/// when full it starts again empty.
const MOST_KEPT: usize = 100_000;

/// A key as checked on every request: its secret's hash, and whether it is
/// revoked.
#[derive(Debug, Clone)]
struct Key {
    secret_hash: String,
    revoked: bool,
}

/// API keys and companies' data versions as read from the database, each
/// with the generation it was read at (`Changes`).
///
/// - A key is reused while no commit that may change keys came since, so a
///   revocation or a new secret is seen by the very next request. On
///   PostgreSQL a batch of connection events does not make the key be read
///   again; on SQLite the watcher cannot tell what another connection
///   committed, so within 50 ms it moves the key generation on too.
/// - A data version is reused while nothing at all was committed since; a
///   History read notes the version it read, so the reads after a change
///   find their kept answers again.
///
/// The secret is still checked against the stored hash on every request;
/// unknown keys are not kept.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (u64, Key)>>,
    versions: RwLock<HashMap<i64, (u64, i64)>>,
}

impl KeyCache {
    /// The key, and the company's data version if it is known unchanged.
    async fn get(
        &self,
        store: &Store,
        company_id: i64,
        api_key: &str,
    ) -> Result<Option<(Key, Option<i64>)>, ApiError> {
        // The generations are taken before the read: a commit that lands
        // while the key is being read makes the kept copy stale at once.
        let generation = store.changes().generation();
        if let Some(generation) = generation
            && let Some((kept_at, key)) = read(&self.keys).get(api_key)
            && *kept_at == generation.keys
        {
            let version = read(&self.versions)
                .get(&company_id)
                .filter(|(kept_at, _)| *kept_at == generation.data)
                .map(|&(_, version)| version);
            return Ok(Some((key.clone(), version)));
        }
        let Some(stored) = store.api_key(company_id, api_key).await? else {
            return Ok(None);
        };
        let key = Key {
            secret_hash: stored.secret_hash,
            revoked: stored.revoked,
        };
        if let Some(generation) = generation {
            keep(
                &self.keys,
                api_key.to_owned(),
                (generation.keys, key.clone()),
            );
            self.note_version(company_id, Some(generation), stored.data_version);
        }
        Ok(Some((key, Some(stored.data_version))))
    }

    /// Notes the company's data version as read at `generation` (taken
    /// before the read). Of two reads at the same generation (another
    /// node's commit still on its way), the newer version stays.
    pub fn note_version(&self, company_id: i64, generation: Option<Generation>, version: i64) {
        let Some(generation) = generation else {
            return;
        };
        if read(&self.versions)
            .get(&company_id)
            .is_some_and(|&(kept_at, kept)| kept_at == generation.data && kept >= version)
        {
            return;
        }
        keep(&self.versions, company_id, (generation.data, version));
    }
}

fn read<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockReadGuard<'_, HashMap<K, V>> {
    map.read().unwrap_or_else(PoisonError::into_inner)
}

fn keep<K: Eq + Hash, V>(map: &RwLock<HashMap<K, V>>, key: K, value: V) {
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= MOST_KEPT {
        map.clear();
    }
    map.insert(key, value);
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
        let (key, data_version) = state
            .keys
            .get(&state.store, company_id, &api_key)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if key.revoked || !secret_matches(&api_key, &api_secret, &key.secret_hash) {
            return Err(ApiError::Unauthorized);
        }
        tracing::Span::current().record("company_id", company_id);
        Ok(Tenant {
            company_id,
            data_version,
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
