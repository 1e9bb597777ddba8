//! Tenants, their plans and API keys, and the platform's support agents.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Operator;
use crate::api::error::OperatorErrors;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{JsonBody, PathText, path_id};
use crate::api::state::AppState;
use crate::records::{ApiKeyRecord, CompanyPlanRecord, CompanyRecord, SupportAgentRecord};
use crate::secrets::new_key;
use crate::store::Company;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_company))
        .routes(routes!(show_company, change_plan))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(create_support_agent))
}

/// A company (tenant), its plan and its DUPL window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(as = Company)]
pub struct CompanyJson {
    company_id: i64,
    name: String,
    included_sessions_per_month: i64,
    overage_price_cents: i64,
    /// How many minutes after a session of the same host and guest another
    /// one counts as a likely duplicate (SPEC §3.1); stored with the company.
    duplicate_window_minutes: i64,
}

impl CompanyJson {
    /// A company created before its window was stored shows the window
    /// this process applies to it.
    fn new(company: Company, state: &AppState) -> Self {
        Self {
            company_id: company.company_id,
            name: company.name,
            included_sessions_per_month: company.included_sessions,
            overage_price_cents: company.overage_price_cents,
            duplicate_window_minutes: company
                .duplicate_window_minutes
                .unwrap_or(state.settings.duplicate_window_minutes),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct NewCompany {
    /// At least 2 characters.
    #[schema(example = "Northwind Clinic", min_length = 2)]
    name: String,
    #[serde(default)]
    #[schema(minimum = 0)]
    included_sessions_per_month: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    overage_price_cents: i64,
    /// Absent: the service's `--duplicate-window-minutes`.
    #[schema(minimum = 0, maximum = 10_080)]
    duplicate_window_minutes: Option<i64>,
}

/// Creates a company (tenant).
#[utoipa::path(
    post,
    path = "/operator/companies",
    tag = "operator",
    request_body = NewCompany,
    security(("operator_bearer" = [])),
    responses(
        (status = 201, description = "The new company", body = CompanyJson),
        (status = 400, description = "The body is not valid", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn create_company(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(input): JsonBody<NewCompany>,
) -> Result<Response, ApiError> {
    let record = CompanyRecord {
        company_id: None,
        name: input.name,
        included_sessions_per_month: input.included_sessions_per_month,
        overage_price_cents: input.overage_price_cents,
        duplicate_window_minutes: input.duplicate_window_minutes,
    };
    let (company_id, created) = state.store.write().create_company(record).await?;
    let body = CompanyJson {
        company_id,
        name: created.name,
        included_sessions_per_month: created.included_sessions_per_month,
        overage_price_cents: created.overage_price_cents,
        duplicate_window_minutes: created
            .duplicate_window_minutes
            .unwrap_or(state.settings.duplicate_window_minutes),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn find_company(state: &AppState, raw: &str) -> Result<Company, ApiError> {
    let company_id = path_id("CompanyId", raw)?;
    state
        .store
        .company(company_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Company not found".into()))
}

/// One company and its plan.
#[utoipa::path(
    get,
    path = "/operator/companies/{company_id}",
    tag = "operator",
    params(("company_id" = i64, Path, description = "The CompanyId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The company", body = CompanyJson),
        (status = 400, description = "The company id is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn show_company(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<Json<CompanyJson>, ApiError> {
    let company = find_company(&state, &raw).await?;
    Ok(Json(CompanyJson::new(company, &state)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct PlanChange {
    #[schema(minimum = 0)]
    included_sessions_per_month: Option<i64>,
    #[schema(minimum = 0)]
    overage_price_cents: Option<i64>,
    /// A new DUPL window: the company's statuses are derived again under it,
    /// and each change is in its session's audit.
    #[schema(minimum = 0, maximum = 10_080)]
    duplicate_window_minutes: Option<i64>,
}

/// Changes a company's plan or DUPL window; fields left out keep their
/// values. A new window re-evaluates the company's statuses.
#[utoipa::path(
    put,
    path = "/operator/companies/{company_id}",
    tag = "operator",
    params(("company_id" = i64, Path, description = "The CompanyId", minimum = 1)),
    request_body = PlanChange,
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The company as changed", body = CompanyJson),
        (status = 400, description = "The company id or the body is not valid", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn change_plan(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    JsonBody(change): JsonBody<PlanChange>,
) -> Result<Json<CompanyJson>, ApiError> {
    let company = find_company(&state, &raw).await?;
    let record = CompanyPlanRecord {
        company_id: company.company_id,
        included_sessions_per_month: change
            .included_sessions_per_month
            .unwrap_or(company.included_sessions),
        overage_price_cents: change
            .overage_price_cents
            .unwrap_or(company.overage_price_cents),
        duplicate_window_minutes: Some(
            change
                .duplicate_window_minutes
                .or(company.duplicate_window_minutes)
                .unwrap_or(state.settings.duplicate_window_minutes),
        ),
    };
    state.store.write().change_plan(record).await?;
    let company = find_company(&state, &raw).await?;
    Ok(Json(CompanyJson::new(company, &state)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedKey {
    pub api_key: String,
    pub api_secret: String,
}

/// Creates an API key; its secret is shown only here.
#[utoipa::path(
    post,
    path = "/operator/companies/{company_id}/keys",
    tag = "operator",
    params(("company_id" = i64, Path, description = "The CompanyId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 201, description = "The new key and its secret", body = CreatedKey),
        (status = 400, description = "The company id is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn create_key(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<Response, ApiError> {
    let company = find_company(&state, &raw).await?;
    let key = new_key(company.company_id);
    let record = ApiKeyRecord {
        company_id: company.company_id,
        api_key: key.api_key.clone(),
        secret_hash: key.secret_hash,
    };
    state.store.write().create_api_key(record).await?;
    let body = CreatedKey {
        api_key: key.api_key,
        api_secret: key.api_secret,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Revokes an API key.
#[utoipa::path(
    delete,
    path = "/operator/keys/{api_key}",
    tag = "operator",
    params(("api_key" = String, Path, description = "The ApiKey")),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The key is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn revoke_key(
    State(state): State<AppState>,
    _: Operator,
    PathText(api_key): PathText,
) -> Result<StatusCode, ApiError> {
    state.store.write().revoke_api_key(api_key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct NewSupportAgent {
    /// At least 2 characters.
    #[schema(min_length = 2, example = "Marisa Zendejas")]
    full_name: String,
    #[schema(example = "marisa@platform.example")]
    email_address: String,
}

/// Creates a support agent.
#[utoipa::path(
    post,
    path = "/operator/support-agents",
    tag = "operator",
    request_body = NewSupportAgent,
    security(("operator_bearer" = [])),
    responses(
        (status = 201, description = "The new support agent", body = SupportAgent),
        (status = 400, description = "The body is not valid", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn create_support_agent(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(input): JsonBody<NewSupportAgent>,
) -> Result<Response, ApiError> {
    let record = SupportAgentRecord {
        support_agent_id: None,
        full_name: input.full_name,
        email_address: input.email_address,
    };
    let (support_agent_id, created) = state.store.write().create_support_agent(record).await?;
    let body = SupportAgent {
        support_agent_id,
        full_name: created.full_name,
        email_address: created.email_address,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A support agent as created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct SupportAgent {
    support_agent_id: i64,
    full_name: String,
    email_address: String,
}
