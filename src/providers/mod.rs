//! The video providers' own webhooks (SPEC §12), checked and read without
//! I/O: each provider's signature scheme, exactly as it documents it, and
//! its join, leave and room-end events as provider-neutral notices. Which
//! session and party a notice is, and what it changes, is the caller's.
//! docs/providers.md describes each adapter.

mod daily;
mod livekit;
mod signing;
mod vonage;
mod whereby;
mod zoom;

use axum::http::HeaderMap;

use crate::config::ProviderSecrets;
use crate::domain::Timestamp;

/// How old a signed request may be (SPEC §12: over 5 minutes is stale).
pub const MAX_AGE_SECONDS: i64 = 300;

/// The providers whose webhooks feed the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    LiveKit,
    Daily,
    Zoom,
    Vonage,
    Whereby,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::LiveKit,
        Provider::Daily,
        Provider::Zoom,
        Provider::Vonage,
        Provider::Whereby,
    ];

    /// The provider a webhook path names (`/providers/{name}`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::LiveKit => "livekit",
            Provider::Daily => "daily",
            Provider::Zoom => "zoom",
            Provider::Vonage => "vonage",
            Provider::Whereby => "whereby",
        }
    }

    /// Checks a request's signature (`None`: the provider is not configured).
    pub fn verify(
        self,
        secrets: &ProviderSecrets,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Option<Result<(), Refusal>> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        Some(match self {
            Provider::LiveKit => {
                let secret = secrets.livekit_api_secret.as_ref()?;
                let key = secrets.livekit_api_key.as_deref().unwrap_or_default();
                livekit::verify(header("authorization"), body, key, secret.expose())
            }
            Provider::Daily => {
                let secret = secrets.daily_webhook_secret.as_ref()?;
                daily::verify(
                    header("x-webhook-signature"),
                    header("x-webhook-timestamp"),
                    body,
                    secret.expose(),
                    now,
                )
            }
            Provider::Zoom => {
                let secret = secrets.zoom_secret_token.as_ref()?;
                zoom::verify(
                    header("x-zm-signature"),
                    header("x-zm-request-timestamp"),
                    body,
                    secret.expose(),
                    now,
                )
            }
            Provider::Vonage => {
                let secret = secrets.vonage_signature_secret.as_ref()?;
                vonage::verify(header("authorization"), body, secret.expose(), now)
            }
            Provider::Whereby => {
                let secret = secrets.whereby_webhook_secret.as_ref()?;
                whereby::verify(header("whereby-signature"), body, secret.expose(), now)
            }
        })
    }

    /// Reads a verified webhook's body.
    pub fn parse(self, secrets: &ProviderSecrets, body: &[u8]) -> Result<Parsed, Malformed> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|error| Malformed(error.to_string()))?;
        match self {
            Provider::LiveKit => livekit::parse(&value),
            Provider::Daily => daily::parse(&value),
            Provider::Zoom => {
                let secret = secrets.zoom_secret_token.as_ref().map(|s| s.expose());
                zoom::parse(&value, secret.unwrap_or_default())
            }
            Provider::Vonage => vonage::parse(&value),
            Provider::Whereby => whereby::parse(&value),
        }
    }
}

/// Why a request's signature was refused (the `/metrics` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No signature, or not in the provider's form.
    Missing,
    /// A signature that does not match the body.
    Wrong,
    /// Signed more than [`MAX_AGE_SECONDS`] ago (or as far in the future).
    Stale,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Wrong => "wrong",
            Refusal::Stale => "stale",
        }
    }
}

/// A verified body that is not the provider's documented JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// What a verified webhook says.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Connections began or ended, or a room ended.
    Notices(Vec<Notice>),
    /// An event type the ledger does not use (counted, answered 2xx).
    Ignored(String),
    /// Zoom's `endpoint.url_validation`: this JSON is the answer.
    Challenge(serde_json::Value),
}

/// One provider event, provider-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The provider's event id, namespaced by provider (the EventId).
    pub event_id: String,
    /// The provider's room (or meeting, or session) id.
    pub room: String,
    pub kind: NoticeKind,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeKind {
    /// A connection began: the identity the platform gave it, and the
    /// provider's id of the connection (the CallId).
    Joined {
        identity: Option<String>,
        connection: String,
    },
    /// A connection ended.
    Left {
        identity: Option<String>,
        connection: String,
    },
    /// The room ended: every call still open ends now.
    RoomEnded,
}

/// Who a connection is, from the identity the platform set (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// `p{ParticipationId}`: the host or a participant.
    Participation(i64),
    /// `s{SupportAgentId}`: a support agent.
    SupportAgent(i64),
}

impl Identity {
    pub fn parse(identity: &str) -> Option<Self> {
        let number = |digits: &str| {
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<i64>().ok())
                .flatten()
                .filter(|id| *id > 0)
        };
        if let Some(digits) = identity.strip_prefix('p') {
            number(digits).map(Identity::Participation)
        } else if let Some(digits) = identity.strip_prefix('s') {
            number(digits).map(Identity::SupportAgent)
        } else {
            None
        }
    }
}

/// The session a room is by default: `session-{SessionId}`.
pub fn default_session(room: &str) -> Option<i64> {
    let digits = room.strip_prefix("session-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<i64>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_name_a_participation_or_an_agent() {
        assert_eq!(Identity::parse("p12"), Some(Identity::Participation(12)));
        assert_eq!(Identity::parse("s7"), Some(Identity::SupportAgent(7)));
        for other in [
            "",
            "p",
            "p0",
            "p-1",
            "p1x",
            "x1",
            "s+1",
            "P12",
            "p99999999999999999999",
        ] {
            assert_eq!(Identity::parse(other), None, "{other}");
        }
    }

    #[test]
    fn rooms_are_sessions_by_default() {
        assert_eq!(default_session("session-105236"), Some(105236));
        for other in ["session-", "session-0", "session-1a", "105236", "Session-1"] {
            assert_eq!(default_session(other), None, "{other}");
        }
    }

    #[test]
    fn providers_are_named_by_their_path() {
        for provider in Provider::ALL {
            assert_eq!(Provider::from_name(provider.name()), Some(provider));
        }
        assert_eq!(Provider::from_name("twilio"), None);
    }
}
