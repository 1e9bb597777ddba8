//! SQLite: one writer at a time, taken up front with `BEGIN IMMEDIATE` so a
//! transaction never fails half-way on a lock it could not upgrade.

pub type Db = sqlx::Sqlite;
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// SQLite plans without table statistics unless asked to keep them.
pub(crate) const REFRESH_STATISTICS: Option<&str> = None;
/// SQLite rewrites rows in place: an import leaves nothing to vacuum.
pub(crate) const AFTER_IMPORT: Option<&str> = None;
/// Rows are not locked one by one: the writer lock covers them all.
pub(crate) const LOCK_IN_ID_ORDER: &str = "";
/// Other processes' commits are seen by polling (see `changes`).
pub(crate) const ANNOUNCE_CHANGE: Option<&str> = None;
/// How the multi-row writes of connection events and derived fields begin.
/// Every caller rolls its whole transaction back when a statement fails, so
/// a failing statement need not be undone alone. With the default (`ABORT`),
/// SQLite keeps a statement journal for it anyway, a copy of every page the
/// statement changes (9 % of the writer's CPU samples under the full-size
/// ingest; bench/README.md, "OR FAIL"). `OR FAIL` stops at the
/// failing row and keeps no such copy. (The calls' upsert keeps one all the
/// same: an immediate foreign key can always fail.) Without a statement
/// journal, a full disk or an I/O error makes SQLite roll the whole
/// transaction back itself, as it does for any single-row write: the
/// caller's `ROLLBACK` then fails, and the writer pool replaces the
/// connection sqlx still counts in a transaction (`Store::open`,
/// `before_acquire`).
pub(crate) const INSERT_MANY: &str = "INSERT OR FAIL INTO";
pub(crate) const UPDATE_MANY: &str = "UPDATE OR FAIL";

/// Ids and journal numbers come from a counter row (`next_block`); SQLite
/// has one writer at a time, so the row is never contended.
pub(crate) const RESERVE_ENTITY_ID: &str = "UPDATE id_counters
     SET last_value = CASE WHEN last_value < $1 THEN $1 ELSE last_value END
     WHERE counter_name = 'entity'";

/// `count` new numbers of a counter in one statement: a block, as the
/// writer is alone.
pub(crate) async fn next_block(
    conn: &mut sqlx::SqliteConnection,
    counter: crate::store::Counter,
    count: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let count = i64::try_from(count).expect("a batch is small");
    let name = match counter {
        crate::store::Counter::Entity => "entity",
        crate::store::Counter::Journal => "journal",
    };
    let last: i64 = sqlx::query_scalar(
        "UPDATE id_counters SET last_value = last_value + $1 WHERE counter_name = $2 RETURNING last_value",
    )
    .bind(count)
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok((last - count + 1..=last).collect())
}

// The same source for both backends, compiled against each: deliberate.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
pub(crate) mod sql;
