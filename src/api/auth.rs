//! Who is calling: a tenant by HTTP Basic (API key and secret), or the
//! operator by Bearer token (SPEC §2).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::credentials::{parse_basic, parse_bearer};
use super::error::ApiError;
use super::state::AppState;
use crate::secrets::{company_of_key, secret_matches};

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
            .and_then(parse_bearer)
            .ok_or(ApiError::Unauthorized)?;
        if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}
