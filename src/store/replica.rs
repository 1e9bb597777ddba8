//! A PostgreSQL streaming replica for reads (`--read-database-url`, SPEC
//! §11). A read goes to the replica only when the replica has replayed the
//! company's data version the request already knows of (what the client
//! may have been told is stored), read first as one row on the replica; a
//! replica replays in commit order, so the read that follows sees at least
//! that version too. A replica behind it, or unreachable, leaves the read to
//! the primary, without an error; an unreachable one is left alone for a
//! second before it is tried again.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;

/// Connections for reads on the replica, as on the primary.
const REPLICA_READERS: u32 = 16;

/// How long taking a replica connection may take before the read goes to
/// the primary instead.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long an unreachable replica is left alone.
const REPLICA_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub(super) struct Replica {
    pool: PgPool,
    started: Instant,
    /// Milliseconds after `started` until which the replica is left alone.
    down_until_ms: Arc<AtomicU64>,
}

/// Where a read went, for the metrics.
#[derive(Clone, Copy)]
enum Outcome {
    Replica,
    Lagging,
    Unreachable,
}

impl Outcome {
    fn count(self) {
        let outcome = match self {
            Self::Replica => "replica",
            Self::Lagging => "primary_replica_behind",
            Self::Unreachable => "primary_replica_unreachable",
        };
        metrics::counter!("session_ledger_replica_reads_total", "outcome" => outcome).increment(1);
    }
}

impl Replica {
    /// The replica's pool, connected when first used: a replica down at
    /// start-up only sends reads to the primary.
    pub(super) fn connect(url: &str) -> Result<Self, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(
                "the read database URL must start with postgres://".into(),
            ));
        }
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(REPLICA_READERS)
            .acquire_timeout(REPLICA_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            started: Instant::now(),
            down_until_ms: Arc::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The replica's pool when it has replayed the company's changes up to
    /// `needed` (a data version) at least; `None` sends the read to the
    /// primary.
    pub(super) async fn at_least(&self, company_id: i64, needed: i64) -> Option<&PgPool> {
        if self.now_ms() < self.down_until_ms.load(Ordering::Acquire) {
            Outcome::Unreachable.count();
            return None;
        }
        let replayed = sqlx::query_scalar::<_, i64>(
            "SELECT data_version FROM companies WHERE company_id = $1",
        )
        .bind(company_id)
        .fetch_optional(&self.pool)
        .await;
        match replayed {
            Ok(Some(version)) if version >= needed => {
                Outcome::Replica.count();
                Some(&self.pool)
            }
            Ok(_) => {
                Outcome::Lagging.count();
                None
            }
            Err(error) => {
                self.failed(&error);
                None
            }
        }
    }

    /// A read on the replica failed: the primary takes this read, and the
    /// next second's.
    pub(super) fn failed(&self, error: &dyn std::fmt::Display) {
        let until = self.now_ms() + REPLICA_PAUSE.as_millis() as u64;
        self.down_until_ms.store(until, Ordering::Release);
        Outcome::Unreachable.count();
        tracing::warn!(error = %error, "the read replica failed; reading from the primary");
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
