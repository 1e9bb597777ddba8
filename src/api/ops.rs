//! The operations surface (SPEC §10): liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up and serving.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "Status": "ok" }))
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "Status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "database not ready");
            let body = json!({ "Message": "the database is not reachable" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.pool_status();
    let backend = state.store.backend_name();
    metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "open")
        .set(f64::from(open));
    metrics::gauge!("db_pool_connections", "backend" => backend, "state" => "idle")
        .set(idle as f64);
    let mut response = crate::telemetry::metrics_handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
