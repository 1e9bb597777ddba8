//! The operator API (SPEC §7): tenants, keys, support agents, connection
//! events and support actions. Bearer token only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathText, path_id};
use super::openapi::OperatorErrors;
use crate::app::AppState;
use crate::domain::Timestamp;
use crate::records::{
    ApiKeyRecord, CompRecord, CompanyPlanRecord, CompanyRecord, ConnectionEvent, EventKind,
    LogLine, PartyKind, Record, RevokeApiKeyRecord, SessionActionRecord, SupportAgentRecord,
};
use crate::secrets::new_key;
use crate::store::{AuditEntry, Company, EventOutcome};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_company))
        .routes(routes!(show_company, change_plan))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(create_support_agent))
        .routes(routes!(report_events))
        .routes(routes!(deactivate))
        .routes(routes!(comp, uncomp))
        .routes(routes!(audit))
        .routes(routes!(company_audit))
}

fn line(record: Record) -> LogLine {
    LogLine {
        record,
        recorded_ts: None,
        batch: None,
    }
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
    let applied = state.store.apply(line(Record::Company(record))).await?;
    let Record::Company(created) = applied.record else {
        unreachable!("a company record is applied as one")
    };
    let body = CompanyJson {
        company_id: created.company_id.expect("assigned"),
        name: created.name,
        included_sessions_per_month: created.included_sessions_per_month,
        overage_price_cents: created.overage_price_cents,
        duplicate_window_minutes: created.duplicate_window_minutes.expect("filled in"),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn find_company(state: &AppState, raw: &str) -> Result<Company, ApiError> {
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
    state.store.apply(line(Record::CompanyPlan(record))).await?;
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
    state.store.apply(line(Record::ApiKey(record))).await?;
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
    state
        .store
        .apply(line(Record::RevokeApiKey(RevokeApiKeyRecord { api_key })))
        .await?;
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
    let applied = state
        .store
        .apply(line(Record::SupportAgent(record)))
        .await?;
    let Record::SupportAgent(created) = applied.record else {
        unreachable!("a support agent record is applied as one")
    };
    let body = SupportAgent {
        support_agent_id: created.support_agent_id.expect("assigned"),
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

/// A connection event as the video infrastructure reports it (SPEC §7).
/// Parsed as a [`Record`] by [`parse_events`]; this describes it.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase", as = ConnectionEvent)]
#[allow(dead_code)]
struct ConnectionEventInput {
    #[schema(rename = "Type", inline)]
    kind: ConnectionEventType,
    /// The idempotency key.
    #[schema(min_length = 1, max_length = 128)]
    event_id: String,
    session_id: i64,
    party: PartyKind,
    /// With `Participant`.
    participation_id: Option<i64>,
    /// With `Support`.
    support_agent_id: Option<i64>,
    /// A call's Connect and Disconnect share it.
    call_id: String,
    ts: Timestamp,
}

#[derive(ToSchema)]
#[allow(dead_code)]
enum ConnectionEventType {
    Connect,
    Disconnect,
}

/// Parses a batch element by element, so an error names the event.
pub fn parse_events(body: &[u8]) -> Result<Vec<(EventKind, ConnectionEvent)>, ApiError> {
    let values: Vec<serde_json::Value> = super::extract::parse_json(body).map_err(|error| {
        ApiError::BadRequest(format!(
            "the body must be a JSON array of connection events: {error}"
        ))
    })?;
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let record: Record = serde_path_to_error::deserialize(value).map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                ApiError::BadRequest(format!(
                    "event {index} is not valid: {field}{}",
                    error.into_inner()
                ))
            })?;
            match record {
                Record::Connect(event) => Ok((EventKind::Connect, event)),
                Record::Disconnect(event) => Ok((EventKind::Disconnect, event)),
                _ => Err(ApiError::BadRequest(format!(
                    "event {index} is not valid: Type must be Connect or Disconnect"
                ))),
            }
        })
        .collect()
}

/// Reports a batch (1 to 1,000) of connection events, applied all or nothing;
/// an EventId seen before is skipped.
#[utoipa::path(
    post,
    path = "/operator/events",
    tag = "operator",
    request_body = Vec<ConnectionEventInput>,
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "Every accepted event is durable", body = EventOutcome),
        (status = 400, description = "An event is not valid; the message names it. Nothing was applied", body = ErrorBody),
        (status = 409, description = "An event is for a deactivated session. Nothing was applied", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn report_events(
    State(state): State<AppState>,
    _: Operator,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<EventOutcome>, ApiError> {
    let body = body.map_err(super::extract::body_error)?;
    let events = parse_events(&body)?;
    let outcome = state.store.apply_events(events, Timestamp::now()).await?;
    metrics::counter!("events_ingested_total").increment(outcome.accepted);
    metrics::counter!("events_duplicate_total").increment(outcome.duplicates);
    tracing::info!(
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        "events applied"
    );
    Ok(Json(outcome))
}

async fn session_action(state: &AppState, record: Record) -> Result<StatusCode, ApiError> {
    state.store.apply(line(record)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates a session: it takes no more events.
#[utoipa::path(
    post,
    path = "/operator/sessions/{session_id}/deactivate",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, description = "The session id is not valid", body = ErrorBody),
        (status = 409, description = "The session is deactivated already", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn deactivate(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    session_action(
        &state,
        Record::Deactivate(SessionActionRecord {
            session_id,
            ts: None,
            automatic: false,
        }),
    )
    .await
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
    let record = CompRecord {
        session_id,
        reason: request.reason,
        ts: None,
    };
    session_action(&state, Record::Comp(record)).await
}

/// Withdraws a comp.
#[utoipa::path(
    delete,
    path = "/operator/sessions/{session_id}/comp",
    tag = "operator",
    params(("session_id" = i64, Path, description = "The SessionId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "The session id is not valid", body = ErrorBody),
        (status = 409, description = "The session is not comped", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn uncomp(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    session_action(
        &state,
        Record::Uncomp(SessionActionRecord {
            session_id,
            ts: None,
            automatic: false,
        }),
    )
    .await
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

/// One operator action on a company, as its audit lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OperatorAction {
    #[schema(required = true)]
    at: Option<Timestamp>,
    /// `ApiKeyCreated`, `ApiKeyRevoked`, `PlanChanged`, `SessionDeactivated`,
    /// `SessionComped` or `CompWithdrawn`.
    action: &'static str,
    #[schema(required = true)]
    session_id: Option<i64>,
    #[schema(required = true)]
    api_key: Option<String>,
    #[schema(required = true)]
    reason: Option<String>,
}

fn operator_action(line: LogLine) -> Option<OperatorAction> {
    let at = line.recorded_ts;
    let action = |action, session_id, api_key, reason| OperatorAction {
        at,
        action,
        session_id,
        api_key,
        reason,
    };
    match line.record {
        Record::ApiKey(key) => Some(action("ApiKeyCreated", None, Some(key.api_key), None)),
        Record::RevokeApiKey(key) => Some(action("ApiKeyRevoked", None, Some(key.api_key), None)),
        Record::CompanyPlan(plan) => Some(action(
            "PlanChanged",
            None,
            None,
            Some(match plan.duplicate_window_minutes {
                Some(window) => format!(
                    "IncludedSessionsPerMonth {}, OveragePriceCents {}, DuplicateWindowMinutes {window}",
                    plan.included_sessions_per_month, plan.overage_price_cents
                ),
                None => format!(
                    "IncludedSessionsPerMonth {}, OveragePriceCents {}",
                    plan.included_sessions_per_month, plan.overage_price_cents
                ),
            }),
        )),
        // The service's own deactivations of idle sessions are not the operator's.
        Record::Deactivate(session) if !session.automatic => Some(action(
            "SessionDeactivated",
            Some(session.session_id),
            None,
            None,
        )),
        Record::Comp(comp) => Some(action(
            "SessionComped",
            Some(comp.session_id),
            None,
            Some(comp.reason),
        )),
        Record::Uncomp(session) => Some(action(
            "CompWithdrawn",
            Some(session.session_id),
            None,
            None,
        )),
        _ => None,
    }
}

/// Every operator action on a company (keys, plan, deactivations, comps),
/// oldest first. Secrets are never stored, so never listed.
#[utoipa::path(
    get,
    path = "/operator/companies/{company_id}/audit",
    tag = "operator",
    params(("company_id" = i64, Path, description = "The CompanyId", minimum = 1)),
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The company's operator actions", body = Vec<OperatorAction>),
        (status = 400, description = "The company id is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn company_audit(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
) -> Result<Json<Vec<OperatorAction>>, ApiError> {
    let company = find_company(&state, &raw).await?;
    let changes = state.store.company_changes(company.company_id).await?;
    Ok(Json(
        changes.into_iter().filter_map(operator_action).collect(),
    ))
}
