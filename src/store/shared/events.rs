//! Connection events and the session actions that change derived fields:
//! each change re-derives the session's stored billing record (SPEC §3.1).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::derive::{
    Cause, Deriving, Loaded, NamedCall, SessionFacts, refresh_all_with_neighbours,
};
use sqlx::QueryBuilder;

use super::journal::{self, Held, next_id};
use super::{
    Conn, Db, Pool, UPDATE_MANY, begin_write, commit, next_block, push_id_list, push_keys,
};
use crate::domain::{Call, Party, Timestamp};
use crate::records::{ConnectionEvent, EventKind, LogLine, PartyKind, Record};
use crate::store::{Counter, EventBatch, EventOutcome, Rules, StoreError};

pub const MAX_BATCH: usize = 1_000;

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
    batches: &[EventBatch],
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
/// bench/README.md, "Thirteenth session"), and batches rarely fail.
async fn apply_together(
    pool: &Pool,
    batches: &[EventBatch],
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
    (events, now): &EventBatch,
    rules: &Rules,
) -> Result<EventOutcome, StoreError> {
    let mut tx = begin_write(pool).await?;
    let outcome = apply_events(&mut tx, &mut Held::default(), events, *now, None, rules).await?;
    commit(tx, crate::store::Touched::Data).await?;
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
    held: &mut Held,
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

/// A session: (company, session).
type Key = (i64, i64);

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
    // Already-seen events are skipped before anything else is checked, so
    // a client re-delivering an acknowledged batch always gets a 2xx, even
    // after the session was deactivated.
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
    let fresh_by_session: Vec<(Key, Vec<usize>)> = sessions
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
        .collect();
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
        let session_id = key.1;
        let Some(&first_index) = fresh.first() else {
            continue;
        };
        let first = &events[first_index].1;
        match states.get(&key).map(|facts| facts.state.as_str()) {
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
        let participations = participations.remove(&key).unwrap_or_default();
        let mut calls = stored_calls.remove(&key).unwrap_or_default();

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
                company_id: key.0,
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
            let (party, name, person_id, position) = match (
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
                        participant.map(|p| p.position),
                    )
                }
                (PartyKind::Support, _, Some(id)) => (
                    Party::Support(id),
                    agent_names.get(&id).cloned(),
                    None,
                    None,
                ),
                _ => (Party::Host, None, None, None),
            };
            Some(NamedCall {
                call: Call {
                    party,
                    connect: Timestamp::from_micros(connect),
                    disconnect: stored.disconnect.map(Timestamp::from_micros),
                },
                name,
                person_id,
                position,
            })
        })
        .collect()
}

/// Records activity on the sessions and returns the facts of each that exists.
async fn mark_activity(
    conn: &mut Conn,
    keys: &[Key],
    now: Timestamp,
) -> Result<HashMap<Key, SessionFacts>, StoreError> {
    let mut sql =
        QueryBuilder::<Db>::new(format!("{UPDATE_MANY} sessions SET last_activity_us = "));
    sql.push_bind(now.as_micros()).push(" FROM ");
    push_keys(&mut sql, keys);
    sql.push(
        " WHERE sessions.company_id = k.column1 AND sessions.session_id = k.column2
         RETURNING company_id, session_id, host_user_id, schedule_ts, state, comped, billable_ts, status",
    );
    /// A session's key beside its facts.
    #[derive(sqlx::FromRow)]
    struct Marked {
        company_id: i64,
        session_id: i64,
        #[sqlx(flatten)]
        facts: SessionFacts,
    }
    Ok(sql
        .build_query_as::<Marked>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|marked| ((marked.company_id, marked.session_id), marked.facts))
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
    /// Its place in the session: invitation order.
    position: i64,
}

/// Each session's participations by id.
async fn participations_of(
    conn: &mut Conn,
    keys: &[Key],
) -> Result<HashMap<Key, Participants>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT p.company_id, p.session_id, p.participation_id, p.is_host, p.removed_us, p.full_name,
                p.person_id, p.position
         FROM ",
    );
    push_keys(&mut sql, keys);
    sql.push(" JOIN participations p ON p.company_id = k.column1 AND p.session_id = k.column2");
    let mut by_session: HashMap<Key, Participants> = HashMap::new();
    for (company_id, session_id, id, is_host, removed, full_name, person_id, position) in sql
        .build_query_as::<(i64, i64, i64, bool, Option<i64>, String, i64, i64)>()
        .fetch_all(&mut *conn)
        .await?
    {
        let participant = Participant {
            is_host,
            removed: removed.is_some(),
            full_name,
            person_id,
            position,
        };
        by_session
            .entry((company_id, session_id))
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
async fn calls_of(conn: &mut Conn, keys: &[Key]) -> Result<HashMap<Key, Calls>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT c.company_id, c.session_id, c.call_id, c.party, c.participation_id, c.support_agent_id,
                c.connect_ts, c.disconnect_ts
         FROM ",
    );
    push_keys(&mut sql, keys);
    sql.push(" JOIN calls c ON c.company_id = k.column1 AND c.session_id = k.column2");
    let mut by_session: HashMap<Key, Calls> = HashMap::new();
    let rows = sql
        .build_query_as::<CallRow>()
        .fetch_all(&mut *conn)
        .await?;
    for (
        company_id,
        session_id,
        call_id,
        party,
        participation_id,
        support_agent_id,
        connect,
        disconnect,
    ) in rows
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
            .entry((company_id, session_id))
            .or_default()
            .insert(call_id, call);
    }
    Ok(by_session)
}

/// Inserts or updates the changed calls, several rows a statement.
async fn store_calls(
    conn: &mut Conn,
    calls: &[(Key, String, StoredCall)],
) -> Result<(), StoreError> {
    for chunk in calls.chunks(journal::ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id,
                 connect_ts, disconnect_ts) ",
        );
        sql.push_values(
            chunk,
            |mut row, ((company_id, session_id), call_id, call)| {
                row.push_bind(*company_id)
                    .push_bind(*session_id)
                    .push_bind(call_id.clone())
                    .push_bind(call.party.as_str())
                    .push_bind(call.participation_id)
                    .push_bind(call.support_agent_id)
                    .push_bind(call.connect)
                    .push_bind(call.disconnect);
            },
        );
        sql.push(
            " ON CONFLICT (company_id, session_id, call_id)
             DO UPDATE SET connect_ts = excluded.connect_ts, disconnect_ts = excluded.disconnect_ts",
        );
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
