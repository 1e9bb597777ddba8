//! The limits every piece of text that comes in keeps, one set for the API,
//! import and both stores: a most length per kind of field, and no control
//! characters (NUL included), so what one store accepts the other does too.

/// The kinds of text fields, each with its most length in characters. The
/// longest (1,000 characters, at most 4,000 bytes) is a reason, which is not
/// indexed; indexed text stays at most 1,024 bytes, well under PostgreSQL's
/// btree limit of about 2,700 bytes a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// `FullName`, `ParticipantFullName`, a company's `Name`.
    Name,
    /// `EmailAddress`, `ParticipantEmailAddress` (RFC 5321's 254).
    Email,
    /// `ExternalId`, `ParticipantExternalId`.
    ExternalId,
    /// Other short fields: SMS and help numbers, resolutions, time zones,
    /// connect codes, `ShouldAutoDeliverCode`.
    Detail,
    /// `EventId`, `CallId`.
    EventId,
    /// A provider's room id.
    RoomId,
    /// An API key (`k{company}_{random}`).
    ApiKey,
    /// The reason a session is comped.
    Reason,
}

impl Text {
    pub const fn most_chars(self) -> usize {
        match self {
            Self::Name | Self::ExternalId | Self::RoomId => 256,
            Self::Email => 254,
            Self::Detail | Self::EventId | Self::ApiKey => 128,
            Self::Reason => 1_000,
        }
    }
}

/// Why a piece of text is refused, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidText(pub String);

/// Checks `value` of the field named `field` against the limits of its kind.
pub fn check_text(field: &str, value: &str, kind: Text) -> Result<(), InvalidText> {
    if let Some(control) = value.chars().find(|c| c.is_control()) {
        return Err(InvalidText(format!(
            "{field} must not contain control characters such as NUL or line breaks (it contains U+{:04X})",
            u32::from(control)
        )));
    }
    let most = kind.most_chars();
    // Bytes bound characters from above: most text is counted in one pass.
    if value.len() > most {
        let count = value.chars().count();
        if count > most {
            return Err(InvalidText(format!(
                "{field} must be at most {most} characters, not {count}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_its_limit_passes() {
        assert_eq!(check_text("FullName", "Ann Smith", Text::Name), Ok(()));
        assert_eq!(check_text("FullName", "", Text::Name), Ok(()));
        assert_eq!(check_text("FullName", &"é".repeat(256), Text::Name), Ok(()));
        assert_eq!(check_text("FullName", "Zoë “Ann” 山田", Text::Name), Ok(()));
    }

    #[test]
    fn text_over_its_limit_is_refused_naming_the_field() {
        let error = check_text("ExternalId", &"x".repeat(2_700), Text::ExternalId).unwrap_err();
        assert_eq!(
            error.0,
            "ExternalId must be at most 256 characters, not 2700"
        );
        assert!(check_text("FullName", &"é".repeat(257), Text::Name).is_err());
        assert!(check_text("Reason", &"r".repeat(1_001), Text::Reason).is_err());
        assert!(check_text("Reason", &"r".repeat(1_000), Text::Reason).is_ok());
    }

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        for bad in [
            "a\0b",
            "tab\there",
            "line\nbreak",
            "cr\r",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            let error = check_text("ParticipantFullName", bad, Text::Name).unwrap_err();
            assert!(
                error
                    .0
                    .starts_with("ParticipantFullName must not contain control"),
                "{bad:?}: {error}"
            );
        }
        assert_eq!(
            check_text("CallId", "c\0", Text::EventId).unwrap_err().0,
            "CallId must not contain control characters such as NUL or line breaks (it contains U+0000)"
        );
    }

    #[test]
    fn indexed_text_stays_well_under_the_postgresql_btree_limit() {
        for kind in [
            Text::Name,
            Text::Email,
            Text::ExternalId,
            Text::EventId,
            Text::RoomId,
            Text::ApiKey,
        ] {
            // Four bytes a character at most in UTF-8.
            assert!(kind.most_chars() * 4 <= 1_024, "{kind:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn printable_text_within_the_limit_always_passes(text in "[^\\p{Cc}]{0,128}") {
            proptest::prop_assert!(check_text("Field", &text, Text::Detail).is_ok());
        }

        #[test]
        fn a_control_character_anywhere_is_refused(
            before in "[a-z]{0,10}",
            control in proptest::char::range('\0', '\u{1f}'),
            after in "[a-z]{0,10}",
        ) {
            let text = format!("{before}{control}{after}");
            proptest::prop_assert!(check_text("Field", &text, Text::Detail).is_err());
        }
    }
}
