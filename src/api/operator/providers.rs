//! The operator's side of the providers' webhooks (SPEC §12): binding a
//! provider's room to a session, and the authentic webhooks that could not
//! be applied, listed and retried.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Operator;
use crate::api::error::{ApiError, ErrorBody, OperatorErrors};
use crate::api::extract::{JsonBody, PathText, path_id};
use crate::api::providers::feed::{Fed, feed};
use crate::api::state::AppState;
use crate::domain::Timestamp;
use crate::providers::{Parsed, Provider};
use crate::records::RoomRecord;
use crate::store::UnmatchedWebhook;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bind_room))
        .routes(routes!(list_unmatched))
        .routes(routes!(retry_unmatched))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct RoomBinding {
    /// `livekit`, `daily`, `zoom`, `vonage` or `whereby`.
    #[schema(example = "zoom")]
    provider: String,
    /// The provider's id of the room (a Zoom meeting id, say).
    #[schema(example = "85746065432")]
    room_id: String,
}

/// Binds a provider's room to a session, for providers that name rooms
/// themselves; its webhooks then feed that session.
#[utoipa::path(
    put,
    path = "/operator/sessions/{session_id}/room",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body = RoomBinding,
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Bound"),
        (status = 400, description = "The session id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn bind_room(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    JsonBody(binding): JsonBody<RoomBinding>,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let company_id = state
        .store
        .session_company(session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Session not found".into()))?;
    let record = RoomRecord {
        company_id,
        session_id,
        provider: binding.provider,
        room_id: binding.room_id,
    };
    state.store.write().bind_room(record).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Authentic provider webhooks that could not be applied (unknown room or
/// identity, a deactivated session), newest first; kept 30 days.
#[utoipa::path(
    get,
    path = "/operator/providers/unmatched",
    tag = "operator",
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The webhooks and why each was not applied", body = Vec<UnmatchedWebhook>),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn list_unmatched(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<UnmatchedWebhook>>, ApiError> {
    Ok(Json(state.store.unmatched().await?))
}

/// Applies a kept webhook again, once what it lacked exists (a room bound,
/// a participation invited): 204 when applied, 409 with the reason when it
/// still cannot be.
#[utoipa::path(
    post,
    path = "/operator/providers/unmatched/{unmatched_id}/retry",
    tag = "operator",
    params(("unmatched_id" = i64, Path, description = "The UnmatchedId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Applied"),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such kept webhook, or applied already", body = ErrorBody),
        (status = 409, description = "It still cannot be applied; the message says why", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn retry_unmatched(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    let unmatched_id = path_id("UnmatchedId", &raw)?;
    let kept = state
        .store
        .unmatched_by_id(unmatched_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Unmatched webhook not found".into()))?;
    let provider = Provider::from_name(&kept.provider)
        .ok_or_else(|| ApiError::NotFound("Unmatched webhook not found".into()))?;
    let now = Timestamp::now();
    let notices = match provider.parse(&state.settings.providers, kept.body.as_bytes()) {
        Ok(Parsed::Notices(notices)) => notices,
        Ok(_) => Vec::new(),
        Err(malformed) => return Err(ApiError::Conflict(malformed.0)),
    };
    match feed(&state.store, provider, &notices, now).await? {
        Fed::Applied(_) => {
            state.store.settle_unmatched(unmatched_id, Ok(now)).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Fed::Unmatched(reason) => {
            state
                .store
                .settle_unmatched(unmatched_id, Err(&reason))
                .await?;
            Err(ApiError::Conflict(reason))
        }
    }
}
