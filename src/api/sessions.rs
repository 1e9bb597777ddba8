//! The Session API (SPEC §6, SecureVideo-compatible): schedule, list,
//! reschedule and cancel sessions, and see a session's calls. As in
//! SecureVideo, GET and POST take a user id, PUT and DELETE a session id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Tenant;
use super::error::ApiError;
use super::extract::{JsonBody, Params, path_id};
use super::participants::ParticipantInput;
use crate::app::AppState;
use crate::domain::{Timestamp, normalize_email};
use crate::records::{CancelRecord, LogLine, Record, RescheduleRecord, SessionRecord};
use crate::store::{CallView, Session, SessionQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", get(company_sessions))
        .route(
            "/session/{id}",
            get(user_sessions)
                .post(create_session)
                .put(reschedule)
                .delete(cancel),
        )
        .route("/session/{id}/calls", get(calls))
}

fn session_not_found() -> ApiError {
    ApiError::NotFound("Session not found".into())
}

fn participant_email(params: &Params) -> Result<Option<String>, ApiError> {
    params
        .get("ParticipantEmail")
        .map(|raw| {
            let email = normalize_email(raw);
            if email.is_empty() {
                Err(ApiError::BadRequest(
                    "ParticipantEmail must not be empty".into(),
                ))
            } else {
                Ok(email)
            }
        })
        .transpose()
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn company_sessions(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> Result<Json<Vec<Session>>, ApiError> {
    let query = SessionQuery {
        company_id: tenant.company_id,
        host_user_id: None,
        participant_email: participant_email(&params)?,
    };
    Ok(Json(state.store.sessions(query).await?))
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn user_sessions(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Vec<Session>>, ApiError> {
    let query = SessionQuery {
        company_id: tenant.company_id,
        host_user_id: Some(path_id("UserId", &raw)?),
        participant_email: participant_email(&params)?,
    };
    Ok(Json(state.store.sessions(query).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NewSession {
    /// Absent or null: a Meet Now session, starting now.
    schedule_ts: Option<Timestamp>,
    #[serde(default)]
    participants: Vec<ParticipantInput>,
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn create_session(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
    JsonBody(input): JsonBody<NewSession>,
) -> Result<Response, ApiError> {
    let user_id = path_id("UserId", &raw)?;
    // The host takes part already; in a log, a first participant naming the
    // host is the host's own participation, so it is refused here.
    if let Some(index) = input
        .participants
        .iter()
        .position(|p| p.user_id() == Some(user_id))
    {
        return Err(ApiError::BadRequest(format!(
            "Participants[{index}].SecureVideoUserId is the session's host, who takes part already"
        )));
    }
    let record = SessionRecord {
        company_id: tenant.company_id,
        session_id: None,
        user_id,
        schedule_ts: input.schedule_ts,
        schedule_type: None,
        connect_code: None,
        participants: input
            .participants
            .into_iter()
            .map(ParticipantInput::into_record)
            .collect(),
    };
    let applied = state
        .store
        .apply(LogLine::new(Record::Session(record)))
        .await?;
    let Record::Session(created) = applied.record else {
        unreachable!("a session record is applied as one")
    };
    let session_id = created.session_id.expect("assigned");
    tracing::info!(session_id, "session created");
    let session = state
        .store
        .session(tenant.company_id, session_id)
        .await?
        .ok_or_else(session_not_found)?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NewSchedule {
    schedule_ts: Option<Timestamp>,
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn reschedule(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
    JsonBody(input): JsonBody<NewSchedule>,
) -> Result<Json<Session>, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let schedule_ts = input
        .schedule_ts
        .ok_or_else(|| ApiError::BadRequest("ScheduleTs is required to reschedule".into()))?;
    let record = RescheduleRecord {
        company_id: tenant.company_id,
        session_id,
        schedule_ts,
    };
    state
        .store
        .apply(LogLine::new(Record::Reschedule(record)))
        .await?;
    state
        .store
        .session(tenant.company_id, session_id)
        .await?
        .map(Json)
        .ok_or_else(session_not_found)
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn cancel(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let record = CancelRecord {
        company_id: tenant.company_id,
        session_id,
    };
    state
        .store
        .apply(LogLine::new(Record::Cancel(record)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn calls(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    Ok(Json(
        state.store.calls(tenant.company_id, session_id).await?,
    ))
}
