//! Automatic deactivation (SPEC §3.2): a session whose scheduled day (UTC)
//! has passed and that has had no activity for a while ends for good,
//! through the same journaled `Deactivate` change as the operator's.

use std::time::Duration;

use tokio::sync::watch;

use crate::domain::Timestamp;
use crate::records::SessionActionRecord;
use crate::store::{BackgroundTask, Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Hours without activity before a past session is deactivated.
    pub after_hours: i64,
    /// Time between sweeps; zero means never.
    pub interval: Duration,
}

/// Deactivates every session due at `now`; returns how many it deactivated.
pub async fn deactivate_idle_sessions(
    store: &Store,
    now: Timestamp,
    after_hours: i64,
) -> Result<u64, StoreError> {
    let today_starts = Timestamp::start_of(now.to_offset_date_time().date());
    let idle_since = now.plus_minutes(-after_hours.saturating_mul(60));
    let due = store
        .sessions_due_for_deactivation(today_starts, idle_since)
        .await?;
    let mut deactivated = 0;
    for session_id in due {
        let record = SessionActionRecord {
            session_id,
            ts: None,
            automatic: true,
            reason: None,
        };
        match store.write().deactivate(record).await {
            Ok(_) => deactivated += 1,
            // Deactivated, or cancelled, since the scan: nothing left to do.
            Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(deactivated)
}

/// Sweeps at once and then every `policy.interval` until `stop` turns true
/// (or its sender is gone). A failed sweep is logged and retried next time.
pub async fn run(store: Store, policy: Policy, mut stop: watch::Receiver<bool>) {
    if policy.interval.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(policy.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        // One node sweeps at a time; the others skip this round.
        let round = store.alone(
            BackgroundTask::Deactivation,
            deactivate_idle_sessions(&store, Timestamp::now(), policy.after_hours),
        );
        match round.await {
            Ok(None | Some(Ok(0))) => {}
            Ok(Some(Ok(count))) => tracing::info!(count, "idle sessions deactivated"),
            Ok(Some(Err(error))) | Err(error) => {
                tracing::error!(%error, "automatic deactivation failed")
            }
        }
    }
}
