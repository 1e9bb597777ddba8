//! The access audit's tables (SPEC §15, docs/audit.md): appending a group of
//! records to their companies' chains, reading them back, pruning them to a
//! sealed checkpoint, and carrying them through export and import.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sqlx::QueryBuilder;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::journal::ROWS_PER_INSERT;
use super::{Conn, Db, INSERT_MANY, LOCK_IN_ID_ORDER, Pool, begin_write};
use crate::domain::Timestamp;
use crate::domain::access::{AccessChain, AccessLine, AccessRecord, ChainKey, GeneratedKey};
use crate::store::StoreError;

type ChainRow = (i64, i64, String, i64, String, String);
type RecordRow = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

const RECORD_COLUMNS: &str =
    "company_id, seq, at_us, actor_kind, actor, method, route, ids, status, client, hash";
const CHAIN_COLUMNS: &str = "company_id, last_seq, last_hash, base_seq, base_hash, base_mac";

fn chain_from_row(row: ChainRow) -> AccessChain {
    let (company_id, last_seq, last_hash, base_seq, base_hash, base_mac) = row;
    AccessChain {
        company_id,
        last_seq,
        last_hash,
        base_seq,
        base_hash,
        base_mac,
    }
}

fn record_from_row(row: RecordRow) -> AccessRecord {
    let (company_id, seq, at_us, actor_kind, actor, method, route, ids, status, client, hash) = row;
    AccessRecord {
        company_id,
        seq,
        at: Timestamp::from_micros(at_us),
        actor_kind,
        actor,
        method,
        route,
        ids,
        status,
        client,
        hash,
    }
}

/// The company's chain, created empty when it has none, locked until the
/// transaction ends (PostgreSQL: a row lock, so nodes append one at a
/// time; SQLite: the writer lock covers it).
async fn lock_chain(conn: &mut Conn, company_id: i64) -> Result<AccessChain, StoreError> {
    sqlx::query(
        "INSERT INTO access_audit_chains (company_id, last_seq, last_hash, base_seq, base_hash, base_mac)
         VALUES ($1, 0, '', 0, '', '') ON CONFLICT (company_id) DO NOTHING",
    )
    .bind(company_id)
    .execute(&mut *conn)
    .await?;
    let row: ChainRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAIN_COLUMNS} FROM access_audit_chains WHERE company_id = $1{LOCK_IN_ID_ORDER}"
    )))
    .bind(company_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(chain_from_row(row))
}

async fn insert_records(conn: &mut Conn, records: &[AccessRecord]) -> Result<(), StoreError> {
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql =
            QueryBuilder::<Db>::new(format!("{INSERT_MANY} access_audit ({RECORD_COLUMNS}) "));
        sql.push_values(chunk, |mut row, record| {
            row.push_bind(record.company_id)
                .push_bind(record.seq)
                .push_bind(record.at.as_micros())
                .push_bind(record.actor_kind.clone())
                .push_bind(record.actor.clone())
                .push_bind(record.method.clone())
                .push_bind(record.route.clone())
                .push_bind(record.ids.clone())
                .push_bind(record.status)
                .push_bind(record.client.clone())
                .push_bind(record.hash.clone());
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends records to their companies' chains in one transaction: each
/// company's chain is locked in company order, its records numbered and
/// hashed after its head, and the head moved on. Nothing announces the
/// commit: no company's data changed.
pub(crate) async fn append_access(
    pool: &Pool,
    key: &ChainKey,
    records: Vec<AccessRecord>,
) -> Result<(), StoreError> {
    let mut by_company: BTreeMap<i64, Vec<AccessRecord>> = BTreeMap::new();
    for record in records {
        by_company
            .entry(record.company_id)
            .or_default()
            .push(record);
    }
    let mut tx = begin_write(pool).await?;
    for (company_id, mut records) in by_company {
        let mut chain = lock_chain(&mut tx, company_id).await?;
        key.append(&mut chain, &mut records);
        insert_records(&mut tx, &records).await?;
        sqlx::query(
            "UPDATE access_audit_chains SET last_seq = $2, last_hash = $3 WHERE company_id = $1",
        )
        .bind(company_id)
        .bind(chain.last_seq)
        .bind(chain.last_hash)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A company's records from `from` (inclusive) to `to` (exclusive), in
/// chain order, at most `limit` of them.
pub(crate) async fn access_between(
    pool: &Pool,
    company_id: i64,
    from: Timestamp,
    to: Timestamp,
    limit: i64,
) -> Result<Vec<AccessRecord>, StoreError> {
    let rows: Vec<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM access_audit
         WHERE company_id = $1 AND at_us >= $2 AND at_us < $3
         ORDER BY company_id, seq LIMIT $4"
    )))
    .bind(company_id)
    .bind(from.as_micros())
    .bind(to.as_micros())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(record_from_row).collect())
}

/// A company's records after `after_seq`, in chain order, at most `limit`.
pub(crate) async fn access_page(
    pool: &Pool,
    company_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AccessRecord>, StoreError> {
    let rows: Vec<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM access_audit
         WHERE company_id = $1 AND seq > $2 ORDER BY company_id, seq LIMIT $3"
    )))
    .bind(company_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(record_from_row).collect())
}

/// Every company's chain (or one company's), in company order; a company
/// that has records but lost its chain row is listed with an empty one.
pub(crate) async fn access_chains(
    pool: &Pool,
    company_id: Option<i64>,
) -> Result<Vec<AccessChain>, StoreError> {
    let rows: Vec<ChainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAIN_COLUMNS} FROM access_audit_chains
         WHERE $1 IS NULL OR company_id = $1 ORDER BY company_id"
    )))
    .bind(company_id)
    .fetch_all(pool)
    .await?;
    let mut chains: BTreeMap<i64, AccessChain> = rows
        .into_iter()
        .map(|row| (row.0, chain_from_row(row)))
        .collect();
    let orphans: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT company_id FROM access_audit WHERE $1 IS NULL OR company_id = $1",
    )
    .bind(company_id)
    .fetch_all(pool)
    .await?;
    for orphan in orphans {
        chains
            .entry(orphan)
            .or_insert_with(|| AccessChain::empty(orphan));
    }
    Ok(chains.into_values().collect())
}

/// Prunes each chain's records older than `before` (up to the last record
/// older than it, in chain order), sealing a checkpoint at the last one
/// pruned. Each company in a transaction of its own, under its chain's
/// lock: nodes pruning at once prune each record once. Answers how many
/// records went.
pub(crate) async fn prune_access(
    pool: &Pool,
    key: &ChainKey,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let companies: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT company_id FROM access_audit WHERE at_us < $1 ORDER BY company_id",
    )
    .bind(before.as_micros())
    .fetch_all(pool)
    .await?;
    let mut pruned = 0;
    for company_id in companies {
        let mut tx = begin_write(pool).await?;
        let chain = lock_chain(&mut tx, company_id).await?;
        let last: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM access_audit
             WHERE company_id = $1 AND seq = (
                 SELECT MAX(seq) FROM access_audit WHERE company_id = $1 AND at_us < $2)",
        )
        .bind(company_id)
        .bind(before.as_micros())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((base_seq, base_hash)) = last.filter(|(seq, _)| *seq > chain.base_seq) else {
            tx.rollback().await?;
            continue;
        };
        pruned += sqlx::query("DELETE FROM access_audit WHERE company_id = $1 AND seq <= $2")
            .bind(company_id)
            .bind(base_seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE access_audit_chains SET base_seq = $2, base_hash = $3, base_mac = $4
             WHERE company_id = $1",
        )
        .bind(company_id)
        .bind(base_seq)
        .bind(&base_hash)
        .bind(key.seal(company_id, base_seq, &base_hash))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(pruned)
}

/// The chain key generated for this database, generated now if there is
/// none (the first of several nodes to insert it wins; the others read it).
pub(crate) async fn generated_access_key(pool: &Pool) -> Result<String, StoreError> {
    let candidate = hex::encode(rand::random::<[u8; 32]>());
    let mut tx = begin_write(pool).await?;
    sqlx::query(
        "INSERT INTO access_audit_settings (setting_name, setting_value) VALUES ('generated_key', $1)
         ON CONFLICT (setting_name) DO NOTHING",
    )
    .bind(&candidate)
    .execute(&mut *tx)
    .await?;
    let key: String = sqlx::query_scalar(
        "SELECT setting_value FROM access_audit_settings WHERE setting_name = 'generated_key'",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(key)
}

/// Writes every chain and its records as log lines (after the journal's).
pub(super) async fn export_access(
    conn: &mut Conn,
    output: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, StoreError> {
    let chains: Vec<ChainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAIN_COLUMNS} FROM access_audit_chains ORDER BY company_id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut count = 0;
    let generated: Option<String> = sqlx::query_scalar(
        "SELECT setting_value FROM access_audit_settings WHERE setting_name = 'generated_key'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(generated_key) = generated {
        let line = AccessLine::AccessKey(GeneratedKey { generated_key });
        output.write_all(line.to_json().as_bytes()).await?;
        output.write_all(b"\n").await?;
        count += 1;
    }
    for chain in chains {
        let line = AccessLine::AccessChain(chain_from_row(chain));
        output.write_all(line.to_json().as_bytes()).await?;
        output.write_all(b"\n").await?;
        count += 1;
    }
    let mut records = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM access_audit ORDER BY company_id, seq"
    )))
    .fetch(&mut *conn);
    while let Some(record) = records.try_next().await? {
        let line = AccessLine::Access(record_from_row(record));
        output.write_all(line.to_json().as_bytes()).await?;
        output.write_all(b"\n").await?;
        count += 1;
    }
    Ok(count)
}

/// Takes an imported generated key as this database's own, while no chain
/// was made under another; the same key again changes nothing.
async fn import_generated_key(conn: &mut Conn, key: &GeneratedKey) -> Result<(), String> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT setting_value FROM access_audit_settings WHERE setting_name = 'generated_key'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|error| error.to_string())?;
    if stored.as_deref() == Some(key.generated_key.as_str()) {
        return Ok(());
    }
    let chains: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_audit_chains")
        .fetch_one(&mut *conn)
        .await
        .map_err(|error| error.to_string())?;
    if chains > 0 {
        return Err(
            "this database's access audit is already chained under another generated key".into(),
        );
    }
    sqlx::query(
        "INSERT INTO access_audit_settings (setting_name, setting_value) VALUES ('generated_key', $1)
         ON CONFLICT (setting_name) DO UPDATE SET setting_value = excluded.setting_value",
    )
    .bind(&key.generated_key)
    .execute(&mut *conn)
    .await
    .map_err(|error| error.to_string())?;
    Ok(())
}

/// Stores an imported chain or record as it was exported; a company whose
/// chain or record is already there is refused.
pub(super) async fn import_access(conn: &mut Conn, line: AccessLine) -> Result<(), String> {
    let outcome = match &line {
        AccessLine::AccessKey(key) => return import_generated_key(conn, key).await,
        AccessLine::AccessChain(chain) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO access_audit_chains ({CHAIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (company_id) DO NOTHING"
            )))
            .bind(chain.company_id)
            .bind(chain.last_seq)
            .bind(&chain.last_hash)
            .bind(chain.base_seq)
            .bind(&chain.base_hash)
            .bind(&chain.base_mac)
            .execute(&mut *conn)
            .await
        }
        AccessLine::Access(record) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO access_audit ({RECORD_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (company_id, seq) DO NOTHING"
            )))
            .bind(record.company_id)
            .bind(record.seq)
            .bind(record.at.as_micros())
            .bind(&record.actor_kind)
            .bind(&record.actor)
            .bind(&record.method)
            .bind(&record.route)
            .bind(&record.ids)
            .bind(record.status)
            .bind(&record.client)
            .bind(&record.hash)
            .execute(&mut *conn)
            .await
        }
    };
    match outcome {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(match line {
            AccessLine::AccessKey(_) => unreachable!("returned above"),
            AccessLine::AccessChain(chain) => format!(
                "the access audit of company {} is already in the database",
                chain.company_id
            ),
            AccessLine::Access(record) => format!(
                "access record {} of company {} is already in the database",
                record.seq, record.company_id
            ),
        }),
        Err(error) => Err(error.to_string()),
    }
}
