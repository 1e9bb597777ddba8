//! The operator actions on a company (keys, plan, deactivations, comps).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Operator;
use crate::api::error::OperatorErrors;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::PathText;
use crate::api::state::AppState;
use crate::domain::Timestamp;
use crate::records::{LogLine, Record};

use super::companies::find_company;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(company_audit))
}

/// One operator action on a company, as its audit lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OperatorAction {
    #[schema(required = true)]
    pub at: Option<Timestamp>,
    /// `ApiKeyCreated`, `ApiKeyRevoked`, `PlanChanged`, `SessionDeactivated`,
    /// `SessionComped` or `CompWithdrawn`.
    pub action: &'static str,
    #[schema(required = true)]
    pub session_id: Option<i64>,
    #[schema(required = true)]
    pub api_key: Option<String>,
    /// The operator's reason (comps, and withdrawals and deactivations
    /// given one), or the new plan.
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// Every operator action on a company, oldest first: the operator API's
/// and the console's one reading.
pub(crate) async fn company_actions(
    state: &AppState,
    company_id: i64,
) -> Result<Vec<OperatorAction>, ApiError> {
    let changes = state.store.company_changes(company_id).await?;
    Ok(changes.into_iter().filter_map(operator_action).collect())
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
            session.reason,
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
            session.reason,
        )),
        _ => None,
    }
}

/// Every operator action on a company (keys, plan, deactivations, comps),
/// oldest first. Secrets are never stored, so never listed.
#[utoipa::path(
    get,
    path = "/operator/companies/{company_id}/actions",
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
    Ok(Json(company_actions(&state, company.company_id).await?))
}
