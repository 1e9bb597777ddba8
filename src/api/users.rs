//! The User API (SPEC §5, SecureVideo-compatible): a company's account
//! holders, who host sessions. Deleting one hides it; its history stays.

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
use super::extract::{JsonBody, Params, PathText, path_id, windows_zone};
use super::state::AppState;
use crate::records::{UserDeleteRecord, UserRecord, UserUpdateRecord};
use crate::store::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(show_user, update_user, delete_user))
}

pub(super) fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".into())
}

/// A user as a client sends it; `SystemUserId` and `VideoId` are the
/// service's and ignored. Text fields left out are stored
/// as `""` on creation (DefaultResolution as `"high"`) and keep their values
/// on update.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UserInput {
    /// At least 2 characters (required to create).
    #[schema(example = "Dr. Ann Smith", min_length = 2)]
    full_name: Option<String>,
    /// A plausible address, unique among the company's active users.
    #[schema(example = "ann@example.com")]
    email_address: Option<String>,
    sms_number: Option<String>,
    /// Empty or left out: `high`.
    #[schema(example = "high")]
    default_resolution: Option<String>,
    /// A Windows time-zone id (CLDR's windowsZones), or empty.
    #[schema(example = "Pacific Standard Time")]
    time_zone_windows_id: Option<String>,
    help_number: Option<String>,
    external_id: Option<String>,
    /// `H,P`, or `H,P,A` for an account administrator (sees the whole
    /// company in the console); H and P are every user's. Left out: `H,P` on
    /// creation, unchanged on update.
    #[schema(example = "H,P,A")]
    system_roles: Option<String>,
}

/// The roles given, normalized: every user hosts and takes part (`H,P`),
/// and `A` makes an account administrator (`H,P,A`); `None` when left out.
fn system_roles(given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(given) = given else {
        return Ok(None);
    };
    let mut administrator = false;
    for role in given
        .split(',')
        .map(str::trim)
        .filter(|role| !role.is_empty())
    {
        match role.to_ascii_uppercase().as_str() {
            "H" | "P" => {}
            "A" => administrator = true,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "SystemRoles '{given}' may hold only H, P and A, comma-separated"
                )));
            }
        }
    }
    Ok(Some(if administrator { "H,P,A" } else { "H,P" }.to_owned()))
}

/// The company's active users.
#[utoipa::path(
    get,
    path = "/user",
    tag = "users",
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The active users", body = Vec<User>),
        TenantErrors,
    )
)]
async fn list_users(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(
        state
            .store
            .users_at(tenant.company_id, tenant.data_version)
            .await?,
    ))
}

/// `GET /user/{id}`, or `GET /user/0?externalId=X` to find a user by the
/// id the client's own system gave it.
#[utoipa::path(
    get,
    path = "/user/{user_id}",
    tag = "users",
    params(
        ("user_id" = i64, Path, description = "The SystemUserId, or 0 to look the user up by ExternalId", minimum = 0),
        ("ExternalId" = Option<String>, Query, description = "With user id 0: the id the client's own system gave the user. The name is case-insensitive."),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "The user id is not a number, or ExternalId is missing for user 0", body = ErrorBody),
        (status = 404, description = "No such active user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn show_user(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    params: Params,
) -> Result<Json<User>, ApiError> {
    user_by_id_or_external_id(&state, tenant.company_id, &raw, &params)
        .await
        .map(Json)
}

/// The company's active user a path names: by its id, or `0` and the
/// `ExternalId` query parameter (the User API's and the Login API's way).
pub(super) async fn user_by_id_or_external_id(
    state: &AppState,
    company_id: i64,
    raw: &str,
    params: &Params,
) -> Result<User, ApiError> {
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
            .user_by_external_id(company_id, external_id)
            .await?
    } else {
        let user_id = path_id("UserId", raw)?;
        state.store.user(company_id, user_id).await?
    };
    found.ok_or_else(user_not_found)
}

/// Creates a user (a host of sessions).
#[utoipa::path(
    post,
    path = "/user",
    tag = "users",
    request_body = UserInput,
    security(("tenant_basic" = [])),
    responses(
        (status = 201, description = "The new user", body = User),
        (status = 400, description = "The body is not valid (FullName, EmailAddress, a duplicate address, TimeZoneWindowsId)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        TenantErrors,
    )
)]
async fn create_user(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    let time_zone = windows_zone("TimeZoneWindowsId", input.time_zone_windows_id)?;
    let roles = system_roles(input.system_roles)?;
    let record = UserRecord {
        company_id: tenant.company_id,
        user_id: None,
        full_name: input.full_name.unwrap_or_default(),
        email_address: input.email_address.unwrap_or_default(),
        sms_number: input.sms_number.unwrap_or_default(),
        default_resolution: input.default_resolution.unwrap_or_default(),
        time_zone_windows_id: time_zone.unwrap_or_default(),
        help_number: input.help_number.unwrap_or_default(),
        external_id: input.external_id.unwrap_or_default(),
        video_id: None,
        system_roles: roles,
    };
    let user_id = state.store.write().create_user(record).await?;
    tracing::info!(user_id, "user created");
    let user = state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Changes the fields given; fields left out keep their values.
#[utoipa::path(
    put,
    path = "/user/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The SystemUserId", minimum = 1)),
    request_body = UserInput,
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 400, description = "The user id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such active user in this company", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        TenantErrors,
    )
)]
async fn update_user(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Json<User>, ApiError> {
    let user_id = path_id("UserId", &raw)?;
    let time_zone = windows_zone("TimeZoneWindowsId", input.time_zone_windows_id)?;
    let roles = system_roles(input.system_roles)?;
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
        time_zone_windows_id: time_zone.unwrap_or(current.time_zone_windows_id),
        help_number: input.help_number.unwrap_or(current.help_number),
        external_id: input.external_id.unwrap_or(current.external_id),
        system_roles: roles,
    };
    state.store.write().update_user(record).await?;
    state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .map(Json)
        .ok_or_else(user_not_found)
}

/// Hides the user; its history stays.
#[utoipa::path(
    delete,
    path = "/user/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The SystemUserId", minimum = 1)),
    security(("tenant_basic" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The user id is not valid", body = ErrorBody),
        (status = 404, description = "No such active user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    let user_id = path_id("UserId", &raw)?;
    let record = UserDeleteRecord {
        company_id: tenant.company_id,
        user_id,
    };
    state.store.write().delete_user(record).await?;
    Ok(StatusCode::NO_CONTENT)
}
