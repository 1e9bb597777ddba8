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
#[path = "shared/mod.rs"]
pub(crate) mod shared;
