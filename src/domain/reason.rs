//! The reason an operator gives for an action on a session (comp, its
//! withdrawal, deactivation): written to the audit, so it must say
//! something, and fit on a line of it.

use super::limits::{InvalidText, Text, check_text};

/// A reason as given, trimmed: 1 to [`OperatorReason::MOST_CHARS`]
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorReason(String);

impl OperatorReason {
    pub const MOST_CHARS: usize = 500;

    /// Parses `raw`, the field `Reason`; the message names the field.
    pub fn parse(raw: &str) -> Result<Self, InvalidText> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(InvalidText(format!(
                "Reason is required (1 to {} characters)",
                Self::MOST_CHARS
            )));
        }
        check_text("Reason", text, Text::Reason)?;
        let count = text.chars().count();
        if count > Self::MOST_CHARS {
            return Err(InvalidText(format!(
                "Reason must be at most {} characters, not {count}",
                Self::MOST_CHARS
            )));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reason_is_trimmed() {
        assert_eq!(
            OperatorReason::parse("  audio trouble ").unwrap().as_str(),
            "audio trouble"
        );
    }

    #[test]
    fn a_blank_reason_is_refused_naming_the_field() {
        for blank in ["", "   "] {
            assert_eq!(
                OperatorReason::parse(blank).unwrap_err().0,
                "Reason is required (1 to 500 characters)"
            );
        }
    }

    #[test]
    fn five_hundred_characters_pass_and_501_do_not() {
        assert!(OperatorReason::parse(&"é".repeat(500)).is_ok());
        assert_eq!(
            OperatorReason::parse(&"x".repeat(501)).unwrap_err().0,
            "Reason must be at most 500 characters, not 501"
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(
            OperatorReason::parse("line\nbreak")
                .unwrap_err()
                .0
                .starts_with("Reason must not contain control characters")
        );
    }

    proptest! {
        /// Whatever is accepted is the trimmed input, and within the limit.
        #[test]
        fn accepted_reasons_are_the_trimmed_input_within_the_limit(raw in "\\PC{0,520}") {
            match OperatorReason::parse(&raw) {
                Ok(reason) => {
                    prop_assert_eq!(reason.as_str(), raw.trim());
                    prop_assert!(!reason.as_str().is_empty());
                    prop_assert!(reason.as_str().chars().count() <= OperatorReason::MOST_CHARS);
                }
                Err(error) => prop_assert!(error.0.starts_with("Reason ")),
            }
        }
    }
}
