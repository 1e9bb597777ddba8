//! Sessions and their participations (SPEC §3, §6): creation, reschedule,
//! cancel, and participants added or removed.

use super::Conn;
use super::companies::{check_name, id_for, require_company};
use super::journal::reserve_id;
use super::persons::{resolve_person, set_current_email, user_facts};
use crate::domain::{ConnectCode, SessionState, Timestamp, is_plausible_email, normalize_name};
use crate::records::{
    AddParticipantRecord, CancelRecord, ParticipantRecord, RemoveParticipantRecord,
    RescheduleRecord, ScheduleType, SessionRecord,
};
use crate::store::StoreError;

fn check_participant(which: &str, invite: &ParticipantRecord) -> Result<(), StoreError> {
    check_name(
        &format!("{which}ParticipantFullName"),
        &invite.participant_full_name,
    )?;
    let email = invite.participant_email_address.trim();
    match invite.should_auto_deliver_code.as_deref().unwrap_or("N") {
        "E" if email.is_empty() => {
            return Err(StoreError::Invalid(format!(
                "{which}ParticipantEmailAddress is required when ShouldAutoDeliverCode is E"
            )));
        }
        "S" if invite.participant_sms_number.trim().is_empty() => {
            return Err(StoreError::Invalid(format!(
                "{which}ParticipantSmsNumber is required when ShouldAutoDeliverCode is S"
            )));
        }
        "E" | "S" | "N" => {}
        other => {
            return Err(StoreError::Invalid(format!(
                "{which}ShouldAutoDeliverCode must be E, S or N, not '{other}'"
            )));
        }
    }
    if !email.is_empty() && !is_plausible_email(email) {
        return Err(StoreError::Invalid(format!(
            "{which}ParticipantEmailAddress is not a valid e-mail address"
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
    // A Meet Now session starts at its creation, to the whole second, as
    // SecureVideo's do (SPEC §6).
    let schedule_ts = record.schedule_ts.unwrap_or(now.whole_second());
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
    let connect_code = record.connect_code.unwrap_or_else(ConnectCode::random);
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
    .bind(connect_code.get())
    .bind(now.as_micros())
    .bind(&host.full_name)
    .execute(&mut *conn)
    .await?;

    // The host is always the first participation of its own session.
    let mut invites = std::mem::take(&mut record.participants);
    // Errors name participants by their index in the record as given.
    let mut given_from = 0;
    if invites.first().and_then(|p| p.secure_video_user_id) != Some(record.user_id) {
        given_from = 1;
        // Without an address of its own: it shows the host's, and hosting
        // does not move the host's current e-mail (SPEC §3).
        invites.insert(
            0,
            ParticipantRecord {
                participant_full_name: host.full_name.clone(),
                secure_video_user_id: Some(record.user_id),
                should_auto_deliver_code: Some(HOST_DELIVERY.to_owned()),
                ..ParticipantRecord::default()
            },
        );
    }
    let mut names_taken: Vec<String> = Vec::new();
    for (position, invite) in invites.into_iter().enumerate() {
        let place = Place {
            session_id,
            host_user_id: record.user_id,
            position: position as i64,
            field_prefix: match position.checked_sub(given_from) {
                Some(index) => format!("Participants[{index}]."),
                None => "the host's ".to_owned(),
            },
        };
        let invite = add_participation(
            &mut *conn,
            record.company_id,
            &place,
            invite,
            &mut names_taken,
            now,
        )
        .await?;
        record.participants.push(invite);
    }
    record.session_id = Some(session_id);
    record.schedule_ts = Some(schedule_ts);
    record.schedule_type = Some(schedule_type);
    record.connect_code = Some(connect_code);
    Ok(record)
}

/// The host's own participation delivers its code by e-mail, as
/// SecureVideo's does (SPEC §6), whatever a log line says.
const HOST_DELIVERY: &str = "E";

fn schedule_type_name(kind: ScheduleType) -> &'static str {
    match kind {
        ScheduleType::Scheduled => "Scheduled",
        ScheduleType::MeetNow => "MeetNow",
        ScheduleType::Rescheduled => "Rescheduled",
    }
}

/// Where a new participation goes, and how its fields are named in errors.
struct Place {
    session_id: i64,
    host_user_id: i64,
    position: i64,
    /// `Participants[2].` in a session body; empty for a participant body.
    field_prefix: String,
}

/// Resolves an invitation to a person (SPEC §3) and stores the participation;
/// position 0 is the host's own. Returns the invitation completed.
async fn add_participation(
    conn: &mut Conn,
    company_id: i64,
    place: &Place,
    mut invite: ParticipantRecord,
    names_taken: &mut Vec<String>,
    now: Timestamp,
) -> Result<ParticipantRecord, StoreError> {
    let which = &place.field_prefix;
    let is_host = place.position == 0;
    if is_host {
        invite.should_auto_deliver_code = Some(HOST_DELIVERY.to_owned());
    }
    if !is_host && invite.secure_video_user_id == Some(place.host_user_id) {
        return Err(StoreError::Invalid(format!(
            "{which}SecureVideoUserId is the session's host, who takes part already"
        )));
    }
    // An invitation of a user without an address of its own shows the
    // user's address; that is display only: the invitation (and the
    // journal, so a replay does the same) keeps its own, empty address,
    // and the person's current e-mail stays as it is (SPEC §3).
    let mut own_email = None;
    let person_id = match invite.secure_video_user_id {
        Some(user_id) => {
            let user = user_facts(&mut *conn, company_id, user_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "{which}SecureVideoUserId {user_id} is not a user of this company"
                    ))
                })?;
            if invite.participant_full_name.trim().is_empty() {
                invite.participant_full_name = user.full_name.clone();
            }
            let given = invite.participant_email_address.trim().to_owned();
            if given.is_empty() {
                invite.participant_email_address = user.email_address.clone();
            }
            check_participant(which, &invite)?;
            set_current_email(&mut *conn, company_id, user.person_id, &given, now).await?;
            own_email = Some(given);
            user.person_id
        }
        None => {
            check_participant(which, &invite)?;
            resolve_person(&mut *conn, company_id, &invite, now).await?
        }
    };
    let name_key = normalize_name(&invite.participant_full_name);
    if names_taken.contains(&name_key) {
        return Err(StoreError::Invalid(format!(
            "{which}ParticipantFullName '{}' is already in the session",
            invite.participant_full_name.trim()
        )));
    }
    names_taken.push(name_key);
    let participation_id = id_for(&mut *conn, invite.participation_id).await?;
    invite.participation_id = Some(participation_id);
    invite.participant_full_name = invite.participant_full_name.trim().to_owned();
    invite.participant_email_address = invite.participant_email_address.trim().to_owned();
    invite.connect_code = Some(invite.connect_code.unwrap_or_else(ConnectCode::random));
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
    .bind(company_id)
    .bind(participation_id)
    .bind(place.session_id)
    .bind(person_id)
    .bind(place.position)
    .bind(is_host)
    .bind(invite.secure_video_user_id)
    .bind(&invite.participant_full_name)
    .bind(&invite.participant_email_address)
    .bind(&invite.participant_sms_number)
    .bind(&invite.participant_default_resolution)
    .bind(&invite.participant_time_zone_windows_id)
    .bind(&invite.participant_external_id)
    .bind(invite.connect_code.map(ConnectCode::get))
    .bind(invite.should_auto_deliver_code.as_deref())
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "ParticipationId {participation_id} already exists"
        )));
    }
    if let Some(own_email) = own_email {
        invite.participant_email_address = own_email;
    }
    Ok(invite)
}

/// A session of the company that can still change: a cancelled one is
/// gone (404), a deactivated one has ended (409).
struct OpenSession {
    host_user_id: i64,
    billable: bool,
}

async fn open_session(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    doing: &str,
) -> Result<OpenSession, StoreError> {
    let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT host_user_id, state, billable_ts FROM sessions WHERE company_id = $1 AND session_id = $2",
    )
    .bind(company_id)
    .bind(session_id)
    .fetch_optional(conn)
    .await?;
    let Some((host_user_id, state, billable_ts)) = row else {
        return Err(StoreError::NotFound("Session not found".into()));
    };
    match state.parse::<SessionState>()? {
        SessionState::Cancelled => Err(StoreError::NotFound("Session not found".into())),
        SessionState::Deactivated => Err(StoreError::Conflict(format!(
            "session {session_id} has been deactivated: cannot {doing} it"
        ))),
        SessionState::Active => Ok(OpenSession {
            host_user_id,
            billable: billable_ts.is_some(),
        }),
    }
}

fn check_schedule(schedule_ts: Timestamp) -> Result<(), StoreError> {
    if !schedule_ts.is_quarter_hour() {
        return Err(StoreError::Invalid(
            "ScheduleTs of a scheduled session must fall on a quarter hour with zero seconds"
                .into(),
        ));
    }
    Ok(())
}

/// Moves a session that has not become billable; it counts as activity.
pub(super) async fn reschedule(
    conn: &mut Conn,
    record: &RescheduleRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    check_schedule(record.schedule_ts)?;
    let session = open_session(
        &mut *conn,
        record.company_id,
        record.session_id,
        "reschedule",
    )
    .await?;
    if session.billable {
        return Err(StoreError::Conflict(format!(
            "session {} is already billable and can no longer be rescheduled",
            record.session_id
        )));
    }
    // Not billable, so it sorts by its schedule in history (group 1).
    sqlx::query(
        "UPDATE sessions SET schedule_ts = $3, schedule_type = 'Rescheduled', last_activity_us = $4, history_ts = $3
         WHERE company_id = $1 AND session_id = $2",
    )
    .bind(record.company_id)
    .bind(record.session_id)
    .bind(record.schedule_ts.as_micros())
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels a session that has not become billable: it leaves every list.
pub(super) async fn cancel(
    conn: &mut Conn,
    record: &CancelRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    let session = open_session(&mut *conn, record.company_id, record.session_id, "cancel").await?;
    if session.billable {
        return Err(StoreError::Conflict(format!(
            "session {} is already billable and can no longer be cancelled",
            record.session_id
        )));
    }
    sqlx::query(
        "UPDATE sessions SET state = 'cancelled', state_changed_us = $3 WHERE company_id = $1 AND session_id = $2",
    )
    .bind(record.company_id)
    .bind(record.session_id)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn add_participant(
    conn: &mut Conn,
    mut record: AddParticipantRecord,
    now: Timestamp,
) -> Result<AddParticipantRecord, StoreError> {
    let session = open_session(
        &mut *conn,
        record.company_id,
        record.session_id,
        "invite to",
    )
    .await?;
    let current: Vec<(String, i64)> = sqlx::query_as(
        "SELECT full_name, position FROM participations
         WHERE company_id = $1 AND session_id = $2 AND removed_us IS NULL",
    )
    .bind(record.company_id)
    .bind(record.session_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut names_taken: Vec<String> = current
        .iter()
        .map(|(name, _)| normalize_name(name))
        .collect();
    // Positions only grow, so a removed participant's place is never reused.
    let last_position: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(position) FROM participations WHERE company_id = $1 AND session_id = $2",
    )
    .bind(record.company_id)
    .bind(record.session_id)
    .fetch_one(&mut *conn)
    .await?;
    let place = Place {
        session_id: record.session_id,
        host_user_id: session.host_user_id,
        position: last_position.unwrap_or(0) + 1,
        field_prefix: String::new(),
    };
    let participant = std::mem::take(&mut record.participant);
    record.participant = add_participation(
        conn,
        record.company_id,
        &place,
        participant,
        &mut names_taken,
        now,
    )
    .await?;
    Ok(record)
}

/// Removes a participant who has never connected; the host stays.
pub(super) async fn remove_participant(
    conn: &mut Conn,
    record: &RemoveParticipantRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    let not_found = || StoreError::NotFound("Participant not found".into());
    let row: Option<(i64, bool, Option<i64>)> = sqlx::query_as(
        "SELECT session_id, is_host, removed_us FROM participations WHERE company_id = $1 AND participation_id = $2",
    )
    .bind(record.company_id)
    .bind(record.participation_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (session_id, is_host, removed) = row.ok_or_else(not_found)?;
    if removed.is_some() {
        return Err(not_found());
    }
    match open_session(&mut *conn, record.company_id, session_id, "change").await {
        Err(StoreError::NotFound(_)) => return Err(not_found()),
        other => other?,
    };
    if is_host {
        return Err(StoreError::Invalid(
            "the host's own participation cannot be removed".into(),
        ));
    }
    let calls: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls WHERE company_id = $1 AND session_id = $2 AND participation_id = $3",
    )
    .bind(record.company_id)
    .bind(session_id)
    .bind(record.participation_id)
    .fetch_one(&mut *conn)
    .await?;
    if calls > 0 {
        return Err(StoreError::Conflict(format!(
            "participant {} has connected to the session and can no longer be removed",
            record.participation_id
        )));
    }
    sqlx::query(
        "UPDATE participations SET removed_us = $3 WHERE company_id = $1 AND participation_id = $2",
    )
    .bind(record.company_id)
    .bind(record.participation_id)
    .bind(now.as_micros())
    .execute(conn)
    .await?;
    Ok(())
}
