//! Connection events reported by the video infrastructure (SPEC §7).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Operator;
use crate::api::error::OperatorErrors;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::state::AppState;
use crate::domain::{EventBatch, Timestamp};
use crate::records::{ConnectionEvent, EventKind, PartyKind, Record};
use crate::store::EventOutcome;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report_events))
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
    let values: Vec<serde_json::Value> =
        crate::api::extract::parse_json(body).map_err(|error| {
            ApiError::BadRequest(format!(
                "the body must be a JSON array of connection events: {error}"
            ))
        })?;
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let record = Record::deserialize(&value).map_err(|error| {
                let why = crate::records::explain(&value).unwrap_or_else(|| error.to_string());
                ApiError::BadRequest(format!("event {index} is not valid: {why}"))
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
    let body = body.map_err(crate::api::extract::body_error)?;
    let events = EventBatch::parse(parse_events(&body)?)
        .map_err(|invalid| ApiError::BadRequest(invalid.0))?;
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
