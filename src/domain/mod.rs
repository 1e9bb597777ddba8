//! The product's rules as pure functions: no I/O, no SQL, no HTTP.

pub mod access;
pub mod calls;
pub mod connect_code;
pub mod events;
pub mod limits;
pub mod period;
pub mod reason;
pub mod session_state;
pub mod status;
pub mod time_zone;
pub mod timestamp;
pub mod webhooks;

pub use calls::{Call, Party};
pub use connect_code::ConnectCode;
pub use events::{ConnectionEvent, EventBatch, EventKind, PartyKind};
pub use limits::{InvalidText, Text, check_text};
pub use period::{Month, Period};
pub use reason::OperatorReason;
pub use session_state::SessionState;
pub use status::BillableStatus;
pub use time_zone::WindowsZone;
pub use timestamp::Timestamp;

/// A user's `VideoId` (SPEC §5): its identity in the video system, derived
/// from the user id, which is unique across the service and never reused,
/// so the VideoId is too, and every replay of a log gives the same one.
pub fn video_id_for(user_id: i64) -> String {
    format!("sv{user_id:010}")
}

/// E-mail addresses compare case-insensitively, surrounding spaces ignored.
pub fn normalize_email(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Full names match case-insensitively, surrounding spaces ignored.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// One `@`, something before it, a dotted domain after it, no spaces.
pub fn is_plausible_email(address: &str) -> bool {
    let address = address.trim();
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(char::is_whitespace)
        && address.len() <= 254
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_emails() {
        assert!(is_plausible_email("aa@example.com"));
        assert!(is_plausible_email(" AA@Changed.com "));
        for bad in [
            "",
            "aa",
            "aa@",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn video_ids_follow_the_user_id() {
        assert_eq!(video_id_for(12283), "sv0000012283");
        assert_ne!(video_id_for(1), video_id_for(10));
    }

    #[test]
    fn normalizes_for_matching() {
        assert_eq!(normalize_email("  AA@Changed.COM "), "aa@changed.com");
        assert_eq!(normalize_name(" Alex ALEXIS "), "alex alexis");
    }
}
