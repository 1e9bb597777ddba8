//! Daily: `X-Webhook-Signature` is the standard base64 of HMAC-SHA256,
//! keyed with the base64-decoded webhook secret, over
//! `{X-Webhook-Timestamp}.{body}`. Events: `participant.joined`,
//! `participant.left`, `meeting.ended`; the identity is the meeting token's
//! `user_id`, the connection `session_id`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::signing::{
    fresh, header_seconds, hmac_sha256, matches, required, seconds_field, text, time,
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
    let presented = STANDARD.decode(signature).map_err(|_| Refusal::Missing)?;
    let raw_timestamp = timestamp.ok_or(Refusal::Missing)?.trim();
    let seconds = header_seconds(Some(raw_timestamp))?;
    // A secret that is not base64 is used as it is.
    let key = STANDARD
        .decode(secret.trim())
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let expected = hmac_sha256(&key, &[raw_timestamp.as_bytes(), b".", body]);
    matches(&presented, &expected)?;
    fresh(seconds, now)
}

pub(super) fn parse(value: &serde_json::Value) -> Result<Parsed, Malformed> {
    // Daily checks a new webhook with a test request: nothing to apply.
    let Some(kind) = text(value, &["type"]) else {
        return Ok(Parsed::Ignored("test".to_owned()));
    };
    let event_id = || required(value, &["id"]).map(|id| format!("daily:{id}"));
    let room = || required(value, &["payload", "room"]).map(str::to_owned);
    let identity = || text(value, &["payload", "user_id"]).map(str::to_owned);
    let connection = || required(value, &["payload", "session_id"]).map(str::to_owned);
    let joined = seconds_field(value, &["payload", "joined_at"]);
    let notice = match kind {
        "participant.joined" => Notice {
            event_id: event_id()?,
            room: room()?,
            at: time(joined, "payload.joined_at")?,
            kind: NoticeKind::Joined {
                identity: identity(),
                connection: connection()?,
            },
        },
        "participant.left" => {
            let duration = seconds_field(value, &["payload", "duration"]);
            let at = match (joined, duration) {
                (Some(joined), Some(duration)) => joined
                    .as_micros()
                    .checked_add(duration.as_micros())
                    .and_then(Timestamp::from_micros_in_calendar),
                _ => seconds_field(value, &["event_ts"]),
            };
            Notice {
                event_id: event_id()?,
                room: room()?,
                at: time(at, "payload.duration")?,
                kind: NoticeKind::Left {
                    identity: identity(),
                    connection: connection()?,
                },
            }
        }
        "meeting.ended" => Notice {
            event_id: event_id()?,
            room: room()?,
            at: time(
                seconds_field(value, &["payload", "end_ts"])
                    .or_else(|| seconds_field(value, &["event_ts"])),
                "payload.end_ts",
            )?,
            kind: NoticeKind::RoomEnded,
        },
        other => return Ok(Parsed::Ignored(other.to_owned())),
    };
    Ok(Parsed::Notices(vec![notice]))
}
