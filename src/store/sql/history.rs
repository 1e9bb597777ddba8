//! History and usage reads: each one indexed range scan over the stored
//! derived fields, in one snapshot.

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Arguments, AssertSqlSafe};
use tokio::sync::mpsc;

use super::{Db, Pool};
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

/// Reads a row by position. Without sqlx's check of each column's type
/// against the Rust type (`try_get`), which compared and cloned type infos
/// eleven times a row: 14 % of the server's instructions for a busy month
/// on PostgreSQL (bench/README.md, "Reading History"). The columns and their
/// types are the statement's own ([`history_sql`]); the tests read every
/// one of them on both backends.
fn decode(row: &<Db as sqlx::Database>::Row) -> Result<Row, sqlx::Error> {
    use sqlx::Row as _;
    Ok((
        row.try_get_unchecked(0)?,
        row.try_get_unchecked(1)?,
        row.try_get_unchecked(2)?,
        row.try_get_unchecked(3)?,
        row.try_get_unchecked(4)?,
        row.try_get_unchecked(5)?,
        row.try_get_unchecked(6)?,
        row.try_get_unchecked(7)?,
        row.try_get_unchecked(8)?,
        row.try_get_unchecked(9)?,
        row.try_get_unchecked(10)?,
    ))
}

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

/// A statement and its values, both owned, so that a stream reading its
/// rows can outlive the function that made it.
struct Statement {
    sql: String,
    values: <Db as sqlx::Database>::Arguments,
}

impl Statement {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            values: Default::default(),
        }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds a value and writes its placeholder (`$n` or `?`).
    fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, Db> + sqlx::Type<Db>,
    {
        self.values
            .add(value)
            .expect("integers and text always encode");
        self.values
            .format_placeholder(&mut self.sql)
            .expect("writing to a String cannot fail");
        self
    }

    /// The rows it reads from `executor`, decoded.
    ///
    /// The stream is made where no span is current. sqlx's streams enter
    /// the span that was current when they were made each time they are
    /// polled, and they are polled once a row: made inside a request, a
    /// busy month's 5,000 rows entered and left the request's span 20,000
    /// times, a tenth of the server's work for the answer (bench/README.md,
    /// "Reading History"). Whatever sqlx logs while the rows are read still
    /// carries the span current then.
    fn rows<'e, E>(self, executor: E) -> Rows<'e>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), move || {
            executor
                .fetch(sqlx::query_with(AssertSqlSafe(self.sql), self.values))
                .and_then(|row| std::future::ready(decode(&row)))
                .boxed()
        })
    }
}

fn history_sql(query: &HistoryQuery) -> Statement {
    let mut sql = Statement::new(
        "SELECT session_id, schedule_ts, billable_ts, duration_minutes, status, host_user_id, host_full_name,
                guest_names, history_group, history_ts,
                (SELECT data_version FROM companies WHERE company_id = ",
    );
    sql.bind(query.company_id)
        .push(") AS data_version FROM sessions WHERE company_id = ")
        .bind(query.company_id);
    if let Some(user_id) = query.host_user_id {
        sql.push(" AND host_user_id = ").bind(user_id);
    }
    if !query.period.is_unbounded() {
        sql.push(" AND history_group = 0");
    }
    if let Some(start) = query.period.start {
        sql.push(" AND history_ts >= ").bind(start.as_micros());
    }
    if let Some(end) = query.period.end {
        sql.push(" AND history_ts < ").bind(end.as_micros());
    }
    if let Some(after) = query.after {
        sql.push(" AND (history_group, history_ts, session_id) > (")
            .bind(after.group)
            .push(", ")
            .bind(after.ts)
            .push(", ")
            .bind(after.session_id)
            .push(")");
    }
    sql.push(" AND state <> 'cancelled'");
    if let Some(email) = &query.participant_email {
        sql.push(
            " AND session_id IN (SELECT p.session_id FROM persons n
               JOIN participations p ON p.company_id = n.company_id AND p.person_id = n.person_id
               WHERE n.company_id = ",
        )
        .bind(query.company_id)
        .push(" AND n.email_key = ")
        .bind(email.clone())
        .push(" AND p.removed_us IS NULL)");
    }
    sql.push(" ORDER BY history_group, history_ts, session_id");
    if let Some(limit) = query.limit {
        sql.push(" LIMIT ").bind(limit);
    }
    sql
}

/// Reads the answer with one statement that also reads the company's data
/// version, so both come from one snapshot without a transaction: a read
/// after a change is one round trip to the database, not four (begin,
/// version, host check, rows). A row proves the company and the host exist
/// (sessions reference both). An answer without rows carries no version, so
/// it is read again in a transaction that also checks the company and the
/// host.
///
/// The first chunk is read here, in the caller's task: an answer that fits
/// in it (one host's month) is read whole without handing anything between
/// tasks. The rest of a larger answer is read by a task of its own, ahead of
/// the response, so its size never sits in memory.
pub(crate) async fn read_history(
    pool: &Pool,
    query: HistoryQuery,
) -> Result<HistoryReader, StoreError> {
    let mut rows = history_sql(&query).rows(pool);
    let Some(row) = rows.try_next().await? else {
        return read_history_checked(pool, query).await;
    };
    let (row, data_version) = history_row(row);
    let mut first = Vec::with_capacity(CHUNK);
    first.push(row);
    if fill(&mut rows, &mut first).await? {
        return Ok(HistoryReader::new(data_version, first, None));
    }
    let (sender, rest) = mpsc::channel(4);
    tokio::spawn(send_rows(rows, sender));
    Ok(HistoryReader::new(data_version, first, Some(rest)))
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
    let (sender, rest) = mpsc::channel(4);
    tokio::spawn(async move { send_rows(history_sql(&query).rows(&mut *tx), sender).await });
    Ok(HistoryReader::new(data_version, Vec::new(), Some(rest)))
}

type Rows<'e> = BoxStream<'e, Result<Row, sqlx::Error>>;

/// Reads rows into `chunk` until it holds [`CHUNK`] of them or the rows
/// end; true at the end.
async fn fill(rows: &mut Rows<'_>, chunk: &mut Vec<HistoryRow>) -> Result<bool, sqlx::Error> {
    while chunk.len() < CHUNK {
        match rows.try_next().await? {
            Some(row) => chunk.push(history_row(row).0),
            None => return Ok(true),
        }
    }
    Ok(false)
}

type Chunks = mpsc::Sender<Result<Vec<HistoryRow>, StoreError>>;

/// Sends the rows in chunks. Stops when the reader is gone.
async fn send_rows(mut rows: Rows<'_>, sender: Chunks) {
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        match fill(&mut rows, &mut chunk).await {
            Ok(ended) => {
                let reader_gone = !chunk.is_empty() && sender.send(Ok(chunk)).await.is_err();
                if reader_gone || ended {
                    return;
                }
            }
            Err(error) => {
                let _ = sender.send(Err(error.into())).await;
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
