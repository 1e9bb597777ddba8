//! From a provider's notices to connection events (SPEC §12): the room is a
//! session (`session-{id}` or a bound room), the identity a participation
//! (`p{id}`) or a support agent (`s{id}`), the provider's connection id the
//! CallId and its event id the EventId; a room's end disconnects every call
//! still open. The events then go through the same pipeline as the
//! operator's batches, with its idempotency and ordering rules.

use crate::domain::{
    ConnectionEvent, EventBatch, EventKind, PartyKind, Text, Timestamp, check_text,
};
use crate::providers::{Identity, Notice, NoticeKind, Provider};
use crate::store::{EventOutcome, Store, StoreError};

/// What became of a webhook's notices.
pub enum Fed {
    Applied(EventOutcome),
    /// Authentic, but not for a session and party the ledger knows (or for
    /// a session that takes no more events): kept for the operator.
    Unmatched(String),
}

pub async fn feed(
    store: &Store,
    provider: Provider,
    notices: &[Notice],
    now: Timestamp,
) -> Result<Fed, StoreError> {
    let mut events = Vec::new();
    for notice in notices {
        // The same limits as every other door, before the room is looked
        // up; the reason kept names the field, not the text.
        if let Err(invalid) = check_text("room", &notice.room, Text::RoomId) {
            return Ok(Fed::Unmatched(invalid.0));
        }
        let Some((company_id, session_id)) =
            store.room_session(provider.name(), &notice.room).await?
        else {
            return Ok(Fed::Unmatched(format!(
                "room '{}' is no session: not session-{{SessionId}} and not bound",
                notice.room
            )));
        };
        let (kind, identity, connection) = match &notice.kind {
            NoticeKind::Joined {
                identity,
                connection,
            } => (EventKind::Connect, identity, connection),
            NoticeKind::Left {
                identity,
                connection,
            } => {
                if already_ended(store, company_id, session_id, connection).await? {
                    continue;
                }
                (EventKind::Disconnect, identity, connection)
            }
            NoticeKind::RoomEnded => {
                let open = store.open_calls(company_id, session_id).await?;
                events.extend(open.into_iter().map(|call| {
                    let event = ConnectionEvent {
                        event_id: format!("{}:{}", notice.event_id, call.call_id),
                        session_id,
                        party: call.party,
                        participation_id: call.participation_id,
                        support_agent_id: call.support_agent_id,
                        ts: notice.at.max(call.connected),
                        call_id: call.call_id,
                    };
                    (EventKind::Disconnect, event)
                }));
                continue;
            }
        };
        if let Some(Err(invalid)) = identity
            .as_deref()
            .map(|identity| check_text("identity", identity, Text::EventId))
        {
            return Ok(Fed::Unmatched(invalid.0));
        }
        let Some(party) = identity.as_deref().and_then(Identity::parse) else {
            return Ok(Fed::Unmatched(format!(
                "identity '{}' is neither p{{ParticipationId}} nor s{{SupportAgentId}}",
                identity.as_deref().unwrap_or_default()
            )));
        };
        let (party, participation_id, support_agent_id) = match party {
            Identity::Participation(id) => (PartyKind::Participant, Some(id), None),
            Identity::SupportAgent(id) => (PartyKind::Support, None, Some(id)),
        };
        events.push((
            kind,
            ConnectionEvent {
                event_id: notice.event_id.clone(),
                session_id,
                party,
                participation_id,
                support_agent_id,
                call_id: connection.clone(),
                ts: notice.at,
            },
        ));
    }
    if events.is_empty() {
        return Ok(Fed::Applied(EventOutcome {
            accepted: 0,
            duplicates: 0,
        }));
    }
    let batch = match EventBatch::parse(events) {
        Ok(batch) => batch,
        Err(invalid) => return Ok(Fed::Unmatched(invalid.0)),
    };
    match store.apply_events(batch, now).await {
        Ok(outcome) => Ok(Fed::Applied(outcome)),
        Err(
            StoreError::Invalid(reason)
            | StoreError::Conflict(reason)
            | StoreError::NotFound(reason),
        ) => Ok(Fed::Unmatched(reason)),
        Err(other) => Err(other),
    }
}

/// Whether the call has ended already (a room's end came first): a leave
/// reported after it changes nothing.
async fn already_ended(
    store: &Store,
    company_id: i64,
    session_id: i64,
    call_id: &str,
) -> Result<bool, StoreError> {
    let calls = match store.calls(company_id, session_id).await {
        Ok(calls) => calls,
        Err(StoreError::NotFound(_)) => return Ok(false),
        Err(other) => return Err(other),
    };
    Ok(calls
        .iter()
        .any(|call| call.call_id == call_id && call.disconnect_ts.is_some()))
}
