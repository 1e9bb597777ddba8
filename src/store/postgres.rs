//! PostgreSQL: row locks, taken by the first UPDATE of each use case, order
//! concurrent writers of the same company and session.

pub type Db = sqlx::Postgres;
pub(crate) const BEGIN_WRITE: &str = "BEGIN";

// The same source for both backends, compiled against each: deliberate.
#[allow(clippy::duplicate_mod)]
#[path = "shared/mod.rs"]
pub(crate) mod shared;
