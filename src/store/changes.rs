//! Whether the database may have changed since something was read from it.
//!
//! Generation numbers move on after every write this process commits and
//! whenever a watcher sees another process (a CLI command, another node)
//! commit. A value read from the database at generation `g` may be reused
//! while the generation is still `g`. Without a running watcher there are no
//! generations at all, and nothing may be reused.
//!
//! There are two: one moved on by every commit, and one by the commits that
//! may change API keys ([`Touched::Anything`]). A key read before a batch of
//! connection events is still the key after it, so a read after new events
//! need not read the key again, only the data. (On SQLite the watcher also
//! sees this process's own commits, which it cannot tell apart: there the
//! key generation moves on within a poll of any commit.)
//!
//! - SQLite: `PRAGMA data_version` on a connection of its own, every
//!   [`POLL`]; it changes when any other connection, in any process, commits.
//!   It cannot tell what changed, so both generations move on.
//! - PostgreSQL: every write transaction sends `NOTIFY` on [`CHANNEL`], which
//!   PostgreSQL delivers when it commits; a listener receives it. The payload
//!   says what the commit may have changed ([`Touched::payload`]); any other
//!   payload, including that of an older version's empty one, means anything.
//!
//! So another process's commit is seen at most one poll later on SQLite;
//! this process's own commits are seen at once. On PostgreSQL, where several
//! nodes serve one database, a request that would reuse what it read first
//! waits until the listener has received every notification of a commit
//! that came before the request ([`Changes::caught_up`]): the listener runs
//! `SELECT 1`, and PostgreSQL sends a listening session the notifications
//! pending when it reads a query before it answers the query. One such round
//! trip serves every request that arrived before it began, so a client
//! told by one node that its change is stored never gets an older answer from
//! another.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgListener, PgPool};
use sqlx::sqlite::SqlitePool;

use crate::records::Record;

/// The notification channel of PostgreSQL write transactions.
pub(crate) const CHANNEL: &str = "session_ledger_changes";

/// How often SQLite's watcher asks whether another connection committed.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a watcher waits before it connects again after losing the database.
const RETRY: Duration = Duration::from_secs(1);

/// How long a request waits for the listener to catch up before it reads
/// everything from the database instead.
const CATCH_UP: Duration = Duration::from_secs(1);

/// What a commit may have changed, as far as reused reads are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// Companies' data, but no API key: connection events, sessions and
    /// participants, users, support agents, plans, comps, deactivations.
    Data,
    /// Anything, API keys included.
    Anything,
}

impl Touched {
    /// What a change of this kind may touch. Every kind is named, so a new
    /// one cannot be added without deciding.
    pub fn of(record: &Record) -> Self {
        match record {
            Record::Company(_) | Record::ApiKey(_) | Record::RevokeApiKey(_) => Self::Anything,
            Record::CompanyPlan(_)
            | Record::SupportAgent(_)
            | Record::User(_)
            | Record::UserUpdate(_)
            | Record::UserDelete(_)
            | Record::Session(_)
            | Record::Reschedule(_)
            | Record::Cancel(_)
            | Record::AddParticipant(_)
            | Record::RemoveParticipant(_)
            | Record::Connect(_)
            | Record::Disconnect(_)
            | Record::Deactivate(_)
            | Record::Comp(_)
            | Record::Uncomp(_)
            | Record::Room(_) => Self::Data,
        }
    }

    /// The payload of the commit's notification (PostgreSQL).
    pub(crate) fn payload(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Anything => "",
        }
    }

    /// What a notification's payload says was touched: anything but
    /// [`Touched::Data`]'s own payload means anything.
    fn from_payload(payload: &str) -> Self {
        if payload == Self::Data.payload() {
            Self::Data
        } else {
            Self::Anything
        }
    }
}

/// The generations at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Moved on by every commit.
    pub data: u64,
    /// Moved on by every commit that may have changed an API key.
    pub keys: u64,
}

#[derive(Debug)]
pub struct Changes {
    data: AtomicU64,
    keys: AtomicU64,
    watching: AtomicBool,
    /// Whether the watcher catches up on request (PostgreSQL's listener).
    syncing: AtomicBool,
    /// Catch-up round trips begun, and the last one finished.
    syncs_begun: AtomicU64,
    syncs_done: watch::Sender<u64>,
    sync_wanted: Notify,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            data: AtomicU64::default(),
            keys: AtomicU64::default(),
            watching: AtomicBool::default(),
            syncing: AtomicBool::default(),
            syncs_begun: AtomicU64::default(),
            syncs_done: watch::Sender::new(0),
            sync_wanted: Notify::new(),
        }
    }
}

impl Changes {
    /// The current generations once every commit made before this call,
    /// by any node, has moved them on; `None` when that cannot be known
    /// within [`CATCH_UP`] (nothing may then be reused). Where the watcher
    /// cannot catch up on request (SQLite), the same as [`Self::generation`].
    pub async fn caught_up(&self) -> Option<Generation> {
        if self.syncing.load(Ordering::Acquire) {
            // A round trip begun after this load began after this call.
            let needed = self.syncs_begun.load(Ordering::Acquire) + 1;
            let mut done = self.syncs_done.subscribe();
            self.sync_wanted.notify_one();
            let finished = tokio::time::timeout(CATCH_UP, done.wait_for(|&done| done >= needed));
            if !matches!(finished.await, Ok(Ok(_))) {
                return None;
            }
        }
        self.generation()
    }

    /// The current generations; `None` while no watcher is sure to see
    /// other processes' commits.
    pub fn generation(&self) -> Option<Generation> {
        // Read `watching` first: a watcher that stops clears it before it
        // moves the generations on.
        if self.watching.load(Ordering::Acquire) {
            let keys = self.keys.load(Ordering::Acquire);
            let data = self.data.load(Ordering::Acquire);
            Some(Generation { data, keys })
        } else {
            None
        }
    }

    pub(crate) fn moved_on(&self, touched: Touched) {
        if touched == Touched::Anything {
            self.keys.fetch_add(1, Ordering::AcqRel);
        }
        self.data.fetch_add(1, Ordering::AcqRel);
    }

    fn set_watching(&self, watching: bool) {
        self.watching.store(watching, Ordering::Release);
    }

    fn lost(&self, error: &dyn std::fmt::Display) {
        self.syncing.store(false, Ordering::Release);
        self.set_watching(false);
        self.moved_on(Touched::Anything);
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
                                changes.moved_on(Touched::Anything);
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
                changes.moved_on(Touched::Anything);
                changes.set_watching(true);
                changes.syncing.store(true, Ordering::Release);
                loop {
                    // Receiving is cancel-safe: a message is taken whole or not at all.
                    let received = tokio::select! {
                        received = listener.try_recv() => received,
                        () = changes.sync_wanted.notified() => {
                            match catch_up(&mut listener, changes).await {
                                Ok(()) => continue,
                                Err(error) => Err(error),
                            }
                        }
                    };
                    match received {
                        Ok(Some(notification)) => {
                            changes.moved_on(Touched::from_payload(notification.payload()))
                        }
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

/// One round trip on the listening connection, then every notification it
/// brought in: those of every commit made before it began.
async fn catch_up(listener: &mut PgListener, changes: &Changes) -> Result<(), sqlx::Error> {
    let number = changes.syncs_begun.fetch_add(1, Ordering::AcqRel) + 1;
    sqlx::query("SELECT 1").execute(&mut *listener).await?;
    while let Some(notification) = listener.next_buffered() {
        changes.moved_on(Touched::from_payload(notification.payload()));
    }
    changes.syncs_done.send_replace(number);
    Ok(())
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
        changes.moved_on(Touched::Data);
        let after_data = changes.generation().unwrap();
        assert_eq!(after_data.data, first.data + 1);
        assert_eq!(after_data.keys, first.keys, "keys untouched by data");
        changes.moved_on(Touched::Anything);
        let after_keys = changes.generation().unwrap();
        assert_eq!(after_keys.data, after_data.data + 1);
        assert_eq!(after_keys.keys, after_data.keys + 1);
        changes.lost(&"test");
        assert_eq!(changes.generation(), None);
        changes.set_watching(true);
        let regained = changes.generation().unwrap();
        assert!(
            regained.keys > after_keys.keys,
            "losing sight moves keys on"
        );
    }

    #[test]
    fn only_the_data_payload_spares_the_keys() {
        assert_eq!(
            Touched::from_payload(Touched::Data.payload()),
            Touched::Data
        );
        for payload in [Touched::Anything.payload(), "", "keys", "DATA", " data"] {
            assert_eq!(
                Touched::from_payload(payload),
                Touched::Anything,
                "{payload:?}"
            );
        }
    }

    #[test]
    fn only_company_and_key_changes_may_touch_keys() {
        use crate::records::{ApiKeyRecord, CompanyPlanRecord, RevokeApiKeyRecord};
        let key = Record::ApiKey(ApiKeyRecord {
            company_id: 1,
            api_key: "k1_a".into(),
            secret_hash: "h".into(),
        });
        let revoke = Record::RevokeApiKey(RevokeApiKeyRecord {
            api_key: "k1_a".into(),
        });
        let plan = Record::CompanyPlan(CompanyPlanRecord {
            company_id: 1,
            included_sessions_per_month: 5,
            overage_price_cents: 100,
            duplicate_window_minutes: None,
        });
        assert_eq!(Touched::of(&key), Touched::Anything);
        assert_eq!(Touched::of(&revoke), Touched::Anything);
        assert_eq!(Touched::of(&plan), Touched::Data);
    }
}
