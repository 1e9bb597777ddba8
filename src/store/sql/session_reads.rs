//! Session API reads (SPEC §6): sessions with their participations and first
//! connections, a session's calls, and the sessions due for deactivation.
//! Each read is one snapshot, scoped to the company first.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::{Conn, Db, Pool};
use crate::domain::{ConnectCode, SessionState, Timestamp};
use crate::store::{CallView, Participation, Session, SessionQuery, StoreError};

type SessionRow = (
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    String,
    i64,
    String,
    Option<i64>,
);

type ParticipationRow = (
    i64,
    i64,
    bool,
    String,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
);

/// The sessions the query selects, as a condition on `sessions s`.
fn push_selection(sql: &mut QueryBuilder<Db>, query: &SessionQuery, session_id: Option<i64>) {
    sql.push(" s.company_id = ").push_bind(query.company_id);
    match session_id {
        // One session by id: whatever its state but cancelled.
        Some(id) => {
            sql.push(" AND s.session_id = ")
                .push_bind(id)
                .push(" AND s.state <> 'cancelled'");
        }
        None => {
            sql.push(" AND s.state = 'active'");
        }
    }
    if let Some(user_id) = query.host_user_id {
        sql.push(" AND s.host_user_id = ").push_bind(user_id);
    }
    if let Some(email) = &query.participant_email {
        sql.push(
            " AND s.session_id IN (SELECT p.session_id FROM persons n
               JOIN participations p ON p.company_id = n.company_id AND p.person_id = n.person_id
               WHERE n.company_id = ",
        )
        .push_bind(query.company_id)
        .push(" AND n.email_key = ")
        .push_bind(email.clone())
        .push(" AND p.removed_us IS NULL)");
    }
}

/// The selected sessions, by ScheduleTs then SessionId, each with its
/// participations (host first) and their first connections.
async fn read_sessions(
    conn: &mut Conn,
    query: &SessionQuery,
    session_id: Option<i64>,
) -> Result<Vec<Session>, StoreError> {
    let mut sql = QueryBuilder::new(
        "SELECT s.session_id, s.schedule_ts, s.billable_ts, s.duration_minutes, s.status, s.host_user_id,
                s.schedule_type, s.connect_code, s.state, s.state_changed_us
         FROM sessions s WHERE",
    );
    push_selection(&mut sql, query, session_id);
    sql.push(" ORDER BY s.schedule_ts, s.session_id");
    let rows: Vec<SessionRow> = sql.build_query_as().fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    // A participation of one of the company's users carries that user's
    // SMS number, resolution and time zone where the invitation gave none
    // (SPEC §6): the user's current ones, deleted or not.
    let mut sql = QueryBuilder::new(
        "SELECT p.session_id, p.participation_id, p.is_host, p.full_name, p.secure_video_user_id,
                p.email_address,
                COALESCE(NULLIF(p.sms_number, ''), u.sms_number, ''),
                COALESCE(NULLIF(p.default_resolution, ''), u.default_resolution, ''),
                COALESCE(NULLIF(p.time_zone_windows_id, ''), u.time_zone_windows_id, ''),
                p.external_id, p.connect_code, p.should_auto_deliver_code
         FROM participations p JOIN sessions s ON s.company_id = p.company_id AND s.session_id = p.session_id
         LEFT JOIN users u ON u.company_id = p.company_id AND u.user_id = p.secure_video_user_id
         WHERE p.removed_us IS NULL AND",
    );
    push_selection(&mut sql, query, session_id);
    sql.push(" ORDER BY p.session_id, p.position");
    let participations: Vec<ParticipationRow> = sql.build_query_as().fetch_all(&mut *conn).await?;

    // First connection per (session, participation); the host's calls carry
    // no participation id, so they are keyed by None.
    let mut sql = QueryBuilder::new(
        "SELECT c.session_id, c.participation_id, MIN(c.connect_ts)
         FROM calls c JOIN sessions s ON s.company_id = c.company_id AND s.session_id = c.session_id
         WHERE c.party <> 'Support' AND c.connect_ts IS NOT NULL AND",
    );
    push_selection(&mut sql, query, session_id);
    sql.push(" GROUP BY c.session_id, c.participation_id");
    let first_connections: HashMap<(i64, Option<i64>), i64> = sql
        .build_query_as::<(i64, Option<i64>, Option<i64>)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .filter_map(|(session, participation, first)| Some(((session, participation), first?)))
        .collect();

    // An invitation stops admitting when its session is deactivated.
    let mut expiries: HashMap<i64, Timestamp> = HashMap::new();
    for row in &rows {
        if let (Ok(SessionState::Deactivated), Some(at)) = (row.8.parse::<SessionState>(), row.9) {
            expiries.insert(row.0, Timestamp::from_micros(at));
        }
    }
    let mut by_session: HashMap<i64, Vec<Participation>> = HashMap::new();
    for row in participations {
        let (
            session,
            participation_id,
            is_host,
            full_name,
            secure_video_user_id,
            email,
            sms,
            resolution,
            time_zone,
            external_id,
            connect_code,
            deliver,
        ) = row;
        let key = (session, (!is_host).then_some(participation_id));
        by_session.entry(session).or_default().push(Participation {
            participation_id,
            participant_full_name: full_name,
            secure_video_user_id,
            participant_email_address: email,
            participant_sms_number: sms,
            participant_default_resolution: resolution,
            participant_time_zone_windows_id: time_zone,
            participant_external_id: external_id,
            connect_code: stored_code(connect_code)?,
            should_auto_deliver_code: deliver,
            connection_ts: first_connections
                .get(&key)
                .copied()
                .map(Timestamp::from_micros),
            expires_ts: expiries.get(&session).copied(),
            rsvp: "Unknown".to_owned(),
        });
    }
    rows.into_iter()
        .map(|row| {
            let (session_id, schedule_ts, billable_ts, duration, status, user_id, kind, code, _, _) =
                row;
            Ok(Session {
                session_id,
                schedule_ts: Timestamp::from_micros(schedule_ts),
                billable_ts: billable_ts.map(Timestamp::from_micros),
                duration_minutes: duration,
                billable_status_cd: status,
                user_id,
                schedule_type: kind,
                is_recorded: false,
                connect_code: stored_code(code)?,
                participants: by_session.remove(&session_id).unwrap_or_default(),
            })
        })
        .collect()
}

/// A stored code outside the nine digits was written behind the service's back.
fn stored_code(code: i64) -> Result<ConnectCode, StoreError> {
    ConnectCode::new(code)
        .map_err(|invalid| StoreError::Database(sqlx::Error::Decode(Box::new(invalid))))
}

async fn require_active_user(
    conn: &mut Conn,
    company_id: i64,
    user_id: i64,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM users WHERE company_id = $1 AND user_id = $2 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound("User not found".into()))
}

/// The company's (or one host's) active sessions.
pub(crate) async fn sessions(pool: &Pool, query: SessionQuery) -> Result<Vec<Session>, StoreError> {
    let mut tx = pool.begin().await?;
    if let Some(user_id) = query.host_user_id {
        require_active_user(&mut tx, query.company_id, user_id).await?;
    }
    read_sessions(&mut tx, &query, None).await
}

/// One session of the company, active or deactivated; never a cancelled one.
pub(crate) async fn session(
    pool: &Pool,
    company_id: i64,
    session_id: i64,
) -> Result<Option<Session>, StoreError> {
    let mut tx = pool.begin().await?;
    let query = SessionQuery {
        company_id,
        ..SessionQuery::default()
    };
    Ok(read_sessions(&mut tx, &query, Some(session_id))
        .await?
        .pop())
}

/// One participation, as its session shows it.
pub(crate) async fn participation(
    pool: &Pool,
    company_id: i64,
    participation_id: i64,
) -> Result<Option<Participation>, StoreError> {
    let session_id: Option<i64> = sqlx::query_scalar(
        "SELECT session_id FROM participations WHERE company_id = $1 AND participation_id = $2",
    )
    .bind(company_id)
    .bind(participation_id)
    .fetch_optional(pool)
    .await?;
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    Ok(session(pool, company_id, session_id)
        .await?
        .and_then(|session| {
            session
                .participants
                .into_iter()
                .find(|p| p.participation_id == participation_id)
        }))
}

type CallRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// Every participant-call of a session, in order of connection; the host's
/// calls name its own participation.
pub(crate) async fn calls(
    pool: &Pool,
    company_id: i64,
    session_id: i64,
) -> Result<Vec<CallView>, StoreError> {
    let mut tx = pool.begin().await?;
    let host: Option<(String, String)> = sqlx::query_as(
        "SELECT state, host_full_name FROM sessions WHERE company_id = $1 AND session_id = $2",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let host_name = match host {
        Some((state, name)) if state.parse::<SessionState>()? != SessionState::Cancelled => name,
        _ => return Err(StoreError::NotFound("Session not found".into())),
    };
    let host_participation: Option<i64> = sqlx::query_scalar(
        "SELECT participation_id FROM participations WHERE company_id = $1 AND session_id = $2 AND is_host = TRUE",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let rows: Vec<CallRow> = sqlx::query_as(
        "SELECT c.call_id, c.party, c.participation_id, c.support_agent_id,
                COALESCE(p.full_name, a.full_name), c.connect_ts, c.disconnect_ts
         FROM calls c
         LEFT JOIN participations p ON p.company_id = c.company_id AND p.participation_id = c.participation_id
         LEFT JOIN support_agents a ON a.support_agent_id = c.support_agent_id
         WHERE c.company_id = $1 AND c.session_id = $2",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut calls: Vec<CallView> = rows
        .into_iter()
        .map(
            |(call_id, party, participation_id, agent_id, name, connect, disconnect)| {
                let is_host = party == "Host";
                CallView {
                    call_id,
                    participation_id: if is_host {
                        host_participation
                    } else {
                        participation_id
                    },
                    support_agent_id: agent_id,
                    full_name: if is_host {
                        host_name.clone()
                    } else {
                        name.unwrap_or_default()
                    },
                    party,
                    connect_ts: connect.map(Timestamp::from_micros),
                    disconnect_ts: disconnect.map(Timestamp::from_micros),
                }
            },
        )
        .collect();
    // Connected calls by connection time; a Disconnect still waiting for
    // its Connect goes last.
    calls.sort_by(|a, b| {
        (a.connect_ts.is_none(), a.connect_ts, &a.call_id).cmp(&(
            b.connect_ts.is_none(),
            b.connect_ts,
            &b.call_id,
        ))
    });
    Ok(calls)
}

/// Active sessions whose scheduled day (UTC) ended before `today_starts` and
/// that have seen no activity since `idle_since` (SPEC §3.2), company by
/// company so each scan is an indexed range of one company's sessions.
pub(crate) async fn sessions_due_for_deactivation(
    pool: &Pool,
    today_starts: Timestamp,
    idle_since: Timestamp,
) -> Result<Vec<i64>, StoreError> {
    let companies: Vec<i64> =
        sqlx::query_scalar("SELECT company_id FROM companies ORDER BY company_id")
            .fetch_all(pool)
            .await?;
    let mut due = Vec::new();
    for company_id in companies {
        let sessions: Vec<i64> = sqlx::query_scalar(
            "SELECT session_id FROM sessions
             WHERE company_id = $1 AND state = 'active' AND schedule_ts < $2 AND last_activity_us <= $3
             ORDER BY session_id",
        )
        .bind(company_id)
        .bind(today_starts.as_micros())
        .bind(idle_since.as_micros())
        .fetch_all(pool)
        .await?;
        due.extend(sessions);
    }
    Ok(due)
}
