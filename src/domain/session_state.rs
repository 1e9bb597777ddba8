//! Where a session is in its life (SPEC §3.2): active until deactivated for
//! good, or cancelled before it became billable.

/// A session's state, stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Deactivated,
    Cancelled,
}

/// A stored state that is none of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session state '{0}'")]
pub struct UnknownState(pub String);

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for SessionState {
    type Err = UnknownState;

    fn from_str(name: &str) -> Result<Self, UnknownState> {
        match name {
            "active" => Ok(Self::Active),
            "deactivated" => Ok(Self::Deactivated),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(UnknownState(other.to_owned())),
        }
    }
}

impl TryFrom<String> for SessionState {
    type Error = UnknownState;

    fn try_from(name: String) -> Result<Self, UnknownState> {
        name.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_stored() {
        for state in [
            SessionState::Active,
            SessionState::Deactivated,
            SessionState::Cancelled,
        ] {
            assert_eq!(state.as_str().parse::<SessionState>(), Ok(state));
        }
        assert!("Active".parse::<SessionState>().is_err());
    }
}
