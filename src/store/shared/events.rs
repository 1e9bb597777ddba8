//! Connection events and the session actions that change derived fields:
//! each change re-derives the session's stored billing record (SPEC §3.1).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::journal::{self, next_id};
use super::{Conn, Pool, begin_write};
use crate::domain::calls::{duration_minutes, first_overlap, guests_in_order_of_arrival};
use crate::domain::status::{
    BillableSession, StatusFacts, billable_status, is_duplicate_of, join_guest_names,
};
use crate::domain::{BillableStatus, Call, Party, Timestamp};
use crate::records::{
    CompRecord, ConnectionEvent, EventKind, LogLine, PartyKind, Record, SessionActionRecord,
};
use crate::store::{AuditEntry, EventOutcome, Rules, StoreError};

pub const MAX_BATCH: usize = 1_000;

/// Why a session's status changed, for the audit log.
struct Cause<'a> {
    reason: &'a str,
    actor: &'a str,
}

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
    tx.commit().await?;
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
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn party_kind(name: &str) -> PartyKind {
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

    // Sessions in (company, session) order, so concurrent writers lock rows
    // in the same order; within a session, events keep their batch order.
    let mut by_session: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
    let mut companies: HashMap<i64, i64> = HashMap::new();
    for (index, (_, event)) in events.iter().enumerate() {
        let company_id = match companies.get(&event.session_id) {
            Some(company_id) => *company_id,
            None => {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT company_id FROM session_directory WHERE session_id = $1",
                )
                .bind(event.session_id)
                .fetch_optional(&mut *conn)
                .await?;
                let company_id = found.ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "{}: session {} does not exist",
                        describe(index, event),
                        event.session_id
                    ))
                })?;
                companies.insert(event.session_id, company_id);
                company_id
            }
        };
        by_session
            .entry((company_id, event.session_id))
            .or_default()
            .push(index);
    }

    let mut outcome = EventOutcome {
        accepted: 0,
        duplicates: 0,
    };
    let mut seen: HashSet<(i64, &str)> = HashSet::new();
    let mut locked_company = None;
    let mut touched_companies: Vec<i64> = Vec::new();
    let mut known_agents: HashSet<i64> = HashSet::new();
    for ((company_id, session_id), indexes) in by_session {
        if locked_company != Some(company_id) {
            journal::lock_company(&mut *conn, company_id).await?;
            locked_company = Some(company_id);
        }
        // Already-seen events are skipped before anything else is checked, so
        // a client re-delivering an acknowledged batch always gets a 2xx,
        // even after the session was deactivated.
        let mut fresh = Vec::with_capacity(indexes.len());
        for index in indexes {
            let event_id = events[index].1.event_id.as_str();
            if !seen.insert((company_id, event_id))
                || journal::has_event(&mut *conn, company_id, event_id).await?
            {
                outcome.duplicates += 1;
            } else {
                fresh.push(index);
            }
        }
        let Some(&first_index) = fresh.first() else {
            continue;
        };
        let first = &events[first_index].1;
        let state: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET last_activity_us = $3 WHERE company_id = $1 AND session_id = $2 RETURNING state",
        )
        .bind(company_id)
        .bind(session_id)
        .bind(now.as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        match state.as_deref() {
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
        let participations: HashMap<i64, (bool, bool)> = sqlx::query_as::<_, (i64, bool, Option<i64>)>(
            "SELECT participation_id, is_host, removed_us FROM participations WHERE company_id = $1 AND session_id = $2",
        )
        .bind(company_id)
        .bind(session_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, is_host, removed)| (id, (is_host, removed.is_some())))
        .collect();
        let mut calls: HashMap<String, StoredCall> = sqlx::query_as::<_, CallRow>(
            "SELECT call_id, party, participation_id, support_agent_id, connect_ts, disconnect_ts
             FROM calls WHERE company_id = $1 AND session_id = $2",
        )
        .bind(company_id)
        .bind(session_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(
            |(call_id, party, participation_id, support_agent_id, connect, disconnect)| {
                let call = StoredCall {
                    party: party_kind(&party),
                    participation_id,
                    support_agent_id,
                    connect,
                    disconnect,
                    changed: false,
                };
                (call_id, call)
            },
        )
        .collect();

        let mut accepted_here = 0;
        for index in fresh {
            let (kind, event) = &events[index];
            let (party, participation_id, support_agent_id) = match event.party {
                PartyKind::Host => (PartyKind::Host, None, None),
                PartyKind::Participant => {
                    let id = event.participation_id.expect("checked by check_shape");
                    match participations.get(&id) {
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
                    if !known_agents.contains(&id) {
                        let found: Option<i64> =
                            sqlx::query_scalar("SELECT support_agent_id FROM support_agents WHERE support_agent_id = $1")
                                .bind(id)
                                .fetch_optional(&mut *conn)
                                .await?;
                        if found.is_none() {
                            return Err(StoreError::Invalid(format!(
                                "{}: support agent {id} does not exist",
                                describe(index, event)
                            )));
                        }
                        known_agents.insert(id);
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
            let line = LogLine {
                record,
                recorded_ts: Some(now),
                batch: Some(batch),
            };
            journal::append_without_touch(&mut *conn, company_id, Some(&event.event_id), &line)
                .await?;
            accepted_here += 1;
        }
        outcome.accepted += accepted_here;
        if accepted_here == 0 {
            continue;
        }
        for (call_id, call) in calls.iter().filter(|(_, call)| call.changed) {
            sqlx::query(
                "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id,
                     connect_ts, disconnect_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (company_id, session_id, call_id)
                 DO UPDATE SET connect_ts = excluded.connect_ts, disconnect_ts = excluded.disconnect_ts",
            )
            .bind(company_id)
            .bind(session_id)
            .bind(call_id)
            .bind(call.party.as_str())
            .bind(call.participation_id)
            .bind(call.support_agent_id)
            .bind(call.connect)
            .bind(call.disconnect)
            .execute(&mut *conn)
            .await?;
        }
        refresh_with_neighbours(&mut *conn, company_id, session_id, now, &EVENTS, rules).await?;
        if !touched_companies.contains(&company_id) {
            touched_companies.push(company_id);
        }
    }
    for company_id in touched_companies {
        journal::touch_company(&mut *conn, company_id).await?;
    }
    Ok(outcome)
}

/// Re-derives a session, then the later sessions of the same host whose
/// duplicate status may depend on it.
async fn refresh_with_neighbours(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let refreshed = refresh(&mut *conn, company_id, session_id, now, cause, rules).await?;
    let Some(billable_ts) = refreshed.billable_ts else {
        return Ok(());
    };
    let this = BillableSession {
        session_id,
        billable_ts,
    };
    let window = rules.duplicate_window_minutes;
    let later = host_sessions_billable_between(
        &mut *conn,
        (company_id, refreshed.host_user_id, session_id),
        billable_ts,
        billable_ts.plus_minutes(window),
    )
    .await?;
    let because = format!("re-evaluated after session {session_id} changed");
    let neighbour_cause = Cause {
        reason: &because,
        actor: "system",
    };
    for other in later {
        if is_duplicate_of(other, this, window) {
            refresh(
                &mut *conn,
                company_id,
                other.session_id,
                now,
                &neighbour_cause,
                rules,
            )
            .await?;
        }
    }
    Ok(())
}

struct Refreshed {
    host_user_id: i64,
    billable_ts: Option<Timestamp>,
}

type SessionFacts = (i64, i64, String, bool, Option<i64>, Option<String>);
type ConnectedCall = (
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// Recomputes and stores every derived field of one session from its calls.
async fn refresh(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<Refreshed, StoreError> {
    let (host_user_id, schedule_ts, state, comped, stored_billable, old_status): SessionFacts =
        sqlx::query_as(
            "SELECT host_user_id, schedule_ts, state, comped, billable_ts, status
         FROM sessions WHERE company_id = $1 AND session_id = $2",
        )
        .bind(company_id)
        .bind(session_id)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<ConnectedCall> = sqlx::query_as(
        "SELECT c.party, c.participation_id, c.support_agent_id, c.connect_ts, c.disconnect_ts,
                COALESCE(p.full_name, a.full_name), p.person_id
         FROM calls c
         LEFT JOIN participations p ON p.company_id = c.company_id AND p.participation_id = c.participation_id
         LEFT JOIN support_agents a ON a.support_agent_id = c.support_agent_id
         WHERE c.company_id = $1 AND c.session_id = $2 AND c.connect_ts IS NOT NULL",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_all(&mut *conn)
    .await?;

    let mut names: HashMap<Party, String> = HashMap::new();
    let mut persons: HashSet<i64> = HashSet::new();
    let calls: Vec<Call> = rows
        .into_iter()
        .map(
            |(party, participation_id, agent_id, connect, disconnect, name, person_id)| {
                let party = match (party_kind(&party), participation_id, agent_id) {
                    (PartyKind::Participant, Some(id), _) => Party::Participation(id),
                    (PartyKind::Support, _, Some(id)) => Party::Support(id),
                    _ => Party::Host,
                };
                if party != Party::Host {
                    names.insert(party, name.unwrap_or_default());
                    persons.extend(person_id);
                }
                Call {
                    party,
                    connect: Timestamp::from_micros(connect),
                    disconnect: disconnect.map(Timestamp::from_micros),
                }
            },
        )
        .collect();

    let billable_ts = stored_billable
        .map(Timestamp::from_micros)
        .or_else(|| first_overlap(&calls));
    let duration = duration_minutes(&calls, state == "active");
    let guest_names: Vec<String> = guests_in_order_of_arrival(&calls)
        .into_iter()
        .map(|party| names.remove(&party).unwrap_or_default())
        .collect();
    let support_connected = calls
        .iter()
        .any(|call| matches!(call.party, Party::Support(_)));
    let duplicates_earlier_session = match billable_ts {
        Some(at) if !comped && !support_connected => {
            let this = BillableSession {
                session_id,
                billable_ts: at,
            };
            duplicates_earlier(&mut *conn, company_id, host_user_id, this, &persons, rules).await?
        }
        _ => false,
    };
    let status = billable_status(StatusFacts {
        billable_ts,
        comped,
        support_connected,
        duplicates_earlier_session,
    });
    let (history_group, history_ts) = match billable_ts {
        Some(at) => (0i64, at.as_micros()),
        None => (1, schedule_ts),
    };
    sqlx::query(
        "UPDATE sessions SET billable_ts = $3, duration_minutes = $4, status = $5, guest_names = $6,
             history_group = $7, history_ts = $8
         WHERE company_id = $1 AND session_id = $2",
    )
    .bind(company_id)
    .bind(session_id)
    .bind(billable_ts.map(Timestamp::as_micros))
    .bind(duration)
    .bind(status.map(BillableStatus::code))
    .bind(join_guest_names(&guest_names))
    .bind(history_group)
    .bind(history_ts)
    .execute(&mut *conn)
    .await?;

    let new_status = status.map(BillableStatus::code);
    if old_status.as_deref() != new_status {
        let audit_id = next_id(&mut *conn).await?;
        sqlx::query(
            "INSERT INTO status_audit (company_id, audit_id, session_id, at_us, old_status, new_status, reason, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(company_id)
        .bind(audit_id)
        .bind(session_id)
        .bind(now.as_micros())
        .bind(old_status)
        .bind(new_status)
        .bind(cause.reason)
        .bind(cause.actor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Refreshed {
        host_user_id,
        billable_ts,
    })
}

/// The duplicate rule's database half: an earlier billable session of the
/// same host, inside the window, that one of this session's guests joined.
async fn duplicates_earlier(
    conn: &mut Conn,
    company_id: i64,
    host_user_id: i64,
    this: BillableSession,
    persons: &HashSet<i64>,
    rules: &Rules,
) -> Result<bool, StoreError> {
    if persons.is_empty() {
        return Ok(false);
    }
    let window = rules.duplicate_window_minutes;
    let earlier = host_sessions_billable_between(
        &mut *conn,
        (company_id, host_user_id, this.session_id),
        this.billable_ts.plus_minutes(-window),
        this.billable_ts,
    )
    .await?;
    for other in earlier {
        if !is_duplicate_of(this, other, window) {
            continue;
        }
        let their_persons: Vec<i64> = sqlx::query_scalar(
            "SELECT p.person_id FROM calls c
             JOIN participations p ON p.company_id = c.company_id AND p.participation_id = c.participation_id
             WHERE c.company_id = $1 AND c.session_id = $2 AND c.party = 'Participant' AND c.connect_ts IS NOT NULL",
        )
        .bind(company_id)
        .bind(other.session_id)
        .fetch_all(&mut *conn)
        .await?;
        if their_persons.iter().any(|person| persons.contains(person)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The billable sessions of a host, other than `except`, whose billable
/// instant lies in `[from, to]`: the candidates of the duplicate rule.
async fn host_sessions_billable_between(
    conn: &mut Conn,
    (company_id, host_user_id, except): (i64, i64, i64),
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<BillableSession>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT session_id, history_ts FROM sessions
         WHERE company_id = $1 AND host_user_id = $2 AND history_group = 0
           AND history_ts >= $3 AND history_ts <= $4 AND session_id <> $5",
    )
    .bind(company_id)
    .bind(host_user_id)
    .bind(from.as_micros())
    .bind(to.as_micros())
    .bind(except)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(session_id, at)| BillableSession {
            session_id,
            billable_ts: Timestamp::from_micros(at),
        })
        .collect())
}

/// The company of a session that can still be acted on.
async fn live_session(
    conn: &mut Conn,
    session_id: i64,
) -> Result<(i64, String, Option<i64>, bool), StoreError> {
    let row: Option<(i64, String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT s.company_id, s.state, s.billable_ts, s.comped FROM session_directory d
         JOIN sessions s ON s.company_id = d.company_id AND s.session_id = d.session_id
         WHERE d.session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) if row.1 != "cancelled" => Ok(row),
        _ => Err(StoreError::NotFound("Session not found".into())),
    }
}

pub(super) async fn deactivate(
    conn: &mut Conn,
    record: &SessionActionRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<i64, StoreError> {
    let (company_id, state, _, _) = live_session(&mut *conn, record.session_id).await?;
    if state != "active" {
        return Err(StoreError::Conflict(format!(
            "session {} is already deactivated",
            record.session_id
        )));
    }
    sqlx::query(
        "UPDATE sessions SET state = 'deactivated', state_changed_us = $3, last_activity_us = $3
         WHERE company_id = $1 AND session_id = $2",
    )
    .bind(company_id)
    .bind(record.session_id)
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await?;
    let cause = if record.automatic {
        Cause {
            reason: "deactivated after inactivity",
            actor: "system",
        }
    } else {
        Cause {
            reason: "deactivated",
            actor: "operator",
        }
    };
    refresh_with_neighbours(conn, company_id, record.session_id, now, &cause, rules).await?;
    Ok(company_id)
}

pub(super) async fn comp(
    conn: &mut Conn,
    record: &CompRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<i64, StoreError> {
    if record.reason.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Reason is required to comp a session".into(),
        ));
    }
    let (company_id, _, billable_ts, comped) = live_session(&mut *conn, record.session_id).await?;
    if billable_ts.is_none() {
        return Err(StoreError::Conflict(format!(
            "session {} is not billable, so it cannot be comped",
            record.session_id
        )));
    }
    if comped {
        return Err(StoreError::Conflict(format!(
            "session {} is already comped",
            record.session_id
        )));
    }
    set_comped(
        &mut *conn,
        company_id,
        record.session_id,
        Some(record.reason.trim()),
    )
    .await?;
    let cause = Cause {
        reason: record.reason.trim(),
        actor: "operator",
    };
    refresh(conn, company_id, record.session_id, now, &cause, rules).await?;
    Ok(company_id)
}

pub(super) async fn uncomp(
    conn: &mut Conn,
    record: &SessionActionRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<i64, StoreError> {
    let (company_id, _, _, comped) = live_session(&mut *conn, record.session_id).await?;
    if !comped {
        return Err(StoreError::Conflict(format!(
            "session {} is not comped",
            record.session_id
        )));
    }
    set_comped(&mut *conn, company_id, record.session_id, None).await?;
    let cause = Cause {
        reason: "comp withdrawn",
        actor: "operator",
    };
    refresh(conn, company_id, record.session_id, now, &cause, rules).await?;
    Ok(company_id)
}

async fn set_comped(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET comped = $3, comp_reason = $4 WHERE company_id = $1 AND session_id = $2")
        .bind(company_id)
        .bind(session_id)
        .bind(reason.is_some())
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn audit(pool: &Pool, session_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
    let company_id: Option<i64> =
        sqlx::query_scalar("SELECT company_id FROM session_directory WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(pool)
            .await?;
    let company_id = company_id.ok_or_else(|| StoreError::NotFound("Session not found".into()))?;
    type AuditRow = (i64, Option<String>, Option<String>, String, String);
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT at_us, old_status, new_status, reason, actor FROM status_audit
         WHERE company_id = $1 AND session_id = $2 ORDER BY audit_id",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, old_status, new_status, reason, actor)| AuditEntry {
            session_id,
            at: Timestamp::from_micros(at),
            old_status,
            new_status,
            reason,
            actor,
        })
        .collect())
}
