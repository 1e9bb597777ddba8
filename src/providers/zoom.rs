//! Zoom: `x-zm-signature` is `v0=` and the lowercase hex of HMAC-SHA256,
//! keyed with the app's Secret Token, over `v0:{x-zm-request-timestamp}:{body}`.
//! `endpoint.url_validation` is answered with the plain token and its HMAC.
//! Events: `meeting.participant_joined`, `meeting.participant_left`,
//! `meeting.ended`; the identity is the participant's `customer_key`. Zoom
//! sends no event id: the event's name, meeting, participant and time
//! stand for one.

use super::signing::{
    at, fresh, header_seconds, hmac_sha256, integer, iso_field, matches, millis_field, required,
    text, time,
};
use super::{Malformed, Notice, NoticeKind, Parsed, Refusal};
use crate::domain::Timestamp;

pub(super) fn verify(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
) -> Result<(), Refusal> {
    let signature = signature.ok_or(Refusal::Missing)?.trim();
    let presented = signature
        .strip_prefix("v0=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .ok_or(Refusal::Missing)?;
    let raw_timestamp = timestamp.ok_or(Refusal::Missing)?.trim();
    let seconds = header_seconds(Some(raw_timestamp))?;
    let expected = hmac_sha256(
        secret.as_bytes(),
        &[b"v0:", raw_timestamp.as_bytes(), b":", body],
    );
    matches(&presented, &expected)?;
    fresh(seconds, now)
}

pub(super) fn parse(value: &serde_json::Value, secret: &str) -> Result<Parsed, Malformed> {
    let event = required(value, &["event"])?;
    if event == "endpoint.url_validation" {
        let plain = required(value, &["payload", "plainToken"])?;
        let encrypted = hex::encode(hmac_sha256(secret.as_bytes(), &[plain.as_bytes()]));
        return Ok(Parsed::Challenge(serde_json::json!({
            "plainToken": plain,
            "encryptedToken": encrypted,
        })));
    }
    let object = at(value, &["payload", "object"])
        .ok_or_else(|| Malformed("payload.object is missing".into()))?;
    let meeting = match object.get("id") {
        Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
        Some(serde_json::Value::Number(id)) => id.to_string(),
        _ => return Err(Malformed("payload.object.id is missing".into())),
    };
    let event_ts = integer(value, &["event_ts"]).unwrap_or_default();
    let participant = |field: &str| text(object, &["participant", field]).filter(|t| !t.is_empty());
    let connection = || {
        participant("user_id")
            .or_else(|| participant("participant_uuid"))
            .or_else(|| participant("id"))
            .map(str::to_owned)
            .ok_or_else(|| Malformed("payload.object.participant.user_id is missing".into()))
    };
    let identity = || participant("customer_key").map(str::to_owned);
    let (kind, at) = match event {
        "meeting.participant_joined" => (
            NoticeKind::Joined {
                identity: identity(),
                connection: connection()?,
            },
            iso_field(object, &["participant", "join_time"]),
        ),
        "meeting.participant_left" => (
            NoticeKind::Left {
                identity: identity(),
                connection: connection()?,
            },
            iso_field(object, &["participant", "leave_time"]),
        ),
        "meeting.ended" => (NoticeKind::RoomEnded, iso_field(object, &["end_time"])),
        other => return Ok(Parsed::Ignored(other.to_owned())),
    };
    let at = time(
        at.or_else(|| millis_field(value, &["event_ts"])),
        "the event's time",
    )?;
    let who = match &kind {
        NoticeKind::Joined { connection, .. } | NoticeKind::Left { connection, .. } => {
            connection.as_str()
        }
        NoticeKind::RoomEnded => "",
    };
    Ok(Parsed::Notices(vec![Notice {
        event_id: format!("zoom:{event}:{meeting}:{who}:{event_ts}"),
        room: meeting,
        kind,
        at,
    }]))
}
