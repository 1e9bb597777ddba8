//! The User API (SPEC §5, SecureVideo-compatible): a company's account
//! holders, who host sessions. Deleting one hides it; its history stays.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Tenant;
use super::error::ApiError;
use super::extract::{JsonBody, Params, path_id};
use crate::app::AppState;
use crate::records::{LogLine, Record, UserDeleteRecord, UserRecord, UserUpdateRecord};
use crate::store::User;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", get(list_users).post(create_user))
        .route(
            "/user/{user_id}",
            get(show_user).put(update_user).delete(delete_user),
        )
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".into())
}

/// A user as a client sends it; `SystemUserId` and `SystemRoles` are the
/// service's and ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserInput {
    full_name: Option<String>,
    email_address: Option<String>,
    sms_number: Option<String>,
    default_resolution: Option<String>,
    time_zone_windows_id: Option<String>,
    help_number: Option<String>,
    external_id: Option<String>,
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn list_users(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.store.users(tenant.company_id).await?))
}

/// `GET /user/{id}`, or `GET /user/0?externalId=X` to find a user by the
/// id the client's own system gave it.
#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn show_user(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<User>, ApiError> {
    let found = if raw.trim() == "0" {
        let external_id = params
            .get("ExternalId")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest("ExternalId is required to look up user 0".into())
            })?;
        state
            .store
            .user_by_external_id(tenant.company_id, external_id)
            .await?
    } else {
        let user_id = path_id("UserId", &raw)?;
        state.store.user(tenant.company_id, user_id).await?
    };
    found.map(Json).ok_or_else(user_not_found)
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn create_user(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    let record = UserRecord {
        company_id: tenant.company_id,
        user_id: None,
        full_name: input.full_name.unwrap_or_default(),
        email_address: input.email_address.unwrap_or_default(),
        sms_number: input.sms_number.unwrap_or_default(),
        default_resolution: input.default_resolution.unwrap_or_default(),
        time_zone_windows_id: input.time_zone_windows_id.unwrap_or_default(),
        help_number: input.help_number.unwrap_or_default(),
        external_id: input.external_id.unwrap_or_default(),
    };
    let applied = state
        .store
        .apply(LogLine::new(Record::User(record)))
        .await?;
    let Record::User(created) = applied.record else {
        unreachable!("a user record is applied as one")
    };
    let user_id = created.user_id.expect("assigned");
    tracing::info!(user_id, "user created");
    let user = state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Changes the fields given; fields left out keep their values.
#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn update_user(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Json<User>, ApiError> {
    let user_id = path_id("UserId", &raw)?;
    let current = state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let record = UserUpdateRecord {
        company_id: tenant.company_id,
        user_id,
        full_name: input.full_name.unwrap_or(current.full_name),
        email_address: input.email_address.unwrap_or(current.email_address),
        sms_number: input.sms_number.unwrap_or(current.sms_number),
        default_resolution: input
            .default_resolution
            .unwrap_or(current.default_resolution),
        time_zone_windows_id: input
            .time_zone_windows_id
            .unwrap_or(current.time_zone_windows_id),
        help_number: input.help_number.unwrap_or(current.help_number),
        external_id: input.external_id.unwrap_or(current.external_id),
    };
    state
        .store
        .apply(LogLine::new(Record::UserUpdate(record)))
        .await?;
    state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .map(Json)
        .ok_or_else(user_not_found)
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn delete_user(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = path_id("UserId", &raw)?;
    let record = UserDeleteRecord {
        company_id: tenant.company_id,
        user_id,
    };
    state
        .store
        .apply(LogLine::new(Record::UserDelete(record)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
