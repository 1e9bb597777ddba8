//! LiveKit: `Authorization` carries a JWT (HS256, signed with the API
//! secret, issued by the API key, valid 5 minutes) whose `sha256` claim is
//! the standard base64 of the body's SHA-256. The body is protobuf JSON
//! (`WebhookEvent`): 64-bit integers are strings, defaults are left out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::signing::{millis_field, required, seconds_field, text, time};
use super::{Malformed, Notice, NoticeKind, Parsed, Refusal};

#[derive(Deserialize)]
struct Claims {
    sha256: Option<String>,
}

pub(super) fn verify(
    authorization: Option<&str>,
    body: &[u8],
    api_key: &str,
    secret: &str,
) -> Result<(), Refusal> {
    let token = authorization.ok_or(Refusal::Missing)?.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(Refusal::Missing);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf", "iss"]);
    validation.validate_nbf = true;
    validation.leeway = 10;
    if !api_key.is_empty() {
        validation.set_issuer(&[api_key]);
    }
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| Refusal::Wrong)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => Refusal::Stale,
            jsonwebtoken::errors::ErrorKind::InvalidToken
            | jsonwebtoken::errors::ErrorKind::Base64(_)
            | jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::Utf8(_) => Refusal::Missing,
            _ => Refusal::Wrong,
        })?
        .claims;
    let expected = STANDARD.encode(Sha256::digest(body));
    let presented = claims.sha256.ok_or(Refusal::Wrong)?;
    super::signing::matches(presented.as_bytes(), expected.as_bytes())
}

pub(super) fn parse(value: &serde_json::Value) -> Result<Parsed, Malformed> {
    let event = required(value, &["event"])?;
    let kind = match event {
        "participant_joined" => Kind::Joined,
        "participant_left" | "participant_connection_aborted" => Kind::Left,
        "room_finished" => Kind::RoomEnded,
        other => return Ok(Parsed::Ignored(other.to_owned())),
    };
    let event_id = format!("livekit:{}", required(value, &["id"])?);
    let room = required(value, &["room", "name"])?.to_owned();
    let created = seconds_field(value, &["createdAt"]);
    let joined = millis_field(value, &["participant", "joinedAtMs"])
        .or_else(|| seconds_field(value, &["participant", "joinedAt"]));
    let identity = || text(value, &["participant", "identity"]).map(str::to_owned);
    let connection = || required(value, &["participant", "sid"]).map(str::to_owned);
    let notice = match kind {
        Kind::Joined => Notice {
            event_id,
            room,
            at: time(joined.or(created), "participant.joinedAt")?,
            kind: NoticeKind::Joined {
                identity: identity(),
                connection: connection()?,
            },
        },
        Kind::Left => {
            // `createdAt` is whole seconds: a call shorter than a second
            // would otherwise end before it began.
            let at = time(created, "createdAt")?;
            let at = joined.map_or(at, |joined| at.max(joined));
            Notice {
                event_id,
                room,
                at,
                kind: NoticeKind::Left {
                    identity: identity(),
                    connection: connection()?,
                },
            }
        }
        Kind::RoomEnded => Notice {
            event_id,
            room,
            at: time(created, "createdAt")?,
            kind: NoticeKind::RoomEnded,
        },
    };
    Ok(Parsed::Notices(vec![notice]))
}

enum Kind {
    Joined,
    Left,
    RoomEnded,
}
