//! Connect codes (SPEC §6): what a participant types to join, a JSON number
//! of nine digits whose first is not 0, as SecureVideo sends it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const LOWEST: i64 = 100_000_000;
const HIGHEST: i64 = 999_999_999;

/// A nine-digit code, 100000000–999999999: an integer client keeps every
/// digit of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectCode(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ConnectCode must be a number of 9 digits, 100000000 to 999999999, not {0}")]
pub struct ConnectCodeError(pub String);

impl ConnectCode {
    pub fn new(code: i64) -> Result<Self, ConnectCodeError> {
        if (LOWEST..=HIGHEST).contains(&code) {
            Ok(Self(code))
        } else {
            Err(ConnectCodeError(code.to_string()))
        }
    }

    pub fn random() -> Self {
        use rand::Rng;
        Self(rand::rng().random_range(LOWEST..=HIGHEST))
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// A code written as a string of digits, as logs and databases held it
    /// before codes were numbers. A code that fits is kept; one that an
    /// integer cannot keep (`012345678`, a leading zero) or a shorter one
    /// gets a new code, 900000000 more than its value, so every replay of
    /// the same line (and the migration of a stored code, which uses the
    /// same rule) gives the same new code. Anything else is not a code.
    pub fn from_digits(text: &str) -> Result<Self, ConnectCodeError> {
        let digits = text.trim();
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConnectCodeError(format!("'{text}'")));
        }
        let value: i64 = digits
            .parse()
            .map_err(|_| ConnectCodeError(format!("'{text}'")))?;
        if value >= LOWEST {
            Ok(Self(value))
        } else {
            Ok(Self(value + 900_000_000))
        }
    }
}

impl fmt::Display for ConnectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ConnectCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

/// A number, or (in a log written before codes were numbers) a string of digits.
impl<'de> Deserialize<'de> for ConnectCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(i64),
            Digits(String),
        }
        match Written::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("ConnectCode must be a number of 9 digits"))?
        {
            Written::Number(code) => Self::new(code),
            Written::Digits(text) => Self::from_digits(&text),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_of_nine_digits_only() {
        assert_eq!(ConnectCode::new(204_848_645).unwrap().get(), 204_848_645);
        for bad in [0, 99_999_999, 1_000_000_000, -204_848_645] {
            assert!(ConnectCode::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn old_string_codes_are_kept_or_renewed_the_same_way_each_time() {
        assert_eq!(
            ConnectCode::from_digits("204848645").unwrap().get(),
            204_848_645
        );
        assert_eq!(
            ConnectCode::from_digits("012345678").unwrap().get(),
            912_345_678
        );
        assert_eq!(
            ConnectCode::from_digits("000000000").unwrap().get(),
            900_000_000
        );
        for bad in ["", "abc", "1234567890", "12 34", "-12345678"] {
            assert!(ConnectCode::from_digits(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn written_as_a_json_number_read_from_either() {
        let code: ConnectCode = serde_json::from_str("204848645").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "204848645");
        let old: ConnectCode = serde_json::from_str("\"012345678\"").unwrap();
        assert_eq!(serde_json::to_string(&old).unwrap(), "912345678");
        assert!(serde_json::from_str::<ConnectCode>("12").is_err());
        assert!(serde_json::from_str::<ConnectCode>("1.5").is_err());
        assert!(serde_json::from_str::<ConnectCode>("\"x\"").is_err());
    }

    proptest! {
        #[test]
        fn random_codes_never_start_with_zero(_seed in 0u8..255) {
            let text = ConnectCode::random().to_string();
            prop_assert_eq!(text.len(), 9);
            prop_assert!(!text.starts_with('0'));
        }

        #[test]
        fn every_nine_digit_string_becomes_a_code(value in 0i64..1_000_000_000) {
            let code = ConnectCode::from_digits(&format!("{value:09}")).unwrap();
            prop_assert!(ConnectCode::new(code.get()).is_ok());
            if value >= LOWEST {
                prop_assert_eq!(code.get(), value);
            }
        }
    }
}
