//! Outbound webhooks (SPEC §13): a tenant registers endpoints, sees what
//! was delivered to each and how, sends a message again, and enables an
//! endpoint that was disabled. docs/webhooks.md is the tenant's guide.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::TenantErrors;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathText, path_id};
use super::state::AppState;
use crate::domain::webhooks::{check_url, message_id, parse_types, types_column};
use crate::store::{Webhook, WebhookDelivery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(enable_webhook))
}

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct NewWebhook {
    /// An `https` URL of a public host.
    #[schema(example = "https://clinic.example.com/hooks/session-ledger")]
    url: Option<String>,
    /// The types to receive; all of them when left out.
    #[schema(example = json!(["SESSION_STATUS", "SESSION_BILLING"]))]
    types: Option<Vec<String>>,
}

/// The endpoint as registered, with its signing secret: shown only here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreatedWebhook {
    webhook_id: i64,
    url: String,
    #[schema(example = json!(["SESSION_STATUS", "SESSION_BILLING", "USAGE_THRESHOLD"]))]
    types: Vec<String>,
    /// `whsec_` and the base64 of 32 random bytes: the Standard Webhooks
    /// secret that verifies every delivery's `webhook-signature`.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    secret: String,
}

/// Registers an endpoint; every change of the subscribed types is then
/// POSTed to it, signed with the secret answered here (and only here).
#[utoipa::path(
    post,
    path = "/webhook",
    tag = "webhooks",
    request_body = NewWebhook,
    security(("tenant_basic" = [])),
    responses(
        (status = 201, description = "Registered", body = CreatedWebhook),
        (status = 400, description = "Url or Types not valid, naming which", body = ErrorBody),
        (status = 409, description = "The company has the most webhooks it may have", body = ErrorBody),
        TenantErrors,
    )
)]
async fn create_webhook(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(new): JsonBody<NewWebhook>,
) -> Result<Response, ApiError> {
    let url = check_url(
        new.url.as_deref().unwrap_or_default(),
        state.settings.webhooks.url_policy(),
    )
    .map_err(ApiError::BadRequest)?;
    let types = parse_types(new.types).map_err(ApiError::BadRequest)?;
    let secret = crate::secrets::new_webhook_secret();
    let url = url.to_string();
    let webhook_id = state
        .store
        .create_webhook(tenant.company_id, &url, &types_column(&types), &secret)
        .await?;
    let created = CreatedWebhook {
        webhook_id,
        url,
        types: types.iter().map(|kind| kind.as_str().to_owned()).collect(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The company's endpoints (without their secrets).
#[utoipa::path(
    get,
    path = "/webhook",
    tag = "webhooks",
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The company's endpoints", body = [Webhook]),
        TenantErrors,
    )
)]
async fn list_webhooks(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(state.store.webhooks(tenant.company_id).await?))
}

/// Deletes an endpoint; its undelivered messages are dropped.
#[utoipa::path(
    delete,
    path = "/webhook/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "The WebhookId")),
    security(("tenant_basic" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No such webhook in the company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(id): PathText,
) -> Result<StatusCode, ApiError> {
    let webhook_id = path_id("WebhookId", &id)?;
    state
        .store
        .delete_webhook(tenant.company_id, webhook_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's 100 most recent messages, newest first, each with its
/// attempts (time, HTTP status, latency, the first 1 KB of the answer).
#[utoipa::path(
    get,
    path = "/webhook/{id}/deliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "The WebhookId")),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "Deliveries, newest first", body = [WebhookDelivery]),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No such webhook in the company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn list_deliveries(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(id): PathText,
) -> Result<Json<Vec<WebhookDelivery>>, ApiError> {
    let webhook_id = path_id("WebhookId", &id)?;
    Ok(Json(
        state
            .store
            .webhook_deliveries(tenant.company_id, webhook_id)
            .await?,
    ))
}

/// The two ids of `/webhook/{id}/deliveries/{deliveryId}/…`.
struct DeliveryPath {
    webhook_id: i64,
    delivery_id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for DeliveryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((webhook, delivery)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        Ok(Self {
            webhook_id: path_id("WebhookId", &webhook)?,
            delivery_id: path_id("DeliveryId", &delivery)?,
        })
    }
}

/// Sends a message again (delivered or not), with the same `webhook-id`:
/// it is due at once, after the earlier messages of its session.
#[utoipa::path(
    post,
    path = "/webhook/{id}/deliveries/{deliveryId}/retry",
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The WebhookId"),
        ("deliveryId" = i64, Path, description = "The DeliveryId"),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 202, description = "Due at once", body = RetriedDelivery),
        (status = 400, description = "An id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery in the company", body = ErrorBody),
        (status = 409, description = "The webhook is disabled: enable it instead", body = ErrorBody),
        TenantErrors,
    )
)]
async fn retry_delivery(
    State(state): State<AppState>,
    tenant: Tenant,
    path: DeliveryPath,
) -> Result<Response, ApiError> {
    state
        .store
        .retry_webhook_delivery(tenant.company_id, path.webhook_id, path.delivery_id)
        .await?;
    let retried = RetriedDelivery {
        delivery_id: path.delivery_id,
        message_id: message_id(path.delivery_id),
    };
    Ok((StatusCode::ACCEPTED, Json(retried)).into_response())
}

/// The message that is sent again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct RetriedDelivery {
    delivery_id: i64,
    /// Its `webhook-id`, the same as before.
    #[schema(example = "msg_1208")]
    message_id: String,
}

/// Enables an endpoint that was disabled (410, or 5 days of failures):
/// its undelivered messages are sent again at once, in order.
#[utoipa::path(
    post,
    path = "/webhook/{id}/enable",
    tag = "webhooks",
    params(("id" = i64, Path, description = "The WebhookId")),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "Enabled", body = Webhook),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No such webhook in the company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn enable_webhook(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(id): PathText,
) -> Result<Json<Webhook>, ApiError> {
    let webhook_id = path_id("WebhookId", &id)?;
    state
        .store
        .enable_webhook(tenant.company_id, webhook_id)
        .await?;
    state
        .store
        .webhooks(tenant.company_id)
        .await?
        .into_iter()
        .find(|webhook| webhook.webhook_id == webhook_id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))
}
