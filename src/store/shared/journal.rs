//! Ids, and the journal: every change as the log line that replays it.

use super::{Conn, NEXT_ENTITY_ID, NEXT_JOURNAL_SEQ, Pool, RESERVE_ENTITY_ID};
use crate::records::LogLine;
use crate::store::StoreError;

/// A new service-wide id (SPEC §1: ids are unique across companies).
pub(super) async fn next_id(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(NEXT_ENTITY_ID).fetch_one(conn).await?)
}

/// Keeps ids assigned later above an id that arrived from outside (import).
pub(super) async fn reserve_id(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    if id <= 0 {
        return Err(StoreError::Invalid(format!(
            "id {id} must be a positive integer"
        )));
    }
    sqlx::query(RESERVE_ENTITY_ID)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a change of `company_id` (0 for platform-wide ones) and moves the
/// company's data version on.
pub(super) async fn append(
    conn: &mut Conn,
    company_id: i64,
    event_id: Option<&str>,
    line: &LogLine,
) -> Result<(), StoreError> {
    append_without_touch(&mut *conn, company_id, event_id, line).await?;
    touch_company(conn, company_id).await
}

/// Records a change without moving the data version on: for a batch whose
/// caller touches each company once at the end.
pub(super) async fn append_without_touch(
    conn: &mut Conn,
    company_id: i64,
    event_id: Option<&str>,
    line: &LogLine,
) -> Result<(), StoreError> {
    let seq: i64 = sqlx::query_scalar(NEXT_JOURNAL_SEQ)
        .fetch_one(&mut *conn)
        .await?;
    let text = serde_json::to_string(line).expect("log lines always serialize");
    sqlx::query("INSERT INTO journal (company_id, seq, event_id, record) VALUES ($1, $2, $3, $4)")
        .bind(company_id)
        .bind(seq)
        .bind(event_id)
        .bind(text)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the company's data version on, which changes the ETag of its reads.
pub(super) async fn touch_company(conn: &mut Conn, company_id: i64) -> Result<(), StoreError> {
    if company_id != 0 {
        sqlx::query("UPDATE companies SET data_version = data_version + 1 WHERE company_id = $1")
            .bind(company_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub(super) async fn has_event(
    conn: &mut Conn,
    company_id: i64,
    event_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM journal WHERE company_id = $1 AND event_id = $2")
            .bind(company_id)
            .bind(event_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Takes the company's row lock until commit (PostgreSQL; SQLite's writer
/// lock is already exclusive) without changing anything. Every write use case
/// locks its company first, so one company's writes are serialized, the rules
/// that span sessions (duplicates) see a consistent company, and its journal
/// is in commit order; other companies write in parallel.
pub(super) async fn lock_company(conn: &mut Conn, company_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE companies SET data_version = data_version WHERE company_id = $1")
        .bind(company_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A company's changes other than connection events, oldest first: the
/// source of the operator's audit of actions.
pub(crate) async fn company_changes(
    pool: &Pool,
    company_id: i64,
) -> Result<Vec<LogLine>, StoreError> {
    let records: Vec<String> = sqlx::query_scalar(
        "SELECT record FROM journal WHERE company_id = $1 AND event_id IS NULL ORDER BY seq",
    )
    .bind(company_id)
    .fetch_all(pool)
    .await?;
    records
        .iter()
        .map(|record| {
            serde_json::from_str(record)
                .map_err(|error| sqlx::Error::Decode(Box::new(error)).into())
        })
        .collect()
}
