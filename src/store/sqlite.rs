//! SQLite: one writer at a time, taken up front with `BEGIN IMMEDIATE` so a
//! transaction never fails half-way on a lock it could not upgrade.

pub type Db = sqlx::Sqlite;
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

// The same source for both backends, compiled against each: deliberate.
#[allow(clippy::duplicate_mod)]
#[path = "shared/mod.rs"]
pub(crate) mod shared;
