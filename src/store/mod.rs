//! Storage. One set of SQL, in `shared/`, is compiled once per backend with
//! `Db` bound to that backend's sqlx driver, so SQLite and PostgreSQL cannot
//! drift apart; what must differ lives in the two small backend modules below.
//! `Store` picks the backend once, from the database URL.

mod changes;
mod checkpoints;
mod types;
mod views;

use std::str::FromStr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio::sync::oneshot;

pub use changes::{Changes, Generation, POLL as CHANGES_POLL, Touched};
pub use types::*;
pub use views::*;

use crate::domain::{Month, Timestamp};
use crate::records::{ConnectionEvent, EventKind, LogLine};

pub mod postgres;
pub mod sqlite;

/// Rows a SQLite connection's worker thread may read ahead of the task
/// taking them. sqlx's default (50) kept the worker waiting on a full
/// channel, and each row taken then woke it again: two thread switches a
/// row. A History answer of a busy month (5,000 rows, about 1 MB) fits.
const SQLITE_ROW_BUFFER: usize = 8192;

/// WAL pages after which a commit copies them into the database file (the
/// writer's own checkpoint; the background one copies most of them before,
/// see `checkpoints`). A batch of 1,000 events dirties more than SQLite's
/// default of 1,000 pages. The checkpoint still waits for two fsyncs, 80 to
/// 100 ms on the benchmark machine: at 65,536 pages (256 MiB at 4 KiB a
/// page) it comes every fifty batches instead of every dozen at 16,384
/// (docs/decisions.md, "Storage").
const SQLITE_CHECKPOINT_PAGES: &str = "65536";

/// The writing connection's page cache, in KiB as `PRAGMA cache_size` takes
/// it (SQLite's default is 2 MiB): the index pages a batch of events changes
/// (journal, calls, the sessions' history order) stay in memory from one
/// batch to the next.
const SQLITE_WRITER_CACHE_KIB: &str = "-32768";

/// A pooled PostgreSQL connection idle longer than this is pinged before it
/// is handed out, in case the server went away meanwhile. sqlx pings every
/// connection it hands out by default: a round trip before every statement,
/// a third of a cold History read (bench/README.md, "Seventh session"). A
/// connection is pinged anyway when it goes back to the pool, so one used
/// within the last second is known to have been alive then.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long a write waits for its turn at the one writing connection
/// (behind an import, say) before it fails.
const SQLITE_WRITE_WAIT_SECONDS: u64 = 30;

/// The service-wide number series (ids, journal order).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Entity,
    Journal,
}

/// Settings of the rules that the store applies while deriving fields.
#[derive(Clone, Debug)]
pub struct Rules {
    pub duplicate_window_minutes: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            duplicate_window_minutes: 60,
        }
    }
}

/// A batch of connection events as posted, with the time it arrived.
pub(crate) type EventBatch = (Vec<(EventKind, ConnectionEvent)>, Timestamp);

/// Most batches of connection events one SQLite transaction applies: up to
/// 8,000 events, and every batch of a group is answered after the group
/// commits, so a larger group would hold its first batch's answer longer.
const EVENT_BATCHES_PER_GROUP: usize = 8;

/// The database, chosen once from the URL scheme, and the rules it applies.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    rules: Rules,
    changes: Arc<Changes>,
    waiting_events: Arc<WaitingEvents>,
}

/// Moves the generations on when dropped (`Store::writing`).
struct MovesOn<'a>(&'a Changes, Touched);

impl Drop for MovesOn<'_> {
    fn drop(&mut self) {
        self.0.moved_on(self.1);
    }
}

/// Batches of connection events waiting for the SQLite writer (group
/// commit). Whoever gets the writer next applies the batches waiting (up to
/// [`EVENT_BATCHES_PER_GROUP`]) in one transaction. An index page that
/// several of them change (a company's journal or history order: a batch of
/// 1,000 events changes a page or two of each per company) is then written
/// to the WAL once per group rather than once per batch (bench/README.md,
/// "Fourth session", has the figures). PostgreSQL writes batches of
/// different companies side by side instead.
#[derive(Debug, Default)]
struct WaitingEvents {
    batches: std::sync::Mutex<Vec<WaitingBatch>>,
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct WaitingBatch {
    batch: EventBatch,
    done: oneshot::Sender<Result<EventOutcome, StoreError>>,
}

impl WaitingEvents {
    fn push(&self, batch: WaitingBatch) {
        self.lock().push(batch);
    }

    /// The oldest batches waiting, at most a group of them.
    fn take_group(&self) -> Vec<WaitingBatch> {
        let mut batches = self.lock();
        let count = batches.len().min(EVENT_BATCHES_PER_GROUP);
        batches.drain(..count).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WaitingBatch>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Debug)]
enum Backend {
    /// Readers, and the one connection this process writes with (SQLite
    /// takes one writer at a time). Before, each write took any pooled
    /// connection: one that found the write lock taken slept and polled
    /// (1, 2, 5, 10… ms), so the lock often stood free while the next
    /// writer slept, and a connection that had not made the last change
    /// found its page cache out of date. Now this process's writers queue
    /// for the one connection, in order, and its cache stays warm; writers
    /// of other processes still wait on SQLite's busy timeout.
    Sqlite {
        pool: sqlx::SqlitePool,
        writer: sqlx::SqlitePool,
    },
    Postgres(sqlx::PgPool),
}

/// Runs the same shared function on whichever backend this store is.
macro_rules! on_backend {
    ($store:expr, $pool:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite { pool: $pool, .. } => {
                use self::sqlite::shared as backend;
                $call
            }
            Backend::Postgres($pool) => {
                use self::postgres::shared as backend;
                $call
            }
        }
    };
}

/// As [`on_backend!`], with the pool this process writes with.
macro_rules! on_writer {
    ($store:expr, $pool:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite { writer: $pool, .. } => {
                use self::sqlite::shared as backend;
                $call
            }
            Backend::Postgres($pool) => {
                use self::postgres::shared as backend;
                $call
            }
        }
    };
}

impl Store {
    /// Whether a database URL names a SQLite database (the backend
    /// [`Store::open`] picks for it).
    pub fn is_sqlite_url(database_url: &str) -> bool {
        database_url.starts_with("sqlite:")
    }

    /// Connects (creating a SQLite file when missing) and applies migrations.
    pub async fn open(database_url: &str, rules: Rules) -> Result<Self, StoreError> {
        let backend = if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            let options = PgConnectOptions::from_str(database_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > POSTGRES_PING_AFTER_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await?;
            Backend::Postgres(pool)
        } else if Self::is_sqlite_url(database_url) {
            let options = SqliteConnectOptions::from_str(database_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .row_buffer_size(SQLITE_ROW_BUFFER)
                .pragma("wal_autocheckpoint", SQLITE_CHECKPOINT_PAGES);
            // No ping before a SQLite connection is handed out: it is a
            // hop to the connection's thread and back, and an in-process
            // connection has no server that could have gone away.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(SQLITE_WRITE_WAIT_SECONDS))
                // A transaction that SQLite ended by itself (a full disk, an
                // I/O error in a statement with no statement journal) leaves
                // sqlx counting it open: its ROLLBACK fails, and so would
                // every later BEGIN on the connection. Such a connection is
                // closed instead of handed out, and the pool opens another.
                // No hop to the connection's thread: the ping sqlx makes when
                // a connection comes back has already run any rollback a
                // dropped transaction queued.
                .before_acquire(|conn, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(&*conn)) })
                })
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", SQLITE_WRITER_CACHE_KIB)
                        // Statement journals in memory: a multi-row statement
                        // not written `OR FAIL` (the calls' upsert, whose
                        // foreign key can fail) copies every page it changes
                        // there first, to be undone alone if it fails
                        // half-way, and in a temp file that was a `pwrite` a
                        // page (half the writer's `pwrite` time,
                        // bench/README.md).
                        .pragma("temp_store", "memory"),
                )
                .await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Backend::Sqlite { pool, writer }
        } else {
            return Err(StoreError::Invalid(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        };
        let store = Store {
            backend,
            rules,
            changes: Arc::default(),
            waiting_events: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connections open and idle in the pool, for the metrics.
    pub fn pool_status(&self) -> (u32, usize) {
        match &self.backend {
            Backend::Sqlite { pool, writer } => (
                pool.size() + writer.size(),
                pool.num_idle() + writer.num_idle(),
            ),
            Backend::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlx::migrate!("migrations/sqlite").run(writer).await?
            }
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        // Then the data repairs SQL cannot make, each once per database.
        on_writer!(self, pool => backend::run_one_time_steps(pool, &self.rules).await)
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { pool, writer } => {
                pool.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Whether the database may have changed since a value was read.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Watches for other processes' commits until the future is dropped;
    /// until it runs, [`Changes::generation`] is `None`.
    pub async fn watch_changes(&self) {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                changes::watch_sqlite(pool.clone(), &self.changes).await
            }
            Backend::Postgres(pool) => changes::watch_postgres(pool.clone(), &self.changes).await,
        }
    }

    /// Keeps SQLite's write-ahead log copied into the database file in the
    /// background (see `checkpoints`); returns at once on PostgreSQL.
    pub async fn keep_checkpointed(&self) {
        if let Backend::Sqlite { pool, .. } = &self.backend {
            checkpoints::keep_sqlite_checkpointed(pool.clone()).await
        }
    }

    /// Runs a write, then moves the generations on, whatever it did (even a
    /// failed or abandoned write may have committed).
    async fn writing<T>(&self, touched: Touched, write: impl Future<Output = T>) -> T {
        // Moved on when dropped: also when the caller goes away (a client
        // that disconnects) after the write committed.
        let _moved_on = MovesOn(&self.changes, touched);
        write.await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, pool => backend::ping(pool).await)
    }

    /// Applies one change (not a connection event) and records it.
    pub async fn apply(&self, line: LogLine) -> Result<LogLine, StoreError> {
        let touched = Touched::of(&line.record);
        self.writing(touched, async {
            on_writer!(self, pool => backend::apply_one(pool, line, touched, &self.rules).await)
        })
        .await
    }

    /// Applies a batch of connection events. On SQLite the batch waits for
    /// the writer and is applied in a group with the batches waiting beside
    /// it (see [`WaitingEvents`]); its outcome is its own either way.
    pub async fn apply_events(
        &self,
        events: Vec<(EventKind, ConnectionEvent)>,
        now: Timestamp,
    ) -> Result<EventOutcome, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let batches = [(events, now)];
                self.writing(
                    Touched::Data,
                    postgres::shared::apply_event_batches(pool, &batches, &self.rules),
                )
                .await
                .pop()
                .expect("one outcome per batch")
            }
            Backend::Sqlite { .. } => {
                let (done, outcome) = oneshot::channel();
                self.waiting_events.push(WaitingBatch {
                    batch: (events, now),
                    done,
                });
                // Groups are applied by a task of their own, so that a caller
                // who goes away cannot cancel the batches of the others. Each
                // batch starts one such task: none waits without one to come.
                let store = self.clone();
                tokio::spawn(async move { store.apply_waiting_events().await });
                outcome
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
            }
        }
    }

    /// Takes the SQLite writer's turn and applies the group of batches
    /// waiting, if any are left.
    async fn apply_waiting_events(&self) {
        let Backend::Sqlite { writer, .. } = &self.backend else {
            return;
        };
        let _turn = self.waiting_events.turn.lock().await;
        let group = self.waiting_events.take_group();
        if group.is_empty() {
            return;
        }
        let (batches, done): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|waiting| (waiting.batch, waiting.done))
            .unzip();
        let outcomes = self
            .writing(
                Touched::Data,
                sqlite::shared::apply_event_batches(writer, &batches, &self.rules),
            )
            .await;
        for (done, outcome) in done.into_iter().zip(outcomes) {
            let _ = done.send(outcome);
        }
    }

    pub async fn import(
        &self,
        input: impl AsyncBufRead + Unpin,
    ) -> Result<ImportSummary, StoreError> {
        self.writing(Touched::Anything, async {
            on_writer!(self, pool => backend::import(pool, input, &self.rules).await)
        })
        .await
    }

    pub async fn export(&self, output: impl AsyncWrite + Unpin) -> Result<u64, StoreError> {
        on_backend!(self, pool => backend::export(pool, output).await)
    }

    /// The key, with its company's data version read in the same query.
    pub async fn api_key(
        &self,
        company_id: i64,
        api_key: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        on_backend!(self, pool => backend::api_key(pool, company_id, api_key).await)
    }

    pub async fn company(&self, company_id: i64) -> Result<Option<Company>, StoreError> {
        on_backend!(self, pool => backend::company(pool, company_id).await)
    }

    pub async fn company_named(&self, name: &str) -> Result<Option<Company>, StoreError> {
        on_backend!(self, pool => backend::company_named(pool, name).await)
    }

    pub async fn history(&self, query: HistoryQuery) -> Result<HistoryReader, StoreError> {
        on_backend!(self, pool => backend::read_history(pool, query).await)
    }

    pub async fn usage(&self, company_id: i64, month: Month) -> Result<UsageCounts, StoreError> {
        on_backend!(self, pool => backend::usage(pool, company_id, month).await)
    }

    /// A company's changes other than connection events, oldest first.
    pub async fn company_changes(&self, company_id: i64) -> Result<Vec<LogLine>, StoreError> {
        on_backend!(self, pool => backend::company_changes(pool, company_id).await)
    }

    pub async fn audit(&self, session_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        on_backend!(self, pool => backend::audit(pool, session_id).await)
    }

    pub async fn session_company(&self, session_id: i64) -> Result<Option<i64>, StoreError> {
        on_backend!(self, pool => backend::session_company(pool, session_id).await)
    }

    /// The company's active users.
    pub async fn users(&self, company_id: i64) -> Result<Vec<User>, StoreError> {
        on_backend!(self, pool => backend::users(pool, company_id).await)
    }

    /// An active user of the company.
    pub async fn user(&self, company_id: i64, user_id: i64) -> Result<Option<User>, StoreError> {
        on_backend!(self, pool => backend::user(pool, company_id, user_id).await)
    }

    pub async fn user_by_external_id(
        &self,
        company_id: i64,
        external_id: &str,
    ) -> Result<Option<User>, StoreError> {
        on_backend!(self, pool => backend::user_by_external_id(pool, company_id, external_id).await)
    }

    /// Active sessions; a host that is not an active user of the company is a NotFound.
    pub async fn sessions(&self, query: SessionQuery) -> Result<Vec<Session>, StoreError> {
        on_backend!(self, pool => backend::sessions(pool, query).await)
    }

    /// A session of the company that was not cancelled.
    pub async fn session(
        &self,
        company_id: i64,
        session_id: i64,
    ) -> Result<Option<Session>, StoreError> {
        on_backend!(self, pool => backend::session(pool, company_id, session_id).await)
    }

    pub async fn participation(
        &self,
        company_id: i64,
        participation_id: i64,
    ) -> Result<Option<Participation>, StoreError> {
        on_backend!(self, pool => backend::participation(pool, company_id, participation_id).await)
    }

    pub async fn calls(
        &self,
        company_id: i64,
        session_id: i64,
    ) -> Result<Vec<CallView>, StoreError> {
        on_backend!(self, pool => backend::calls(pool, company_id, session_id).await)
    }

    pub async fn sessions_due_for_deactivation(
        &self,
        today_starts: Timestamp,
        idle_since: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        on_backend!(self, pool => backend::sessions_due_for_deactivation(pool, today_starts, idle_since).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::PartyKind;

    /// What a full disk does to a statement with no statement journal:
    /// SQLite rolls the whole transaction back, and sqlx's `ROLLBACK` fails.
    /// The one writing connection must not stay stuck in sqlx's count of
    /// open transactions: the next write begins and commits.
    #[tokio::test]
    async fn the_writer_writes_again_after_sqlite_ended_a_transaction_itself() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        let store = Store::open(&url, Rules::default()).await.unwrap();
        let Backend::Sqlite { writer, .. } = &store.backend else {
            unreachable!("a sqlite: URL");
        };
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        assert!(tx.rollback().await.is_err(), "sqlx counted it open");

        let mut tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("the writer begins again");
        sqlx::query(
            "UPDATE id_counters SET last_value = last_value + 1 WHERE counter_name = 'entity'",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// The multi-row writes of a batch of events keep no statement journal
    /// (`OR FAIL`), so a full disk in one of them makes SQLite roll the
    /// whole transaction back itself. The batch must keep nothing, a group of
    /// batches must fail with that error too (not with its failed
    /// `ROLLBACK`'s), and once there is room again the same batch must be
    /// applied whole.
    #[tokio::test]
    async fn a_batch_that_finds_the_disk_full_keeps_nothing_and_applies_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        let store = Store::open(&url, Rules::default()).await.unwrap();
        store.migrate().await.unwrap();
        let setup = concat!(
            r#"{"Type":"Company","CompanyId":1,"Name":"Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0}"#,
            "\n",
            r#"{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Host","EmailAddress":"host@clinic.example"}"#,
            "\n",
            r#"{"Type":"Session","CompanyId":1,"SessionId":105236,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09","ScheduleType":"MeetNow","Participants":[]}"#,
            "\n",
        );
        store.import(setup.as_bytes()).await.unwrap();
        // 500 calls of the host, each connected and disconnected; long event
        // ids make the journal's rows and index need many pages.
        let events: Vec<(EventKind, ConnectionEvent)> = (0..500)
            .flat_map(|call| {
                [(EventKind::Connect, 0), (EventKind::Disconnect, 30)].map(|(kind, second)| {
                    let event = ConnectionEvent {
                        event_id: format!("{call:04}-{second:02}-{}", "x".repeat(100)),
                        session_id: 105236,
                        party: PartyKind::Host,
                        participation_id: None,
                        support_agent_id: None,
                        call_id: format!("c{call}"),
                        ts: Timestamp::parse(&format!(
                            "2016-11-03T22:{:02}:{second:02}",
                            call % 60
                        ))
                        .unwrap(),
                    };
                    (kind, event)
                })
            })
            .collect();
        let Backend::Sqlite { writer, pool } = &store.backend else {
            unreachable!("a sqlite: URL");
        };
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(writer)
            .await
            .unwrap();
        // On the one writing connection, which the pool replaces after a
        // transaction SQLite ended itself: set again before each write.
        let cap = |most: i64| async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA max_page_count = {most}"
            )))
            .execute(writer)
            .await
            .unwrap();
        };
        cap(pages + 20).await;
        let journaled = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM journal WHERE event_id IS NOT NULL")
                .fetch_one(pool)
                .await
                .unwrap()
        };

        let now = Timestamp::parse("2016-11-03T23:00:00").unwrap();
        let error = store
            .apply_events(events.clone(), now)
            .await
            .expect_err("20 more pages do not hold the batch");
        assert!(
            error.to_string().contains("full"),
            "a full database, not: {error}"
        );
        assert_eq!(journaled().await, 0, "no event of the batch is journaled");
        assert!(
            store.calls(1, 105236).await.unwrap().is_empty(),
            "no call is kept"
        );

        // The same events as a group of two batches in one transaction: each
        // fails with the error that ended it, not with the failed ROLLBACK's.
        let (first, second) = events.split_at(500);
        let group = [(first.to_vec(), now), (second.to_vec(), now)];
        cap(pages + 20).await;
        let outcomes = sqlite::shared::apply_event_batches(writer, &group, &store.rules).await;
        assert_eq!(outcomes.len(), 2);
        for outcome in outcomes {
            let error = outcome.expect_err("the group does not fit either");
            assert!(
                error.to_string().contains("full"),
                "a full database, not: {error}"
            );
        }
        assert_eq!(journaled().await, 0, "no event of the group is journaled");

        cap(1_073_741_823).await;
        let outcome = store.apply_events(events, now).await.unwrap();
        assert_eq!((outcome.accepted, outcome.duplicates), (1000, 0));
        assert_eq!(journaled().await, 1000);
        assert_eq!(store.calls(1, 105236).await.unwrap().len(), 500);
    }
}
