//! Monthly usage against the company's plan (SPEC §8).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::auth::Tenant;
use super::error::ApiError;
use super::extract::Params;
use crate::app::AppState;
use crate::domain::Month;

pub fn router() -> Router<AppState> {
    Router::new().route("/usage", get(monthly_usage))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    month: String,
    counted_sessions: i64,
    support_sessions: i64,
    duplicate_sessions: i64,
    comped_sessions: i64,
    total_duration_minutes: i64,
    included_sessions: i64,
    overage_sessions: i64,
    overage_price_cents: i64,
    overage_amount_cents: i64,
}

#[tracing::instrument(skip_all, fields(company_id = tenant.company_id))]
async fn monthly_usage(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> Result<Json<Usage>, ApiError> {
    let raw = params
        .get("Month")
        .ok_or_else(|| ApiError::BadRequest("Month is required (yyyy-mm-01)".into()))?;
    let month = Month::parse(raw).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Month '{raw}' is not a valid month (yyyy-mm-01 or yyyy-mm)"
        ))
    })?;
    let counts = state.store.usage(tenant.company_id, month).await?;
    let overage_sessions = (counts.counted - counts.included_sessions).max(0);
    Ok(Json(Usage {
        month: month.to_string(),
        counted_sessions: counts.counted,
        support_sessions: counts.support,
        duplicate_sessions: counts.duplicate,
        comped_sessions: counts.comped,
        total_duration_minutes: counts.total_duration_minutes,
        included_sessions: counts.included_sessions,
        overage_sessions,
        overage_price_cents: counts.overage_price_cents,
        overage_amount_cents: overage_sessions.saturating_mul(counts.overage_price_cents),
    }))
}
