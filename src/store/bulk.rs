//! Import into an empty PostgreSQL database in bulk. The log is replayed
//! into a scratch SQLite file, where the same SQL derives the same fields
//! with no round trip per statement, and then every table is copied across
//! with `COPY … FROM STDIN WITH (FREEZE)`, in foreign-key order, in one
//! PostgreSQL transaction that also sets the id sequences. Replaying into PostgreSQL
//! directly costs about 44 round trips a session.
//!
//! Only an empty database is imported this way (a moved deployment); an
//! import into a database that holds data replays line by line, as on SQLite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};
use tokio::io::AsyncBufRead;

use super::{Backend, ImportSummary, Rules, Store, StoreError};

/// Tables no import writes: each database's own record of its migrations
/// and one-time repairs (the target has run its own).
const NOT_COPIED: [&str; 2] = ["_sqlx_migrations", "one_time_steps"];

/// Settings a database keeps of its own before any import (the access
/// audit's generated chain key, made when a process first opens it): not
/// part of the emptiness check, and merged, an imported value taking the
/// place of the database's own, as a replay does while no chain exists
/// (the chains are empty here).
const MERGED: &str = "access_audit_settings";

/// PostgreSQL's sequences and the SQLite counter each continues.
const SEQUENCES: [(&str, &str); 2] = [("entity", "entity_ids"), ("journal", "journal_seq")];

/// COPY data is sent in pieces of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// Begins the import's transaction when the database holds no data, with the
/// tables a first write needs locked against writers until it commits;
/// `None` (and nothing held) when it holds data. A database that holds data
/// is seen so before any lock is taken: locking every table at once, in an
/// order no writer follows, would deadlock with a writer (the access audit's
/// group commit) holding one table and wanting the next.
pub(super) async fn begin_if_empty(
    pool: &sqlx::PgPool,
) -> Result<Option<sqlx::Transaction<'static, sqlx::Postgres>>, StoreError> {
    let mut tx = pool.begin().await?;
    let tables = copied_tables(&mut tx).await?;
    if holds_data(&mut tx, &tables).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let list = tables.join(", ");
    // EXCLUSIVE lets readers read and keeps every writer out.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {list} IN EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;
    // Looked at again under the lock: a writer may have come first.
    if holds_data(&mut tx, &tables).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

/// Whether any of the tables holds a row.
async fn holds_data(conn: &mut PgConnection, tables: &[String]) -> Result<bool, StoreError> {
    for table in tables {
        let holds: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(&mut *conn)
        .await?;
        if holds {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Replays the log into a scratch SQLite file, then copies it all into the
/// transaction and commits. A line that fails stops the import before
/// PostgreSQL is written, with the same message as a replay's.
pub(super) async fn import(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    input: impl AsyncBufRead + Unpin,
    rules: &Rules,
) -> Result<(ImportSummary, Vec<String>), StoreError> {
    let started = std::time::Instant::now();
    let scratch = Scratch::create(rules).await?;
    let summary = scratch.store.replay(input).await?;
    let replayed = started.elapsed();
    // Read through the connection that wrote it: its page cache holds
    // what the replay last touched, and no reading connection is opened.
    let Backend::Sqlite { writer: source, .. } = &scratch.store.backend else {
        unreachable!("the scratch store is SQLite");
    };
    // Only the tables the log filled are written: the others are empty
    // already (`begin_if_empty`), and a table truncated, its indexes made
    // again, costs new files to create and sync at commit even when empty.
    let mut tables = Vec::new();
    for table in copied_tables(&mut tx).await? {
        let filled: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(source)
        .await?;
        if filled {
            tables.push(table);
        }
    }
    let deferred = Deferred::take_off(&mut tx, &tables).await?;
    // Emptied in this transaction, the tables take their rows frozen
    // (COPY FREEZE): nothing for a vacuum to do after, no hint bits for
    // the first reads to set. TRUNCATE locks out readers until commit.
    if !tables.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "TRUNCATE {}",
            tables.join(", ")
        )))
        .execute(&mut *tx)
        .await?;
    }
    let mut rows = 0;
    for table in &tables {
        rows += copy_table(&mut tx, source, table).await?;
    }
    deferred.put_back(&mut tx).await?;
    let settings: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT setting_name, setting_value FROM {MERGED}"
    )))
    .fetch_all(source)
    .await?;
    for (name, value) in settings {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {MERGED} (setting_name, setting_value) VALUES ($1, $2)
             ON CONFLICT (setting_name) DO UPDATE SET setting_value = excluded.setting_value"
        )))
        .bind(name)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        rows += 1;
    }
    let counters: BTreeMap<String, i64> =
        sqlx::query_as("SELECT counter_name, last_value FROM id_counters")
            .fetch_all(source)
            .await?
            .into_iter()
            .collect();
    for (counter, sequence) in SEQUENCES {
        let last = counters.get(counter).copied().unwrap_or(0);
        sqlx::query("SELECT setval($1::regclass, GREATEST($2, 1), $2 > 0)")
            .bind(sequence)
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(announce) = super::postgres::ANNOUNCE_CHANGE {
        sqlx::query(announce)
            .bind(super::Touched::Anything.payload())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    scratch.store.close().await;
    tracing::info!(
        lines = summary.lines,
        rows,
        replay_ms = replayed.as_millis() as u64,
        copy_ms = (started.elapsed() - replayed).as_millis() as u64,
        "imported in bulk: replayed into a scratch SQLite file, then copied"
    );
    Ok((summary, tables))
}

/// Gathers the planner's statistics of the tables an import filled, on
/// two connections at once: the journal, the largest, on one, and the
/// rest on the other. A failure is only reported: the rows are committed.
pub(super) async fn analyze(pool: &sqlx::PgPool, tables: &[String]) {
    let (journal, rest): (Vec<&str>, Vec<&str>) = tables
        .iter()
        .map(String::as_str)
        .partition(|table| *table == "journal");
    let run = async |group: Vec<&str>| {
        if group.is_empty() {
            return;
        }
        let statement = format!("ANALYZE {}", group.join(", "));
        if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await
        {
            tracing::warn!(error = %error, "import committed; analyzing after it failed");
        }
    };
    tokio::join!(run(journal), run(rest));
}

/// The secondary indexes and foreign keys of the copied tables, taken off
/// for the copy and put back after it, in the import's transaction: an
/// index built over the copied rows is one sort, not a descent a row, and
/// a foreign key added to them is checked by one join, not a trigger a row.
/// Primary keys stay (and check that rows are unique as they come). The
/// foreign keys that name a copied table from any table go too, so that it
/// can be truncated alone.
struct Deferred {
    /// Each index's name and `CREATE INDEX` statement.
    indexes: Vec<(String, String)>,
    /// Each foreign key's table, name and definition.
    foreign_keys: Vec<(String, String, String)>,
}

impl Deferred {
    async fn take_off(conn: &mut PgConnection, tables: &[String]) -> Result<Self, StoreError> {
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             WHERE i.indrelid::regclass::text = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
             ORDER BY 1",
        )
        .bind(tables)
        .fetch_all(&mut *conn)
        .await?;
        let foreign_keys: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid)
             FROM pg_constraint c
             WHERE c.contype = 'f'
               AND (c.conrelid::regclass::text = ANY($1) OR c.confrelid::regclass::text = ANY($1))
             ORDER BY 1, 2",
        )
        .bind(tables)
        .fetch_all(&mut *conn)
        .await?;
        for (table, name, _) in &foreign_keys {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {name}"
            )))
            .execute(&mut *conn)
            .await?;
        }
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                .execute(&mut *conn)
                .await?;
        }
        Ok(Self {
            indexes,
            foreign_keys,
        })
    }

    async fn put_back(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        // Room to sort each index in memory, for this transaction only.
        sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
            .execute(&mut *conn)
            .await?;
        for (_, create) in self.indexes {
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&mut *conn)
                .await?;
        }
        for (table, name, definition) in self.foreign_keys {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            )))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The tables an import writes, each after the tables its foreign keys name.
async fn copied_tables(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
         FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace
         WHERE c.contype = 'f' AND s.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut ordered = Vec::new();
    let mut placed = BTreeSet::new();
    let mut left: Vec<String> = tables
        .into_iter()
        .filter(|table| !NOT_COPIED.contains(&table.as_str()) && table != MERGED)
        .collect();
    while !left.is_empty() {
        let (ready, waiting): (Vec<String>, Vec<String>) = left.into_iter().partition(|table| {
            references
                .iter()
                .all(|(from, to)| from != table || to == table || placed.contains(to))
        });
        if ready.is_empty() {
            return Err(StoreError::Invalid(format!(
                "the tables {} refer to each other in a cycle",
                waiting.join(", ")
            )));
        }
        placed.extend(ready.iter().cloned());
        ordered.extend(ready);
        left = waiting;
    }
    Ok(ordered)
}

/// Copies one table's rows from the scratch file, by column name, each
/// value read as the type PostgreSQL holds it in; returns how many.
async fn copy_table(
    conn: &mut PgConnection,
    source: &sqlx::SqlitePool,
    table: &str,
) -> Result<u64, StoreError> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod)
         FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
         ORDER BY attnum",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let kinds = columns
        .iter()
        .map(|(name, pg_type)| Kind::of(pg_type).ok_or_else(|| unsupported(table, name, pg_type)))
        .collect::<Result<Vec<_>, _>>()?;
    let names = columns
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({names}) FROM STDIN WITH (FREEZE)"))
        .await?;
    let select = format!("SELECT {names} FROM {table}");
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(source);
    let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut integer = itoa::Buffer::new();
    while let Some(row) = rows.try_next().await? {
        for (index, kind) in kinds.iter().enumerate() {
            if index > 0 {
                buffer.push(b'\t');
            }
            match kind {
                Kind::Integer => match row.try_get::<Option<i64>, _>(index)? {
                    Some(value) => buffer.extend_from_slice(integer.format(value).as_bytes()),
                    None => buffer.extend_from_slice(b"\\N"),
                },
                Kind::Boolean => match row.try_get::<Option<bool>, _>(index)? {
                    Some(value) => buffer.push(if value { b't' } else { b'f' }),
                    None => buffer.extend_from_slice(b"\\N"),
                },
                Kind::Text => match row.try_get::<Option<&str>, _>(index)? {
                    Some(value) => escape_into(&mut buffer, value),
                    None => buffer.extend_from_slice(b"\\N"),
                },
            }
        }
        buffer.push(b'\n');
        if buffer.len() >= CHUNK_BYTES {
            copy.send(buffer.as_slice()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_slice()).await?;
    }
    Ok(copy.finish().await?)
}

/// How a column's values are read and written.
enum Kind {
    Integer,
    Boolean,
    Text,
}

impl Kind {
    fn of(pg_type: &str) -> Option<Self> {
        match pg_type {
            "bigint" | "integer" | "smallint" => Some(Self::Integer),
            "boolean" => Some(Self::Boolean),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

fn unsupported(table: &str, column: &str, pg_type: &str) -> StoreError {
    StoreError::Invalid(format!(
        "{table}.{column} is of type {pg_type}, which the bulk import cannot copy"
    ))
}

/// Text in COPY's text format: backslash, tab, newline and carriage return
/// escaped.
fn escape_into(buffer: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            other => buffer.push(other),
        }
    }
}

/// A SQLite database in a folder of its own under the system's temporary
/// folder (`TMPDIR`), removed when dropped.
struct Scratch {
    store: Store,
    folder: PathBuf,
}

impl Scratch {
    async fn create(rules: &Rules) -> Result<Self, StoreError> {
        let folder = std::env::temp_dir().join(format!(
            "session-ledger-import-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir(&folder)?;
        match Store::open_scratch(&folder.join("import.db"), rules.clone()).await {
            Ok(store) => Ok(Self { store, folder }),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&folder);
                Err(error)
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.folder) {
            tracing::warn!(error = %error, folder = %self.folder.display(), "removing the import's scratch database failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    #[test]
    fn copy_text_escapes_what_copy_would_read_as_structure() {
        let mut buffer = Vec::new();
        escape_into(&mut buffer, "a\\b\tc\nd\re \\N");
        assert_eq!(buffer, b"a\\\\b\\tc\\nd\\re \\\\N");
    }
}
