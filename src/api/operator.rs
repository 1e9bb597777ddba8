//! The operator API (SPEC §7): tenants, keys, support agents, connection
//! events and support actions. Bearer token only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Operator;
use super::error::ApiError;
use super::extract::{JsonBody, path_id};
use crate::app::AppState;
use crate::domain::Timestamp;
use crate::records::{
    ApiKeyRecord, CompRecord, CompanyPlanRecord, CompanyRecord, ConnectionEvent, EventKind,
    LogLine, Record, RevokeApiKeyRecord, SessionActionRecord, SupportAgentRecord,
};
use crate::secrets::new_key;
use crate::store::{AuditEntry, Company, EventOutcome};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator/companies", post(create_company))
        .route(
            "/operator/companies/{company_id}",
            get(show_company).put(change_plan),
        )
        .route("/operator/companies/{company_id}/keys", post(create_key))
        .route("/operator/keys/{api_key}", delete(revoke_key))
        .route("/operator/support-agents", post(create_support_agent))
        .route("/operator/events", post(report_events))
        .route(
            "/operator/sessions/{session_id}/deactivate",
            post(deactivate),
        )
        .route(
            "/operator/sessions/{session_id}/comp",
            post(comp).delete(uncomp),
        )
        .route("/operator/sessions/{session_id}/audit", get(audit))
        .route("/operator/companies/{company_id}/audit", get(company_audit))
}

fn line(record: Record) -> LogLine {
    LogLine {
        record,
        recorded_ts: None,
        batch: None,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyJson {
    company_id: i64,
    name: String,
    included_sessions_per_month: i64,
    overage_price_cents: i64,
}

impl From<Company> for CompanyJson {
    fn from(company: Company) -> Self {
        Self {
            company_id: company.company_id,
            name: company.name,
            included_sessions_per_month: company.included_sessions,
            overage_price_cents: company.overage_price_cents,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NewCompany {
    name: String,
    #[serde(default)]
    included_sessions_per_month: i64,
    #[serde(default)]
    overage_price_cents: i64,
}

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

#[tracing::instrument(skip_all)]
async fn show_company(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
) -> Result<Json<CompanyJson>, ApiError> {
    Ok(Json(find_company(&state, &raw).await?.into()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlanChange {
    included_sessions_per_month: Option<i64>,
    overage_price_cents: Option<i64>,
}

#[tracing::instrument(skip_all)]
async fn change_plan(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
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
    };
    state.store.apply(line(Record::CompanyPlan(record))).await?;
    Ok(Json(find_company(&state, &raw).await?.into()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedKey {
    pub api_key: String,
    pub api_secret: String,
}

#[tracing::instrument(skip_all)]
async fn create_key(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
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

#[tracing::instrument(skip_all)]
async fn revoke_key(
    State(state): State<AppState>,
    _: Operator,
    Path(api_key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .apply(line(Record::RevokeApiKey(RevokeApiKeyRecord { api_key })))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NewSupportAgent {
    full_name: String,
    email_address: String,
}

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
    Ok((StatusCode::CREATED, Json(created)).into_response())
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

#[tracing::instrument(skip_all)]
async fn deactivate(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompRequest {
    reason: String,
}

#[tracing::instrument(skip_all)]
async fn comp(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
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

#[tracing::instrument(skip_all)]
async fn uncomp(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
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

#[tracing::instrument(skip_all)]
async fn audit(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    Ok(Json(state.store.audit(session_id).await?))
}

/// One operator action on a company, as its audit lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperatorAction {
    at: Option<Timestamp>,
    action: &'static str,
    session_id: Option<i64>,
    api_key: Option<String>,
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
            Some(format!(
                "IncludedSessionsPerMonth {}, OveragePriceCents {}",
                plan.included_sessions_per_month, plan.overage_price_cents
            )),
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
#[tracing::instrument(skip_all)]
async fn company_audit(
    State(state): State<AppState>,
    _: Operator,
    Path(raw): Path<String>,
) -> Result<Json<Vec<OperatorAction>>, ApiError> {
    let company = find_company(&state, &raw).await?;
    let changes = state.store.company_changes(company.company_id).await?;
    Ok(Json(
        changes.into_iter().filter_map(operator_action).collect(),
    ))
}
