//! SecureVideo's Password API and Login API (SPEC §14): an integrator sets
//! a user's console password, or gets a one-time link that signs the user
//! into the console and sends the browser back when that sign-in ends.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::{ApiError, ErrorBody, TenantErrors};
use super::extract::{JsonBody, Params, PathText, parse_json};
use super::state::AppState;
use super::users::user_not_found;
use crate::domain::Timestamp;
use crate::secrets::console as tokens;
use crate::store::ConsoleLink;

/// How long a LoginUri may be used (once).
pub const LINK_LIFETIME_MICROS: i64 = 5 * 60 * 1_000_000;

/// Longest RedirectToUriOnExpiry taken.
const MAX_REDIRECT_CHARS: usize = 2_048;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_password))
        .routes(routes!(login))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct PasswordRequest {
    /// At least 10 characters (at most 256).
    #[schema(min_length = 10, max_length = 256, example = "a long passphrase")]
    new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct PasswordSet {
    #[schema(example = "Password set")]
    message: String,
}

/// Sets the password a user signs into the console with (stored as argon2id).
#[utoipa::path(
    put,
    path = "/password/{user_id}",
    tag = "console",
    params(("user_id" = i64, Path, description = "The user's SystemUserId", minimum = 1)),
    request_body = PasswordRequest,
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The password is set", body = PasswordSet),
        (status = 400, description = "The user id or the password is not valid (at least 10 characters)", body = ErrorBody),
        (status = 404, description = "No such user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn set_password(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    JsonBody(request): JsonBody<PasswordRequest>,
) -> Result<Json<PasswordSet>, ApiError> {
    let user_id = super::extract::path_id("UserId", &raw)?;
    let length = request.new_password.chars().count();
    if length < tokens::MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(format!(
            "NewPassword must be at least {} characters",
            tokens::MIN_PASSWORD_CHARS
        )));
    }
    if length > tokens::MAX_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(format!(
            "NewPassword must be at most {} characters",
            tokens::MAX_PASSWORD_CHARS
        )));
    }
    if state
        .store
        .user(tenant.company_id, user_id)
        .await?
        .is_none()
    {
        return Err(user_not_found());
    }
    let password = request.new_password;
    let hash = tokio::task::spawn_blocking(move || tokens::hash_password(&password))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
        .map_err(ApiError::Internal)?;
    let now = Timestamp::now().as_micros();
    if !state
        .store
        .set_password(tenant.company_id, user_id, &hash, now)
        .await?
    {
        return Err(user_not_found());
    }
    Ok(Json(PasswordSet {
        message: "Password set".into(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct LoginRequest {
    /// Where the browser goes when the console session ends (idle 30
    /// minutes, sign-out, or `DELETE /session/{LoginGuid}`); an absolute
    /// http or https URI. Absent: the console's sign-in page.
    #[schema(example = "https://www.example.com/HandleLoginExpiration")]
    redirect_to_uri_on_expiry: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct LoginAnswer {
    /// Names this sign-in: `DELETE /session/{LoginGuid}` ends it.
    #[schema(example = "e1579430ba1471ba8d4c0b2b6e8ba8d6")]
    login_guid: String,
    #[schema(required = true)]
    redirect_to_uri_on_expiry: Option<String>,
    /// Signs the user into the console once, within 5 minutes.
    #[schema(
        example = "https://ledger.example.com/console/auto-login/e1579430ba1471ba8d4c0b2b6e8ba8d6"
    )]
    login_uri: String,
}

/// A one-time link (5 minutes) that signs a user into the console.
#[utoipa::path(
    post,
    path = "/login/{user_id}",
    tag = "console",
    params(
        ("user_id" = i64, Path, description = "The user's SystemUserId, or 0 with externalId", minimum = 0),
        ("ExternalId" = Option<String>, Query, description = "With user id 0: the user whose ExternalId this is"),
    ),
    request_body(content = LoginRequest, description = "May be empty"),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The link", body = LoginAnswer),
        (status = 400, description = "The user id, externalId or RedirectToUriOnExpiry is not valid", body = ErrorBody),
        (status = 404, description = "No such user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    params: Params,
    body: Bytes,
) -> Result<Json<LoginAnswer>, ApiError> {
    let request: LoginRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LoginRequest::default()
    } else {
        parse_json(&body).map_err(|error| {
            ApiError::BadRequest(format!("the request body is not valid: {error}"))
        })?
    };
    let redirect = redirect_uri(request.redirect_to_uri_on_expiry)?;
    let user =
        super::users::user_by_id_or_external_id(&state, tenant.company_id, &raw, &params).await?;
    let guid = tokens::new_login_guid();
    let now = Timestamp::now().as_micros();
    state
        .store
        .create_console_link(&ConsoleLink {
            guid_hash: tokens::digest(&guid),
            company_id: tenant.company_id,
            user_id: user.user_id,
            redirect_uri: redirect.clone(),
            created_us: now,
            expires_us: now + LINK_LIFETIME_MICROS,
        })
        .await?;
    let login_uri = format!(
        "{}/console/auto-login/{guid}",
        state.settings.public_base_url()
    );
    Ok(Json(LoginAnswer {
        login_guid: guid,
        redirect_to_uri_on_expiry: redirect,
        login_uri,
    }))
}

/// An absolute http(s) URI without spaces or control characters, or none.
fn redirect_uri(given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(uri) = given
        .map(|uri| uri.trim().to_owned())
        .filter(|uri| !uri.is_empty())
    else {
        return Ok(None);
    };
    let lower = uri.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let host_ok = uri
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if !scheme_ok
        || !host_ok
        || uri.chars().count() > MAX_REDIRECT_CHARS
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::BadRequest(
            "RedirectToUriOnExpiry must be an absolute http or https URI".into(),
        ));
    }
    Ok(Some(uri))
}

/// `DELETE /session/{LoginGuid}`: ends that link and the console session it started.
pub(super) async fn end_login(
    state: &AppState,
    tenant: Tenant,
    guid: &str,
) -> Result<StatusCode, ApiError> {
    let now = Timestamp::now().as_micros();
    if state
        .store
        .end_console_link(tenant.company_id, &tokens::digest(guid), now)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Login not found".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_must_be_absolute_web_uris() {
        assert_eq!(redirect_uri(None).unwrap(), None);
        assert_eq!(redirect_uri(Some("  ".into())).unwrap(), None);
        assert_eq!(
            redirect_uri(Some("https://example.com/back".into())).unwrap(),
            Some("https://example.com/back".into())
        );
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "/relative",
            "https:///nohost",
            "https://a b",
            "ftp://example.com",
        ] {
            assert!(redirect_uri(Some(bad.into())).is_err(), "{bad}");
        }
    }
}
