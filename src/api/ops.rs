//! The operations surface (SPEC §10): liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `ok` from /healthz, `ready` from /readyz.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database is not reachable", body = ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(Health { status: "ready" }).into_response(),
        Err(error) => {
            tracing::warn!(%error, "database not ready");
            let body = ErrorBody::new("the database is not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// Prometheus metrics: requests by route and status, latencies, events
/// ingested, the database pool, outbound webhooks (deliveries by outcome,
/// queue depth, age of the oldest undelivered message).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
            content_type = "text/plain", body = String),
    )
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.pool_status();
    let backend = state.store.backend_name();
    metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "open")
        .set(f64::from(open));
    metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "idle")
        .set(idle as f64);
    // The outbound webhooks' queue, shared by every node: read at scrape.
    match state.store.webhook_queue().await {
        Ok(queue) => {
            metrics::gauge!("webhook_queue_depth").set(queue.depth as f64);
            let age = queue.oldest.map_or(0, |oldest| {
                crate::domain::Timestamp::now().as_micros() - oldest.as_micros()
            });
            metrics::gauge!("webhook_oldest_pending_seconds").set(age.max(0) as f64 / 1e6);
        }
        Err(error) => tracing::warn!(%error, "the webhook queue could not be read"),
    }
    let mut response = crate::telemetry::metrics_handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
