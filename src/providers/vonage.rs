//! Vonage Video (session monitoring, with Secure Callbacks on):
//! `Authorization` carries a JWT (HS256, signed with the callback's
//! signature secret) whose `payload_hash` claim is the lowercase hex of the
//! body's SHA-256; it has an `iat` but no `exp`, so the age is checked
//! here. Events: `connectionCreated`, `connectionDestroyed`,
//! `sessionDestroyed`; the identity is the token's connection `data`, the
//! room the Vonage `sessionId`. Vonage sends no event id: the event's name,
//! session and connection stand for one.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::signing::{fresh, matches, millis_field, required, text, time};
use super::{Malformed, Notice, NoticeKind, Parsed, Refusal};
use crate::domain::Timestamp;

#[derive(Deserialize)]
struct Claims {
    iat: Option<i64>,
    payload_hash: Option<String>,
}

pub(super) fn verify(
    authorization: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
) -> Result<(), Refusal> {
    let token = authorization.ok_or(Refusal::Missing)?.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(Refusal::Missing);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| Refusal::Wrong)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidToken
            | jsonwebtoken::errors::ErrorKind::Base64(_)
            | jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::Utf8(_) => Refusal::Missing,
            _ => Refusal::Wrong,
        })?
        .claims;
    let expected = hex::encode(Sha256::digest(body));
    let presented = claims
        .payload_hash
        .ok_or(Refusal::Wrong)?
        .to_ascii_lowercase();
    matches(presented.as_bytes(), expected.as_bytes())?;
    fresh(claims.iat.ok_or(Refusal::Stale)?, now)
}

pub(super) fn parse(value: &serde_json::Value) -> Result<Parsed, Malformed> {
    let event = required(value, &["event"])?;
    let room = required(value, &["sessionId"])?.to_owned();
    let at = time(millis_field(value, &["timestamp"]), "timestamp")?;
    let connection = || required(value, &["connection", "id"]).map(str::to_owned);
    let identity = || text(value, &["connection", "data"]).map(str::to_owned);
    let kind = match event {
        "connectionCreated" => NoticeKind::Joined {
            identity: identity(),
            connection: connection()?,
        },
        "connectionDestroyed" => NoticeKind::Left {
            identity: identity(),
            connection: connection()?,
        },
        "sessionDestroyed" => NoticeKind::RoomEnded,
        other => return Ok(Parsed::Ignored(other.to_owned())),
    };
    let who = match &kind {
        NoticeKind::Joined { connection, .. } | NoticeKind::Left { connection, .. } => {
            connection.clone()
        }
        NoticeKind::RoomEnded => String::new(),
    };
    Ok(Parsed::Notices(vec![Notice {
        event_id: format!("vonage:{event}:{room}:{who}"),
        room,
        kind,
        at,
    }]))
}
