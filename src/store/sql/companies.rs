//! Companies, keys and support agents: creation and lookup; and the checks
//! every creating use case shares.

use super::billing::{Cause, Deriving, refresh_company};
use super::journal::{Held, next_id, reserve_id, touch_companies};
use super::{Conn, Pool};
use crate::domain::{Timestamp, is_plausible_email};
use crate::records::{
    ApiKeyRecord, CompanyPlanRecord, CompanyRecord, LogLine, Record, RevokeApiKeyRecord,
    SupportAgentRecord,
};
use crate::store::{Company, Rules, StoreError, StoredKey};

/// The id a record brings (import), reserved, or a new one.
pub(super) async fn id_for(conn: &mut Conn, given: Option<i64>) -> Result<i64, StoreError> {
    match given {
        Some(id) => {
            reserve_id(conn, id).await?;
            Ok(id)
        }
        None => next_id(conn).await,
    }
}

pub(super) fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    if name.trim().chars().count() < 2 {
        return Err(StoreError::Invalid(format!(
            "{what} must be at least 2 characters"
        )));
    }
    Ok(())
}

fn check_plan(included: i64, overage_cents: i64) -> Result<(), StoreError> {
    if included < 0 || overage_cents < 0 {
        return Err(StoreError::Invalid(
            "IncludedSessionsPerMonth and OveragePriceCents must not be negative".into(),
        ));
    }
    Ok(())
}

/// The DUPL window's bounds, as `--duplicate-window-minutes` takes it.
const MOST_WINDOW_MINUTES: i64 = 10_080;

fn check_window(minutes: i64) -> Result<(), StoreError> {
    if !(0..=MOST_WINDOW_MINUTES).contains(&minutes) {
        return Err(StoreError::Invalid(format!(
            "DuplicateWindowMinutes must be between 0 and {MOST_WINDOW_MINUTES}"
        )));
    }
    Ok(())
}

/// Creates a company with its plan and DUPL window (by default the rules'
/// window: this process's `--duplicate-window-minutes`).
pub(super) async fn create_company(
    conn: &mut Conn,
    mut record: CompanyRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<CompanyRecord, StoreError> {
    check_name("Name", &record.name)?;
    check_plan(
        record.included_sessions_per_month,
        record.overage_price_cents,
    )?;
    let window = record
        .duplicate_window_minutes
        .unwrap_or(rules.duplicate_window_minutes);
    check_window(window)?;
    let company_id = id_for(&mut *conn, record.company_id).await?;
    let inserted = sqlx::query(
        "INSERT INTO companies (company_id, name, included_sessions, overage_price_cents, data_version, created_us,
             duplicate_window_minutes)
         VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (company_id) DO NOTHING",
    )
    .bind(company_id)
    .bind(record.name.trim())
    .bind(record.included_sessions_per_month)
    .bind(record.overage_price_cents)
    .bind(now.as_micros())
    .bind(window)
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "CompanyId {company_id} already exists"
        )));
    }
    record.company_id = Some(company_id);
    record.name = record.name.trim().to_owned();
    record.duplicate_window_minutes = Some(window);
    Ok(record)
}

/// Changes a company's plan. A new DUPL window re-derives the company's
/// billable sessions under it, each status change audited (SPEC §3).
pub(super) async fn update_plan(
    conn: &mut Conn,
    mut record: CompanyPlanRecord,
    now: Timestamp,
    rules: &Rules,
) -> Result<CompanyPlanRecord, StoreError> {
    check_plan(
        record.included_sessions_per_month,
        record.overage_price_cents,
    )?;
    let stored: Option<Option<i64>> =
        sqlx::query_scalar("SELECT duplicate_window_minutes FROM companies WHERE company_id = $1")
            .bind(record.company_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound("Company not found".into()));
    };
    let old_window = stored.unwrap_or(rules.duplicate_window_minutes);
    let window = record.duplicate_window_minutes.unwrap_or(old_window);
    check_window(window)?;
    sqlx::query(
        "UPDATE companies SET included_sessions = $2, overage_price_cents = $3, duplicate_window_minutes = $4
         WHERE company_id = $1",
    )
    .bind(record.company_id)
    .bind(record.included_sessions_per_month)
    .bind(record.overage_price_cents)
    .bind(window)
    .execute(&mut *conn)
    .await?;
    if window != old_window {
        let reason = format!("DuplicateWindowMinutes changed from {old_window} to {window}");
        let cause = Cause {
            reason: &reason,
            actor: "operator",
        };
        let deriving = Deriving {
            now,
            cause: &cause,
            rules,
        };
        refresh_company(&mut *conn, record.company_id, &deriving).await?;
    }
    record.duplicate_window_minutes = Some(window);
    Ok(record)
}

/// The one-time step of [`fill_company_windows`], as `one_time_steps` records it.
pub(super) const FILL_COMPANY_WINDOWS: &str = "fill_company_duplicate_windows";

/// The one-time step that gives each company created before the DUPL window
/// was stored (NULL) the window of the process that migrates: the flag its
/// statuses were most likely derived with. Its journaled `Company` line gets
/// the window too, so an export replays it. Returns the companies changed.
pub(super) async fn fill_company_windows(
    conn: &mut Conn,
    held: &mut Held,
    rules: &Rules,
) -> Result<i64, StoreError> {
    let window = rules.duplicate_window_minutes;
    let companies: Vec<i64> = sqlx::query_scalar(
        "SELECT company_id FROM companies WHERE duplicate_window_minutes IS NULL ORDER BY company_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for &company_id in &companies {
        sqlx::query("UPDATE companies SET duplicate_window_minutes = $2 WHERE company_id = $1")
            .bind(company_id)
            .bind(window)
            .execute(&mut *conn)
            .await?;
        // The company's first change is its creation.
        let first: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, record FROM journal WHERE company_id = $1 AND event_id IS NULL
             ORDER BY seq LIMIT 1",
        )
        .bind(company_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((seq, text)) = first else { continue };
        let mut line: LogLine = serde_json::from_str(&text)
            .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;
        if let Record::Company(record) = &mut line.record
            && record.duplicate_window_minutes.is_none()
        {
            record.duplicate_window_minutes = Some(window);
            let text = serde_json::to_string(&line).expect("log lines always serialize");
            sqlx::query("UPDATE journal SET record = $3 WHERE company_id = $1 AND seq = $2")
                .bind(company_id)
                .bind(seq)
                .bind(text)
                .execute(&mut *conn)
                .await?;
        }
    }
    touch_companies(conn, held, &companies).await?;
    Ok(companies.len() as i64)
}

pub(super) async fn require_company(conn: &mut Conn, company_id: i64) -> Result<(), StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT company_id FROM companies WHERE company_id = $1")
            .bind(company_id)
            .fetch_optional(conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("Company {company_id} not found")))
}

pub(super) async fn create_api_key(
    conn: &mut Conn,
    record: &ApiKeyRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    require_company(&mut *conn, record.company_id).await?;
    let inserted = sqlx::query(
        "INSERT INTO api_keys (company_id, api_key, secret_hash, created_us) VALUES ($1, $2, $3, $4)
         ON CONFLICT (company_id, api_key) DO NOTHING",
    )
    .bind(record.company_id)
    .bind(&record.api_key)
    .bind(&record.secret_hash)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict("that API key already exists".into()));
    }
    Ok(())
}

/// Revokes a key; returns its company.
pub(super) async fn revoke_api_key(
    conn: &mut Conn,
    record: &RevokeApiKeyRecord,
    company_id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_us = $3 WHERE company_id = $1 AND api_key = $2 AND revoked_us IS NULL",
    )
    .bind(company_id)
    .bind(&record.api_key)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    if revoked.rows_affected() == 0 {
        return Err(StoreError::NotFound("API key not found".into()));
    }
    Ok(())
}

pub(crate) async fn api_key(
    pool: &Pool,
    company_id: i64,
    api_key: &str,
) -> Result<Option<StoredKey>, StoreError> {
    let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT k.secret_hash, k.revoked_us, c.data_version
         FROM api_keys k JOIN companies c ON c.company_id = k.company_id
         WHERE k.company_id = $1 AND k.api_key = $2",
    )
    .bind(company_id)
    .bind(api_key)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(secret_hash, revoked_us, data_version)| StoredKey {
            secret_hash,
            revoked: revoked_us.is_some(),
            data_version,
        }),
    )
}

pub(super) type CompanyRow = (i64, String, i64, i64, i64, Option<i64>);

pub(super) fn company_from_row(
    (company_id, name, included_sessions, overage_price_cents, data_version, window): CompanyRow,
) -> Company {
    Company {
        company_id,
        name,
        included_sessions,
        overage_price_cents,
        data_version,
        duplicate_window_minutes: window,
    }
}

pub(crate) async fn company(pool: &Pool, company_id: i64) -> Result<Option<Company>, StoreError> {
    let row: Option<CompanyRow> = sqlx::query_as(
        "SELECT company_id, name, included_sessions, overage_price_cents, data_version,
             duplicate_window_minutes
         FROM companies WHERE company_id = $1",
    )
    .bind(company_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(company_from_row))
}

pub(crate) async fn company_named(pool: &Pool, name: &str) -> Result<Option<Company>, StoreError> {
    let row: Option<CompanyRow> = sqlx::query_as(
        "SELECT company_id, name, included_sessions, overage_price_cents, data_version,
             duplicate_window_minutes
         FROM companies WHERE name = $1 ORDER BY company_id LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(company_from_row))
}

pub(crate) async fn company_ids(pool: &Pool) -> Result<Vec<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT company_id FROM companies ORDER BY company_id")
            .fetch_all(pool)
            .await?,
    )
}

pub(crate) async fn session_company(
    pool: &Pool,
    session_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT company_id FROM session_directory WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(pool)
            .await?,
    )
}

pub(super) async fn create_support_agent(
    conn: &mut Conn,
    mut record: SupportAgentRecord,
) -> Result<SupportAgentRecord, StoreError> {
    check_name("FullName", &record.full_name)?;
    if !is_plausible_email(&record.email_address) {
        return Err(StoreError::Invalid(
            "EmailAddress is not a valid e-mail address".into(),
        ));
    }
    let agent_id = id_for(&mut *conn, record.support_agent_id).await?;
    let inserted = sqlx::query(
        "INSERT INTO support_agents (support_agent_id, full_name, email_address) VALUES ($1, $2, $3)
         ON CONFLICT (support_agent_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(record.full_name.trim())
    .bind(record.email_address.trim())
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "SupportAgentId {agent_id} already exists"
        )));
    }
    record.support_agent_id = Some(agent_id);
    record.full_name = record.full_name.trim().to_owned();
    record.email_address = record.email_address.trim().to_owned();
    Ok(record)
}
