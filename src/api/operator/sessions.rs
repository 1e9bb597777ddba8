//! Support actions on a session: deactivate, comp, uncomp, and its
//! status audit.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Operator;
use crate::api::error::OperatorErrors;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{JsonBody, OptionalJsonBody, PathText, path_id};
use crate::api::state::AppState;
use crate::domain::OperatorReason;
use crate::records::{CompRecord, SessionActionRecord};
use crate::store::AuditEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deactivate))
        .routes(routes!(comp, uncomp))
        .routes(routes!(audit))
}

/// The optional body of deactivate and uncomp: why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct ActionRequest {
    /// Why, for the audit: 1 to 500 characters (blank → 400).
    #[schema(min_length = 1, max_length = 500, example = "the host asked to end it")]
    #[serde(default)]
    reason: Option<String>,
}

/// The reason of an optional body, parsed: `None` when the body or its
/// `Reason` is left out; blank or too long → 400 naming `Reason`.
fn optional_reason(body: Option<ActionRequest>) -> Result<Option<OperatorReason>, ApiError> {
    body.and_then(|request| request.reason)
        .map(|raw| OperatorReason::parse(&raw).map_err(|error| ApiError::BadRequest(error.0)))
        .transpose()
}

/// Deactivates a session: it takes no more events.
#[utoipa::path(
    post,
    path = "/operator/sessions/{session_id}/deactivate",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body(content = Option<ActionRequest>, description = "Optional: why, for the audit (`{\"Reason\"}`); an empty body is none"),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, description = "The session id or the body is not valid (a blank Reason, or one over 500 characters)", body = ErrorBody),
        (status = 409, description = "The session is deactivated already", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn deactivate(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    OptionalJsonBody(body): OptionalJsonBody<ActionRequest>,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let reason = optional_reason(body)?;
    deactivate_session(&state, session_id, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates a session: the operator API's and the console's one way.
pub(crate) async fn deactivate_session(
    state: &AppState,
    session_id: i64,
    reason: Option<OperatorReason>,
) -> Result<(), ApiError> {
    let action = SessionActionRecord {
        session_id,
        ts: None,
        automatic: false,
        reason: reason.map(OperatorReason::into_string),
    };
    Ok(state.store.write().deactivate(action).await?)
}

/// Comps a billable session: the operator API's and the console's one way.
pub(crate) async fn comp_session(
    state: &AppState,
    session_id: i64,
    reason: String,
) -> Result<(), ApiError> {
    let record = CompRecord {
        session_id,
        reason,
        ts: None,
    };
    Ok(state.store.write().comp(record).await?)
}

/// Withdraws a comp: the operator API's and the console's one way.
pub(crate) async fn uncomp_session(
    state: &AppState,
    session_id: i64,
    reason: Option<OperatorReason>,
) -> Result<(), ApiError> {
    let action = SessionActionRecord {
        session_id,
        ts: None,
        automatic: false,
        reason: reason.map(OperatorReason::into_string),
    };
    Ok(state.store.write().uncomp(action).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CompRequest {
    /// Why the session is not counted; not blank.
    #[schema(min_length = 1, example = "audio trouble")]
    reason: String,
}

/// Comps a billable session: it is not counted.
#[utoipa::path(
    post,
    path = "/operator/sessions/{session_id}/comp",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body = CompRequest,
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Comped"),
        (status = 400, description = "The session id or the body is not valid", body = ErrorBody),
        (status = 409, description = "The session is not billable", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn comp(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    JsonBody(request): JsonBody<CompRequest>,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    comp_session(&state, session_id, request.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraws a comp.
#[utoipa::path(
    delete,
    path = "/operator/sessions/{session_id}/comp",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body(content = Option<ActionRequest>, description = "Optional: why, for the audit (`{\"Reason\"}`); an empty body is none"),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "The session id or the body is not valid (a blank Reason, or one over 500 characters)", body = ErrorBody),
        (status = 409, description = "The session is not comped", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn uncomp(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    OptionalJsonBody(body): OptionalJsonBody<ActionRequest>,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let reason = optional_reason(body)?;
    uncomp_session(&state, session_id, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every change of a session's billing status, oldest first.
#[utoipa::path(
    get,
    path = "/operator/sessions/{session_id}/audit",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The session's audit", body = Vec<AuditEntry>),
        (status = 400, description = "The session id is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn audit(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    Ok(Json(state.store.audit(session_id).await?))
}
