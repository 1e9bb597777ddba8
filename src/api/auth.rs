//! Who is calling: a tenant by HTTP Basic (API key and secret), or the
//! operator by Bearer token (SPEC §2).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::access_note::let_in;
use super::credentials::{parse_basic, parse_bearer};
use super::error::ApiError;
use super::limits::{Budget, client_address};
use super::state::AppState;
use crate::domain::access::Actor;
use crate::secrets::{company_of_key, verify_key};

/// A tenant whose key and secret checked out; every query is scoped to it.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub company_id: i64,
    /// The company's data version, when known without reading it: read with
    /// the key, or by a read since, and unchanged since (`KeyCache`).
    pub data_version: Option<i64>,
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
            .ok_or(ApiError::Unauthorized)?;
        // Credentials were presented: from here, a failure counts against
        // the client's address, and an address with none left is not heard.
        let address = client_address(parts);
        refuse_blocked(state, address)?;
        let checked = check_tenant(state, header.to_str().ok()).await?;
        let Some((api_key, company_id, data_version)) = checked else {
            if let Some(failed_auth) = &state.failed_auth {
                failed_auth.failed(address);
            }
            return Err(ApiError::Unauthorized);
        };
        // Nothing is served that the access audit could not record.
        let_in(state, parts, Actor::api_key(&api_key), Some(company_id)).await?;
        // Only an authenticated request spends its key's budget: anyone
        // who saw a key id cannot spend it for the tenant.
        if let Some(limits) = &state.limits {
            let remaining = limits.spend(&api_key).map_err(|retry_after_seconds| {
                Budget::note(parts, 0);
                ApiError::TooManyRequests {
                    retry_after_seconds,
                }
            })?;
            Budget::note(parts, remaining);
        }
        tracing::Span::current().record("company_id", company_id);
        Ok(Tenant {
            company_id,
            data_version,
        })
    }
}

/// The key, company and data version of credentials that check out. Every
/// well-formed key presented costs the same work whether it exists or not
/// (`verify_key`); a malformed one never reaches the store.
async fn check_tenant(
    state: &AppState,
    header: Option<&str>,
) -> Result<Option<(String, i64, Option<i64>)>, ApiError> {
    let Some((api_key, api_secret)) = header.and_then(parse_basic) else {
        return Ok(None);
    };
    let Some(company_id) = company_of_key(&api_key) else {
        return Ok(None);
    };
    let found = state.keys.get(&state.store, company_id, &api_key).await?;
    let stored = found
        .as_ref()
        .map(|(key, _)| (key.secret_hash.as_str(), key.revoked));
    if !verify_key(&api_key, &api_secret, stored) {
        return Ok(None);
    }
    let data_version = found.and_then(|(_, version)| version);
    Ok(Some((api_key, company_id, data_version)))
}

/// A 429 for an address whose failed authentications are spent.
fn refuse_blocked(state: &AppState, address: Option<std::net::IpAddr>) -> Result<(), ApiError> {
    match state
        .failed_auth
        .as_ref()
        .and_then(|failed_auth| failed_auth.blocked(address))
    {
        Some(retry_after_seconds) => Err(ApiError::TooManyFailures {
            retry_after_seconds,
        }),
        None => Ok(()),
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
        // An empty token is no token: it would otherwise let in anyone
        // who presents an empty one (docs/decisions.md, "Security").
        let Some(token) = state
            .settings
            .operator_token
            .as_ref()
            .filter(|token| !token.expose().trim().is_empty())
        else {
            return Err(ApiError::NotFound("Not found".into()));
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized)?;
        let address = client_address(parts);
        refuse_blocked(state, address)?;
        let presented = header.to_str().ok().and_then(parse_bearer);
        if presented.is_some_and(|presented| {
            bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes()))
        }) {
            let_in(state, parts, Actor::operator(), None).await?;
            Ok(Operator)
        } else {
            if let Some(failed_auth) = &state.failed_auth {
                failed_auth.failed(address);
            }
            Err(ApiError::Unauthorized)
        }
    }
}
