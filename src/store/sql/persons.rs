//! Persons: everyone who takes part in a company's sessions, with every
//! e-mail address they have had, and SecureVideo's resolution of an
//! invitation to one of them (SPEC §3).

use super::Conn;
use super::journal::next_id;
use crate::domain::{Timestamp, normalize_email, normalize_name};
use crate::records::ParticipantRecord;
use crate::store::StoreError;

pub(super) async fn insert_person(
    conn: &mut Conn,
    company_id: i64,
    full_name: &str,
    external_id: &str,
    email_address: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let person_id = next_id(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO persons (company_id, person_id, full_name, name_key, external_id, email_address, email_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(company_id)
    .bind(person_id)
    .bind(full_name.trim())
    .bind(normalize_name(full_name))
    .bind(external_id.trim())
    .bind(email_address.trim())
    .bind(normalize_email(email_address))
    .execute(&mut *conn)
    .await?;
    remember_email(conn, company_id, person_id, email_address, now).await?;
    Ok(person_id)
}

async fn remember_email(
    conn: &mut Conn,
    company_id: i64,
    person_id: i64,
    email_address: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let key = normalize_email(email_address);
    if key.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO person_emails (company_id, person_id, email_key, first_seen_us) VALUES ($1, $2, $3, $4)
         ON CONFLICT (company_id, person_id, email_key) DO NOTHING",
    )
    .bind(company_id)
    .bind(person_id)
    .bind(key)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes `email_address` the person's current address when it is new to them.
pub(super) async fn set_current_email(
    conn: &mut Conn,
    company_id: i64,
    person_id: i64,
    email_address: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    if normalize_email(email_address).is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE persons SET email_address = $3, email_key = $4
         WHERE company_id = $1 AND person_id = $2 AND email_key <> $4",
    )
    .bind(company_id)
    .bind(person_id)
    .bind(email_address.trim())
    .bind(normalize_email(email_address))
    .execute(&mut *conn)
    .await?;
    remember_email(conn, company_id, person_id, email_address, now).await
}

/// What an invitation needs of a user.
pub(super) struct UserFacts {
    pub person_id: i64,
    pub full_name: String,
    pub email_address: String,
}

/// An active (not deleted) user of the company.
pub(super) async fn user_facts(
    conn: &mut Conn,
    company_id: i64,
    user_id: i64,
) -> Result<Option<UserFacts>, StoreError> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT person_id, full_name, email_address FROM users
         WHERE company_id = $1 AND user_id = $2 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(person_id, full_name, email_address)| UserFacts {
        person_id,
        full_name,
        email_address,
    }))
}

/// SecureVideo's resolution of an invitation to a person (SPEC §3): the
/// user, else the external id, else the same name, else someone new.
pub(super) async fn resolve_person(
    conn: &mut Conn,
    company_id: i64,
    invite: &ParticipantRecord,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let external_id = invite.participant_external_id.trim();
    let mut found: Option<i64> = None;
    if !external_id.is_empty() {
        found = sqlx::query_scalar(
            "SELECT person_id FROM persons WHERE company_id = $1 AND external_id = $2 ORDER BY person_id LIMIT 1",
        )
        .bind(company_id)
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
    }
    if found.is_none() {
        found = sqlx::query_scalar(
            "SELECT person_id FROM persons WHERE company_id = $1 AND name_key = $2 ORDER BY person_id LIMIT 1",
        )
        .bind(company_id)
        .bind(normalize_name(&invite.participant_full_name))
        .fetch_optional(&mut *conn)
        .await?;
    }
    match found {
        Some(person_id) => {
            set_current_email(
                conn,
                company_id,
                person_id,
                &invite.participant_email_address,
                now,
            )
            .await?;
            Ok(person_id)
        }
        None => {
            insert_person(
                conn,
                company_id,
                &invite.participant_full_name,
                external_id,
                &invite.participant_email_address,
                now,
            )
            .await
        }
    }
}

/// A user's person answers to the user's name and external id.
pub(super) async fn set_identity(
    conn: &mut Conn,
    company_id: i64,
    person_id: i64,
    full_name: &str,
    external_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE persons SET full_name = $3, name_key = $4, external_id = $5
         WHERE company_id = $1 AND person_id = $2",
    )
    .bind(company_id)
    .bind(person_id)
    .bind(full_name.trim())
    .bind(normalize_name(full_name))
    .bind(external_id.trim())
    .execute(conn)
    .await?;
    Ok(())
}
