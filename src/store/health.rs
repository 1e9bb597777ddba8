//! Whether the PostgreSQL server can be reached, so that requests fail fast
//! while it cannot: a heartbeat on a connection of its own says when it is
//! lost (within a second or two) and when it is back, and errors of requests
//! say it at once. While it is down, every use of the store answers
//! [`StoreError::Unavailable`] without waiting; once it is back, pooled
//! connections older than the loss are pinged before use, so those the
//! server dropped are replaced rather than handed to a request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::StoreError;

/// How often the heartbeat pings, and how long a ping or a connection
/// attempt may take before the server counts as lost (a refused connection
/// counts at once; a busy server can take a second to open one).
const BEAT: Duration = Duration::from_millis(500);
const PATIENCE: Duration = Duration::from_millis(1_500);

/// A failed ping is tried again this often, for this long, before the
/// server counts as lost: long enough for a server that dropped its
/// connections and listens again at once (a quick restart), short enough
/// that requests still learn of an outage within about a second.
const CONFIRM_EVERY: Duration = Duration::from_millis(50);
const CONFIRM_FOR: Duration = Duration::from_millis(300);

/// For this long after a connection was lost, pooled connections older than
/// the loss are pinged before they are handed out.
const SUSPECT_FOR: Duration = Duration::from_secs(60);

/// What the answer to a caller says while the database is down.
pub const UNAVAILABLE: &str = "the database is unavailable; retry shortly";

#[derive(Debug)]
pub(crate) struct Health {
    /// Only a PostgreSQL server can be lost; SQLite is in the process.
    watched: bool,
    down: AtomicBool,
    /// When a connection was last lost, in ms since `started` (0: never).
    lost_at: AtomicU64,
    started: Instant,
}

impl Health {
    pub(crate) fn new(watched: bool) -> Self {
        Self {
            watched,
            down: AtomicBool::new(false),
            lost_at: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Fails at once while the database is known to be down.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Acquire) {
            Err(StoreError::Unavailable(UNAVAILABLE.into()))
        } else {
            Ok(())
        }
    }

    fn since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn lost(&self) {
        self.lost_at.store(self.since_start(), Ordering::Release);
    }

    fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::AcqRel) != down {
            if down {
                tracing::warn!("the database is unreachable: requests answer 503");
            } else {
                tracing::info!("the database is reachable again");
            }
        }
    }

    /// Whether a pooled connection of this age predates a recent loss (and
    /// so may have been dropped by the server).
    pub(crate) fn suspect(&self, age: Duration) -> bool {
        let lost_at = self.lost_at.load(Ordering::Acquire);
        if lost_at == 0 {
            return false;
        }
        let since_loss = Duration::from_millis(self.since_start().saturating_sub(lost_at));
        since_loss < SUSPECT_FOR && age >= since_loss
    }

    /// Looks at the outcome of a use of the store: a lost connection is
    /// retried once when `may_retry` and the server is not known down;
    /// otherwise it becomes [`StoreError::Unavailable`].
    pub(crate) fn judge<T>(&self, outcome: Result<T, StoreError>, may_retry: bool) -> Verdict<T> {
        let error = match outcome {
            Err(StoreError::Database(error)) if self.watched && connection_lost(&error) => error,
            other => return Verdict::Done(other),
        };
        self.lost();
        if unreachable(&error) {
            self.set_down(true);
        }
        // A pool that timed out has already waited its 2 s.
        let timed_out = matches!(error, sqlx::Error::PoolTimedOut);
        if may_retry && !timed_out && self.check().is_ok() {
            tracing::info!(%error, "a database connection was lost: retrying once");
            return Verdict::Retry;
        }
        tracing::warn!(%error, "a database connection was lost");
        Verdict::Done(Err(StoreError::Unavailable(UNAVAILABLE.into())))
    }

    /// Pings the server every [`BEAT`] on a connection of its own, marking
    /// it up when a ping succeeds and down when pings or connection attempts
    /// keep failing for [`CONFIRM_FOR`] (one that hangs for [`PATIENCE`]
    /// counts at once), so a server that drops its connections and is back
    /// at once costs no request an error. Runs until dropped.
    pub(crate) async fn heartbeat(&self, options: PgConnectOptions) {
        if !self.watched {
            return;
        }
        let mut connection: Option<PgConnection> = None;
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let failing_since = Instant::now();
            loop {
                match tokio::time::timeout(PATIENCE, beat(&mut connection, &options)).await {
                    Ok(Ok(())) => {
                        if self.down.load(Ordering::Acquire) {
                            // Whatever the pool holds predates the outage.
                            self.lost();
                        }
                        self.set_down(false);
                        break;
                    }
                    Ok(Err(error)) => tracing::debug!(%error, "database heartbeat failed"),
                    Err(_) => tracing::debug!("database heartbeat timed out"),
                }
                // Pooled connections may be gone too: ping them before use.
                self.lost();
                if self.down.load(Ordering::Acquire) || failing_since.elapsed() >= CONFIRM_FOR {
                    self.set_down(true);
                    break;
                }
                tokio::time::sleep(CONFIRM_EVERY).await;
            }
        }
    }
}

/// One ping on the heartbeat's connection; a connection the server dropped
/// (a restart) is replaced at once.
async fn beat(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<(), sqlx::Error> {
    if let Some(mut alive) = connection.take()
        && alive.ping().await.is_ok()
    {
        *connection = Some(alive);
        return Ok(());
    }
    let mut fresh = PgConnection::connect_with(options).await?;
    fresh.ping().await?;
    *connection = Some(fresh);
    Ok(())
}

pub(crate) enum Verdict<T> {
    Done(Result<T, StoreError>),
    Retry,
}

/// The connection is gone or could not be made; the statement may not
/// have reached the server.
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // Connection exceptions; admin, crash or server shutdown; cannot connect now.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// No connection could be had: the server is down, not just one
/// connection stale. Not a pool that timed out: on a busy server, opening
/// a connection can take that long; the heartbeat decides then.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(error) => error.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| code == "57P03"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_retried_once_and_then_unavailable() {
        let health = Health::new(true);
        let stale = || {
            Err::<(), _>(StoreError::Database(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::UnexpectedEof,
            ))))
        };
        assert!(matches!(health.judge(stale(), true), Verdict::Retry));
        assert!(matches!(
            health.judge(stale(), false),
            Verdict::Done(Err(StoreError::Unavailable(_)))
        ));
        assert!(health.check().is_ok(), "one stale connection is no outage");
        assert!(
            health.suspect(Duration::from_secs(5)),
            "older connections are pinged"
        );
    }

    #[test]
    fn an_unreachable_server_fails_fast_without_retry() {
        let health = Health::new(true);
        let refused = Err::<(), _>(StoreError::Database(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ))));
        assert!(matches!(
            health.judge(refused, true),
            Verdict::Done(Err(StoreError::Unavailable(_)))
        ));
        assert!(matches!(health.check(), Err(StoreError::Unavailable(_))));
    }

    #[test]
    fn other_errors_and_sqlite_pass_through() {
        let health = Health::new(true);
        let missing = Err::<(), _>(StoreError::NotFound("x".into()));
        assert!(matches!(
            health.judge(missing, true),
            Verdict::Done(Err(StoreError::NotFound(_)))
        ));
        let sqlite = Health::new(false);
        let timed_out = Err::<(), _>(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(matches!(
            sqlite.judge(timed_out, true),
            Verdict::Done(Err(StoreError::Database(_)))
        ));
        assert!(sqlite.check().is_ok());
    }
}
