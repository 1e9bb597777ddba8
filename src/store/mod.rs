//! Storage. One set of SQL, in `sql/`, is compiled once per backend with
//! `Db` bound to that backend's sqlx driver, so SQLite and PostgreSQL cannot
//! drift apart; what must differ lives in the two small backend modules below.
//! `Store` picks the backend once, from the database URL.

mod bulk;
mod changes;
mod checkpoints;
mod connect;
mod group_commit;
mod health;
mod model;
mod replica;
mod resources;
mod writes;

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncWrite};

pub use changes::{Changes, Generation, POLL as CHANGES_POLL, Touched};
pub use console::{ConsoleLink, ConsoleSession, PasswordCandidate};
pub use model::*;
pub use resources::*;
pub use webhooks::*;
pub use writes::{NewSession, Writer};

use group_commit::WaitingEvents;
use health::{Health, Verdict};

use crate::domain::EventBatch;
use crate::domain::access::{AccessChain, AccessRecord, ChainKey};
use crate::domain::{Month, Timestamp};
use crate::records::LogLine;

pub mod postgres;
pub mod sqlite;

/// The service-wide number series (ids, journal order).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Entity,
    Journal,
}

/// The work every node runs in the background, one node at a time
/// ([`Store::alone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundTask {
    Deactivation,
    AuditPruning,
}

impl BackgroundTask {
    /// The advisory lock's key: fixed, and far from small numbers another
    /// application on the same database might pick.
    fn lock_key(self) -> i64 {
        match self {
            Self::Deactivation => 0x5E55_1011_0000_0001,
            Self::AuditPruning => 0x5E55_1011_0000_0002,
        }
    }
}

/// Settings of the rules that the store applies while deriving fields.
#[derive(Clone, Debug)]
pub struct Rules {
    pub duplicate_window_minutes: i64,
    /// The platform's name in usage descriptions (webhooks carry them).
    pub platform_name: String,
    /// Whether changes write outbound webhook messages (SPEC §13); an
    /// import replays history, which is no news, and writes none.
    pub emit_webhooks: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            duplicate_window_minutes: 60,
            platform_name: "Support".into(),
            emit_webhooks: true,
        }
    }
}

/// A batch of connection events as posted, with the time it arrived.
pub(crate) type TimedBatch = (EventBatch, Timestamp);

/// The database, chosen once from the URL scheme, and the rules it applies.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    rules: Rules,
    changes: Arc<Changes>,
    waiting_events: Arc<WaitingEvents>,
    health: Arc<Health>,
    /// A streaming replica that takes reads it has caught up with.
    replica: Option<replica::Replica>,
}

/// Moves the generations on when dropped (`Store::writing`).
struct MovesOn<'a>(&'a Changes, Touched);

impl Drop for MovesOn<'_> {
    fn drop(&mut self) {
        self.0.moved_on(self.1);
    }
}

#[derive(Clone, Debug)]
enum Backend {
    /// Readers, and the one connection this process writes with (SQLite
    /// takes one writer at a time). This process's writers queue for the
    /// one connection, in order, and its page cache stays warm; a write on
    /// any pooled connection would find the lock taken, sleep and poll
    /// (1, 2, 5, 10… ms) while the lock stood free. Writers of other
    /// processes still wait on SQLite's busy timeout.
    Sqlite {
        pool: sqlx::SqlitePool,
        writer: sqlx::SqlitePool,
    },
    /// Readers and writers in pools of their own, so that writes, however
    /// many, never hold the connections reads need; writers take a turn
    /// (`writers`, first come first served) before they take a connection,
    /// so they wait there, not in the pool, whose short acquire timeout
    /// then means the server cannot be reached (`connect`).
    Postgres {
        pool: sqlx::PgPool,
        writer: sqlx::PgPool,
        writers: Arc<tokio::sync::Semaphore>,
    },
}

/// Runs the same SQL function on whichever backend this store is: at once
/// [`StoreError::Unavailable`] while the database is down, and once more
/// when a connection turns out lost (a read is safe to repeat).
macro_rules! on_backend {
    ($store:expr, $pool:ident => $call:expr) => {
        on_backend!(@retry true, $store, $pool => $call)
    };
    // A read that cannot be repeated (it has written part of its output).
    (once: $store:expr, $pool:ident => $call:expr) => {{
        $store.health.check()?;
        let outcome = match &$store.backend {
            Backend::Sqlite { pool: $pool, .. } => {
                use self::sqlite::sql as backend;
                $call
            }
            Backend::Postgres { pool: $pool, .. } => {
                use self::postgres::sql as backend;
                $call
            }
        };
        match $store.health.judge(outcome, false) {
            Verdict::Done(outcome) => outcome,
            Verdict::Retry => unreachable!("not retried"),
        }
    }};
    (@retry $may_retry:expr, $store:expr, $pool:ident => $call:expr) => {{
        $store.health.check()?;
        let mut may_retry = $may_retry;
        loop {
            let outcome = match &$store.backend {
                Backend::Sqlite { pool: $pool, .. } => {
                    use self::sqlite::sql as backend;
                    $call
                }
                Backend::Postgres { pool: $pool, .. } => {
                    use self::postgres::sql as backend;
                    $call
                }
            };
            match $store.health.judge(outcome, may_retry) {
                Verdict::Done(outcome) => break outcome,
                Verdict::Retry => may_retry = false,
            }
        }
    }};
}

/// As [`on_backend!`], with the pool this process writes with, after its
/// turn among writers; not repeated (a write whose connection was lost
/// may have committed), but a write that could not begin is retried when it
/// begins (`sql::begin_write`).
macro_rules! on_writer {
    ($store:expr, $pool:ident => $call:expr) => {{
        $store.health.check()?;
        let outcome = match &$store.backend {
            Backend::Sqlite { writer: $pool, .. } => {
                use self::sqlite::sql as backend;
                $call
            }
            Backend::Postgres {
                writer: $pool,
                writers,
                ..
            } => {
                let _turn = writers.acquire().await;
                $store.health.check()?;
                use self::postgres::sql as backend;
                $call
            }
        };
        match $store.health.judge(outcome, false) {
            Verdict::Done(outcome) => outcome,
            Verdict::Retry => unreachable!("a write is not retried"),
        }
    }};
}

// After the macros, which they use.
mod console;
mod webhooks;

impl Store {
    /// Whether a database URL names a SQLite database (the backend
    /// [`Store::open`] picks for it).
    pub fn is_sqlite_url(database_url: &str) -> bool {
        database_url.starts_with("sqlite:")
    }

    /// Connects (creating a SQLite file when missing) and applies migrations.
    pub async fn open(database_url: &str, rules: Rules) -> Result<Self, StoreError> {
        let health = Arc::new(Health::new(!Self::is_sqlite_url(database_url)));
        let backend = connect::backend(database_url, health.clone()).await?;
        Self::migrated(backend, health, rules).await
    }

    /// A SQLite file at `path`, made for one process's work and then
    /// thrown away (`connect::SqliteFile::Scratch`).
    async fn open_scratch(path: &std::path::Path, rules: Rules) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let backend = connect::sqlite(&url, connect::SqliteFile::Scratch).await?;
        Self::migrated(backend, Arc::new(Health::new(false)), rules).await
    }

    async fn migrated(
        backend: Backend,
        health: Arc<Health>,
        rules: Rules,
    ) -> Result<Self, StoreError> {
        let store = Store {
            backend,
            rules,
            changes: Arc::default(),
            waiting_events: Arc::default(),
            health,
            replica: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Sends History, usage and list reads to a streaming replica of this
    /// PostgreSQL database whenever it has replayed what the reader must
    /// see (`replica`); connected when first used.
    pub fn with_read_replica(mut self, read_database_url: &str) -> Result<Self, StoreError> {
        if !matches!(self.backend, Backend::Postgres { .. }) {
            return Err(StoreError::Invalid(
                "a read database needs a PostgreSQL database URL".into(),
            ));
        }
        self.replica = Some(replica::Replica::connect(read_database_url)?);
        Ok(self)
    }

    /// A read of the company that must see its data version `at_least`
    /// (when unknown: the primary's current one, one row): on the replica
    /// when it has that version, `None` to send it to the primary (no
    /// replica, one behind, or one that failed the read).
    async fn on_replica<T>(
        &self,
        company_id: i64,
        at_least: Option<i64>,
        read: impl AsyncFnOnce(&sqlx::PgPool) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let replica = self.replica.as_ref()?;
        let needed = match at_least {
            Some(version) => version,
            None => self.company(company_id).await.ok()??.data_version,
        };
        match read(replica.at_least(company_id, needed).await?).await {
            Err(StoreError::Database(error)) => {
                replica.failed(&error);
                None
            }
            other => Some(other),
        }
    }

    /// Connections open and idle in the pool, for the metrics. sqlx's idle
    /// count can wrap below zero for a moment while a connection changes
    /// hands, so each pool's is taken as at most its size.
    pub fn pool_status(&self) -> (u32, usize) {
        fn status<DB: sqlx::Database>(pools: [&sqlx::Pool<DB>; 2]) -> (u32, usize) {
            pools.iter().fold((0, 0), |(open, idle), pool| {
                let size = pool.size();
                let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
                (
                    open.saturating_add(size),
                    idle.saturating_add(pool.num_idle().min(size_usize)),
                )
            })
        }
        match &self.backend {
            Backend::Sqlite { pool, writer } => status([pool, writer]),
            Backend::Postgres { pool, writer, .. } => status([pool, writer]),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlx::migrate!("migrations/sqlite").run(writer).await?
            }
            Backend::Postgres { writer, .. } => {
                sqlx::migrate!("migrations/postgres").run(writer).await?
            }
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
            Backend::Postgres { pool, writer, .. } => {
                pool.close().await;
                writer.close().await;
            }
        }
        if let Some(replica) = &self.replica {
            replica.close().await;
        }
    }

    /// Runs a background task's round unless another node sharing this
    /// database is running the same task: on PostgreSQL, under a
    /// transaction-level advisory lock, held by a connection of its own
    /// for the length of the round and released however the round ends
    /// (a node that dies releases it with its connection). `None` when
    /// another node holds it. SQLite serves one node: the round always runs.
    pub async fn alone<T>(
        &self,
        task: BackgroundTask,
        round: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, StoreError> {
        let Backend::Postgres { pool, .. } = &self.backend else {
            return Ok(Some(round.await));
        };
        self.health.check()?;
        let mut claim = pool.begin().await?;
        let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(task.lock_key())
            .fetch_one(&mut *claim)
            .await?;
        if !mine {
            return Ok(None);
        }
        let outcome = round.await;
        claim.rollback().await?;
        Ok(Some(outcome))
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
            Backend::Postgres { pool, .. } => {
                changes::watch_postgres(pool.clone(), &self.changes).await
            }
        }
    }

    /// Watches whether the PostgreSQL server can be reached until the
    /// future is dropped (`health`); returns at once on SQLite.
    pub async fn watch_health(&self) {
        if let Backend::Postgres { pool, .. } = &self.backend {
            let options = (*pool.connect_options()).clone();
            self.health.heartbeat(options).await
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

    /// Applies one change (not a connection event) and records it; the
    /// typed doors to it are in `writes`.
    async fn apply(&self, line: LogLine) -> Result<LogLine, StoreError> {
        let touched = Touched::of(&line.record);
        self.writing(touched, async {
            on_writer!(self, pool => backend::apply_one(pool, line, touched, &self.rules).await)
        })
        .await
    }

    /// Replays a log in one transaction. Into an empty PostgreSQL database
    /// it goes in bulk (`bulk`), to the same rows.
    pub async fn import(
        &self,
        input: impl AsyncBufRead + Unpin,
    ) -> Result<ImportSummary, StoreError> {
        self.writing(Touched::Anything, async {
            if let Backend::Postgres { writer, .. } = &self.backend {
                self.health.check()?;
                if let Some(tx) = bulk::begin_if_empty(writer).await? {
                    let (summary, filled) = bulk::import(tx, input, &self.rules).await?;
                    // Frozen rows leave nothing to vacuum; the planner needs statistics.
                    bulk::analyze(writer, &filled).await;
                    return Ok(summary);
                }
            }
            self.replay(input).await
        })
        .await
    }

    /// Replays a log line by line, in one transaction.
    async fn replay(&self, input: impl AsyncBufRead + Unpin) -> Result<ImportSummary, StoreError> {
        on_writer!(self, pool => backend::import(pool, input, &self.rules).await)
    }

    pub async fn export(&self, output: impl AsyncWrite + Unpin) -> Result<u64, StoreError> {
        on_backend!(once: self, pool => backend::export(pool, output).await)
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
        on_backend!(self, pool => backend::read_history(pool, query.clone()).await)
    }

    /// [`Self::history`] of the company at its data version `at_least` or
    /// later: from the read replica when it has that version.
    pub async fn history_at(
        &self,
        query: HistoryQuery,
        at_least: Option<i64>,
    ) -> Result<HistoryReader, StoreError> {
        let company_id = query.company_id;
        let read = async |replica: &sqlx::PgPool| {
            postgres::sql::read_history(replica, query.clone()).await
        };
        if let Some(outcome) = self.on_replica(company_id, at_least, read).await {
            return outcome;
        }
        self.history(query).await
    }

    pub async fn usage(&self, company_id: i64, month: Month) -> Result<UsageCounts, StoreError> {
        on_backend!(self, pool => backend::usage(pool, company_id, month).await)
    }

    /// [`Self::usage`], from the read replica when it has `at_least`.
    pub async fn usage_at(
        &self,
        company_id: i64,
        month: Month,
        at_least: Option<i64>,
    ) -> Result<UsageCounts, StoreError> {
        let read =
            async |replica: &sqlx::PgPool| postgres::sql::usage(replica, company_id, month).await;
        if let Some(outcome) = self.on_replica(company_id, at_least, read).await {
            return outcome;
        }
        self.usage(company_id, month).await
    }

    /// A company's changes other than connection events, oldest first.
    pub async fn company_changes(&self, company_id: i64) -> Result<Vec<LogLine>, StoreError> {
        on_backend!(self, pool => backend::company_changes(pool, company_id).await)
    }

    pub async fn audit(&self, session_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        on_backend!(self, pool => backend::audit(pool, session_id).await)
    }

    /// Appends access records to their companies' chains, in one
    /// transaction (the audit's group commit, `audit::AccessLog`). Fails at
    /// once while the database is known down; a failure of its own is the
    /// caller's to retry and does not count against the database's health
    /// (a background append that meets a connection lost for a moment would
    /// otherwise turn every request away until the heartbeat says otherwise).
    pub async fn append_access(
        &self,
        key: &ChainKey,
        records: Vec<AccessRecord>,
    ) -> Result<(), StoreError> {
        self.health.check()?;
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlite::sql::append_access(writer, key, records).await
            }
            Backend::Postgres {
                writer, writers, ..
            } => {
                let _turn = writers.acquire().await;
                self.health.check()?;
                postgres::sql::append_access(writer, key, records).await
            }
        }
    }

    /// A company's access records from `from` to `to` (exclusive), at most `limit`.
    pub async fn access_between(
        &self,
        company_id: i64,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        on_backend!(self, pool => backend::access_between(pool, company_id, from, to, limit).await)
    }

    /// A company's access records after `after_seq`, in chain order.
    pub async fn access_page(
        &self,
        company_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        on_backend!(self, pool => backend::access_page(pool, company_id, after_seq, limit).await)
    }

    /// Every company's access chain, or one company's.
    pub async fn access_chains(
        &self,
        company_id: Option<i64>,
    ) -> Result<Vec<AccessChain>, StoreError> {
        on_backend!(self, pool => backend::access_chains(pool, company_id).await)
    }

    /// Prunes access records older than `before`, leaving sealed checkpoints.
    pub async fn prune_access(&self, key: &ChainKey, before: Timestamp) -> Result<u64, StoreError> {
        on_writer!(self, pool => backend::prune_access(pool, key, before).await)
    }

    /// The chain key this database generated for itself (generated now if none).
    pub async fn generated_access_key(&self) -> Result<String, StoreError> {
        on_writer!(self, pool => backend::generated_access_key(pool).await)
    }

    /// Every company's id, in order.
    pub async fn company_ids(&self) -> Result<Vec<i64>, StoreError> {
        on_backend!(self, pool => backend::company_ids(pool).await)
    }

    pub async fn session_company(&self, session_id: i64) -> Result<Option<i64>, StoreError> {
        on_backend!(self, pool => backend::session_company(pool, session_id).await)
    }

    /// The company's active users.
    pub async fn users(&self, company_id: i64) -> Result<Vec<User>, StoreError> {
        on_backend!(self, pool => backend::users(pool, company_id).await)
    }

    /// [`Self::users`], from the read replica when it has `at_least`.
    pub async fn users_at(
        &self,
        company_id: i64,
        at_least: Option<i64>,
    ) -> Result<Vec<User>, StoreError> {
        let read = async |replica: &sqlx::PgPool| postgres::sql::users(replica, company_id).await;
        if let Some(outcome) = self.on_replica(company_id, at_least, read).await {
            return outcome;
        }
        self.users(company_id).await
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
        on_backend!(self, pool => backend::sessions(pool, query.clone()).await)
    }

    /// [`Self::sessions`], from the read replica when it has `at_least`.
    pub async fn sessions_at(
        &self,
        query: SessionQuery,
        at_least: Option<i64>,
    ) -> Result<Vec<Session>, StoreError> {
        let company_id = query.company_id;
        let read =
            async |replica: &sqlx::PgPool| postgres::sql::sessions(replica, query.clone()).await;
        if let Some(outcome) = self.on_replica(company_id, at_least, read).await {
            return outcome;
        }
        self.sessions(query).await
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

    /// The session a provider's room is (SPEC §12), if any.
    pub async fn room_session(
        &self,
        provider: &str,
        room: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        on_backend!(self, pool => backend::room_session(pool, provider, room).await)
    }

    pub async fn open_calls(
        &self,
        company_id: i64,
        session_id: i64,
    ) -> Result<Vec<OpenCall>, StoreError> {
        on_backend!(self, pool => backend::open_calls(pool, company_id, session_id).await)
    }

    pub async fn keep_unmatched(
        &self,
        provider: &str,
        reason: &str,
        body: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        on_writer!(self, pool => backend::keep_unmatched(pool, provider, reason, body, now).await)
    }

    pub async fn unmatched(&self) -> Result<Vec<UnmatchedWebhook>, StoreError> {
        on_backend!(self, pool => backend::unmatched(pool).await)
    }

    pub async fn unmatched_by_id(
        &self,
        unmatched_id: i64,
    ) -> Result<Option<UnmatchedWebhook>, StoreError> {
        on_backend!(self, pool => backend::unmatched_by_id(pool, unmatched_id).await)
    }

    pub async fn settle_unmatched(
        &self,
        unmatched_id: i64,
        outcome: Result<Timestamp, &str>,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::settle_unmatched(pool, unmatched_id, outcome).await)
    }

    pub async fn prune_unmatched(&self, before: Timestamp) -> Result<u64, StoreError> {
        on_writer!(self, pool => backend::prune_unmatched(pool, before).await)
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
mod tests;
