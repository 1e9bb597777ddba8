//! Whether the database may have changed since something was read from it.
//!
//! A generation number moves on after every write this process commits and
//! whenever a watcher sees another process (a CLI command, another node)
//! commit. A value read from the database at generation `g` may be reused
//! while the generation is still `g`. Without a running watcher there is no
//! generation at all, and nothing may be reused.
//!
//! - SQLite: `PRAGMA data_version` on a connection of its own, every
//!   [`POLL`]; it changes when any other connection, in any process, commits.
//! - PostgreSQL: every write transaction sends `NOTIFY` on [`CHANNEL`], which
//!   PostgreSQL delivers when it commits; a listener receives it.
//!
//! So another process's commit is seen at most one poll later on SQLite and
//! as soon as the notification arrives on PostgreSQL; this process's own
//! commits are seen at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgListener, PgPool};
use sqlx::sqlite::SqlitePool;

/// The notification channel of PostgreSQL write transactions.
pub(crate) const CHANNEL: &str = "session_ledger_changes";

/// How often SQLite's watcher asks whether another connection committed.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a watcher waits before it connects again after losing the database.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Changes {
    generation: AtomicU64,
    watching: AtomicBool,
}

impl Changes {
    /// The current generation; `None` while no watcher is sure to see
    /// other processes' commits.
    pub fn generation(&self) -> Option<u64> {
        // Read `watching` first: a watcher that stops clears it before it
        // moves the generation on.
        if self.watching.load(Ordering::Acquire) {
            Some(self.generation.load(Ordering::Acquire))
        } else {
            None
        }
    }

    pub(crate) fn moved_on(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn set_watching(&self, watching: bool) {
        self.watching.store(watching, Ordering::Release);
    }

    fn lost(&self, error: &dyn std::fmt::Display) {
        self.set_watching(false);
        self.moved_on();
        tracing::warn!(error = %error, "lost sight of other processes' changes; nothing is reused until it is back");
    }
}

pub(crate) async fn watch_sqlite(pool: SqlitePool, changes: &Changes) {
    let options = pool.connect_options();
    loop {
        match options.connect().await {
            Ok(mut conn) => {
                let mut last = None;
                loop {
                    match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                        .fetch_one(&mut conn)
                        .await
                    {
                        Ok(version) => {
                            if last != Some(version) {
                                changes.moved_on();
                                last = Some(version);
                            }
                            changes.set_watching(true);
                        }
                        Err(error) => {
                            changes.lost(&error);
                            break;
                        }
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            Err(error) => changes.lost(&error),
        }
        tokio::time::sleep(RETRY).await;
    }
}

pub(crate) async fn watch_postgres(pool: PgPool, changes: &Changes) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                // Whatever was committed before LISTEN took effect is behind us.
                changes.moved_on();
                changes.set_watching(true);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => changes.moved_on(),
                        // The connection was lost: notifications may have been missed.
                        Ok(None) => {
                            changes.lost(&"the listening connection was closed");
                            break;
                        }
                        Err(error) => {
                            changes.lost(&error);
                            break;
                        }
                    }
                }
            }
            Err(error) => changes.lost(&error),
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_generation_until_watched_and_every_change_moves_it_on() {
        let changes = Changes::default();
        assert_eq!(changes.generation(), None);
        changes.set_watching(true);
        let first = changes.generation().unwrap();
        changes.moved_on();
        assert_eq!(changes.generation(), Some(first + 1));
        changes.lost(&"test");
        assert_eq!(changes.generation(), None);
    }
}
