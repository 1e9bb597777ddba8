//! The operator's actions on a session: deactivate, comp and withdraw a
//! comp, each re-deriving the session; and the session's status audit.

use super::billing::{Cause, refresh, refresh_with_neighbours};
use super::outbox;
use super::{Conn, Pool};
use crate::domain::{SessionState, Timestamp};
use crate::records::{CompRecord, SessionActionRecord};
use crate::store::{AuditEntry, Rules, StoreError};

/// The company of a session that can still be acted on.
async fn live_session(
    conn: &mut Conn,
    session_id: i64,
) -> Result<(i64, SessionState, Option<i64>, bool), StoreError> {
    let row: Option<(i64, String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT s.company_id, s.state, s.billable_ts, s.comped FROM session_directory d
         JOIN sessions s ON s.company_id = d.company_id AND s.session_id = d.session_id
         WHERE d.session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await?;
    let Some((company_id, state, billable_ts, comped)) = row else {
        return Err(StoreError::NotFound("Session not found".into()));
    };
    match state.parse::<SessionState>()? {
        SessionState::Cancelled => Err(StoreError::NotFound("Session not found".into())),
        state => Ok((company_id, state, billable_ts, comped)),
    }
}

pub(super) async fn deactivate(
    conn: &mut Conn,
    record: &SessionActionRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<i64, StoreError> {
    let (company_id, state, _, _) = live_session(&mut *conn, record.session_id).await?;
    if state != SessionState::Active {
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
            reason: record.reason.as_deref().unwrap_or("deactivated"),
            actor: "operator",
        }
    };
    refresh_with_neighbours(
        &mut *conn,
        company_id,
        record.session_id,
        now,
        &cause,
        rules,
    )
    .await?;
    outbox::write_ended(conn, (company_id, record.session_id), now, rules).await?;
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
        reason: record.reason.as_deref().unwrap_or("comp withdrawn"),
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
