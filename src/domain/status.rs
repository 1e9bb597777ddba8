//! Billing status and the invoice line (SPEC §3.1).

use std::fmt;

use super::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillableStatus {
    /// Counts towards the company's included sessions, billed beyond them.
    Bill,
    /// A support agent took part; never counted.
    Svco,
    /// A likely second attempt at the same meeting; never counted.
    Dupl,
    /// Comped by the operator; never counted.
    Comp,
}

impl BillableStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Bill => "BILL",
            Self::Svco => "SVCO",
            Self::Dupl => "DUPL",
            Self::Comp => "COMP",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "BILL" => Some(Self::Bill),
            "SVCO" => Some(Self::Svco),
            "DUPL" => Some(Self::Dupl),
            "COMP" => Some(Self::Comp),
            _ => None,
        }
    }
}

impl fmt::Display for BillableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What the status rules need to know about one session.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts {
    pub billable_ts: Option<Timestamp>,
    pub comped: bool,
    pub support_connected: bool,
    pub duplicates_earlier_session: bool,
}

/// The status rules in their order of precedence.
pub fn billable_status(facts: StatusFacts) -> Option<BillableStatus> {
    facts.billable_ts?;
    Some(if facts.comped {
        BillableStatus::Comp
    } else if facts.support_connected {
        BillableStatus::Svco
    } else if facts.duplicates_earlier_session {
        BillableStatus::Dupl
    } else {
        BillableStatus::Bill
    })
}

/// A billable session, as seen by the duplicate rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillableSession {
    pub session_id: i64,
    pub billable_ts: Timestamp,
}

/// Whether `earlier` makes `this` a likely duplicate: it became billable first
/// (or at the same instant with a smaller id) and at most `window_minutes`
/// before. The caller checks same company, same host, and a shared guest.
pub fn is_duplicate_of(
    this: BillableSession,
    earlier: BillableSession,
    window_minutes: i64,
) -> bool {
    let first = (earlier.billable_ts, earlier.session_id) < (this.billable_ts, this.session_id);
    first && earlier.billable_ts.plus_minutes(window_minutes) >= this.billable_ts
}

/// The names of the parties other than the host, as the invoice line lists them.
pub fn join_guest_names(names: &[String]) -> String {
    names.join(", ")
}

/// The line that appears on invoices and activity downloads; `guest_names`
/// as made by [`join_guest_names`], empty when nobody else connected.
pub fn usage_description(
    host_full_name: &str,
    session_id: i64,
    guest_names: &str,
    status: Option<BillableStatus>,
    platform_name: &str,
) -> String {
    let mut line = format!("{host_full_name} Session #{session_id}");
    if !guest_names.is_empty() {
        line.push_str(" with ");
        line.push_str(guest_names);
    }
    line.push_str(" - ");
    match status {
        Some(BillableStatus::Bill) => line.push_str("Counted Session"),
        Some(BillableStatus::Svco) => line.push_str(&format!(
            "Session with {platform_name} - does not count towards billable limits"
        )),
        Some(BillableStatus::Dupl) => {
            line.push_str("Likely Duplicate - does not count towards billable limits")
        }
        Some(BillableStatus::Comp) => line.push_str(&format!(
            "Comped by {platform_name} - does not count towards billable limits"
        )),
        None => line.push_str("Not Connected"),
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(billable: bool) -> StatusFacts {
        StatusFacts {
            billable_ts: billable.then(|| Timestamp::from_micros(1)),
            comped: false,
            support_connected: false,
            duplicates_earlier_session: false,
        }
    }

    #[test]
    fn status_is_null_until_billable() {
        let mut f = facts(false);
        f.comped = true;
        f.support_connected = true;
        assert_eq!(billable_status(f), None);
    }

    #[test]
    fn status_rules_apply_in_order() {
        assert_eq!(billable_status(facts(true)), Some(BillableStatus::Bill));
        let mut f = facts(true);
        f.duplicates_earlier_session = true;
        assert_eq!(billable_status(f), Some(BillableStatus::Dupl));
        f.support_connected = true;
        assert_eq!(billable_status(f), Some(BillableStatus::Svco));
        f.comped = true;
        assert_eq!(billable_status(f), Some(BillableStatus::Comp));
    }

    fn billable(session_id: i64, minutes: i64) -> BillableSession {
        BillableSession {
            session_id,
            billable_ts: Timestamp::from_micros(0).plus_minutes(minutes),
        }
    }

    #[test]
    fn duplicate_window_is_inclusive_and_one_sided() {
        assert!(is_duplicate_of(billable(2, 60), billable(1, 0), 60));
        assert!(!is_duplicate_of(billable(2, 61), billable(1, 0), 60));
        assert!(!is_duplicate_of(billable(1, 0), billable(2, 60), 60));
        assert!(!is_duplicate_of(billable(1, 0), billable(1, 0), 60));
    }

    #[test]
    fn simultaneous_sessions_defer_to_the_smaller_id() {
        assert!(is_duplicate_of(billable(5, 10), billable(4, 10), 60));
        assert!(!is_duplicate_of(billable(4, 10), billable(5, 10), 60));
    }

    #[test]
    fn reproduces_the_seed_descriptions() {
        assert_eq!(
            usage_description(
                "Aaron Johnson",
                105236,
                "Trevor Stamp",
                Some(BillableStatus::Bill),
                "SecureVideo.com"
            ),
            "Aaron Johnson Session #105236 with Trevor Stamp - Counted Session"
        );
        let guests =
            join_guest_names(&["Dewey Gladstone", "Xiao Chu", "Marisa Zendejas"].map(String::from));
        assert_eq!(
            usage_description(
                "Jonathan Vernon",
                105022,
                &guests,
                Some(BillableStatus::Svco),
                "SecureVideo.com"
            ),
            "Jonathan Vernon Session #105022 with Dewey Gladstone, Xiao Chu, Marisa Zendejas - Session with SecureVideo.com - does not count towards billable limits"
        );
    }

    #[test]
    fn describes_every_other_status() {
        assert_eq!(
            usage_description("Ann Lee", 7, "", None, "Support"),
            "Ann Lee Session #7 - Not Connected"
        );
        assert_eq!(
            usage_description("Ann Lee", 7, "Bo", Some(BillableStatus::Dupl), "Support"),
            "Ann Lee Session #7 with Bo - Likely Duplicate - does not count towards billable limits"
        );
        assert_eq!(
            usage_description("Ann Lee", 7, "Bo", Some(BillableStatus::Comp), "Acme"),
            "Ann Lee Session #7 with Bo - Comped by Acme - does not count towards billable limits"
        );
    }
}
