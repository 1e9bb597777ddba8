//! Re-deriving a session's billing record from its calls (SPEC §3.1), and
//! the duplicate rule, which looks at the host's other sessions.

use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::journal::ROWS_PER_INSERT;
use super::outbox::{self, After, Before};
use super::pending::{DerivedRow, Pending, duplicates_earlier};
pub(super) use super::session_facts::{Loaded, NamedCall, SessionFacts};
use super::session_facts::{load, load_all, persons_in};
use super::{Conn, Db, INSERT_MANY, next_block};
use crate::domain::calls::{billable_instant, duration_minutes, guests_in_order_of_arrival};
use crate::domain::status::{
    BillableSession, StatusFacts, billable_status, is_duplicate_of, join_guest_names,
};
use crate::domain::{BillableStatus, Call, Party, SessionState, Timestamp};
use crate::store::{Counter, Rules, StoreError};

/// Why a session's status changed, for the audit log.
pub(super) struct Cause<'a> {
    pub(super) reason: &'a str,
    pub(super) actor: &'a str,
}

/// Re-derives a session, then the later sessions of the same host whose
/// duplicate status may depend on it.
pub(super) async fn refresh_with_neighbours(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let loaded = load(&mut *conn, company_id, session_id).await?;
    let deriving = Deriving { now, cause, rules };
    refresh_all_with_neighbours(
        &mut *conn,
        &deriving,
        vec![((company_id, session_id), Some(loaded))],
    )
    .await
}

/// When and why sessions are derived again, under which rules.
pub(super) struct Deriving<'a> {
    pub(super) now: Timestamp,
    pub(super) cause: &'a Cause<'a>,
    pub(super) rules: &'a Rules,
}

/// Re-derives each session (from what the caller loaded, or from the
/// database when `None`), each followed by its neighbours, in order; the
/// derived fields are written and the status changes recorded together at
/// the end.
pub(super) async fn refresh_all_with_neighbours(
    conn: &mut Conn,
    deriving: &Deriving<'_>,
    sessions: Vec<((i64, i64), Option<Loaded>)>,
) -> Result<(), StoreError> {
    let mut pending = Pending::prefetch(&mut *conn, &sessions, deriving.rules).await?;
    let mut audits = Vec::new();
    // A session re-derived as a neighbour has moved on from what the caller
    // loaded: it is read again.
    let mut rederived: HashSet<(i64, i64)> = HashSet::new();
    for ((company_id, session_id), loaded) in sessions {
        let loaded = match loaded {
            Some(loaded) if !rederived.contains(&(company_id, session_id)) => loaded,
            _ => pending.load(&mut *conn, company_id, session_id).await?,
        };
        let refreshed = derive_and_store(
            &mut *conn,
            &mut pending,
            deriving,
            (company_id, session_id),
            loaded,
            deriving.cause,
            &mut audits,
        )
        .await?;
        let Some(billable_ts) = refreshed.billable_ts else {
            continue;
        };
        let window = pending
            .window(&mut *conn, company_id, deriving.rules)
            .await?;
        let this = BillableSession {
            session_id,
            billable_ts,
        };
        let later = pending
            .billable_between(
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
                let loaded = pending
                    .load(&mut *conn, company_id, other.session_id)
                    .await?;
                derive_and_store(
                    &mut *conn,
                    &mut pending,
                    deriving,
                    (company_id, other.session_id),
                    loaded,
                    &neighbour_cause,
                    &mut audits,
                )
                .await?;
                rederived.insert((company_id, other.session_id));
            }
        }
    }
    finish_run(conn, &mut pending, &audits, deriving).await
}

/// Re-derives every billable session of a company, after its DUPL window
/// changed: in runs of [`ROWS_PER_INSERT`] sessions in the order they became
/// billable, each run reading what the duplicate rule looks at up front.
/// A status depends on the other sessions' billable instants and persons,
/// never on their statuses, so the runs are independent of each other.
pub(super) async fn refresh_company(
    conn: &mut Conn,
    company_id: i64,
    deriving: &Deriving<'_>,
) -> Result<(), StoreError> {
    let session_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE company_id = $1 AND history_group = 0
         ORDER BY history_ts, session_id",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    for run in session_ids.chunks(ROWS_PER_INSERT) {
        let keys: Vec<(i64, i64)> = run.iter().map(|&id| (company_id, id)).collect();
        let mut loaded = load_all(&mut *conn, &keys).await?;
        let sessions: Vec<((i64, i64), Option<Loaded>)> =
            keys.iter().map(|key| (*key, loaded.remove(key))).collect();
        let mut pending = Pending::prefetch(&mut *conn, &sessions, deriving.rules).await?;
        let mut audits = Vec::new();
        for (key, loaded) in sessions {
            let Some(loaded) = loaded else { continue };
            derive_and_store(
                &mut *conn,
                &mut pending,
                deriving,
                key,
                loaded,
                deriving.cause,
                &mut audits,
            )
            .await?;
        }
        finish_run(&mut *conn, &mut pending, &audits, deriving).await?;
    }
    Ok(())
}

pub(super) struct Refreshed {
    host_user_id: i64,
    billable_ts: Option<Timestamp>,
}

/// Recomputes and stores every derived field of one session from its calls.
pub(super) async fn refresh(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let loaded = load(&mut *conn, company_id, session_id).await?;
    let deriving = Deriving { now, cause, rules };
    let mut pending = Pending::default();
    let mut audits = Vec::new();
    derive_and_store(
        &mut *conn,
        &mut pending,
        &deriving,
        (company_id, session_id),
        loaded,
        cause,
        &mut audits,
    )
    .await?;
    finish_run(conn, &mut pending, &audits, &deriving).await
}

/// A change of a session's billing status, for the audit log.
pub(super) struct StatusChange {
    company_id: i64,
    session_id: i64,
    at: Timestamp,
    old_status: Option<String>,
    new_status: Option<&'static str>,
    reason: String,
    actor: String,
}

/// Computes a session's derived fields from what was loaded and keeps them
/// in `pending`; a status change is added to `audits`.
async fn derive_and_store(
    conn: &mut Conn,
    pending: &mut Pending,
    deriving: &Deriving<'_>,
    (company_id, session_id): (i64, i64),
    Loaded {
        facts,
        calls: named,
    }: Loaded,
    cause: &Cause<'_>,
    audits: &mut Vec<StatusChange>,
) -> Result<Refreshed, StoreError> {
    let persons = persons_in(&named);
    let mut names: HashMap<Party, String> = HashMap::new();
    let mut positions: HashMap<i64, i64> = HashMap::new();
    let calls: Vec<Call> = named
        .into_iter()
        .map(
            |NamedCall {
                 call,
                 name,
                 position,
                 ..
             }| {
                if call.party != Party::Host {
                    names.insert(call.party, name.unwrap_or_default());
                }
                if let (Party::Participation(id), Some(position)) = (call.party, position) {
                    positions.insert(id, position);
                }
                call
            },
        )
        .collect();

    let billable_ts = billable_instant(facts.billable_ts.map(Timestamp::from_micros), &calls);
    let duration = duration_minutes(&calls, facts.state == SessionState::Active);
    let invited = |id: i64| positions.get(&id).copied().unwrap_or(i64::MAX);
    let guest_names: Vec<String> = guests_in_order_of_arrival(&calls, invited)
        .into_iter()
        .map(|party| names.remove(&party).unwrap_or_default())
        .collect();
    let support_connected = calls
        .iter()
        .any(|call| matches!(call.party, Party::Support(_)));
    let duplicates_earlier_session = match billable_ts {
        Some(at) if !facts.comped && !support_connected => {
            let this = BillableSession {
                session_id,
                billable_ts: at,
            };
            duplicates_earlier(
                &mut *conn,
                pending,
                company_id,
                facts.host_user_id,
                this,
                &persons,
                deriving.rules,
            )
            .await?
        }
        _ => false,
    };
    let status = billable_status(StatusFacts {
        billable_ts,
        comped: facts.comped,
        support_connected,
        duplicates_earlier_session,
    });
    let guest_line = join_guest_names(&guest_names);
    let first_connect = calls.iter().map(|call| call.connect.as_micros()).min();
    let (history_group, history_ts) = match billable_ts {
        Some(at) => (0i64, at.as_micros()),
        None => (1, facts.schedule_ts),
    };
    pending.record(
        facts.host_user_id,
        DerivedRow {
            company_id,
            session_id,
            billable_ts: billable_ts.map(Timestamp::as_micros),
            duration_minutes: duration,
            status: status.map(BillableStatus::code),
            guest_names: guest_line.clone(),
            history_group,
            history_ts,
        },
    );

    pending.persons.insert((company_id, session_id), persons);
    let new_status = status.map(BillableStatus::code);
    pending.outbox.track(
        (company_id, session_id),
        || Before {
            status: facts.status.clone(),
            duration_minutes: facts.duration_minutes,
        },
        After {
            host_user_id: facts.host_user_id,
            schedule_ts: facts.schedule_ts,
            billable_ts: billable_ts.map(Timestamp::as_micros),
            duration_minutes: duration,
            status: new_status,
            guest_names: guest_line,
            first_connect,
        },
    );
    if facts.status.as_deref() != new_status {
        audits.push(StatusChange {
            company_id,
            session_id,
            at: deriving.now,
            old_status: facts.status,
            new_status,
            reason: cause.reason.to_owned(),
            actor: cause.actor.to_owned(),
        });
    }
    Ok(Refreshed {
        host_user_id: facts.host_user_id,
        billable_ts,
    })
}

/// Ends a run of derivations: writes the derived fields, the status changes
/// and the webhook messages they cause.
async fn finish_run(
    conn: &mut Conn,
    pending: &mut Pending,
    audits: &[StatusChange],
    deriving: &Deriving<'_>,
) -> Result<(), StoreError> {
    pending.flush(&mut *conn).await?;
    store_audits(&mut *conn, audits).await?;
    outbox::write_derived(
        conn,
        std::mem::take(&mut pending.outbox),
        deriving.now,
        deriving.rules,
    )
    .await
}

/// Records status changes, several rows a statement, numbered in order.
async fn store_audits(conn: &mut Conn, audits: &[StatusChange]) -> Result<(), StoreError> {
    if audits.is_empty() {
        return Ok(());
    }
    let ids = next_block(&mut *conn, Counter::Entity, audits.len()).await?;
    let rows: Vec<(i64, &StatusChange)> = ids.into_iter().zip(audits).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{INSERT_MANY} status_audit (company_id, audit_id, session_id, at_us, old_status, new_status, reason, actor) "
        ));
        sql.push_values(chunk, |mut row, (audit_id, change)| {
            row.push_bind(change.company_id)
                .push_bind(*audit_id)
                .push_bind(change.session_id)
                .push_bind(change.at.as_micros())
                .push_bind(change.old_status.clone())
                .push_bind(change.new_status)
                .push_bind(change.reason.clone())
                .push_bind(change.actor.clone());
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
