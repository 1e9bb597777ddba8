//! Connection events as the video infrastructure reports them (SPEC §7),
//! and the batch they arrive in, checked for what needs no database.

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::limits::{Text, check_text};

/// A connection event as the video infrastructure reports it (SPEC §7); its
/// `Type` (`Connect` or `Disconnect`) is the record's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionEvent {
    pub event_id: String,
    pub session_id: i64,
    pub party: PartyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_agent_id: Option<i64>,
    pub call_id: String,
    pub ts: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PartyKind {
    Host,
    Participant,
    Support,
}

impl PartyKind {
    /// The party as stored; anything but `Host` and `Participant` is `Support`.
    pub fn from_stored(name: &str) -> Self {
        match name {
            "Host" => Self::Host,
            "Participant" => Self::Participant,
            _ => Self::Support,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "Host",
            Self::Participant => "Participant",
            Self::Support => "Support",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Connect,
    Disconnect,
}

/// A batch of connection events whose shape is valid (SPEC §7): 1 to
/// [`EventBatch::MAX`] events, ids of 1 to 128 characters, and the ids each
/// party takes. Whether its sessions and parties exist is the store's to say.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch(Vec<(EventKind, ConnectionEvent)>);

/// Why a batch is not valid, naming the event at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBatch(pub String);

impl EventBatch {
    /// Most events one batch may hold.
    pub const MAX: usize = 1_000;

    pub fn parse(events: Vec<(EventKind, ConnectionEvent)>) -> Result<Self, InvalidBatch> {
        if events.is_empty() || events.len() > Self::MAX {
            return Err(InvalidBatch(format!(
                "a batch holds 1 to {} events, not {}",
                Self::MAX,
                events.len()
            )));
        }
        for (index, (_, event)) in events.iter().enumerate() {
            check_event(index, event)?;
        }
        Ok(Self(events))
    }

    pub fn events(&self) -> &[(EventKind, ConnectionEvent)] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How an event is named in an error: its place in the batch and its id.
pub fn describe(index: usize, event: &ConnectionEvent) -> String {
    format!("event {index} (EventId '{}')", event.event_id)
}

fn check_event(index: usize, event: &ConnectionEvent) -> Result<(), InvalidBatch> {
    let what = || describe(index, event);
    if event.event_id.is_empty() || event.event_id.chars().count() > 128 {
        return Err(InvalidBatch(format!(
            "event {index}: EventId must be 1 to 128 characters"
        )));
    }
    // Named by place only: the id itself is what is wrong.
    check_text(
        &format!("event {index}: EventId"),
        &event.event_id,
        Text::EventId,
    )
    .map_err(|invalid| InvalidBatch(invalid.0))?;
    if event.call_id.is_empty() || event.call_id.chars().count() > 128 {
        return Err(InvalidBatch(format!(
            "{}: CallId must be 1 to 128 characters",
            what()
        )));
    }
    check_text(
        &format!("{}: CallId", what()),
        &event.call_id,
        Text::EventId,
    )
    .map_err(|invalid| InvalidBatch(invalid.0))?;
    let ids = (
        event.participation_id.is_some(),
        event.support_agent_id.is_some(),
    );
    let consistent = match event.party {
        PartyKind::Host => ids == (false, false),
        PartyKind::Participant => ids == (true, false),
        PartyKind::Support => ids == (false, true),
    };
    if !consistent {
        return Err(InvalidBatch(format!(
            "{}: Party Host takes no ids, Participant takes ParticipationId, Support takes SupportAgentId",
            what()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        party: PartyKind,
        participation_id: Option<i64>,
        support_agent_id: Option<i64>,
    ) -> ConnectionEvent {
        ConnectionEvent {
            event_id: "e1".into(),
            session_id: 1,
            party,
            participation_id,
            support_agent_id,
            call_id: "c1".into(),
            ts: Timestamp::parse("2016-11-03T21:46:16").unwrap(),
        }
    }

    #[test]
    fn a_batch_holds_one_to_a_thousand_events() {
        assert!(EventBatch::parse(Vec::new()).is_err());
        let one = (EventKind::Connect, event(PartyKind::Host, None, None));
        assert_eq!(EventBatch::parse(vec![one.clone()]).unwrap().len(), 1);
        assert!(EventBatch::parse(vec![one.clone(); EventBatch::MAX]).is_ok());
        let error = EventBatch::parse(vec![one; EventBatch::MAX + 1]).unwrap_err();
        assert_eq!(error.0, "a batch holds 1 to 1000 events, not 1001");
    }

    #[test]
    fn each_party_takes_its_own_ids() {
        let cases = [
            (PartyKind::Host, None, None, true),
            (PartyKind::Host, Some(1), None, false),
            (PartyKind::Participant, Some(1), None, true),
            (PartyKind::Participant, None, None, false),
            (PartyKind::Support, None, Some(1), true),
            (PartyKind::Support, Some(1), Some(1), false),
        ];
        for (party, participation, agent, valid) in cases {
            let batch = vec![(EventKind::Connect, event(party, participation, agent))];
            assert_eq!(EventBatch::parse(batch).is_ok(), valid, "{party:?}");
        }
    }

    #[test]
    fn ids_are_one_to_128_characters() {
        let mut long = event(PartyKind::Host, None, None);
        long.call_id = "c".repeat(129);
        let error = EventBatch::parse(vec![(EventKind::Connect, long)]).unwrap_err();
        assert_eq!(
            error.0,
            "event 0 (EventId 'e1'): CallId must be 1 to 128 characters"
        );
        let mut empty = event(PartyKind::Host, None, None);
        empty.event_id = String::new();
        assert!(EventBatch::parse(vec![(EventKind::Connect, empty)]).is_err());
    }

    #[test]
    fn ids_hold_no_control_characters() {
        let mut nul = event(PartyKind::Host, None, None);
        nul.event_id = "e\0".into();
        let error = EventBatch::parse(vec![(EventKind::Connect, nul)]).unwrap_err();
        assert_eq!(
            error.0,
            "event 0: EventId must not contain control characters such as NUL or line breaks (it contains U+0000)"
        );
        let mut tab = event(PartyKind::Host, None, None);
        tab.call_id = "c\t1".into();
        let error = EventBatch::parse(vec![(EventKind::Connect, tab)]).unwrap_err();
        assert!(
            error
                .0
                .starts_with("event 0 (EventId 'e1'): CallId must not contain control")
        );
    }

    #[test]
    fn stored_party_names_read_back() {
        for party in [PartyKind::Host, PartyKind::Participant, PartyKind::Support] {
            assert_eq!(PartyKind::from_stored(party.as_str()), party);
        }
    }
}
