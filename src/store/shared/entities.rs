//! Companies, keys, agents, users, persons and sessions: creation and lookup.

use rand::Rng;

use super::journal::{next_id, reserve_id};
use super::{Conn, Pool};
use crate::domain::{Timestamp, is_plausible_email, normalize_email, normalize_name};
use crate::records::{
    ApiKeyRecord, CompanyPlanRecord, CompanyRecord, ParticipantRecord, RevokeApiKeyRecord,
    ScheduleType, SessionRecord, SupportAgentRecord, UserRecord,
};
use crate::store::{Company, StoreError, StoredKey};

/// The id a record brings (import), reserved, or a new one.
async fn id_for(conn: &mut Conn, given: Option<i64>) -> Result<i64, StoreError> {
    match given {
        Some(id) => {
            reserve_id(conn, id).await?;
            Ok(id)
        }
        None => next_id(conn).await,
    }
}

fn new_connect_code() -> String {
    format!("{:09}", rand::rng().random_range(0..1_000_000_000u32))
}

fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
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

pub(super) async fn create_company(
    conn: &mut Conn,
    mut record: CompanyRecord,
    now: Timestamp,
) -> Result<CompanyRecord, StoreError> {
    check_name("Name", &record.name)?;
    check_plan(
        record.included_sessions_per_month,
        record.overage_price_cents,
    )?;
    let company_id = id_for(&mut *conn, record.company_id).await?;
    let inserted = sqlx::query(
        "INSERT INTO companies (company_id, name, included_sessions, overage_price_cents, data_version, created_us)
         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (company_id) DO NOTHING",
    )
    .bind(company_id)
    .bind(record.name.trim())
    .bind(record.included_sessions_per_month)
    .bind(record.overage_price_cents)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "CompanyId {company_id} already exists"
        )));
    }
    record.company_id = Some(company_id);
    record.name = record.name.trim().to_owned();
    Ok(record)
}

pub(super) async fn update_plan(
    conn: &mut Conn,
    record: &CompanyPlanRecord,
) -> Result<(), StoreError> {
    check_plan(
        record.included_sessions_per_month,
        record.overage_price_cents,
    )?;
    let updated = sqlx::query(
        "UPDATE companies SET included_sessions = $2, overage_price_cents = $3 WHERE company_id = $1",
    )
    .bind(record.company_id)
    .bind(record.included_sessions_per_month)
    .bind(record.overage_price_cents)
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound("Company not found".into()));
    }
    Ok(())
}

async fn require_company(conn: &mut Conn, company_id: i64) -> Result<(), StoreError> {
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
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT secret_hash, revoked_us FROM api_keys WHERE company_id = $1 AND api_key = $2",
    )
    .bind(company_id)
    .bind(api_key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(secret_hash, revoked_us)| StoredKey {
        secret_hash,
        revoked: revoked_us.is_some(),
    }))
}

type CompanyRow = (i64, String, i64, i64, i64);

fn company_from_row(
    (company_id, name, included_sessions, overage_price_cents, data_version): CompanyRow,
) -> Company {
    Company {
        company_id,
        name,
        included_sessions,
        overage_price_cents,
        data_version,
    }
}

pub(crate) async fn company(pool: &Pool, company_id: i64) -> Result<Option<Company>, StoreError> {
    let row: Option<CompanyRow> = sqlx::query_as(
        "SELECT company_id, name, included_sessions, overage_price_cents, data_version
         FROM companies WHERE company_id = $1",
    )
    .bind(company_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(company_from_row))
}

pub(crate) async fn company_named(pool: &Pool, name: &str) -> Result<Option<Company>, StoreError> {
    let row: Option<CompanyRow> = sqlx::query_as(
        "SELECT company_id, name, included_sessions, overage_price_cents, data_version
         FROM companies WHERE name = $1 ORDER BY company_id LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(company_from_row))
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

async fn insert_person(
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
async fn set_current_email(
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

pub(super) async fn create_user(
    conn: &mut Conn,
    mut record: UserRecord,
    now: Timestamp,
) -> Result<UserRecord, StoreError> {
    check_name("FullName", &record.full_name)?;
    if !is_plausible_email(&record.email_address) {
        return Err(StoreError::Invalid(
            "EmailAddress is not a valid e-mail address".into(),
        ));
    }
    require_company(&mut *conn, record.company_id).await?;
    let taken: Option<i64> = sqlx::query_scalar(
        "SELECT u.user_id FROM users u JOIN persons p ON p.company_id = u.company_id AND p.person_id = u.person_id
         WHERE u.company_id = $1 AND p.email_key = $2 AND u.deleted_us IS NULL LIMIT 1",
    )
    .bind(record.company_id)
    .bind(normalize_email(&record.email_address))
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_some() {
        return Err(StoreError::Invalid(
            "EmailAddress is already used by another user of this company".into(),
        ));
    }
    let user_id = id_for(&mut *conn, record.user_id).await?;
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
             default_resolution, time_zone_windows_id, help_number, external_id, system_roles)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'H,P')
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
    .bind(&record.external_id)
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "UserId {user_id} already exists"
        )));
    }
    record.user_id = Some(user_id);
    record.full_name = record.full_name.trim().to_owned();
    record.email_address = record.email_address.trim().to_owned();
    Ok(record)
}

struct UserFacts {
    person_id: i64,
    full_name: String,
    email_address: String,
}

async fn user_facts(
    conn: &mut Conn,
    company_id: i64,
    user_id: i64,
) -> Result<Option<UserFacts>, StoreError> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT person_id, full_name, email_address FROM users WHERE company_id = $1 AND user_id = $2",
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
async fn resolve_person(
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

fn check_participant(index: usize, invite: &ParticipantRecord) -> Result<(), StoreError> {
    let which = format!("Participants[{index}]");
    check_name(
        &format!("{which}.ParticipantFullName"),
        &invite.participant_full_name,
    )?;
    let email = invite.participant_email_address.trim();
    match invite.should_auto_deliver_code.as_deref().unwrap_or("N") {
        "E" if email.is_empty() => {
            return Err(StoreError::Invalid(format!(
                "{which}.ParticipantEmailAddress is required when ShouldAutoDeliverCode is E"
            )));
        }
        "S" if invite.participant_sms_number.trim().is_empty() => {
            return Err(StoreError::Invalid(format!(
                "{which}.ParticipantSmsNumber is required when ShouldAutoDeliverCode is S"
            )));
        }
        "E" | "S" | "N" => {}
        other => {
            return Err(StoreError::Invalid(format!(
                "{which}.ShouldAutoDeliverCode must be E, S or N, not '{other}'"
            )));
        }
    }
    if !email.is_empty() && !is_plausible_email(email) {
        return Err(StoreError::Invalid(format!(
            "{which}.ParticipantEmailAddress is not a valid e-mail address"
        )));
    }
    Ok(())
}

pub(super) async fn create_session(
    conn: &mut Conn,
    mut record: SessionRecord,
    now: Timestamp,
) -> Result<SessionRecord, StoreError> {
    require_company(&mut *conn, record.company_id).await?;
    let host = user_facts(&mut *conn, record.company_id, record.user_id)
        .await?
        .ok_or_else(|| StoreError::NotFound("User not found".into()))?;
    let schedule_type = match (record.schedule_type, record.schedule_ts) {
        (Some(kind), Some(_)) => kind,
        (Some(ScheduleType::MeetNow) | None, None) => ScheduleType::MeetNow,
        (None, Some(_)) => ScheduleType::Scheduled,
        (Some(_), None) => {
            return Err(StoreError::Invalid(
                "ScheduleTs is required for a scheduled session".into(),
            ));
        }
    };
    let schedule_ts = record.schedule_ts.unwrap_or(now);
    if schedule_type != ScheduleType::MeetNow && !schedule_ts.is_quarter_hour() {
        return Err(StoreError::Invalid(
            "ScheduleTs of a scheduled session must fall on a quarter hour with zero seconds"
                .into(),
        ));
    }
    // Ids the record brings are reserved before any is assigned, so an
    // assigned one (the host's participation, when not listed) cannot take
    // an id that a later participant of this record claims.
    for given in record
        .participants
        .iter()
        .filter_map(|p| p.participation_id)
    {
        reserve_id(&mut *conn, given).await?;
    }
    let session_id = id_for(&mut *conn, record.session_id).await?;
    let connect_code = record.connect_code.clone().unwrap_or_else(new_connect_code);
    let inserted = sqlx::query(
        "INSERT INTO session_directory (session_id, company_id) VALUES ($1, $2) ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session_id)
    .bind(record.company_id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "SessionId {session_id} already exists"
        )));
    }
    sqlx::query(
        "INSERT INTO sessions (company_id, session_id, host_user_id, schedule_ts, schedule_type, connect_code,
             created_us, last_activity_us, state, comped, host_full_name, guest_names, history_group, history_ts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'active', FALSE, $8, '', 1, $4)",
    )
    .bind(record.company_id)
    .bind(session_id)
    .bind(record.user_id)
    .bind(schedule_ts.as_micros())
    .bind(schedule_type_name(schedule_type))
    .bind(&connect_code)
    .bind(now.as_micros())
    .bind(&host.full_name)
    .execute(&mut *conn)
    .await?;

    // The host is always the first participation of its own session.
    let mut invites = std::mem::take(&mut record.participants);
    if invites.first().and_then(|p| p.secure_video_user_id) != Some(record.user_id) {
        invites.insert(
            0,
            ParticipantRecord {
                participant_full_name: host.full_name.clone(),
                secure_video_user_id: Some(record.user_id),
                participant_email_address: host.email_address.clone(),
                ..ParticipantRecord::default()
            },
        );
    }
    let mut names_seen: Vec<String> = Vec::new();
    for (position, mut invite) in invites.into_iter().enumerate() {
        let is_host = position == 0;
        if !is_host && invite.secure_video_user_id == Some(record.user_id) {
            return Err(StoreError::Invalid(format!(
                "Participants[{position}] is the session's host, who takes part already"
            )));
        }
        let person_id = match invite.secure_video_user_id {
            Some(user_id) => {
                let user = user_facts(&mut *conn, record.company_id, user_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "Participants[{position}].SecureVideoUserId {user_id} is not a user"
                        ))
                    })?;
                if invite.participant_full_name.trim().is_empty() {
                    invite.participant_full_name = user.full_name.clone();
                }
                if invite.participant_email_address.trim().is_empty() {
                    invite.participant_email_address = user.email_address.clone();
                }
                set_current_email(
                    &mut *conn,
                    record.company_id,
                    user.person_id,
                    &invite.participant_email_address,
                    now,
                )
                .await?;
                user.person_id
            }
            None => {
                check_participant(position, &invite)?;
                resolve_person(&mut *conn, record.company_id, &invite, now).await?
            }
        };
        let name_key = normalize_name(&invite.participant_full_name);
        if names_seen.contains(&name_key) {
            return Err(StoreError::Invalid(format!(
                "Participants[{position}]: '{}' is already in the session",
                invite.participant_full_name.trim()
            )));
        }
        names_seen.push(name_key);
        let participation_id = id_for(&mut *conn, invite.participation_id).await?;
        invite.participation_id = Some(participation_id);
        invite.participant_full_name = invite.participant_full_name.trim().to_owned();
        invite.connect_code = Some(invite.connect_code.clone().unwrap_or_else(new_connect_code));
        invite.should_auto_deliver_code = Some(
            invite
                .should_auto_deliver_code
                .clone()
                .unwrap_or_else(|| "N".into()),
        );
        let inserted = sqlx::query(
            "INSERT INTO participations (company_id, participation_id, session_id, person_id, position, is_host,
                 secure_video_user_id, full_name, email_address, sms_number, default_resolution,
                 time_zone_windows_id, external_id, connect_code, should_auto_deliver_code)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (company_id, participation_id) DO NOTHING",
        )
        .bind(record.company_id)
        .bind(participation_id)
        .bind(session_id)
        .bind(person_id)
        .bind(position as i64)
        .bind(is_host)
        .bind(invite.secure_video_user_id)
        .bind(&invite.participant_full_name)
        .bind(invite.participant_email_address.trim())
        .bind(&invite.participant_sms_number)
        .bind(&invite.participant_default_resolution)
        .bind(&invite.participant_time_zone_windows_id)
        .bind(&invite.participant_external_id)
        .bind(invite.connect_code.as_deref())
        .bind(invite.should_auto_deliver_code.as_deref())
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "ParticipationId {participation_id} already exists"
            )));
        }
        record.participants.push(invite);
    }
    record.session_id = Some(session_id);
    record.schedule_ts = Some(schedule_ts);
    record.schedule_type = Some(schedule_type);
    record.connect_code = Some(connect_code);
    Ok(record)
}

fn schedule_type_name(kind: ScheduleType) -> &'static str {
    match kind {
        ScheduleType::Scheduled => "Scheduled",
        ScheduleType::MeetNow => "MeetNow",
        ScheduleType::Rescheduled => "Rescheduled",
    }
}
