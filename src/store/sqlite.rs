//! SQLite: one writer at a time, taken up front with `BEGIN IMMEDIATE` so a
//! transaction never fails half-way on a lock it could not upgrade.

pub type Db = sqlx::Sqlite;
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

#[path = "shared/mod.rs"]
pub(crate) mod shared;
