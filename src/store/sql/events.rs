//! Connection events and the session actions that change derived fields:
//! each change re-derives the session's stored billing record (SPEC §3.1).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::billing::{Cause, Deriving, Loaded, refresh_all_with_neighbours};
use sqlx::QueryBuilder;

use super::calls::{
    Calls, Key, Participants, StoredCall, calls_of, mark_activity, named_calls, participations_of,
    store_calls, support_agent_names,
};
use super::journal::{self, Held, next_id};
use super::{Conn, Db, Pool, begin_write, commit, next_block, push_id_list};
use crate::domain::events::{EventBatch, describe};
use crate::domain::{SessionState, Timestamp};
use crate::records::{ConnectionEvent, EventKind, LogLine, PartyKind, Record};
use crate::store::{Counter, EventOutcome, Rules, StoreError, TimedBatch};

const EVENTS: Cause<'static> = Cause {
    reason: "connection events",
    actor: "system",
};

/// Applies batches of connection events in one transaction, one outcome per
/// batch. A batch that fails changes nothing and leaves the others to
/// commit: the transaction is then rolled back and the batches applied again,
/// a transaction each. A failure of the group's transaction itself (begin,
/// rollback, commit) fails every batch: after a full disk, say, SQLite has
/// already rolled back a transaction whose failing statement had no
/// statement journal (`INSERT OR FAIL`), and each batch then fails with the
/// error that ended it.
pub(crate) async fn apply_event_batches(
    pool: &Pool,
    batches: &[TimedBatch],
    rules: &Rules,
) -> Vec<Result<EventOutcome, StoreError>> {
    if let [batch] = batches {
        return vec![apply_alone(pool, batch, rules).await];
    }
    match apply_together(pool, batches, rules).await {
        Ok(Together::Applied(outcomes)) => outcomes.into_iter().map(Ok).collect(),
        Ok(Together::OneFailed) => {
            let mut outcomes = Vec::with_capacity(batches.len());
            for batch in batches {
                outcomes.push(apply_alone(pool, batch, rules).await);
            }
            outcomes
        }
        Err(error) => {
            let message = error.to_string();
            let mut outcomes = vec![Err(error)];
            outcomes.extend(
                (1..batches.len())
                    .map(|_| Err(StoreError::Io(std::io::Error::other(message.clone())))),
            );
            outcomes
        }
    }
}

/// What applying a group of batches together came to.
enum Together {
    /// Every batch applied, and committed.
    Applied(Vec<EventOutcome>),
    /// One of several batches failed, and the transaction was rolled back.
    OneFailed,
}

/// Applies the batches one after the other in one transaction with no
/// savepoints. A savepoint per batch would let a failing batch be undone
/// alone, but SQLite copies every page a batch changes into the savepoint's
/// journal before changing it (at full size, about 7 % of the ingest rate;
/// bench/README.md, "Group commit"), and batches rarely fail.
async fn apply_together(
    pool: &Pool,
    batches: &[TimedBatch],
    rules: &Rules,
) -> Result<Together, StoreError> {
    let mut tx = begin_write(pool).await?;
    // One transaction: each company is locked and moved on once for all.
    let mut held = Held::default();
    let mut outcomes = Vec::with_capacity(batches.len());
    for (events, now) in batches {
        match apply_events(&mut tx, &mut held, events, *now, None, rules).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                if tx.rollback().await.is_err() {
                    // SQLite ended the transaction itself (or the connection
                    // is gone): `error` says why.
                    return Err(error);
                }
                return Ok(Together::OneFailed);
            }
        }
    }
    commit(tx, crate::store::Touched::Data).await?;
    Ok(Together::Applied(outcomes))
}

/// Applies one batch in a transaction of its own: its outcome, whichever it is.
async fn apply_alone(
    pool: &Pool,
    (events, now): &TimedBatch,
    rules: &Rules,
) -> Result<EventOutcome, StoreError> {
    let mut tx = begin_write(pool).await?;
    let outcome = apply_events(&mut tx, &mut Held::default(), events, *now, None, rules).await?;
    commit(tx, crate::store::Touched::Data).await?;
    Ok(outcome)
}

/// Applies a batch in the caller's transaction: checked whole, every event
/// or none. `batch` is the number of a replayed batch, if any.
pub(super) async fn apply_events(
    conn: &mut Conn,
    held: &mut Held,
    events: &EventBatch,
    now: Timestamp,
    batch: Option<i64>,
    rules: &Rules,
) -> Result<EventOutcome, StoreError> {
    let events = events.events();
    let batch = match batch {
        Some(number) => number,
        None => next_id(&mut *conn).await?,
    };

    // Sessions in (company, session) order; within a session, events keep
    // their batch order.
    let companies = companies_of_sessions(&mut *conn, events).await?;
    let mut sessions: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (index, (_, event)) in events.iter().enumerate() {
        let company_id = companies[&event.session_id];
        sessions
            .entry((company_id, event.session_id))
            .or_default()
            .push(index);
    }
    let mut company_ids: Vec<i64> = companies.values().copied().collect();
    company_ids.sort_unstable();
    company_ids.dedup();
    journal::lock_companies(&mut *conn, held, &company_ids).await?;
    let touched = apply_sessions(&mut *conn, sessions, events, (now, batch), rules).await?;
    journal::touch_companies(&mut *conn, held, &touched.companies).await?;
    // Every event was either new or seen before: a bad one fails the batch.
    Ok(EventOutcome {
        accepted: touched.events as u64,
        duplicates: (events.len() - touched.events) as u64,
    })
}

/// What a batch changed.
struct Touched {
    events: usize,
    companies: Vec<i64>,
}

/// The company of every session the batch names, in one query; an unknown
/// session is named by the first event that refers to it.
async fn companies_of_sessions(
    conn: &mut Conn,
    events: &[(EventKind, ConnectionEvent)],
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut session_ids: Vec<i64> = events.iter().map(|(_, event)| event.session_id).collect();
    session_ids.sort_unstable();
    session_ids.dedup();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT session_id, company_id FROM session_directory WHERE session_id IN ",
    );
    push_id_list(&mut sql, &session_ids);
    let companies: HashMap<i64, i64> = sql
        .build_query_as::<(i64, i64)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    if let Some((index, (_, event))) = events
        .iter()
        .enumerate()
        .find(|(_, (_, event))| !companies.contains_key(&event.session_id))
    {
        return Err(StoreError::Invalid(format!(
            "{}: session {} does not exist",
            describe(index, event),
            event.session_id
        )));
    }
    Ok(companies)
}

/// The batch's sessions, their companies' rows already locked. Every read
/// and write is one statement for the whole batch, but for the derived
/// fields of each session.
async fn apply_sessions(
    conn: &mut Conn,
    sessions: BTreeMap<Key, Vec<usize>>,
    events: &[(EventKind, ConnectionEvent)],
    (now, batch): (Timestamp, i64),
    rules: &Rules,
) -> Result<Touched, StoreError> {
    let fresh_by_session = fresh_events(&mut *conn, sessions, events).await?;
    let fresh_count = fresh_by_session.iter().map(|(_, fresh)| fresh.len()).sum();
    if fresh_count == 0 {
        return Ok(Touched {
            events: 0,
            companies: Vec::new(),
        });
    }
    let mut seqs = next_block(&mut *conn, Counter::Journal, fresh_count)
        .await?
        .into_iter();
    let mut lines = Vec::with_capacity(fresh_count);

    // What the batch's sessions hold now, a query each for all of them.
    let keys: Vec<Key> = fresh_by_session
        .iter()
        .filter(|(_, fresh)| !fresh.is_empty())
        .map(|(key, _)| *key)
        .collect();
    let mut states = mark_activity(&mut *conn, &keys, now).await?;
    let mut participations = participations_of(&mut *conn, &keys).await?;
    let mut stored_calls = calls_of(&mut *conn, &keys).await?;
    let mut changed_calls: Vec<(Key, String, StoredCall)> = Vec::new();
    // Each session's calls after the batch, with its participations.
    let mut derivable: Vec<(Key, Calls, Participants)> = Vec::new();
    let mut agent_names: HashMap<i64, String> = HashMap::new();

    for (key, fresh) in fresh_by_session {
        let Some(&first_index) = fresh.first() else {
            continue;
        };
        let state = states.get(&key).map(|facts| facts.state);
        check_takes_events(state, key.1, first_index, &events[first_index].1)?;
        let participations = participations.remove(&key).unwrap_or_default();
        let mut calls = stored_calls.remove(&key).unwrap_or_default();
        for index in fresh {
            let (kind, event) = &events[index];
            let party =
                CallOwner::of(&mut *conn, &mut agent_names, &participations, index, event).await?;
            record_on_call(&mut calls, *kind, event, party, index)?;
            let seq = seqs.next().expect("one number per new event");
            lines.push(event_line(key.0, seq, *kind, event, (now, batch)));
        }
        changed_calls.extend(
            calls
                .iter()
                .filter(|(_, call)| call.changed)
                .map(|(call_id, call)| (key, call_id.clone(), call.clone())),
        );
        derivable.push((key, calls, participations));
    }
    store_calls(&mut *conn, &changed_calls).await?;

    // Every call is stored before any session is derived again, so a
    // session re-derived as another's neighbour already sees its new calls.
    let agents: Vec<i64> = derivable
        .iter()
        .flat_map(|(_, calls, _)| calls.values())
        .filter_map(|call| call.support_agent_id)
        .filter(|id| !agent_names.contains_key(id))
        .collect();
    agent_names.extend(support_agent_names(&mut *conn, &agents).await?);
    let mut sessions = Vec::with_capacity(derivable.len());
    for (key, calls, participations) in derivable {
        let facts = states
            .remove(&key)
            .expect("every session with new events was checked above");
        let calls = named_calls(calls, &participations, &agent_names);
        sessions.push((key, Some(Loaded { facts, calls })));
    }
    let deriving = Deriving {
        now,
        cause: &EVENTS,
        rules,
    };
    refresh_all_with_neighbours(&mut *conn, &deriving, sessions).await?;
    journal::append_events(&mut *conn, &lines).await?;
    let mut companies: Vec<i64> = lines.iter().map(|line| line.company_id).collect();
    companies.dedup();
    Ok(Touched {
        events: lines.len(),
        companies,
    })
}

/// Each session's events not seen before (in this batch or an earlier
/// one). Already-seen events are skipped before anything else is checked,
/// so a client re-delivering an acknowledged batch always gets a 2xx, even
/// after the session was deactivated.
async fn fresh_events(
    conn: &mut Conn,
    sessions: BTreeMap<Key, Vec<usize>>,
    events: &[(EventKind, ConnectionEvent)],
) -> Result<Vec<(Key, Vec<usize>)>, StoreError> {
    let event_ids: Vec<(i64, &str)> = sessions
        .iter()
        .flat_map(|(&(company_id, _), indexes)| {
            indexes
                .iter()
                .map(move |&index| (company_id, events[index].1.event_id.as_str()))
        })
        .collect();
    let known = journal::known_events(&mut *conn, &event_ids).await?;
    let mut seen: HashSet<(i64, &str)> = HashSet::new();
    Ok(sessions
        .into_iter()
        .map(|(key, indexes)| {
            let fresh = indexes
                .into_iter()
                .filter(|&index| {
                    let event_id = events[index].1.event_id.as_str();
                    seen.insert((key.0, event_id)) && !known.contains(&(key.0, event_id.to_owned()))
                })
                .collect();
            (key, fresh)
        })
        .collect())
}

/// Only an active session takes new events; a cancelled one is as if it
/// never existed.
fn check_takes_events(
    state: Option<SessionState>,
    session_id: i64,
    first_index: usize,
    first: &ConnectionEvent,
) -> Result<(), StoreError> {
    match state {
        Some(SessionState::Active) => Ok(()),
        Some(SessionState::Cancelled) | None => Err(StoreError::Invalid(format!(
            "{}: session {session_id} does not exist",
            describe(first_index, first)
        ))),
        Some(SessionState::Deactivated) => Err(StoreError::Conflict(format!(
            "{}: session {session_id} has been deactivated and takes no more events",
            describe(first_index, first)
        ))),
    }
}

/// The party an event's call belongs to, as stored: (kind, participation,
/// agent). The host's own participation is the host.
struct CallOwner {
    kind: PartyKind,
    participation_id: Option<i64>,
    support_agent_id: Option<i64>,
}

impl CallOwner {
    async fn of(
        conn: &mut Conn,
        agent_names: &mut HashMap<i64, String>,
        participations: &Participants,
        index: usize,
        event: &ConnectionEvent,
    ) -> Result<Self, StoreError> {
        let session_id = event.session_id;
        let (kind, participation_id, support_agent_id) = match event.party {
            PartyKind::Host => (PartyKind::Host, None, None),
            PartyKind::Participant => {
                let id = event.participation_id.expect("EventBatch::parse checked");
                match participations.get(&id).map(|p| (p.is_host, p.removed)) {
                    Some((true, _)) => (PartyKind::Host, None, None),
                    Some((false, false)) => (PartyKind::Participant, Some(id), None),
                    _ => {
                        return Err(StoreError::Invalid(format!(
                            "{}: participation {id} is not part of session {session_id}",
                            describe(index, event)
                        )));
                    }
                }
            }
            PartyKind::Support => {
                let id = event.support_agent_id.expect("EventBatch::parse checked");
                if !agent_names.contains_key(&id) {
                    agent_names.extend(support_agent_names(&mut *conn, &[id]).await?);
                    if !agent_names.contains_key(&id) {
                        return Err(StoreError::Invalid(format!(
                            "{}: support agent {id} does not exist",
                            describe(index, event)
                        )));
                    }
                }
                (PartyKind::Support, None, Some(id))
            }
        };
        Ok(Self {
            kind,
            participation_id,
            support_agent_id,
        })
    }
}

/// Sets the event's end of its call: a call belongs to one party, each end
/// is set once (the same time again is a repeat), and it never ends before
/// it starts.
fn record_on_call(
    calls: &mut Calls,
    kind: EventKind,
    event: &ConnectionEvent,
    party: CallOwner,
    index: usize,
) -> Result<(), StoreError> {
    let owner = (party.kind, party.participation_id, party.support_agent_id);
    let call = calls.entry(event.call_id.clone()).or_insert(StoredCall {
        party: party.kind,
        participation_id: party.participation_id,
        support_agent_id: party.support_agent_id,
        connect: None,
        disconnect: None,
        changed: true,
    });
    if (call.party, call.participation_id, call.support_agent_id) != owner {
        return Err(StoreError::Invalid(format!(
            "{}: CallId '{}' belongs to another party",
            describe(index, event),
            event.call_id
        )));
    }
    let at = event.ts.as_micros();
    let (slot, verb) = match kind {
        EventKind::Connect => (&mut call.connect, "connected"),
        EventKind::Disconnect => (&mut call.disconnect, "disconnected"),
    };
    match *slot {
        Some(earlier) if earlier != at => {
            return Err(StoreError::Invalid(format!(
                "{}: call '{}' already {verb} at {}",
                describe(index, event),
                event.call_id,
                Timestamp::from_micros(earlier)
            )));
        }
        _ => *slot = Some(at),
    }
    if let (Some(connect), Some(disconnect)) = (call.connect, call.disconnect)
        && disconnect < connect
    {
        return Err(StoreError::Invalid(format!(
            "{}: call '{}' disconnects at {} before it connects at {}",
            describe(index, event),
            event.call_id,
            Timestamp::from_micros(disconnect),
            Timestamp::from_micros(connect)
        )));
    }
    call.changed = true;
    Ok(())
}

/// The journal's line for a new event.
fn event_line(
    company_id: i64,
    seq: i64,
    kind: EventKind,
    event: &ConnectionEvent,
    (now, batch): (Timestamp, i64),
) -> journal::EventLine {
    let record = match kind {
        EventKind::Connect => Record::Connect(event.clone()),
        EventKind::Disconnect => Record::Disconnect(event.clone()),
    };
    journal::EventLine {
        company_id,
        seq,
        event_id: event.event_id.clone(),
        line: LogLine {
            record,
            recorded_ts: Some(now),
            batch: Some(batch),
        },
    }
}
