//! Ids, and the journal: every change as the log line that replays it.

use std::collections::HashSet;

use sqlx::QueryBuilder;

use super::{
    Conn, Db, INSERT_MANY, LOCK_IN_ID_ORDER, Pool, RESERVE_ENTITY_ID, next_block, push_id_list,
};
use crate::records::LogLine;
use crate::store::{Counter, StoreError};

/// A new service-wide id (SPEC §1: ids are unique across companies).
pub(super) async fn next_id(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(next_block(conn, Counter::Entity, 1).await?[0])
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

/// The companies one transaction has locked and whose data version it has
/// moved on. A transaction needs each only once: the row lock lasts until
/// commit, and readers see the changes (and the new version) only then. An
/// import makes all its changes in one transaction, so it locks and moves on
/// each company once: in PostgreSQL each `UPDATE` of a company's row leaves
/// one more version of the row, and the statements on the row slow as they
/// pile up (bench/README.md, "Importing").
#[derive(Debug, Default)]
pub(super) struct Held {
    locked: HashSet<i64>,
    touched: HashSet<i64>,
}

/// The ids of `ids` not in `done` yet, which now are.
fn not_yet(done: &mut HashSet<i64>, ids: &[i64]) -> Vec<i64> {
    ids.iter().copied().filter(|&id| done.insert(id)).collect()
}

/// Records a change of `company_id` (0 for platform-wide ones) and moves the
/// company's data version on.
pub(super) async fn append(
    conn: &mut Conn,
    held: &mut Held,
    company_id: i64,
    event_id: Option<&str>,
    line: &LogLine,
) -> Result<(), StoreError> {
    let seq = next_block(&mut *conn, Counter::Journal, 1).await?[0];
    let text = serde_json::to_string(line).expect("log lines always serialize");
    sqlx::query("INSERT INTO journal (company_id, seq, event_id, record) VALUES ($1, $2, $3, $4)")
        .bind(company_id)
        .bind(seq)
        .bind(event_id)
        .bind(text)
        .execute(&mut *conn)
        .await?;
    if company_id == 0 {
        return Ok(());
    }
    touch_companies(conn, held, &[company_id]).await
}

/// One journal line of a connection event, numbered by `next_block(…, Counter::Journal, …)`.
pub(super) struct EventLine {
    pub(super) company_id: i64,
    pub(super) seq: i64,
    pub(super) event_id: String,
    pub(super) line: LogLine,
}

/// Writes a batch's event lines with few statements (without moving the data
/// version on: the caller touches each company once at the end).
pub(super) async fn append_events(conn: &mut Conn, lines: &[EventLine]) -> Result<(), StoreError> {
    // 4 parameters a row stays far below either backend's parameter limit.
    for chunk in lines.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{INSERT_MANY} journal (company_id, seq, event_id, record) "
        ));
        sql.push_values(chunk, |mut row, line| {
            let text = serde_json::to_string(&line.line).expect("log lines always serialize");
            row.push_bind(line.company_id)
                .push_bind(line.seq)
                .push_bind(line.event_id.clone())
                .push_bind(text);
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row INSERT.
pub(super) const ROWS_PER_INSERT: usize = 500;

/// Which of the (company, event id) pairs are journaled already.
pub(super) async fn known_events(
    conn: &mut Conn,
    event_ids: &[(i64, &str)],
) -> Result<HashSet<(i64, String)>, StoreError> {
    let mut known = HashSet::new();
    for chunk in event_ids.chunks(ROWS_PER_INSERT) {
        // Joined, not `IN`: SQLite looks each pair up in the index only so.
        let mut sql = QueryBuilder::<Db>::new("SELECT j.company_id, j.event_id FROM (");
        sql.push_values(chunk, |mut key, &(company_id, event_id)| {
            key.push_bind(company_id).push_bind(event_id.to_string());
        });
        sql.push(") AS k JOIN journal j ON j.company_id = k.column1 AND j.event_id = k.column2");
        let found: Vec<(i64, String)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        known.extend(found);
    }
    Ok(known)
}

/// `lock_company` for several companies in one statement, in id order
/// (PostgreSQL; SQLite's writer lock is already exclusive).
pub(super) async fn lock_companies(
    conn: &mut Conn,
    held: &mut Held,
    company_ids: &[i64],
) -> Result<(), StoreError> {
    let company_ids = not_yet(&mut held.locked, company_ids);
    if company_ids.is_empty() {
        return Ok(());
    }
    let mut sql = QueryBuilder::<Db>::new("SELECT company_id FROM companies WHERE company_id IN ");
    push_id_list(&mut sql, &company_ids);
    sql.push(LOCK_IN_ID_ORDER);
    sql.build().execute(&mut *conn).await?;
    Ok(())
}

/// Moves the companies' data versions on, which changes the ETags of their
/// reads: in one statement, and each company once a transaction.
pub(super) async fn touch_companies(
    conn: &mut Conn,
    held: &mut Held,
    company_ids: &[i64],
) -> Result<(), StoreError> {
    let company_ids = not_yet(&mut held.touched, company_ids);
    if company_ids.is_empty() {
        return Ok(());
    }
    let mut sql = QueryBuilder::<Db>::new(
        "UPDATE companies SET data_version = data_version + 1 WHERE company_id IN ",
    );
    push_id_list(&mut sql, &company_ids);
    sql.build().execute(&mut *conn).await?;
    Ok(())
}

/// Takes the company's row lock until commit (PostgreSQL; SQLite's writer
/// lock is already exclusive) without changing anything. Every write use case
/// locks its company first, so one company's writes are serialized, the rules
/// that span sessions (duplicates) see a consistent company, and its journal
/// is in commit order; other companies write in parallel.
pub(super) async fn lock_company(
    conn: &mut Conn,
    held: &mut Held,
    company_id: i64,
) -> Result<(), StoreError> {
    if !held.locked.insert(company_id) {
        return Ok(());
    }
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
