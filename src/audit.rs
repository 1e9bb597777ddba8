//! The access audit's write path and checks (SPEC §15, docs/audit.md).
//!
//! Requests never write their access record themselves: they leave it in
//! memory ([`AccessLog::record`]), and one task appends whatever is waiting
//! every [`FLUSH_EVERY`] in a single transaction (group commit), so a record
//! is durable within a second of its answer. A group that cannot be written
//! stays waiting and is tried again; meanwhile [`AccessLog::admit`] refuses
//! new requests (503), so nothing is served that could go unrecorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Secret;
use crate::domain::Timestamp;
use crate::domain::access::{AccessRecord, Break, ChainKey, Verifier};
use crate::store::{BackgroundTask, Store, StoreError};

/// How often waiting records are appended: with the append itself, well
/// within the second a record may wait.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Waiting records that start an append at once, before the next tick.
const FLUSH_AT: usize = 5_000;

/// Most records that may wait: past them (the database has not taken a
/// group for a while), requests are refused until it does.
const MOST_WAITING: usize = 200_000;

/// What a request is told while records cannot be written.
const CANNOT_WRITE: &str =
    "the access audit cannot be written to the database just now; retry shortly";

/// How often `serve` prunes records past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// Records read a page at a time by `verify`.
const VERIFY_PAGE: i64 = 10_000;

/// The access records waiting to be appended, and the chain key.
pub struct AccessLog {
    store: Store,
    key: ChainKey,
    waiting: Mutex<Vec<AccessRecord>>,
    /// The last append failed: requests are refused until one succeeds.
    failing: AtomicBool,
    /// What refused requests are told while `failing`.
    refusal: Mutex<String>,
    wake: Notify,
    /// One append at a time, so records keep their order.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").finish_non_exhaustive()
    }
}

/// The chain key: the configured one, else the one the database keeps (generated once).
pub async fn chain_key(store: &Store, configured: Option<&Secret>) -> Result<ChainKey, StoreError> {
    match configured.filter(|key| !key.expose().is_empty()) {
        Some(key) => Ok(ChainKey::new(key.expose().as_bytes().to_vec())),
        None => {
            let generated = store.generated_access_key().await?;
            Ok(ChainKey::new(generated.into_bytes()))
        }
    }
}

impl AccessLog {
    pub async fn open(store: Store, configured: Option<&Secret>) -> Result<Arc<Self>, StoreError> {
        if configured.is_none_or(|key| key.expose().is_empty()) {
            tracing::warn!(
                "no --audit-key: the access audit is chained under a key kept in the database (docs/audit.md)"
            );
        }
        let key = chain_key(&store, configured).await?;
        Ok(Arc::new(Self {
            store,
            key,
            waiting: Mutex::default(),
            failing: AtomicBool::new(false),
            refusal: Mutex::new(String::new()),
            wake: Notify::new(),
            turn: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn key(&self) -> &ChainKey {
        &self.key
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<AccessRecord>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a request may be served: not while records cannot be
    /// written. While they could not, the request tries once more itself,
    /// so service resumes with the database, not a tick later.
    pub async fn admit(&self) -> Result<(), String> {
        if self.failing.load(Ordering::Relaxed) {
            let _ = self.flush().await;
        }
        if self.failing.load(Ordering::Relaxed) {
            Err(self
                .refusal
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone())
        } else if self.waiting().len() >= MOST_WAITING {
            Err(CANNOT_WRITE.into())
        } else {
            Ok(())
        }
    }

    /// Leaves a record to be appended with the next group.
    pub fn record(&self, record: AccessRecord) {
        let count = {
            let mut waiting = self.waiting();
            waiting.push(record);
            waiting.len()
        };
        if count == FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Appends every record waiting, in one transaction. On failure they
    /// stay waiting, ahead of any that came since.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _turn = self.turn.lock().await;
        let group = std::mem::take(&mut *self.waiting());
        if group.is_empty() {
            return Ok(());
        }
        match self.store.append_access(&self.key, group.clone()).await {
            Ok(()) => {
                self.failing.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                // The database's own word when it is down; no internals else.
                *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = match &error {
                    StoreError::Unavailable(message) => message.clone(),
                    _ => CANNOT_WRITE.into(),
                };
                self.failing.store(true, Ordering::Relaxed);
                let mut waiting = self.waiting();
                let newer = std::mem::replace(&mut *waiting, group);
                waiting.extend(newer);
                tracing::error!(%error, waiting = waiting.len(), "access records could not be written; refusing requests until they are");
                Err(error)
            }
        }
    }

    /// Appends waiting records every [`FLUSH_EVERY`] (or sooner when many
    /// wait) until the future is dropped. Each append runs as a task of its
    /// own: dropping this future never abandons a group half-written.
    pub async fn keep_flushing(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(FLUSH_EVERY) => {}
                () = self.wake.notified() => {}
            }
            let log = self.clone();
            let _ = tokio::spawn(async move { log.flush().await }).await;
        }
    }

    /// Prunes records older than the retention every hour until dropped;
    /// one node at a time (`Store::alone`), and safe even if two ran at once
    /// (`Store::prune_access`).
    pub async fn keep_pruning(&self, retention_days: u32) {
        loop {
            let before = Timestamp::now().plus_minutes(-i64::from(retention_days) * 24 * 60);
            // One node prunes at a time; the others skip the round.
            let round = self.store.alone(
                BackgroundTask::AuditPruning,
                self.store.prune_access(&self.key, before),
            );
            match round.await {
                Ok(None | Some(Ok(0))) => {}
                Ok(Some(Ok(pruned))) => {
                    tracing::info!(pruned, "access records past the retention pruned")
                }
                Ok(Some(Err(error))) | Err(error) => {
                    tracing::warn!(%error, "pruning access records failed")
                }
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    }
}

/// What `audit verify` found: each chain's company and records verified.
#[derive(Debug)]
pub enum Verdict {
    Verified(Vec<(i64, u64)>),
    Broken(Break),
}

/// Recomputes every chain (or one company's) from its checkpoint.
pub async fn verify(
    store: &Store,
    key: &ChainKey,
    company_id: Option<i64>,
) -> Result<Verdict, StoreError> {
    let mut verified = Vec::new();
    for chain in store.access_chains(company_id).await? {
        let company = chain.company_id;
        let mut verifier = match Verifier::new(key, chain) {
            Ok(verifier) => verifier,
            Err(broken) => return Ok(Verdict::Broken(broken)),
        };
        let mut after = 0;
        loop {
            let page = store.access_page(company, after, VERIFY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for record in page {
                if let Err(broken) = verifier.push(record) {
                    return Ok(Verdict::Broken(broken));
                }
            }
        }
        match verifier.finish() {
            Ok(count) => verified.push((company, count)),
            Err(broken) => return Ok(Verdict::Broken(broken)),
        }
    }
    Ok(Verdict::Verified(verified))
}
