//! Connection events and the session actions that change derived fields:
//! each change re-derives the session's stored billing record (SPEC §3.1).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::derive::{
    Cause, Deriving, Loaded, NamedCall, SessionFacts, refresh_all_with_neighbours,
};
use sqlx::QueryBuilder;

use super::journal::{self, next_id};
use super::{Conn, Db, Pool, begin_write, commit, next_block};
use crate::domain::{Call, Party, Timestamp};
use crate::records::{ConnectionEvent, EventKind, LogLine, PartyKind, Record};
use crate::store::{Counter, EventOutcome, Rules, StoreError};

pub const MAX_BATCH: usize = 1_000;

const EVENTS: Cause<'static> = Cause {
    reason: "connection events",
    actor: "system",
};

pub(crate) async fn apply_event_batch(
    pool: &Pool,
    events: Vec<(EventKind, ConnectionEvent)>,
    now: Timestamp,
    rules: &Rules,
) -> Result<EventOutcome, StoreError> {
    let mut tx = begin_write(pool).await?;
    let outcome = apply_events(&mut tx, &events, now, None, rules).await?;
    commit(tx).await?;
    Ok(outcome)
}

fn describe(index: usize, event: &ConnectionEvent) -> String {
    format!("event {index} (EventId '{}')", event.event_id)
}

/// What can be checked without the database.
fn check_shape(events: &[(EventKind, ConnectionEvent)]) -> Result<(), StoreError> {
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(StoreError::Invalid(format!(
            "a batch holds 1 to {MAX_BATCH} events, not {}",
            events.len()
        )));
    }
    for (index, (_, event)) in events.iter().enumerate() {
        let what = || describe(index, event);
        if event.event_id.is_empty() || event.event_id.chars().count() > 128 {
            return Err(StoreError::Invalid(format!(
                "event {index}: EventId must be 1 to 128 characters"
            )));
        }
        if event.call_id.is_empty() || event.call_id.chars().count() > 128 {
            return Err(StoreError::Invalid(format!(
                "{}: CallId must be 1 to 128 characters",
                what()
            )));
        }
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
            return Err(StoreError::Invalid(format!(
                "{}: Party Host takes no ids, Participant takes ParticipationId, Support takes SupportAgentId",
                what()
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct StoredCall {
    party: PartyKind,
    participation_id: Option<i64>,
    support_agent_id: Option<i64>,
    connect: Option<i64>,
    disconnect: Option<i64>,
    changed: bool,
}

type CallRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

pub(super) fn party_kind(name: &str) -> PartyKind {
    match name {
        "Host" => PartyKind::Host,
        "Participant" => PartyKind::Participant,
        _ => PartyKind::Support,
    }
}

/// Applies a batch in the caller's transaction: checked whole, every event
/// or none. `batch` is the number of a replayed batch, if any.
pub(super) async fn apply_events(
    conn: &mut Conn,
    events: &[(EventKind, ConnectionEvent)],
    now: Timestamp,
    batch: Option<i64>,
    rules: &Rules,
) -> Result<EventOutcome, StoreError> {
    check_shape(events)?;
    let batch = match batch {
        Some(number) => number,
        None => next_id(&mut *conn).await?,
    };

    // Companies, then sessions, in id order, so concurrent writers lock rows
    // in the same order; within a session, events keep their batch order.
    let companies = companies_of_sessions(&mut *conn, events).await?;
    let mut by_company: BTreeMap<i64, BTreeMap<i64, Vec<usize>>> = BTreeMap::new();
    for (index, (_, event)) in events.iter().enumerate() {
        let company_id = companies[&event.session_id];
        by_company
            .entry(company_id)
            .or_default()
            .entry(event.session_id)
            .or_default()
            .push(index);
    }

    let mut accepted = 0;
    let mut agent_names: HashMap<i64, String> = HashMap::new();
    for (company_id, sessions) in by_company {
        journal::lock_company(&mut *conn, company_id).await?;
        let accepted_here = apply_company_events(
            &mut *conn,
            company_id,
            sessions,
            events,
            (now, batch),
            &mut agent_names,
            rules,
        )
        .await?;
        if accepted_here > 0 {
            journal::touch_company(&mut *conn, company_id).await?;
        }
        accepted += accepted_here;
    }
    // Every event was either new or seen before: a bad one fails the batch.
    Ok(EventOutcome {
        accepted: accepted as u64,
        duplicates: (events.len() - accepted) as u64,
    })
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

/// One company's part of a batch, its row already locked: returns how many
/// events were new. Their journal lines are written together at the end.
async fn apply_company_events(
    conn: &mut Conn,
    company_id: i64,
    sessions: BTreeMap<i64, Vec<usize>>,
    events: &[(EventKind, ConnectionEvent)],
    (now, batch): (Timestamp, i64),
    agent_names: &mut HashMap<i64, String>,
    rules: &Rules,
) -> Result<usize, StoreError> {
    // Already-seen events are skipped before anything else is checked, so
    // a client re-delivering an acknowledged batch always gets a 2xx, even
    // after the session was deactivated.
    let event_ids: Vec<&str> = sessions
        .values()
        .flatten()
        .map(|&index| events[index].1.event_id.as_str())
        .collect();
    let known = journal::known_events(&mut *conn, company_id, &event_ids).await?;
    let mut seen: HashSet<&str> = HashSet::new();
    let fresh_by_session: Vec<(i64, Vec<usize>)> = sessions
        .into_iter()
        .map(|(session_id, indexes)| {
            let fresh = indexes
                .into_iter()
                .filter(|&index| {
                    let event_id = events[index].1.event_id.as_str();
                    seen.insert(event_id) && !known.contains(event_id)
                })
                .collect();
            (session_id, fresh)
        })
        .collect();
    let fresh_count = fresh_by_session.iter().map(|(_, fresh)| fresh.len()).sum();
    if fresh_count == 0 {
        return Ok(0);
    }
    let mut seqs = next_block(&mut *conn, Counter::Journal, fresh_count)
        .await?
        .into_iter();
    let mut lines = Vec::with_capacity(fresh_count);

    // What the batch's sessions hold now, a query each for all of them.
    let session_ids: Vec<i64> = fresh_by_session
        .iter()
        .filter(|(_, fresh)| !fresh.is_empty())
        .map(|(session_id, _)| *session_id)
        .collect();
    let mut states = mark_activity(&mut *conn, company_id, &session_ids, now).await?;
    let mut participations = participations_of(&mut *conn, company_id, &session_ids).await?;
    let mut stored_calls = calls_of(&mut *conn, company_id, &session_ids).await?;
    let mut changed_calls: Vec<(i64, String, StoredCall)> = Vec::new();
    // Each session's calls after the batch, with its participations.
    let mut derivable: Vec<(i64, Calls, Participants)> = Vec::new();

    for (session_id, fresh) in fresh_by_session {
        let Some(&first_index) = fresh.first() else {
            continue;
        };
        let first = &events[first_index].1;
        match states.get(&session_id).map(|facts| facts.state.as_str()) {
            Some("active") => {}
            Some("cancelled") | None => {
                return Err(StoreError::Invalid(format!(
                    "{}: session {session_id} does not exist",
                    describe(first_index, first)
                )));
            }
            Some(_) => {
                return Err(StoreError::Conflict(format!(
                    "{}: session {session_id} has been deactivated and takes no more events",
                    describe(first_index, first)
                )));
            }
        }
        let participations = participations.remove(&session_id).unwrap_or_default();
        let mut calls = stored_calls.remove(&session_id).unwrap_or_default();

        for index in fresh {
            let (kind, event) = &events[index];
            let (party, participation_id, support_agent_id) = match event.party {
                PartyKind::Host => (PartyKind::Host, None, None),
                PartyKind::Participant => {
                    let id = event.participation_id.expect("checked by check_shape");
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
                    let id = event.support_agent_id.expect("checked by check_shape");
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
            let call = calls.entry(event.call_id.clone()).or_insert(StoredCall {
                party,
                participation_id,
                support_agent_id,
                connect: None,
                disconnect: None,
                changed: true,
            });
            if (call.party, call.participation_id, call.support_agent_id)
                != (party, participation_id, support_agent_id)
            {
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
            let record = match kind {
                EventKind::Connect => Record::Connect(event.clone()),
                EventKind::Disconnect => Record::Disconnect(event.clone()),
            };
            lines.push(journal::EventLine {
                seq: seqs.next().expect("one number per new event"),
                event_id: event.event_id.clone(),
                line: LogLine {
                    record,
                    recorded_ts: Some(now),
                    batch: Some(batch),
                },
            });
        }
        changed_calls.extend(
            calls
                .iter()
                .filter(|(_, call)| call.changed)
                .map(|(call_id, call)| (session_id, call_id.clone(), call.clone())),
        );
        derivable.push((session_id, calls, participations));
    }
    store_calls(&mut *conn, company_id, &changed_calls).await?;

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
    for (session_id, calls, participations) in derivable {
        let facts = states
            .remove(&session_id)
            .expect("every session with new events was checked above");
        let calls = named_calls(calls, &participations, agent_names);
        sessions.push((session_id, Some(Loaded { facts, calls })));
    }
    let deriving = Deriving {
        company_id,
        now,
        cause: &EVENTS,
        rules,
    };
    refresh_all_with_neighbours(&mut *conn, &deriving, sessions).await?;
    journal::append_events(&mut *conn, company_id, &lines).await?;
    Ok(lines.len())
}

/// A session's connected calls, named, as `derive` reads them from the database.
fn named_calls(
    calls: HashMap<String, StoredCall>,
    participations: &HashMap<i64, Participant>,
    agent_names: &HashMap<i64, String>,
) -> Vec<NamedCall> {
    calls
        .into_values()
        .filter_map(|stored| {
            let connect = stored.connect?;
            let (party, name, person_id) = match (
                stored.party,
                stored.participation_id,
                stored.support_agent_id,
            ) {
                (PartyKind::Participant, Some(id), _) => {
                    let participant = participations.get(&id);
                    (
                        Party::Participation(id),
                        participant.map(|p| p.full_name.clone()),
                        participant.map(|p| p.person_id),
                    )
                }
                (PartyKind::Support, _, Some(id)) => {
                    (Party::Support(id), agent_names.get(&id).cloned(), None)
                }
                _ => (Party::Host, None, None),
            };
            Some(NamedCall {
                call: Call {
                    party,
                    connect: Timestamp::from_micros(connect),
                    disconnect: stored.disconnect.map(Timestamp::from_micros),
                },
                name,
                person_id,
            })
        })
        .collect()
}

/// Pushes `(a, b, …)` with the ids bound.
fn push_id_list(sql: &mut QueryBuilder<Db>, ids: &[i64]) {
    sql.push("(");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    sql.push(")");
}

/// Records activity on the sessions and returns the facts of each that exists.
async fn mark_activity(
    conn: &mut Conn,
    company_id: i64,
    session_ids: &[i64],
    now: Timestamp,
) -> Result<HashMap<i64, SessionFacts>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new("UPDATE sessions SET last_activity_us = ");
    sql.push_bind(now.as_micros())
        .push(" WHERE company_id = ")
        .push_bind(company_id)
        .push(" AND session_id IN ");
    push_id_list(&mut sql, session_ids);
    sql.push(
        " RETURNING session_id, host_user_id, schedule_ts, state, comped, billable_ts, status",
    );
    type FactsRow = (i64, i64, i64, String, bool, Option<i64>, Option<String>);
    Ok(sql
        .build_query_as::<FactsRow>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(
            |(session_id, host_user_id, schedule_ts, state, comped, billable_ts, status)| {
                let facts = SessionFacts {
                    host_user_id,
                    schedule_ts,
                    state,
                    comped,
                    billable_ts,
                    status,
                };
                (session_id, facts)
            },
        )
        .collect())
}

type Calls = HashMap<String, StoredCall>;
type Participants = HashMap<i64, Participant>;

/// A participation as the batch needs it.
struct Participant {
    is_host: bool,
    removed: bool,
    full_name: String,
    person_id: i64,
}

/// Each session's participations by id.
async fn participations_of(
    conn: &mut Conn,
    company_id: i64,
    session_ids: &[i64],
) -> Result<HashMap<i64, HashMap<i64, Participant>>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT session_id, participation_id, is_host, removed_us, full_name, person_id
         FROM participations WHERE company_id = ",
    );
    sql.push_bind(company_id).push(" AND session_id IN ");
    push_id_list(&mut sql, session_ids);
    let mut by_session: HashMap<i64, HashMap<i64, Participant>> = HashMap::new();
    for (session_id, id, is_host, removed, full_name, person_id) in sql
        .build_query_as::<(i64, i64, bool, Option<i64>, String, i64)>()
        .fetch_all(&mut *conn)
        .await?
    {
        let participant = Participant {
            is_host,
            removed: removed.is_some(),
            full_name,
            person_id,
        };
        by_session
            .entry(session_id)
            .or_default()
            .insert(id, participant);
    }
    Ok(by_session)
}

/// The names of those of `ids` that are support agents.
async fn support_agent_names(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT support_agent_id, full_name FROM support_agents WHERE support_agent_id IN ",
    );
    push_id_list(&mut sql, ids);
    Ok(sql
        .build_query_as::<(i64, String)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect())
}

/// Each session's stored calls by CallId.
async fn calls_of(
    conn: &mut Conn,
    company_id: i64,
    session_ids: &[i64],
) -> Result<HashMap<i64, HashMap<String, StoredCall>>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT session_id, call_id, party, participation_id, support_agent_id, connect_ts, disconnect_ts
         FROM calls WHERE company_id = ",
    );
    sql.push_bind(company_id).push(" AND session_id IN ");
    push_id_list(&mut sql, session_ids);
    let mut by_session: HashMap<i64, HashMap<String, StoredCall>> = HashMap::new();
    let rows = sql
        .build_query_as::<CallRow>()
        .fetch_all(&mut *conn)
        .await?;
    for (session_id, call_id, party, participation_id, support_agent_id, connect, disconnect) in
        rows
    {
        let call = StoredCall {
            party: party_kind(&party),
            participation_id,
            support_agent_id,
            connect,
            disconnect,
            changed: false,
        };
        by_session
            .entry(session_id)
            .or_default()
            .insert(call_id, call);
    }
    Ok(by_session)
}

/// Inserts or updates the changed calls, several rows a statement.
async fn store_calls(
    conn: &mut Conn,
    company_id: i64,
    calls: &[(i64, String, StoredCall)],
) -> Result<(), StoreError> {
    for chunk in calls.chunks(journal::ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id,
                 connect_ts, disconnect_ts) ",
        );
        sql.push_values(chunk, |mut row, (session_id, call_id, call)| {
            row.push_bind(company_id)
                .push_bind(*session_id)
                .push_bind(call_id.clone())
                .push_bind(call.party.as_str())
                .push_bind(call.participation_id)
                .push_bind(call.support_agent_id)
                .push_bind(call.connect)
                .push_bind(call.disconnect);
        });
        sql.push(
            " ON CONFLICT (company_id, session_id, call_id)
             DO UPDATE SET connect_ts = excluded.connect_ts, disconnect_ts = excluded.disconnect_ts",
        );
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
