//! Opening the database named by a URL: the pools and the settings each
//! backend is opened with.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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

/// How long a write waits for its turn at the one writing connection
/// (behind an import, say) before it fails.
const SQLITE_WRITE_WAIT_SECONDS: u64 = 30;

/// The pools of the backend the URL names.
pub(super) async fn backend(database_url: &str) -> Result<Backend, StoreError> {
    let backend =
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
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
        } else if Store::is_sqlite_url(database_url) {
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
            Backend::Sqlite { pool, writer }
        } else {
            return Err(StoreError::Invalid(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        };
    Ok(backend)
}
