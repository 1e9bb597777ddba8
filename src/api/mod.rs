//! HTTP: one module per resource, each with its own router, merged here.

pub mod auth;
pub mod error;
pub mod extract;
pub mod history;
pub mod operator;
pub mod participants;
pub mod sessions;
pub mod usage;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;

use crate::app::AppState;
use error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(history::router())
        .merge(usage::router())
        .merge(users::router())
        .merge(sessions::router())
        .merge(participants::router())
        .merge(operator::router())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_charset))
        .with_state(state)
}

/// Every JSON answer names its charset (SPEC §1), whichever handler or
/// rejection produced it: `axum::Json` alone says only `application/json`.
async fn json_charset(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value == "application/json")
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

async fn method_not_allowed(
    method: Method,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(
            serde_json::json!({ "Message": format!("method {method} is not allowed here") }),
        ),
    )
}
