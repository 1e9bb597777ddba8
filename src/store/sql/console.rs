//! The web console's own rows (SPEC §14): passwords, Login API links and
//! signed-in browsers. None of them is a change to the ledger: they are
//! written straight, not journalled, and neither exported nor imported.

use super::companies::{CompanyRow, company_from_row};
use super::{Pool, begin_write};
use crate::store::{Company, ConsoleLink, ConsoleSession, PasswordCandidate, StoreError};

/// Sets the password of an active user of the company; false when there
/// is no such user.
pub(crate) async fn set_password(
    pool: &Pool,
    company_id: i64,
    user_id: i64,
    password_hash: &str,
    now_us: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO console_passwords (company_id, user_id, password_hash, set_us)
         SELECT company_id, user_id, $3, $4 FROM users
         WHERE company_id = $1 AND user_id = $2 AND deleted_us IS NULL
         ON CONFLICT (company_id, user_id)
         DO UPDATE SET password_hash = excluded.password_hash, set_us = excluded.set_us",
    )
    .bind(company_id)
    .bind(user_id)
    .bind(password_hash)
    .bind(now_us)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The active users, in any company, whose e-mail is this one
/// (case-insensitive) and who have a password.
pub(crate) async fn password_candidates(
    pool: &Pool,
    email: &str,
) -> Result<Vec<PasswordCandidate>, StoreError> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT u.company_id, u.user_id, p.password_hash
         FROM users u JOIN console_passwords p
           ON p.company_id = u.company_id AND p.user_id = u.user_id
         WHERE lower(u.email_address) = lower($1) AND u.deleted_us IS NULL
         ORDER BY u.company_id, u.user_id",
    )
    .bind(email.trim())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(company_id, user_id, password_hash)| PasswordCandidate {
            company_id,
            user_id,
            password_hash,
        })
        .collect())
}

pub(crate) async fn create_link(pool: &Pool, link: &ConsoleLink) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO console_links
             (guid_hash, company_id, user_id, redirect_uri, created_us, expires_us)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&link.guid_hash)
    .bind(link.company_id)
    .bind(link.user_id)
    .bind(&link.redirect_uri)
    .bind(link.created_us)
    .bind(link.expires_us)
    .execute(pool)
    .await?;
    Ok(())
}

/// Uses a link once, if it is unused, not ended and not expired, and
/// starts the browser's session with it: its user, company and redirect.
pub(crate) async fn redeem_link(
    pool: &Pool,
    guid_hash: &str,
    token_hash: &str,
    now_us: i64,
) -> Result<Option<ConsoleSession>, StoreError> {
    let mut tx = begin_write(pool).await?;
    let used: Option<(i64, i64, Option<String>)> = sqlx::query_as(
        "UPDATE console_links SET used_us = $2
         WHERE guid_hash = $1 AND used_us IS NULL AND ended_us IS NULL AND expires_us > $2
         RETURNING company_id, user_id, redirect_uri",
    )
    .bind(guid_hash)
    .bind(now_us)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((company_id, user_id, redirect_uri)) = used else {
        tx.rollback().await?;
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO console_sessions
             (token_hash, guid_hash, company_id, user_id, redirect_uri, created_us, seen_us)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(token_hash)
    .bind(guid_hash)
    .bind(company_id)
    .bind(user_id)
    .bind(&redirect_uri)
    .bind(now_us)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(ConsoleSession {
        company_id: Some(company_id),
        user_id: Some(user_id),
        redirect_uri,
        seen_us: now_us,
        ended_us: None,
    }))
}

/// Starts a browser's session signed in by password (a user) or by the
/// operator token (no company, no user).
pub(crate) async fn start_session(
    pool: &Pool,
    token_hash: &str,
    company_and_user: Option<(i64, i64)>,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO console_sessions
             (token_hash, company_id, user_id, created_us, seen_us)
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(token_hash)
    .bind(company_and_user.map(|(company_id, _)| company_id))
    .bind(company_and_user.map(|(_, user_id)| user_id))
    .bind(now_us)
    .execute(pool)
    .await?;
    Ok(())
}

/// company_id, user_id, redirect_uri, seen_us, ended_us.
type SessionRow = (Option<i64>, Option<i64>, Option<String>, i64, Option<i64>);

pub(crate) async fn session(
    pool: &Pool,
    token_hash: &str,
) -> Result<Option<ConsoleSession>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT company_id, user_id, redirect_uri, seen_us, ended_us
             FROM console_sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(company_id, user_id, redirect_uri, seen_us, ended_us)| ConsoleSession {
            company_id,
            user_id,
            redirect_uri,
            seen_us,
            ended_us,
        },
    ))
}

pub(crate) async fn touch_session(
    pool: &Pool,
    token_hash: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE console_sessions SET seen_us = $2 WHERE token_hash = $1 AND ended_us IS NULL",
    )
    .bind(token_hash)
    .bind(now_us)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn end_session(
    pool: &Pool,
    token_hash: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE console_sessions SET ended_us = $2 WHERE token_hash = $1 AND ended_us IS NULL",
    )
    .bind(token_hash)
    .bind(now_us)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a Login API link of the company and every session it started
/// (`DELETE /session/{LoginGuid}`); false when the company has no such link.
pub(crate) async fn end_link(
    pool: &Pool,
    company_id: i64,
    guid_hash: &str,
    now_us: i64,
) -> Result<bool, StoreError> {
    let mut tx = begin_write(pool).await?;
    let found = sqlx::query(
        "UPDATE console_links SET ended_us = COALESCE(ended_us, $3)
         WHERE company_id = $1 AND guid_hash = $2",
    )
    .bind(company_id)
    .bind(guid_hash)
    .bind(now_us)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if found {
        sqlx::query(
            "UPDATE console_sessions SET ended_us = $3
             WHERE company_id = $1 AND guid_hash = $2 AND ended_us IS NULL",
        )
        .bind(company_id)
        .bind(guid_hash)
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// Every company, by id.
pub(crate) async fn companies(pool: &Pool) -> Result<Vec<Company>, StoreError> {
    let rows: Vec<CompanyRow> = sqlx::query_as(
        "SELECT company_id, name, included_sessions, overage_price_cents, data_version,
             duplicate_window_minutes
         FROM companies ORDER BY company_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(company_from_row).collect())
}
