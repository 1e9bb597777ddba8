//! The Session API (SPEC §6, SecureVideo-compatible): schedule, list,
//! reschedule and cancel sessions, and see a session's calls. As in
//! SecureVideo, GET and POST take a user id, PUT and DELETE a session id.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::TenantErrors;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, Params, PathText, participant_email, path_id};
use super::participants::ParticipantInput;
use super::state::AppState;
use crate::domain::Timestamp;
use crate::records::{CancelRecord, RescheduleRecord, SessionRecord};
use crate::store::{CallView, Session, SessionQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(company_sessions))
        .routes(routes!(user_sessions, create_session, reschedule, cancel))
        .routes(routes!(calls))
}

fn session_not_found() -> ApiError {
    ApiError::NotFound("Session not found".into())
}

/// The company's active sessions.
#[utoipa::path(
    get,
    path = "/session",
    tag = "sessions",
    params(("ParticipantEmail" = Option<String>, Query, description = "Only sessions with a participation of the person whose current e-mail this is (case-insensitive; the name too).")),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The active sessions", body = Vec<Session>),
        (status = 400, description = "ParticipantEmail is empty", body = ErrorBody),
        TenantErrors,
    )
)]
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
    Ok(Json(
        state.store.sessions_at(query, tenant.data_version).await?,
    ))
}

/// The active sessions one user hosts (GET takes a user id, as in SecureVideo).
#[utoipa::path(
    get,
    path = "/session/{id}",
    tag = "sessions",
    params(
        ("id" = i64, Path, description = "The host's SystemUserId", minimum = 1),
        ("ParticipantEmail" = Option<String>, Query, description = "Only sessions with a participation of the person whose current e-mail this is (case-insensitive; the name too)."),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The user's active sessions", body = Vec<Session>),
        (status = 400, description = "The user id is not valid, or ParticipantEmail is empty", body = ErrorBody),
        (status = 404, description = "No such user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn user_sessions(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    params: Params,
) -> Result<Json<Vec<Session>>, ApiError> {
    let query = SessionQuery {
        company_id: tenant.company_id,
        host_user_id: Some(path_id("UserId", &raw)?),
        participant_email: participant_email(&params)?,
    };
    Ok(Json(
        state.store.sessions_at(query, tenant.data_version).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct NewSession {
    /// Absent or null: a Meet Now session, starting now. Otherwise on a
    /// quarter hour.
    schedule_ts: Option<Timestamp>,
    /// Who is invited besides the host.
    #[serde(default)]
    participants: Vec<ParticipantInput>,
}

/// Schedules a session hosted by a user (POST takes a user id, as in SecureVideo).
#[utoipa::path(
    post,
    path = "/session/{id}",
    tag = "sessions",
    params(("id" = i64, Path, description = "The host's SystemUserId", minimum = 1)),
    request_body = NewSession,
    security(("tenant_basic" = [])),
    responses(
        (status = 201, description = "The new session", body = Session),
        (status = 400, description = "The user id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such user in this company", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        TenantErrors,
    )
)]
async fn create_session(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
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
            .enumerate()
            .map(|(index, participant)| participant.into_record(&format!("Participants[{index}].")))
            .collect::<Result<_, _>>()?,
    };
    let session_id = state.store.write().create_session(record).await?.session_id;
    tracing::info!(session_id, "session created");
    let session = state
        .store
        .session(tenant.company_id, session_id)
        .await?
        .ok_or_else(session_not_found)?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct NewSchedule {
    /// Required; on a quarter hour.
    schedule_ts: Option<Timestamp>,
}

/// Moves a session that is not yet billable (PUT takes a session id).
#[utoipa::path(
    put,
    path = "/session/{id}",
    tag = "sessions",
    params(("id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body = NewSchedule,
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The session as rescheduled", body = Session),
        (status = 400, description = "The session id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such session in this company", body = ErrorBody),
        (status = 409, description = "The session is billable already, or deactivated", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        TenantErrors,
    )
)]
async fn reschedule(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
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
    state.store.write().reschedule(record).await?;
    state
        .store
        .session(tenant.company_id, session_id)
        .await?
        .map(Json)
        .ok_or_else(session_not_found)
}

/// Cancels a session that is not yet billable (DELETE takes a session id);
/// or, given a LoginGuid (32 hex digits) from the Login API, ends the
/// console session that link started (SPEC §14).
#[utoipa::path(
    delete,
    path = "/session/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The SessionId, or a LoginGuid (32 hex digits) to end that console sign-in", example = "36209")),
    security(("tenant_basic" = [])),
    responses(
        (status = 204, description = "Cancelled, or the console sign-in ended"),
        (status = 400, description = "The session id is not valid", body = ErrorBody),
        (status = 404, description = "No such session in this company", body = ErrorBody),
        (status = 409, description = "The session is billable already, or deactivated", body = ErrorBody),
        TenantErrors,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    if crate::secrets::console::looks_like_login_guid(&raw) {
        return super::login::end_login(&state, tenant, &raw).await;
    }
    let session_id = path_id("SessionId", &raw)?;
    let record = CancelRecord {
        company_id: tenant.company_id,
        session_id,
    };
    state.store.write().cancel(record).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every participant-call of a session, so a tenant can see why a duration is what it is.
#[utoipa::path(
    get,
    path = "/session/{id}/calls",
    tag = "sessions",
    params(("id" = i64, Path, description = "The SessionId", minimum = 1)),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The session's calls", body = Vec<CallView>),
        (status = 400, description = "The session id is not valid", body = ErrorBody),
        (status = 404, description = "No such session in this company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn calls(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    Ok(Json(
        state.store.calls(tenant.company_id, session_id).await?,
    ))
}
