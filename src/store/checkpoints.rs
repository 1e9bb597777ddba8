//! Copying SQLite's write-ahead log into the database file in the
//! background, so that the writer does not.
//!
//! On its own, SQLite checkpoints in the commit that makes the log reach
//! `wal_autocheckpoint` pages: that commit copies every page of the log into
//! the database file and waits for its fsync (during a run of event batches
//! on the benchmark machine, 7.5 % of the server's CPU samples, and the
//! fsync's wait besides, which a CPU profile does not show). Here a
//! connection of its own copies what has been committed every [`EVERY`], in
//! `PASSIVE` mode, which waits for no one and never blocks the writer. The
//! writer keeps its own automatic checkpoint as the one that lets the log
//! start over: by the time the log reaches that size, the background has
//! copied nearly all of it.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqlitePool;

/// How often the background copies the committed log.
const EVERY: Duration = Duration::from_millis(100);

/// How long the checkpointer waits before it connects again after losing the
/// database.
const RETRY: Duration = Duration::from_secs(1);

pub(crate) async fn keep_sqlite_checkpointed(pool: SqlitePool) {
    let options = pool.connect_options();
    loop {
        match options.connect().await {
            Ok(mut conn) => loop {
                // (busy, frames in the log, frames copied): nothing to act on;
                // a log still in use by readers is copied as far as it can be.
                let copied = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&mut conn)
                    .await;
                if let Err(error) = copied {
                    tracing::warn!(error = %error, "background checkpoint failed; connecting again");
                    break;
                }
                tokio::time::sleep(EVERY).await;
            },
            Err(error) => {
                tracing::warn!(error = %error, "background checkpoints cannot connect");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
