//! Re-deriving a session's billing record from its calls (SPEC §3.1), and
//! the duplicate rule, which looks at the host's other sessions.

use std::collections::{HashMap, HashSet};

use super::Conn;
use super::events::party_kind;
use super::journal::next_id;
use crate::domain::calls::{duration_minutes, first_overlap, guests_in_order_of_arrival};
use crate::domain::status::{
    BillableSession, StatusFacts, billable_status, is_duplicate_of, join_guest_names,
};
use crate::domain::{BillableStatus, Call, Party, Timestamp};
use crate::records::PartyKind;
use crate::store::{Rules, StoreError};

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

pub(super) struct Refreshed {
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
pub(super) async fn refresh(
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
