//! Users (SPEC §5): each one a person of its company; updates follow the
//! user into its person and the sessions it hosts; deletion hides it.

use super::companies::{check_name, id_for, require_company};
use super::persons::{insert_person, set_current_email, set_identity};
use super::{Conn, Pool};
use crate::domain::{Timestamp, is_plausible_email, normalize_email, video_id_for};
use crate::records::{UserDeleteRecord, UserRecord, UserUpdateRecord};
use crate::store::{StoreError, User};

/// SecureVideo's default resolution: a user's is never empty (SPEC §5).
const DEFAULT_RESOLUTION: &str = "high";

fn resolution_or_default(resolution: &mut String) {
    if resolution.trim().is_empty() {
        *resolution = DEFAULT_RESOLUTION.to_owned();
    }
}

fn check_user(full_name: &str, email_address: &str) -> Result<(), StoreError> {
    check_name("FullName", full_name)?;
    if !is_plausible_email(email_address) {
        return Err(StoreError::Invalid(
            "EmailAddress is not a valid e-mail address".into(),
        ));
    }
    Ok(())
}

/// EmailAddress is unique among the company's active users, ignoring case.
/// Compared here rather than in SQL, whose LOWER() differs between backends
/// beyond ASCII.
async fn check_email_free(
    conn: &mut Conn,
    company_id: i64,
    email_address: &str,
    except_user_id: Option<i64>,
) -> Result<(), StoreError> {
    let wanted = normalize_email(email_address);
    let active: Vec<(i64, String)> = sqlx::query_as(
        "SELECT user_id, email_address FROM users WHERE company_id = $1 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .fetch_all(conn)
    .await?;
    let taken = active.iter().any(|(user_id, email)| {
        Some(*user_id) != except_user_id && normalize_email(email) == wanted
    });
    if taken {
        return Err(StoreError::Invalid(
            "EmailAddress is already used by another user of this company".into(),
        ));
    }
    Ok(())
}

pub(super) async fn create_user(
    conn: &mut Conn,
    mut record: UserRecord,
    now: Timestamp,
) -> Result<UserRecord, StoreError> {
    check_user(&record.full_name, &record.email_address)?;
    require_company(&mut *conn, record.company_id).await?;
    check_email_free(&mut *conn, record.company_id, &record.email_address, None).await?;
    let user_id = id_for(&mut *conn, record.user_id).await?;
    resolution_or_default(&mut record.default_resolution);
    let video_id = match record.video_id.take() {
        Some(given) if !given.trim().is_empty() => given.trim().to_owned(),
        _ => video_id_for(user_id),
    };
    let person_id = insert_person(
        &mut *conn,
        record.company_id,
        &record.full_name,
        &record.external_id,
        &record.email_address,
        now,
    )
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO users (company_id, user_id, person_id, full_name, email_address, sms_number,
             default_resolution, time_zone_windows_id, help_number, external_id, system_roles, video_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11)
         ON CONFLICT (company_id, user_id) DO NOTHING",
    )
    .bind(record.company_id)
    .bind(user_id)
    .bind(person_id)
    .bind(record.full_name.trim())
    .bind(record.email_address.trim())
    .bind(&record.sms_number)
    .bind(&record.default_resolution)
    .bind(&record.time_zone_windows_id)
    .bind(&record.help_number)
    .bind(record.external_id.trim())
    .bind(&video_id)
    .bind(record.system_roles.as_deref().unwrap_or("H,P"))
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "UserId {user_id} already exists"
        )));
    }
    record.user_id = Some(user_id);
    record.video_id = Some(video_id);
    record.full_name = record.full_name.trim().to_owned();
    record.email_address = record.email_address.trim().to_owned();
    Ok(record)
}

/// Replaces a user's details. A new name renames the user in the sessions it
/// hosts (their invoice lines) and its person; a changed address becomes its
/// person's current one, the earlier ones kept. An address left as the user's
/// (a rename) keeps the person's current one, even when an invitation has
/// moved that elsewhere (SPEC §3).
pub(super) async fn update_user(
    conn: &mut Conn,
    mut record: UserUpdateRecord,
    now: Timestamp,
) -> Result<UserUpdateRecord, StoreError> {
    check_user(&record.full_name, &record.email_address)?;
    let (company_id, user_id) = (record.company_id, record.user_id);
    let (person_id, old_email): (i64, String) = sqlx::query_as(
        "SELECT person_id, email_address FROM users WHERE company_id = $1 AND user_id = $2 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound("User not found".into()))?;
    check_email_free(&mut *conn, company_id, &record.email_address, Some(user_id)).await?;
    record.full_name = record.full_name.trim().to_owned();
    record.email_address = record.email_address.trim().to_owned();
    record.external_id = record.external_id.trim().to_owned();
    resolution_or_default(&mut record.default_resolution);
    sqlx::query(
        "UPDATE users SET full_name = $3, email_address = $4, sms_number = $5, default_resolution = $6,
             time_zone_windows_id = $7, help_number = $8, external_id = $9,
             system_roles = COALESCE($10, system_roles)
         WHERE company_id = $1 AND user_id = $2",
    )
    .bind(company_id)
    .bind(user_id)
    .bind(&record.full_name)
    .bind(&record.email_address)
    .bind(&record.sms_number)
    .bind(&record.default_resolution)
    .bind(&record.time_zone_windows_id)
    .bind(&record.help_number)
    .bind(&record.external_id)
    .bind(record.system_roles.as_deref())
    .execute(&mut *conn)
    .await?;
    set_identity(
        &mut *conn,
        company_id,
        person_id,
        &record.full_name,
        &record.external_id,
    )
    .await?;
    if normalize_email(&record.email_address) != normalize_email(&old_email) {
        set_current_email(
            &mut *conn,
            company_id,
            person_id,
            &record.email_address,
            now,
        )
        .await?;
    }
    sqlx::query(
        "UPDATE sessions SET host_full_name = $3 WHERE company_id = $1 AND host_user_id = $2",
    )
    .bind(company_id)
    .bind(user_id)
    .bind(&record.full_name)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE participations SET full_name = $3
         WHERE company_id = $1 AND secure_video_user_id = $2 AND is_host = TRUE",
    )
    .bind(company_id)
    .bind(user_id)
    .bind(&record.full_name)
    .execute(conn)
    .await?;
    Ok(record)
}

/// Hides a user from the User API; its sessions and history stay.
pub(super) async fn delete_user(
    conn: &mut Conn,
    record: &UserDeleteRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    let deleted = sqlx::query(
        "UPDATE users SET deleted_us = $3 WHERE company_id = $1 AND user_id = $2 AND deleted_us IS NULL",
    )
    .bind(record.company_id)
    .bind(record.user_id)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("User not found".into()));
    }
    Ok(())
}

type UserRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn user_from_row(row: UserRow) -> User {
    let (
        user_id,
        full_name,
        email_address,
        sms_number,
        default_resolution,
        time_zone_windows_id,
        help_number,
        external_id,
        system_roles,
        video_id,
    ) = row;
    User {
        user_id,
        full_name,
        email_address,
        sms_number,
        default_resolution,
        time_zone_windows_id,
        help_number,
        external_id,
        system_roles,
        video_id,
    }
}

/// The company's active users, then `$rest` of the query.
macro_rules! active_users {
    ($rest:literal) => {
        concat!(
            "SELECT user_id, full_name, email_address, sms_number, default_resolution,
                 time_zone_windows_id, help_number, external_id, system_roles, video_id FROM users
             WHERE company_id = $1 AND deleted_us IS NULL",
            $rest
        )
    };
}

/// The company's active users, oldest first.
pub(crate) async fn users(pool: &Pool, company_id: i64) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = sqlx::query_as(active_users!(" ORDER BY user_id"))
        .bind(company_id)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(user_from_row).collect())
}

pub(crate) async fn user(
    pool: &Pool,
    company_id: i64,
    user_id: i64,
) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(active_users!(" AND user_id = $2"))
        .bind(company_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(user_from_row))
}

/// The active user with that ExternalId (the oldest, should several share it).
pub(crate) async fn user_by_external_id(
    pool: &Pool,
    company_id: i64,
    external_id: &str,
) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(active_users!(
        " AND external_id = $2 ORDER BY user_id LIMIT 1"
    ))
    .bind(company_id)
    .bind(external_id.trim())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(user_from_row))
}
