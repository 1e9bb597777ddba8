//! Monthly usage against the company's plan (SPEC §8).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::TenantErrors;
use super::error::{ApiError, ErrorBody};
use super::extract::Params;
use super::state::AppState;
use crate::domain::Month;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(monthly_usage))
}

/// The month's counts for sessions billable in it; Overage = max(0, Counted − Included).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    /// The first day of the month, `yyyy-mm-01`.
    #[schema(example = "2016-11-01")]
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

/// The company's usage in one UTC month against its plan.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "usage",
    params(
        ("Month" = String, Query, description = "The month: `yyyy-mm-01` (any day of it, or `yyyy-mm`). The name is case-insensitive.", example = "2016-11-01"),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The month's usage", body = Usage),
        (status = 400, description = "Month missing or not valid", body = ErrorBody),
        TenantErrors,
    )
)]
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
    let counts = state
        .store
        .usage_at(tenant.company_id, month, tenant.data_version)
        .await?;
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
