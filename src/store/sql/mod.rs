//! The SQL and use cases of every backend, written once. This folder is
//! compiled twice, as `store::sqlite::sql` and `store::postgres::sql`
//! (`#[path]` in `sqlite.rs` and `postgres.rs`): `super` is then that
//! backend's module, `super::Db` its sqlx driver, and the constants and
//! functions imported from `super` (how a write begins, how ids are
//! reserved, what a commit announces) are the few places where the two
//! must differ. So the stores cannot drift apart, and the same test suite
//! holds them to the same behaviour. `Store` picks one of the two
//! compilations once, from the database URL.

mod access;
mod actions;
mod billing;
mod calls;
mod companies;
mod console;
mod events;
mod history;
mod journal;
mod outbox;
mod pending;
mod persons;
mod providers;
mod replay;
mod session_facts;
mod session_reads;
mod sessions;
mod users;
mod webhook_backup;
mod webhooks;

pub(crate) use access::{
    access_between, access_chains, access_page, append_access, generated_access_key, prune_access,
};
pub(crate) use actions::audit;
pub(crate) use companies::{api_key, company, company_ids, company_named, session_company};
pub(crate) use console::{
    companies, create_link, end_link, end_session, password_candidates, redeem_link,
    session as console_session, set_password, start_session, touch_session,
};
pub(crate) use events::apply_event_batches;
pub(crate) use history::{read_history, usage};
pub(crate) use journal::company_changes;
pub(crate) use providers::{
    keep_unmatched, open_calls, prune_unmatched, room_session, settle_unmatched, unmatched,
    unmatched_by_id,
};
pub(crate) use replay::{apply_one, export, import};
pub(crate) use session_reads::{
    calls, participation, session, sessions, sessions_due_for_deactivation,
};
pub(crate) use users::{user, user_by_external_id, users};
pub(crate) use webhooks::{
    claim_webhook_deliveries, create_webhook, delete_webhook, enable_webhook,
    record_webhook_attempts, retry_webhook_delivery, webhook_deliveries, webhook_deliveries_due,
    webhook_queue, webhooks,
};

use super::{
    AFTER_IMPORT, ANNOUNCE_CHANGE, BEGIN_WRITE, Db, INSERT_MANY, LOCK_IN_ID_ORDER,
    REFRESH_STATISTICS, RESERVE_ENTITY_ID, UPDATE_MANY, next_block,
};
use crate::domain::Timestamp;
use crate::store::{Rules, StoreError, Touched};

type Pool = sqlx::Pool<Db>;
type Conn = <Db as sqlx::Database>::Connection;
type Tx = sqlx::Transaction<'static, Db>;

pub(crate) async fn ping(pool: &Pool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Commits a write, announcing to other nodes what it may have changed
/// where the backend can.
async fn commit(mut tx: Tx, touched: Touched) -> Result<(), StoreError> {
    if let Some(announce) = ANNOUNCE_CHANGE {
        sqlx::query(announce)
            .bind(touched.payload())
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx.commit().await?)
}

/// The one-time data repairs, in the order they run.
const ONE_TIME_STEPS: [&str; 2] = [
    companies::FILL_COMPANY_WINDOWS,
    persons::REPAIR_CURRENT_EMAILS,
];

/// Runs each one-time step not yet recorded in `one_time_steps`, each in a
/// transaction of its own that records it. A node that finds a step claimed
/// by another (PostgreSQL: its insert waits for the other's commit) skips it.
pub(crate) async fn run_one_time_steps(pool: &Pool, rules: &Rules) -> Result<(), StoreError> {
    for step in ONE_TIME_STEPS {
        let mut tx = begin_write(pool).await?;
        let claimed = sqlx::query(
            "INSERT INTO one_time_steps (step_name, done_us, rows_changed) VALUES ($1, $2, 0)
             ON CONFLICT (step_name) DO NOTHING",
        )
        .bind(step)
        .bind(Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            continue;
        }
        let mut held = journal::Held::default();
        let changed = match step {
            companies::FILL_COMPANY_WINDOWS => {
                companies::fill_company_windows(&mut tx, &mut held, rules).await?
            }
            _ => persons::repair_current_emails(&mut tx, &mut held).await?,
        };
        sqlx::query("UPDATE one_time_steps SET rows_changed = $2 WHERE step_name = $1")
            .bind(step)
            .bind(changed)
            .execute(&mut *tx)
            .await?;
        commit(tx, Touched::Anything).await?;
        tracing::info!(step, rows_changed = changed, "one-time step done");
    }
    Ok(())
}

/// Begins a transaction that will write. A pooled connection found lost
/// at the start (the server restarted since it was last used) is dropped
/// and another taken: nothing was written on it. Each lost one is closed
/// when it goes back, so a handful of attempts outlasts a pool of them.
async fn begin_write(pool: &Pool) -> Result<Tx, StoreError> {
    const ATTEMPTS: usize = 10;
    let mut attempt = 1;
    loop {
        match pool.begin_with(BEGIN_WRITE).await {
            Err(error) if attempt < ATTEMPTS && lost_at_start(&error) => {
                tracing::info!(%error, attempt, "a connection was lost before a write began");
                attempt += 1;
            }
            begun => return Ok(begun?),
        }
    }
}

/// The connection was gone (the server dropped it, or shut down).
fn lost_at_start(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02")),
        _ => false,
    }
}

/// Pushes `(VALUES (…, …), …) AS k` with the keys bound: joined on
/// `k.column1` (company) and `k.column2` (session), both backends look each
/// key up in the primary key (a row-value `IN` made SQLite scan the table).
fn push_keys(sql: &mut sqlx::QueryBuilder<Db>, keys: &[(i64, i64)]) {
    sql.push("(");
    sql.push_values(keys, |mut key, &(company_id, session_id)| {
        key.push_bind(company_id).push_bind(session_id);
    });
    sql.push(") AS k");
}

/// Pushes `(a, b, …)` with the ids bound.
fn push_id_list(sql: &mut sqlx::QueryBuilder<Db>, ids: &[i64]) {
    sql.push("(");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    sql.push(")");
}
