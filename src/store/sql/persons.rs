//! Persons: everyone who takes part in a company's sessions, with every
//! e-mail address they have had, and SecureVideo's resolution of an
//! invitation to one of them (SPEC §3).

use std::collections::HashMap;

use super::Conn;
use super::journal::{Held, next_id, touch_companies};
use crate::domain::{Timestamp, normalize_email, normalize_name};
use crate::records::{LogLine, ParticipantRecord, Record};
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

/// The one-time step of [`repair_current_emails`], as `one_time_steps`
/// records it.
pub(super) const REPAIR_CURRENT_EMAILS: &str = "repair_person_current_emails";

/// A one-time repair (docs/decisions.md, "Storage"): recomputes every
/// person's current e-mail from the journal under SPEC §3's rule, replaying
/// each company's user and invitation lines in order. Earlier versions reset
/// the current e-mail to the user's on hosting, on an invitation of a user
/// without an address and on a user update that kept the address, and
/// journaled the user's address on such invitations as if the invitation
/// had carried it. So an
/// invitation by `SecureVideoUserId` whose address is exactly the user's
/// address at that point of the journal is taken as one without an address
/// (an explicit address equal to it cannot be told apart; it is read the
/// same way). Where that address would move the current e-mail on a replay,
/// the journaled line is given the empty address the invitation now records,
/// so an export replays the repaired ledger. Returns the persons changed.
pub(super) async fn repair_current_emails(
    conn: &mut Conn,
    held: &mut Held,
) -> Result<i64, StoreError> {
    let companies: Vec<i64> =
        sqlx::query_scalar("SELECT company_id FROM companies ORDER BY company_id")
            .fetch_all(&mut *conn)
            .await?;
    let mut changed = 0;
    for company_id in companies {
        let persons = repair_company_emails(&mut *conn, company_id).await?;
        if persons > 0 {
            touch_companies(&mut *conn, held, &[company_id]).await?;
        }
        changed += persons;
    }
    Ok(changed)
}

/// [`repair_current_emails`] for one company.
async fn repair_company_emails(conn: &mut Conn, company_id: i64) -> Result<i64, StoreError> {
    let user_persons: HashMap<i64, i64> =
        sqlx::query_as("SELECT user_id, person_id FROM users WHERE company_id = $1")
            .bind(company_id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let participation_persons: HashMap<i64, i64> = sqlx::query_as(
        "SELECT participation_id, person_id FROM participations WHERE company_id = $1",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let lines: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, record FROM journal WHERE company_id = $1 AND event_id IS NULL ORDER BY seq",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;

    // The replay: each user's address, each person's current one.
    let mut user_emails: HashMap<i64, String> = HashMap::new();
    let mut current: HashMap<i64, String> = HashMap::new();
    // SPEC §3: a different non-empty address moves the current one.
    let offer = |current: &mut HashMap<i64, String>, person_id: i64, email: &str| {
        let key = normalize_email(email);
        match current.get(&person_id) {
            // The person's first appearance creates it with the address.
            None => {
                current.insert(person_id, email.trim().to_owned());
            }
            Some(now) if !key.is_empty() && normalize_email(now) != key => {
                current.insert(person_id, email.trim().to_owned());
            }
            Some(_) => {}
        }
    };
    let mut rewrites: Vec<(i64, String)> = Vec::new();
    for (seq, text) in lines {
        let mut line: LogLine = serde_json::from_str(&text)
            .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;
        let invites: Vec<&mut ParticipantRecord> = match &mut line.record {
            Record::User(user) => {
                if let (Some(user_id), Some(&person_id)) = (
                    user.user_id,
                    user.user_id.and_then(|id| user_persons.get(&id)),
                ) {
                    current.insert(person_id, user.email_address.trim().to_owned());
                    user_emails.insert(user_id, user.email_address.trim().to_owned());
                }
                continue;
            }
            Record::UserUpdate(update) => {
                let email = update.email_address.trim().to_owned();
                let kept = user_emails
                    .get(&update.user_id)
                    .is_some_and(|old| normalize_email(old) == normalize_email(&email));
                if let Some(&person_id) = user_persons.get(&update.user_id)
                    && !kept
                {
                    offer(&mut current, person_id, &email);
                }
                user_emails.insert(update.user_id, email);
                continue;
            }
            Record::Session(session) => session.participants.iter_mut().collect(),
            Record::AddParticipant(added) => vec![&mut added.participant],
            _ => continue,
        };
        let mut rewritten = false;
        for invite in invites {
            let Some(&person_id) = invite
                .participation_id
                .and_then(|id| participation_persons.get(&id))
            else {
                continue;
            };
            let shown_for_user = invite.secure_video_user_id.is_some_and(|user_id| {
                !invite.participant_email_address.trim().is_empty()
                    && user_emails.get(&user_id).map(String::as_str)
                        == Some(invite.participant_email_address.trim())
            });
            if shown_for_user {
                // Display only; recorded as given only where it would
                // move the current e-mail on a replay.
                let moves = current.get(&person_id).is_some_and(|now| {
                    normalize_email(now) != normalize_email(&invite.participant_email_address)
                });
                if moves {
                    invite.participant_email_address.clear();
                    rewritten = true;
                }
                continue;
            }
            offer(&mut current, person_id, &invite.participant_email_address);
        }
        if rewritten {
            let text = serde_json::to_string(&line).expect("log lines always serialize");
            rewrites.push((seq, text));
        }
    }
    for (seq, text) in rewrites {
        sqlx::query("UPDATE journal SET record = $3 WHERE company_id = $1 AND seq = $2")
            .bind(company_id)
            .bind(seq)
            .bind(text)
            .execute(&mut *conn)
            .await?;
    }

    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT person_id, email_address FROM persons WHERE company_id = $1")
            .bind(company_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut changed = 0;
    for (person_id, email) in stored {
        let Some(repaired) = current.get(&person_id) else {
            continue;
        };
        if *repaired == email {
            continue;
        }
        sqlx::query(
            "UPDATE persons SET email_address = $3, email_key = $4 WHERE company_id = $1 AND person_id = $2",
        )
        .bind(company_id)
        .bind(person_id)
        .bind(repaired)
        .bind(normalize_email(repaired))
        .execute(&mut *conn)
        .await?;
        changed += 1;
    }
    Ok(changed)
}
