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

    /// Whether batches wait for the writer or a group of them is being
    /// applied.
    fn busy(&self) -> bool {
        !self.lock().is_empty() || self.turn.try_lock().is_err()
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

    /// Whether connection events are being written on SQLite's one writer,
    /// or wait for it: background writes (the webhook worker's) may let
    /// them go first. Always false on PostgreSQL, whose writers go side by
    /// side.
    pub fn event_writes_busy(&self) -> bool {
        matches!(self.backend, Backend::Sqlite { .. }) && self.waiting_events.busy()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionEvent, EventKind, PartyKind};

    /// What the webhook worker yields to: batches waiting, or a group of
    /// them being applied; nothing once they are done.
    #[tokio::test]
    async fn event_writes_are_busy_while_batches_wait_or_a_group_is_applied() {
        let waiting = WaitingEvents::default();
        assert!(!waiting.busy(), "nothing waits at first");

        let turn = waiting.turn.lock().await;
        assert!(waiting.busy(), "a group is being applied");
        drop(turn);
        assert!(!waiting.busy(), "the group is done");

        let event = ConnectionEvent {
            event_id: "e1".into(),
            session_id: 1,
            party: PartyKind::Host,
            participation_id: None,
            support_agent_id: None,
            call_id: "c1".into(),
            ts: Timestamp::parse("2016-11-03T22:00:00").unwrap(),
        };
        let batch = EventBatch::parse(vec![(EventKind::Connect, event)]).unwrap();
        let (done, _outcome) = oneshot::channel();
        waiting.push(WaitingBatch {
            batch: (batch, Timestamp::now()),
            done,
        });
        assert!(waiting.busy(), "a batch waits");
        assert_eq!(waiting.take_group().len(), 1);
        assert!(!waiting.busy(), "the batch was taken");
    }
}
