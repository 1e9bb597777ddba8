//! The one error type of the HTTP API: a status per kind and a JSON body
//! `{"Message": …}` for a human. Server faults are logged, never explained.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::IntoResponses;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than 1 MiB")]
    PayloadTooLarge,
    #[error("too many requests for this API key; retry after the time in Retry-After")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error(
        "too many failed authentications from this address; retry after the time in Retry-After"
    )]
    TooManyFailures { retry_after_seconds: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every error body (SPEC §1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!({"Message": "User not found"}))]
pub struct ErrorBody {
    /// What is wrong, for a human.
    pub message: String,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } | Self::TooManyFailures { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Invalid(message) => Self::BadRequest(message),
            StoreError::NotFound(message) => Self::NotFound(message),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::ImportLine { .. } => Self::BadRequest(error.to_string()),
            StoreError::Unavailable(message) => Self::Unavailable(message),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (self.status(), axum::Json(ErrorBody { message })).into_response();
        match self {
            Self::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"session-ledger\""),
                );
            }
            Self::TooManyRequests {
                retry_after_seconds,
            }
            | Self::TooManyFailures {
                retry_after_seconds,
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Errors every tenant endpoint can answer, whatever its input.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum TenantErrors {
    /// Missing or wrong credentials (with `WWW-Authenticate: Basic`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Rate limited (the key's requests, or this address's failed
    /// authentications); retry after the seconds in `Retry-After`.
    #[response(status = 429, headers(("Retry-After" = u64)))]
    TooManyRequests(ErrorBody),
    /// The database cannot be reached just now; retry after the seconds in `Retry-After`.
    #[response(status = 503, headers(("Retry-After" = u64)))]
    Unavailable(ErrorBody),
}

/// Errors every operator endpoint can answer, whatever its input.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum OperatorErrors {
    /// Missing or wrong Bearer token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such thing; also every operator path when no operator token is configured.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Too many failed authentications from this address; retry after the
    /// seconds in `Retry-After`.
    #[response(status = 429, headers(("Retry-After" = u64)))]
    TooManyFailures(ErrorBody),
    /// The database cannot be reached just now; retry after the seconds in `Retry-After`.
    #[response(status = 503, headers(("Retry-After" = u64)))]
    Unavailable(ErrorBody),
}
