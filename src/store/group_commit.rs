//! Group commit of connection events on SQLite: batches that arrive while
//! the one writer is busy wait, and whoever gets the writer next applies
//! them together in one transaction. PostgreSQL writes batches side by side.

use std::sync::PoisonError;

use tokio::sync::oneshot;

use super::health::Verdict;
use super::{Backend, EventOutcome, Store, StoreError, TimedBatch, Touched, postgres, sqlite};
use crate::domain::{EventBatch, Timestamp};

/// Most batches of connection events one SQLite transaction applies: up to
/// 8,000 events, and every batch of a group is answered after the group
/// commits, so a larger group would hold its first batch's answer longer.
const EVENT_BATCHES_PER_GROUP: usize = 8;

/// Batches of connection events waiting for the SQLite writer (group
/// commit). Whoever gets the writer next applies the batches waiting (up to
/// [`EVENT_BATCHES_PER_GROUP`]) in one transaction. An index page that
/// several of them change (a company's journal or history order: a batch of
/// 1,000 events changes a page or two of each per company) is then written
/// to the WAL once per group rather than once per batch (bench/README.md,
/// "Group commit", has the figures). PostgreSQL writes batches of
/// different companies side by side instead.
#[derive(Debug, Default)]
pub(super) struct WaitingEvents {
    batches: std::sync::Mutex<Vec<WaitingBatch>>,
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct WaitingBatch {
    batch: TimedBatch,
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

impl Store {
    /// Applies a batch of connection events. On SQLite the batch waits for
    /// the writer and is applied in a group with the batches waiting beside
    /// it (see [`WaitingEvents`]); its outcome is its own either way.
    pub async fn apply_events(
        &self,
        events: EventBatch,
        now: Timestamp,
    ) -> Result<EventOutcome, StoreError> {
        match &self.backend {
            Backend::Postgres {
                writer, writers, ..
            } => {
                self.health.check()?;
                let _turn = writers.acquire().await;
                self.health.check()?;
                let batches = [(events, now)];
                let outcome = self
                    .writing(
                        Touched::Data,
                        postgres::sql::apply_event_batches(writer, &batches, &self.rules),
                    )
                    .await
                    .pop()
                    .expect("one outcome per batch");
                match self.health.judge(outcome, false) {
                    Verdict::Done(outcome) => outcome,
                    Verdict::Retry => unreachable!("a write is not retried"),
                }
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
                sqlite::sql::apply_event_batches(writer, &batches, &self.rules),
            )
            .await;
        for (done, outcome) in done.into_iter().zip(outcomes) {
            let _ = done.send(outcome);
        }
    }
}
