//! PostgreSQL: row locks, taken by the first UPDATE of each use case, order
//! concurrent writers of the same company and session.

pub type Db = sqlx::Postgres;
pub(crate) const BEGIN_WRITE: &str = "BEGIN";

/// Ids and journal numbers come from sequences, which never hold a lock
/// across a transaction (a counter row would serialize every writer).
pub(crate) const NEXT_ENTITY_ID: &str = "SELECT nextval('entity_ids')";
pub(crate) const NEXT_JOURNAL_SEQ: &str = "SELECT nextval('journal_seq')";
pub(crate) const RESERVE_ENTITY_ID: &str =
    "SELECT setval('entity_ids', GREATEST($1, (SELECT last_value FROM entity_ids)))";

// The same source for both backends, compiled against each: deliberate.
#[allow(clippy::duplicate_mod)]
#[path = "shared/mod.rs"]
pub(crate) mod shared;
