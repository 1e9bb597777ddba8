//! Video providers' webhooks (SPEC §12): rooms bound to sessions, the calls
//! a room's end closes, and the authentic webhooks that could not be
//! applied, kept for the operator.

use super::journal::next_id;
use super::{Conn, Pool};
use crate::domain::{PartyKind, Timestamp};
use crate::records::RoomRecord;
use crate::store::{OpenCall, StoreError, UnmatchedWebhook};

/// Binds a provider's room to a session of the record's company (the
/// operator's `PUT /operator/sessions/{id}/room`); a room bound before is
/// bound anew.
pub(super) async fn bind_room(conn: &mut Conn, record: &RoomRecord) -> Result<(), StoreError> {
    let room = record.room_id.trim();
    if room.is_empty() || room.chars().count() > 256 {
        return Err(StoreError::Invalid(
            "RoomId must be 1 to 256 characters".into(),
        ));
    }
    if crate::providers::Provider::from_name(&record.provider).is_none() {
        return Err(StoreError::Invalid(
            "Provider must be livekit, daily, zoom, vonage or whereby".into(),
        ));
    }
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE company_id = $1 AND session_id = $2 AND state <> 'cancelled'",
    )
    .bind(record.company_id)
    .bind(record.session_id)
    .fetch_optional(&mut *conn)
    .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound("Session not found".into()));
    }
    sqlx::query(
        "INSERT INTO provider_rooms (provider, room_id, company_id, session_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider, room_id) DO UPDATE SET company_id = $3, session_id = $4",
    )
    .bind(&record.provider)
    .bind(room)
    .bind(record.company_id)
    .bind(record.session_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session a provider's room is: a bound room, else `session-{id}`.
pub(crate) async fn room_session(
    pool: &Pool,
    provider: &str,
    room: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    let bound: Option<(i64, i64)> = sqlx::query_as(
        "SELECT company_id, session_id FROM provider_rooms WHERE provider = $1 AND room_id = $2",
    )
    .bind(provider)
    .bind(room)
    .fetch_optional(pool)
    .await?;
    if bound.is_some() {
        return Ok(bound);
    }
    let Some(session_id) = crate::providers::default_session(room) else {
        return Ok(None);
    };
    Ok(
        sqlx::query_scalar("SELECT company_id FROM session_directory WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(pool)
            .await?
            .map(|company_id| (company_id, session_id)),
    )
}

/// The calls of a session that have connected and not yet ended.
pub(crate) async fn open_calls(
    pool: &Pool,
    company_id: i64,
    session_id: i64,
) -> Result<Vec<OpenCall>, StoreError> {
    /// Call, party, participation, agent, connected.
    type OpenRow = (String, String, Option<i64>, Option<i64>, i64);
    let rows: Vec<OpenRow> = sqlx::query_as(
        "SELECT call_id, party, participation_id, support_agent_id, connect_ts FROM calls
         WHERE company_id = $1 AND session_id = $2 AND connect_ts IS NOT NULL AND disconnect_ts IS NULL
         ORDER BY call_id",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(call_id, party, participation_id, support_agent_id, connect)| OpenCall {
                call_id,
                party: PartyKind::from_stored(&party),
                participation_id,
                support_agent_id,
                connected: Timestamp::from_micros(connect),
            },
        )
        .collect())
}

/// Keeps an authentic webhook that could not be applied; its id.
pub(crate) async fn keep_unmatched(
    pool: &Pool,
    provider: &str,
    reason: &str,
    body: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let mut tx = pool.begin().await?;
    let id = next_id(&mut tx).await?;
    sqlx::query(
        "INSERT INTO provider_unmatched (unmatched_id, provider, received_us, reason, body)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(provider)
    .bind(now.as_micros())
    .bind(reason)
    .bind(body)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The unmatched webhooks not yet applied, newest first.
pub(crate) async fn unmatched(pool: &Pool) -> Result<Vec<UnmatchedWebhook>, StoreError> {
    let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT unmatched_id, provider, received_us, reason, body FROM provider_unmatched
         WHERE applied_us IS NULL ORDER BY received_us DESC, unmatched_id DESC LIMIT 1000",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(unmatched_row).collect())
}

pub(crate) async fn unmatched_by_id(
    pool: &Pool,
    unmatched_id: i64,
) -> Result<Option<UnmatchedWebhook>, StoreError> {
    let row: Option<(i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT unmatched_id, provider, received_us, reason, body FROM provider_unmatched
         WHERE unmatched_id = $1 AND applied_us IS NULL",
    )
    .bind(unmatched_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(unmatched_row))
}

fn unmatched_row(
    (unmatched_id, provider, received, reason, body): (i64, String, i64, String, String),
) -> UnmatchedWebhook {
    UnmatchedWebhook {
        unmatched_id,
        provider,
        received: Timestamp::from_micros(received),
        reason,
        body,
    }
}

/// Marks a kept webhook applied (after a retry), or records why it still
/// cannot be.
pub(crate) async fn settle_unmatched(
    pool: &Pool,
    unmatched_id: i64,
    outcome: Result<Timestamp, &str>,
) -> Result<(), StoreError> {
    let query = match outcome {
        Ok(now) => {
            sqlx::query("UPDATE provider_unmatched SET applied_us = $2 WHERE unmatched_id = $1")
                .bind(unmatched_id)
                .bind(now.as_micros())
        }
        Err(reason) => {
            sqlx::query("UPDATE provider_unmatched SET reason = $2 WHERE unmatched_id = $1")
                .bind(unmatched_id)
                .bind(reason.to_owned())
        }
    };
    query.execute(pool).await?;
    Ok(())
}

/// Forgets kept webhooks received before `before` (30 days are kept).
pub(crate) async fn prune_unmatched(pool: &Pool, before: Timestamp) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM provider_unmatched WHERE received_us < $1")
            .bind(before.as_micros())
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
