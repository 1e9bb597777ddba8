//! Opening the database named by a URL: the pools and the settings each
//! backend is opened with.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use std::sync::Arc;

use super::health::Health;
use super::{Backend, Store, StoreError};

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
/// (docs/decisions.md, "SQLite writes").
const SQLITE_CHECKPOINT_PAGES: &str = "65536";

/// The writing connection's page cache, in KiB as `PRAGMA cache_size` takes
/// it (SQLite's default is 2 MiB): the index pages a batch of events changes
/// (journal, calls, the sessions' history order) stay in memory from one
/// batch to the next.
const SQLITE_WRITER_CACHE_KIB: &str = "-32768";

/// A pooled PostgreSQL connection idle longer than this is pinged before it
/// is handed out, in case the server went away meanwhile. sqlx pings every
/// connection it hands out by default: a round trip before every statement,
/// a third of a cold History read (bench/README.md, "PostgreSQL round trips"). A
/// connection is pinged anyway when it goes back to the pool, so one used
/// within the last second is known to have been alive then.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// PostgreSQL connections for reads, and for writes: a write holds its
/// connection for the whole of its transaction, row locks included, so
/// reads keep 16 of their own however many writers there are. 32 writers
/// and 32 readers on one pool of 16 read about 110 a second, against 1,273
/// with readers alone (issue 25).
const POSTGRES_READERS: u32 = 16;
const POSTGRES_WRITERS: u32 = 8;

/// How long taking a PostgreSQL connection may take before the server
/// counts as unreachable (503). Writers wait for their turn before they
/// take a connection, and readers rarely wait for one, so this is about
/// connecting: sqlx retries a refused connection until this runs out.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the first PostgreSQL connection may take at start-up, when a
/// busy server (or one still starting) is no reason to give up yet.
const POSTGRES_STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// Waits for the first connection into the writers' pool, trying again
/// while taking one times out, up to [`POSTGRES_STARTUP_PATIENCE`].
async fn first_connection(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        match pool.acquire().await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::PoolTimedOut) if started.elapsed() < POSTGRES_STARTUP_PATIENCE => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// How long a write waits for its turn at the one writing connection
/// (behind an import, say) before it fails.
const SQLITE_WRITE_WAIT_SECONDS: u64 = 30;

/// The pools of the backend the URL names.
pub(super) async fn backend(
    database_url: &str,
    health: Arc<Health>,
) -> Result<Backend, StoreError> {
    let backend =
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(database_url)?;
            let pool = |size: u32| {
                let health = health.clone();
                PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                    .test_before_acquire(false)
                    .before_acquire(move |conn, meta| {
                        // Pinged when idle a while, or older than a connection
                        // lost lately: the server may have dropped it since.
                        let suspect =
                            meta.idle_for > POSTGRES_PING_AFTER_IDLE || health.suspect(meta.age);
                        Box::pin(async move {
                            if suspect {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
            };
            let writer = pool(POSTGRES_WRITERS).connect_lazy_with(options.clone());
            first_connection(&writer).await?;
            let readers = pool(POSTGRES_READERS).connect_lazy_with(options);
            Backend::Postgres {
                pool: readers,
                writer,
                writers: Arc::new(tokio::sync::Semaphore::new(POSTGRES_WRITERS as usize)),
            }
        } else if Store::is_sqlite_url(database_url) {
            sqlite(database_url, SqliteFile::Kept).await?
        } else {
            return Err(StoreError::Invalid(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        };
    Ok(backend)
}

/// What a SQLite file is kept for.
#[derive(Clone, Copy)]
pub(super) enum SqliteFile {
    /// The service's database: write-ahead log, synced at checkpoints.
    Kept,
    /// A file thrown away when its process is done with it (the bulk
    /// import's): no write-ahead log, whose frames a page changed again
    /// and again would be written again and again and then copied into
    /// the file, no fsync, and a larger page cache for the writer.
    Scratch,
}

/// The writer's page cache of a scratch file, in KiB.
const SCRATCH_WRITER_CACHE_KIB: &str = "-262144";

/// The pools of a SQLite file.
pub(super) async fn sqlite(database_url: &str, file: SqliteFile) -> Result<Backend, StoreError> {
    let (journal, synchronous, writer_cache) = match file {
        SqliteFile::Kept => (
            SqliteJournalMode::Wal,
            SqliteSynchronous::Normal,
            SQLITE_WRITER_CACHE_KIB,
        ),
        SqliteFile::Scratch => (
            SqliteJournalMode::Memory,
            SqliteSynchronous::Off,
            SCRATCH_WRITER_CACHE_KIB,
        ),
    };
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .journal_mode(journal)
        .synchronous(synchronous)
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
        // I/O error in a statement with no statement journal) is noticed
        // by sqlx from 0.9.1 (#4473); before, sqlx kept counting it open,
        // its ROLLBACK failed, and so did every later BEGIN on the
        // connection. A connection still counted in a transaction when it
        // comes back is closed instead of handed out, and the pool opens
        // another. No hop to the connection's thread: the ping sqlx makes
        // when a connection comes back has already run any rollback a
        // dropped transaction queued.
        .before_acquire(|conn, _| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(&*conn)) })
        })
        .connect_with(
            options
                .clone()
                .pragma("cache_size", writer_cache)
                // Statement journals in memory: a multi-row statement
                // not written `OR FAIL` (the calls' upsert, whose
                // foreign key can fail) copies every page it changes
                // there first, to be undone alone if it fails
                // half-way, and in a temp file that was a `pwrite` a
                // page (half the writer's `pwrite` time,
                // bench/README.md, "The SQLite writer").
                .pragma("temp_store", "memory"),
        )
        .await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    Ok(Backend::Sqlite { pool, writer })
}
