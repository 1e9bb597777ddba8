//! History and usage reads: each one indexed range scan over the stored
//! derived fields, in one snapshot.

use futures_util::TryStreamExt;
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use super::{Conn, Db, Pool};
use crate::domain::{BillableStatus, Month, Timestamp};
use crate::store::{
    HistoryCursor, HistoryQuery, HistoryReader, HistoryRow, StoreError, UsageCounts,
};

/// Rows travel to the response in chunks of this many.
const CHUNK: usize = 256;

/// One row of a history answer, with the company's data version read by
/// the same statement. A tuple, read by position: the derived `FromRow`
/// finds each column by name, which showed in the profile of a busy month.
type Row = (
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
);

/// A row's history element, and the data version read with it.
fn history_row(row: Row) -> (HistoryRow, i64) {
    let (
        session_id,
        schedule_ts,
        billable_ts,
        duration_minutes,
        status,
        user_id,
        host,
        guests,
        group,
        ts,
        data_version,
    ) = row;
    let row = HistoryRow {
        session_id,
        schedule_ts: Timestamp::from_micros(schedule_ts),
        billable_ts: billable_ts.map(Timestamp::from_micros),
        duration_minutes,
        status: status.as_deref().and_then(BillableStatus::from_code),
        user_id,
        host_full_name: host,
        guest_names: guests,
        cursor: HistoryCursor {
            group,
            ts,
            session_id,
        },
    };
    (row, data_version)
}

fn history_sql(query: &HistoryQuery) -> QueryBuilder<Db> {
    let mut sql = QueryBuilder::new(
        "SELECT session_id, schedule_ts, billable_ts, duration_minutes, status, host_user_id, host_full_name,
                guest_names, history_group, history_ts,
                (SELECT data_version FROM companies WHERE company_id = ",
    );
    sql.push_bind(query.company_id)
        .push(") AS data_version FROM sessions WHERE company_id = ")
        .push_bind(query.company_id);
    if let Some(user_id) = query.host_user_id {
        sql.push(" AND host_user_id = ").push_bind(user_id);
    }
    if !query.period.is_unbounded() {
        sql.push(" AND history_group = 0");
    }
    if let Some(start) = query.period.start {
        sql.push(" AND history_ts >= ").push_bind(start.as_micros());
    }
    if let Some(end) = query.period.end {
        sql.push(" AND history_ts < ").push_bind(end.as_micros());
    }
    if let Some(after) = query.after {
        sql.push(" AND (history_group, history_ts, session_id) > (")
            .push_bind(after.group)
            .push(", ")
            .push_bind(after.ts)
            .push(", ")
            .push_bind(after.session_id)
            .push(")");
    }
    sql.push(" AND state <> 'cancelled'");
    if let Some(email) = &query.participant_email {
        sql.push(
            " AND session_id IN (SELECT p.session_id FROM persons n
               JOIN participations p ON p.company_id = n.company_id AND p.person_id = n.person_id
               WHERE n.company_id = ",
        )
        .push_bind(query.company_id)
        .push(" AND n.email_key = ")
        .push_bind(email.clone())
        .push(" AND p.removed_us IS NULL)");
    }
    sql.push(" ORDER BY history_group, history_ts, session_id");
    if let Some(limit) = query.limit {
        sql.push(" LIMIT ").push_bind(limit);
    }
    sql
}

type Chunks = mpsc::Sender<Result<Vec<HistoryRow>, StoreError>>;

/// Where the first row's data version goes: `None` when there is no row.
type First = oneshot::Sender<Result<Option<i64>, StoreError>>;

/// Streams the answer from a task of its own, so its size never sits in
/// memory. One statement reads the rows and the company's data version, so
/// both come from one snapshot without a transaction: a read after a change
/// is one round trip to the database, not four (begin, version, host check,
/// rows). A row proves the company and the host exist (sessions reference
/// both). An answer without rows carries no version, so it is read again in
/// a transaction that also checks the company and the host.
pub(crate) async fn read_history(
    pool: &Pool,
    query: HistoryQuery,
) -> Result<HistoryReader, StoreError> {
    let mut conn = pool.acquire().await?;
    let (first, first_read) = oneshot::channel();
    let (sender, rows) = mpsc::channel(4);
    let asked = query.clone();
    tokio::spawn(async move { send_rows(&mut conn, &asked, Some(first), sender).await });
    if let Some(data_version) = first_read
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))??
    {
        return Ok(HistoryReader { data_version, rows });
    }
    read_history_checked(pool, query).await
}

/// Reads the answer in a transaction that first checks the company and the
/// host user.
async fn read_history_checked(
    pool: &Pool,
    query: HistoryQuery,
) -> Result<HistoryReader, StoreError> {
    let mut tx = pool.begin().await?;
    let found: Option<(i64, bool)> = sqlx::query_as(
        "SELECT data_version,
                $2 IS NULL OR EXISTS (SELECT 1 FROM users WHERE company_id = $1 AND user_id = $2)
         FROM companies WHERE company_id = $1",
    )
    .bind(query.company_id)
    .bind(query.host_user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (data_version, host_found) =
        found.ok_or_else(|| StoreError::NotFound("Company not found".into()))?;
    if !host_found {
        return Err(StoreError::NotFound("User not found".into()));
    }
    let (sender, rows) = mpsc::channel(4);
    tokio::spawn(async move { send_rows(&mut tx, &query, None, sender).await });
    Ok(HistoryReader { data_version, rows })
}

/// Sends the rows in chunks and, when asked for (`first`), the first row's
/// data version (or that there is no row) as soon as it is known. Stops when
/// the reader is gone.
async fn send_rows(
    conn: &mut Conn,
    query: &HistoryQuery,
    mut first: Option<First>,
    sender: Chunks,
) {
    let mut sql = history_sql(query);
    let mut stream = sql.build_query_as::<Row>().fetch(&mut *conn);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        match stream.try_next().await {
            Ok(Some(row)) => {
                let (row, data_version) = history_row(row);
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(Some(data_version)));
                }
                chunk.push(row);
                if chunk.len() == CHUNK
                    && sender.send(Ok(std::mem::take(&mut chunk))).await.is_err()
                {
                    return;
                }
            }
            Ok(None) => {
                match first.take() {
                    Some(first) => {
                        let _ = first.send(Ok(None));
                    }
                    None => {
                        if !chunk.is_empty() {
                            let _ = sender.send(Ok(chunk)).await;
                        }
                    }
                }
                return;
            }
            Err(error) => {
                match first.take() {
                    Some(first) => {
                        let _ = first.send(Err(error.into()));
                    }
                    None => {
                        let _ = sender.send(Err(error.into())).await;
                    }
                }
                return;
            }
        }
    }
}

pub(crate) async fn usage(
    pool: &Pool,
    company_id: i64,
    month: Month,
) -> Result<UsageCounts, StoreError> {
    let mut tx = pool.begin().await?;
    let plan: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT included_sessions, overage_price_cents, data_version FROM companies WHERE company_id = $1",
    )
    .bind(company_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (included_sessions, overage_price_cents, data_version) =
        plan.ok_or_else(|| StoreError::NotFound("Company not found".into()))?;
    let rows: Vec<(Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*), CAST(COALESCE(SUM(duration_minutes), 0) AS BIGINT) FROM sessions
         WHERE company_id = $1 AND history_group = 0 AND history_ts >= $2 AND history_ts < $3
           AND state <> 'cancelled'
         GROUP BY status",
    )
    .bind(company_id)
    .bind(month.start().as_micros())
    .bind(month.end().as_micros())
    .fetch_all(&mut *tx)
    .await?;
    let mut counts = UsageCounts {
        included_sessions,
        overage_price_cents,
        data_version,
        ..UsageCounts::default()
    };
    for (status, sessions, minutes) in rows {
        counts.total_duration_minutes += minutes;
        match status.as_deref().and_then(BillableStatus::from_code) {
            Some(BillableStatus::Bill) => counts.counted += sessions,
            Some(BillableStatus::Svco) => counts.support += sessions,
            Some(BillableStatus::Dupl) => counts.duplicate += sessions,
            Some(BillableStatus::Comp) => counts.comped += sessions,
            None => {}
        }
    }
    Ok(counts)
}
