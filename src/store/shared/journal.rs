//! Ids, and the journal: every change as the log line that replays it.

use super::Conn;
use crate::records::LogLine;
use crate::store::StoreError;

/// A new service-wide id (SPEC §1: ids are unique across companies).
pub(super) async fn next_id(conn: &mut Conn) -> Result<i64, StoreError> {
    next_value(conn, "entity").await
}

/// Keeps ids assigned later above an id that arrived from outside (import).
pub(super) async fn reserve_id(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    if id <= 0 {
        return Err(StoreError::Invalid(format!(
            "id {id} must be a positive integer"
        )));
    }
    sqlx::query(
        "UPDATE id_counters SET last_value = CASE WHEN last_value < $1 THEN $1 ELSE last_value END
         WHERE counter_name = 'entity'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn next_value(conn: &mut Conn, counter: &str) -> Result<i64, StoreError> {
    let value = sqlx::query_scalar(
        "UPDATE id_counters SET last_value = last_value + 1 WHERE counter_name = $1 RETURNING last_value",
    )
    .bind(counter)
    .fetch_one(conn)
    .await?;
    Ok(value)
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
    let seq = next_value(&mut *conn, "journal").await?;
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
