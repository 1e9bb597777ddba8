//! Request extractors whose failures are the API's own JSON errors:
//! bodies, path ids, and query parameters whose names ignore case.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::{WindowsZone, normalize_email};

/// A JSON body; malformed or mistyped input is a 400 that says what is wrong.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_error)?;
        parse_json(&bytes).map(JsonBody).map_err(|error| {
            ApiError::BadRequest(format!("the request body is not valid: {error}"))
        })
    }
}

/// A JSON body that may be left out: an empty body (or one of blanks only)
/// is `None`, anything else must parse as [`JsonBody`] does.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        parse_json(&bytes)
            .map(|value| OptionalJsonBody(Some(value)))
            .map_err(|error| {
                ApiError::BadRequest(format!("the request body is not valid: {error}"))
            })
    }
}

/// Parses JSON, naming the field at fault, e.g.
/// `Participants[0].ParticipantFullName: invalid type: …`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    // PostgreSQL text cannot hold NUL; refused here, it is bad input on
    // every backend alike rather than a database fault on one.
    if contains_escaped_nul(bytes) {
        let field = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|value| path_of_nul(&value, String::new()))
            .unwrap_or_else(|| "text".into());
        return Err(format!(
            "{field} must not contain control characters such as NUL or line breaks (it contains U+0000)"
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let error = error.into_inner();
        if path == "." {
            error.to_string()
        } else {
            format!("{path}: {error}")
        }
    })?;
    deserializer.end().map_err(|error| error.to_string())?;
    Ok(value)
}

/// Where in `value` a string (or a key) holds NUL, as the path of its field
/// (`Participants[0].ParticipantFullName`).
fn path_of_nul(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "the body".into()
        } else {
            path
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| path_of_nul(item, format!("{path}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(format!(
                    "a field name in {}",
                    if path.is_empty() { "the body" } else { &path }
                ))
            } else {
                path_of_nul(item, inner)
            }
        }),
        _ => None,
    }
}

fn contains_escaped_nul(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .any(|window| window.eq_ignore_ascii_case(b"\\u0000"))
}

pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("the request body could not be read: {rejection}"))
    }
}

/// The one path parameter of a route, as text; a segment that is not
/// UTF-8 once decoded is a JSON 400 like every other bad input.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(text)| Self(text))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Parses a numeric id from the path, naming it when it is not one.
pub fn path_id(name: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest(format!("{name} '{raw}' is not a positive integer")))
}

/// Query parameters by lower-cased name (SPEC §1); the last of repeated names wins.
pub struct Params {
    values: HashMap<String, String>,
    /// The parameters as given, in order, to rebuild links from.
    pub pairs: Vec<(String, String)>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if let Some((name, _)) = pairs.iter().find(|(_, value)| value.contains('\0')) {
            return Err(ApiError::BadRequest(format!(
                "{name} must not contain NUL characters"
            )));
        }
        let values = pairs
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        Ok(Self { values, pairs })
    }
}

/// The `ParticipantEmail` filter of History and the Session API, normalized
/// for matching; empty is a 400.
pub fn participant_email(params: &Params) -> Result<Option<String>, ApiError> {
    params
        .get("ParticipantEmail")
        .map(|raw| {
            let email = normalize_email(raw);
            if email.is_empty() {
                Err(ApiError::BadRequest(
                    "ParticipantEmail must not be empty".into(),
                ))
            } else {
                Ok(email)
            }
        })
        .transpose()
}

/// A Windows time-zone id given in a body (SPEC §5): empty means none; any
/// other text must be an id CLDR maps to an IANA zone, else a 400 naming
/// `field`.
pub fn windows_zone(field: &str, given: Option<String>) -> Result<Option<String>, ApiError> {
    match given {
        Some(text) if !text.trim().is_empty() => WindowsZone::parse(&text)
            .map(|zone| Some(zone.windows_id().to_owned()))
            .map_err(|unknown| ApiError::BadRequest(format!("{field}: {unknown}"))),
        Some(_) => Ok(Some(String::new())),
        None => Ok(None),
    }
}
