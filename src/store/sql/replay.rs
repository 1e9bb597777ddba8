//! Applying log lines — one from an API call, or a whole file on import —
//! and writing the journal back out on export.

use futures_util::TryStreamExt;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::actions::{comp, deactivate, uncomp};
use super::events::apply_events;
use super::journal::{self, Held};
use super::webhook_backup::{self, WebhookLine};
use super::{
    AFTER_IMPORT, Conn, Pool, REFRESH_STATISTICS, Tx, access, begin_write, commit, companies,
    providers, sessions, users,
};
use crate::domain::access::AccessLine;
use crate::domain::{EventBatch, Timestamp};
use crate::records::{
    CompRecord, ConnectionEvent, EventKind, LogLine, Record, SessionActionRecord,
};
use crate::store::{ImportSummary, Rules, StoreError, Touched};

/// Applies one change in its own transaction and returns the completed line
/// (ids, codes and times filled in) as it was journaled.
pub(crate) async fn apply_one(
    pool: &Pool,
    line: LogLine,
    touched: Touched,
    rules: &Rules,
) -> Result<LogLine, StoreError> {
    let mut tx = begin_write(pool).await?;
    let line = apply_record(&mut tx, &mut Held::default(), line, Timestamp::now(), rules).await?;
    commit(tx, touched).await?;
    Ok(line)
}

/// Applies a change that is not a connection event, at `now` unless the line
/// says when it happened. One arm per kind of change: a dispatch table,
/// longer than a function should be by its nature.
async fn apply_record(
    conn: &mut Conn,
    held: &mut Held,
    line: LogLine,
    now: Timestamp,
    rules: &Rules,
) -> Result<LogLine, StoreError> {
    let now = line.recorded_ts.unwrap_or(now);
    line.record.check_text()?;
    // The company's row is locked before anything is read, so the writes of
    // one company are serialized (and journaled in the order they commit)
    // while other companies' go on in parallel.
    if let Some(company_id) = company_to_lock(&mut *conn, &line.record).await? {
        journal::lock_company(&mut *conn, held, company_id).await?;
    }
    let (company_id, record) = match line.record {
        Record::Company(record) => {
            let record = companies::create_company(&mut *conn, record, now, rules).await?;
            (
                record.company_id.expect("assigned"),
                Record::Company(record),
            )
        }
        Record::CompanyPlan(record) => {
            let record = companies::update_plan(&mut *conn, record, now, rules).await?;
            (record.company_id, Record::CompanyPlan(record))
        }
        Record::ApiKey(record) => {
            companies::create_api_key(&mut *conn, &record, now).await?;
            (record.company_id, Record::ApiKey(record))
        }
        Record::RevokeApiKey(record) => {
            let company_id = crate::secrets::company_of_key(&record.api_key)
                .ok_or_else(|| StoreError::NotFound("API key not found".into()))?;
            companies::revoke_api_key(&mut *conn, &record, company_id, now).await?;
            (company_id, Record::RevokeApiKey(record))
        }
        Record::SupportAgent(record) => (
            0,
            Record::SupportAgent(companies::create_support_agent(&mut *conn, record).await?),
        ),
        Record::User(record) => {
            let record = users::create_user(&mut *conn, record, now).await?;
            (record.company_id, Record::User(record))
        }
        Record::UserUpdate(record) => {
            let record = users::update_user(&mut *conn, record, now).await?;
            (record.company_id, Record::UserUpdate(record))
        }
        Record::UserDelete(record) => {
            users::delete_user(&mut *conn, &record, now).await?;
            (record.company_id, Record::UserDelete(record))
        }
        Record::Session(record) => {
            let record = sessions::create_session(&mut *conn, record, now).await?;
            (record.company_id, Record::Session(record))
        }
        Record::Reschedule(record) => {
            sessions::reschedule(&mut *conn, &record, now).await?;
            (record.company_id, Record::Reschedule(record))
        }
        Record::Cancel(record) => {
            sessions::cancel(&mut *conn, &record, now).await?;
            (record.company_id, Record::Cancel(record))
        }
        Record::AddParticipant(record) => {
            let record = sessions::add_participant(&mut *conn, record, now).await?;
            (record.company_id, Record::AddParticipant(record))
        }
        Record::RemoveParticipant(record) => {
            sessions::remove_participant(&mut *conn, &record, now).await?;
            (record.company_id, Record::RemoveParticipant(record))
        }
        Record::Deactivate(mut record) => {
            let now = record.ts.unwrap_or(now);
            record.ts = Some(now);
            (
                deactivate(&mut *conn, &record, now, rules).await?,
                Record::Deactivate(record),
            )
        }
        Record::Comp(mut record) => {
            let now = record.ts.unwrap_or(now);
            record.ts = Some(now);
            (
                comp(&mut *conn, &record, now, rules).await?,
                Record::Comp(record),
            )
        }
        Record::Uncomp(mut record) => {
            let now = record.ts.unwrap_or(now);
            record.ts = Some(now);
            (
                uncomp(&mut *conn, &record, now, rules).await?,
                Record::Uncomp(record),
            )
        }
        Record::Room(record) => {
            providers::bind_room(&mut *conn, &record).await?;
            (record.company_id, Record::Room(record))
        }
        Record::Connect(_) | Record::Disconnect(_) => {
            unreachable!("connection events are applied in batches by apply_events")
        }
    };
    let line = LogLine {
        record,
        recorded_ts: Some(now),
        batch: None,
    };
    journal::append(conn, held, company_id, None, &line).await?;
    Ok(line)
}

/// The company an existing-company change belongs to, if it can be known
/// before applying it. A new company has no row to lock yet.
async fn company_to_lock(conn: &mut Conn, record: &Record) -> Result<Option<i64>, StoreError> {
    Ok(match record {
        Record::Company(_) | Record::SupportAgent(_) => None,
        Record::CompanyPlan(r) => Some(r.company_id),
        Record::ApiKey(r) => Some(r.company_id),
        Record::RevokeApiKey(r) => crate::secrets::company_of_key(&r.api_key),
        Record::User(r) => Some(r.company_id),
        Record::UserUpdate(r) => Some(r.company_id),
        Record::UserDelete(r) => Some(r.company_id),
        Record::Session(r) => Some(r.company_id),
        Record::Reschedule(r) => Some(r.company_id),
        Record::Cancel(r) => Some(r.company_id),
        Record::AddParticipant(r) => Some(r.company_id),
        Record::RemoveParticipant(r) => Some(r.company_id),
        Record::Room(r) => Some(r.company_id),
        Record::Deactivate(SessionActionRecord { session_id, .. })
        | Record::Uncomp(SessionActionRecord { session_id, .. })
        | Record::Comp(CompRecord { session_id, .. })
        | Record::Connect(ConnectionEvent { session_id, .. })
        | Record::Disconnect(ConnectionEvent { session_id, .. }) => {
            sqlx::query_scalar("SELECT company_id FROM session_directory WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(conn)
                .await?
        }
    })
}

/// Replays a log in one transaction: an invalid line stops the import with its
/// line number, and nothing of the import is kept.
pub(crate) async fn import(
    pool: &Pool,
    mut input: impl AsyncBufRead + Unpin,
    rules: &Rules,
) -> Result<ImportSummary, StoreError> {
    // History replayed is no news: no webhook messages (the export's own
    // undelivered ones are restored as they were).
    let rules = &Rules {
        emit_webhooks: false,
        ..rules.clone()
    };
    let mut replay = Replay {
        tx: begin_write(pool).await?,
        held: Held::default(),
        pending: Vec::new(),
        pending_batch: None,
        next_statistics: 1_000,
        rules,
    };
    let mut bytes = Vec::new();
    let mut line_number = 0u64;
    loop {
        bytes.clear();
        // One byte past the most a line may hold (and its newline), so a
        // longer line is known without reading it whole.
        let read = (&mut input)
            .take(MOST_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut bytes)
            .await?;
        line_number += 1;
        let text = line_text(&bytes).map_err(|message| StoreError::ImportLine {
            line: line_number,
            message,
        })?;
        let parsed = if read == 0 || text.trim().is_empty() {
            None
        } else if let Some(access) = AccessLine::parse(text.trim()) {
            let stored = match access {
                Ok(access) => access::import_access(&mut replay.tx, access).await,
                Err(message) => Err(message),
            };
            stored.map_err(|message| StoreError::ImportLine {
                line: line_number,
                message,
            })?;
            continue;
        } else {
            Some(
                parse_line(text.trim()).map_err(|message| StoreError::ImportLine {
                    line: line_number,
                    message,
                })?,
            )
        };
        match parsed {
            Some(Parsed::Log(line)) => replay.line(line, line_number).await?,
            Some(Parsed::Webhook(line)) => {
                replay.apply_pending().await?;
                webhook_backup::restore(&mut replay.tx, line)
                    .await
                    .map_err(|error| at_line(line_number, error))?;
            }
            None => {
                replay.apply_pending().await?;
                if read == 0 {
                    break;
                }
            }
        }
    }
    commit(replay.tx, Touched::Anything).await?;
    // The lines are kept whatever follows: a failed vacuum is only reported.
    if let Some(vacuum) = AFTER_IMPORT
        && let Err(error) = sqlx::query(vacuum).execute(pool).await
    {
        tracing::warn!(error = %error, "import committed; vacuuming after it failed");
    }
    Ok(ImportSummary {
        lines: line_number - 1,
    })
}

/// A line of an import: a change to the ledger, or outbound webhooks' state
/// (`webhook_backup`).
enum Parsed {
    Log(LogLine),
    Webhook(WebhookLine),
}

fn parse_line(text: &str) -> Result<Parsed, String> {
    match LogLine::parse(text) {
        Ok(line) => Ok(Parsed::Log(line)),
        // Read as a webhook line only when it is not a change: the changes'
        // lines pay nothing for it.
        Err(message) => match WebhookLine::parse(text) {
            Some(webhook) => webhook.map(Parsed::Webhook),
            None => Err(message),
        },
    }
}

/// The most bytes a line of a log may hold, its newline aside: the most an
/// API request's body may (`api::BODY_LIMIT`).
pub(crate) const MOST_LINE_BYTES: usize = 1024 * 1024;

/// A line as read (newline included) as text, or why it is not a line.
fn line_text(bytes: &[u8]) -> Result<&str, String> {
    let content = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if content.len() > MOST_LINE_BYTES {
        return Err(format!(
            "the line is longer than {} bytes (1 MiB)",
            MOST_LINE_BYTES
        ));
    }
    std::str::from_utf8(content).map_err(|error| {
        format!(
            "the line is not UTF-8 (an invalid byte at byte {} of the line)",
            error.valid_up_to() + 1
        )
    })
}

/// An import under way: its one transaction (each company is locked and
/// moved on once), and the events of a recorded batch gathered so far.
struct Replay<'a> {
    tx: Tx,
    held: Held,
    /// Consecutive events of one recorded batch are applied together, as
    /// they were first applied.
    pending: Vec<(EventKind, ConnectionEvent)>,
    /// The pending batch's number, time and first line.
    pending_batch: Option<(i64, Timestamp, u64)>,
    /// The planner's statistics are refreshed as the tables grow
    /// (doubling), where the backend needs it: without them PostgreSQL
    /// plans for the empty tables it saw before the import and scans what
    /// the import wrote.
    next_statistics: u64,
    rules: &'a Rules,
}

impl Replay<'_> {
    /// Applies one line, or keeps it with the batch it belongs to.
    async fn line(&mut self, line: LogLine, line_number: u64) -> Result<(), StoreError> {
        let joins_pending = self.pending_batch.is_some_and(|(batch, _, _)| {
            line.record.as_event().is_some() && line.batch == Some(batch)
        });
        if !joins_pending {
            self.apply_pending().await?;
        }
        if let Some(analyze) = REFRESH_STATISTICS
            && line_number >= self.next_statistics
        {
            sqlx::query(analyze).execute(&mut *self.tx).await?;
            self.next_statistics *= 2;
        }
        let now = line.recorded_ts.unwrap_or_else(Timestamp::now);
        let Some((kind, event)) = line.record.as_event() else {
            return apply_record(&mut self.tx, &mut self.held, line, now, self.rules)
                .await
                .map(drop)
                .map_err(|error| at_line(line_number, error));
        };
        match line.batch {
            Some(batch) => {
                if self.pending_batch.is_none() {
                    self.pending_batch = Some((batch, now, line_number));
                }
                self.pending.push((kind, event.clone()));
                Ok(())
            }
            None => {
                self.events(vec![(kind, event.clone())], now, line_number)
                    .await
            }
        }
    }

    /// Applies the batch gathered so far, if any.
    async fn apply_pending(&mut self) -> Result<(), StoreError> {
        let Some((_, at, first_line)) = self.pending_batch.take() else {
            return Ok(());
        };
        let events = std::mem::take(&mut self.pending);
        self.events(events, at, first_line).await
    }

    async fn events(
        &mut self,
        events: Vec<(EventKind, ConnectionEvent)>,
        at: Timestamp,
        line_number: u64,
    ) -> Result<(), StoreError> {
        let batch =
            EventBatch::parse(events).map_err(|invalid| at_line(line_number, invalid.into()))?;
        apply_events(&mut self.tx, &mut self.held, &batch, at, None, self.rules)
            .await
            .map(drop)
            .map_err(|error| at_line(line_number, error))
    }
}

/// An error of one line of an import, named by its number.
fn at_line(line: u64, error: StoreError) -> StoreError {
    match error {
        StoreError::Invalid(message)
        | StoreError::NotFound(message)
        | StoreError::Conflict(message) => StoreError::ImportLine { line, message },
        other => StoreError::ImportLine {
            line,
            message: other.to_string(),
        },
    }
}

/// Writes every change ever made, platform-wide ones first, then each
/// company's in the order they happened; then the outbound webhooks'
/// endpoints and undelivered messages (`webhook_backup`); then the access
/// audit's chains and records.
pub(crate) async fn export(
    pool: &Pool,
    mut output: impl AsyncWrite + Unpin,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let mut count = 0u64;
    {
        let mut lines =
            sqlx::query_scalar::<_, String>("SELECT record FROM journal ORDER BY company_id, seq")
                .fetch(&mut *tx);
        while let Some(record) = lines.try_next().await? {
            output.write_all(record.as_bytes()).await?;
            output.write_all(b"\n").await?;
            count += 1;
        }
    }
    for line in webhook_backup::export_lines(&mut tx).await? {
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        count += 1;
    }
    count += access::export_access(&mut tx, &mut output).await?;
    output.flush().await?;
    Ok(count)
}
