//! Whereby: `Whereby-Signature: t={seconds},v1={hex}`, the lowercase hex of
//! HMAC-SHA256, keyed with the webhook secret, over `{t}.{body}`. Events:
//! `room.client.joined`, `room.client.left`, `room.session.ended`; the
//! identity is the room URL's `externalId`, the connection `participantId`.

use super::signing::{fresh, hmac_sha256, iso_field, matches, required, text, time};
use super::{Malformed, Notice, NoticeKind, Parsed, Refusal};
use crate::domain::Timestamp;

pub(super) fn verify(
    signature: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
) -> Result<(), Refusal> {
    let signature = signature.ok_or(Refusal::Missing)?;
    let mut timestamp = None;
    let mut presented = None;
    for part in signature.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => presented = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (timestamp, presented) = timestamp.zip(presented).ok_or(Refusal::Missing)?;
    let seconds: i64 = timestamp.parse().map_err(|_| Refusal::Missing)?;
    let expected = hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]);
    matches(&presented, &expected)?;
    fresh(seconds, now)
}

pub(super) fn parse(value: &serde_json::Value) -> Result<Parsed, Malformed> {
    let kind = required(value, &["type"])?;
    let event_id = format!("whereby:{}", required(value, &["id"])?);
    // `roomName` is the room URL's path: `/session-105236`.
    let room = required(value, &["data", "roomName"])?
        .trim_start_matches('/')
        .to_owned();
    let at = time(iso_field(value, &["createdAt"]), "createdAt")?;
    let identity = || text(value, &["data", "externalId"]).map(str::to_owned);
    let connection = || {
        text(value, &["data", "participantId"])
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Malformed("data.participantId is missing".into()))
    };
    let kind = match kind {
        "room.client.joined" => NoticeKind::Joined {
            identity: identity(),
            connection: connection()?,
        },
        "room.client.left" => NoticeKind::Left {
            identity: identity(),
            connection: connection()?,
        },
        "room.session.ended" => NoticeKind::RoomEnded,
        other => return Ok(Parsed::Ignored(other.to_owned())),
    };
    Ok(Parsed::Notices(vec![Notice {
        event_id,
        room,
        kind,
        at,
    }]))
}
