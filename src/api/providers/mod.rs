//! The video providers' webhooks (SPEC §12): `POST /providers/{provider}`,
//! authenticated exactly as each provider signs them, read into notices
//! (`crate::providers`) and fed to the ledger (`feed`).

pub mod feed;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::PathText;
use super::state::AppState;
use crate::domain::Timestamp;
use crate::providers::{Parsed, Provider};
use feed::{Fed, feed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// What the ledger did with a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Received {
    /// `applied`, `unmatched` (kept for the operator) or `ignored` (an
    /// event type the ledger does not use).
    outcome: &'static str,
    accepted: u64,
    duplicates: u64,
}

/// A video provider's webhook (`livekit`, `daily`, `zoom`, `vonage`,
/// `whereby`), signed as the provider documents; 404 when that provider's
/// secret is not configured. An authentic event the ledger cannot match to
/// a session and party is answered 200 and kept for the operator.
#[utoipa::path(
    post,
    path = "/providers/{provider}",
    tag = "providers",
    params(("provider" = String, Path, description = "livekit, daily, zoom, vonage or whereby")),
    request_body(content = Object, description = "The provider's own webhook body, as it sends it"),
    responses(
        (status = 200, description = "Applied, kept as unmatched, or ignored; Zoom's URL validation is answered with its token", body = Received),
        (status = 400, description = "An authentic body that is not the provider's JSON", body = ErrorBody),
        (status = 401, description = "A missing, wrong or stale signature", body = ErrorBody),
        (status = 404, description = "No such provider, or not configured", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(provider))]
async fn receive(
    State(state): State<AppState>,
    PathText(name): PathText,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let provider = Provider::from_name(&name).ok_or_else(not_found)?;
    tracing::Span::current().record("provider", provider.name());
    let body = body.map_err(super::extract::body_error)?;
    let now = Timestamp::now();
    let secrets = &state.settings.providers;
    let verified = provider
        .verify(secrets, &headers, &body, now)
        .ok_or_else(not_found)?;
    if let Err(refusal) = verified {
        metrics::counter!(
            "provider_webhooks_refused_total",
            "provider" => provider.name(),
            "reason" => refusal.label()
        )
        .increment(1);
        return Err(ApiError::Unauthorized);
    }
    let parsed = provider.parse(secrets, &body).map_err(|malformed| {
        counted(provider, "malformed");
        ApiError::BadRequest(format!("not a {} webhook: {malformed}", provider.name()))
    })?;
    let notices = match parsed {
        Parsed::Challenge(answer) => {
            counted(provider, "validated");
            return Ok(Json(answer).into_response());
        }
        Parsed::Ignored(event) => {
            tracing::debug!(event, "provider event not used");
            counted(provider, "ignored");
            return Ok(received("ignored", 0, 0));
        }
        Parsed::Notices(notices) => notices,
    };
    match feed(&state.store, provider, &notices, now).await? {
        Fed::Applied(outcome) => {
            counted(provider, "applied");
            metrics::counter!("events_ingested_total").increment(outcome.accepted);
            metrics::counter!("events_duplicate_total").increment(outcome.duplicates);
            Ok(received("applied", outcome.accepted, outcome.duplicates))
        }
        Fed::Unmatched(reason) => {
            let text = String::from_utf8_lossy(&body);
            let id = state
                .store
                .keep_unmatched(provider.name(), &reason, &text, now)
                .await?;
            tracing::info!(unmatched_id = id, "provider event kept as unmatched");
            let month_ago = Timestamp::from_micros(now.as_micros() - 30 * 24 * 3_600_000_000);
            state.store.prune_unmatched(month_ago).await?;
            counted(provider, "unmatched");
            Ok(received("unmatched", 0, 0))
        }
    }
}

fn counted(provider: Provider, outcome: &'static str) {
    metrics::counter!(
        "provider_webhooks_total",
        "provider" => provider.name(),
        "outcome" => outcome
    )
    .increment(1);
}

fn received(outcome: &'static str, accepted: u64, duplicates: u64) -> Response {
    (
        StatusCode::OK,
        Json(Received {
            outcome,
            accepted,
            duplicates,
        }),
    )
        .into_response()
}

fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}
