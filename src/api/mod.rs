//! HTTP: one module per resource, each with its own router, merged here with
//! the layers every request passes through.

pub mod access;
pub mod access_note;
pub mod answer_cache;
pub mod auth;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod history;
pub mod key_cache;
pub mod limits;
pub mod login;
pub mod openapi;
pub mod operator;
pub mod ops;
pub mod participants;
pub mod providers;
pub mod routes;
pub mod sessions;
pub mod state;
pub mod usage;
pub mod users;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use error::{ApiError, ErrorBody};
use state::AppState;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    router_with_pages(state, Router::new())
}

/// The API with web pages beside it (the console), under the same layers.
pub fn router_with_pages(state: AppState, pages: Router<AppState>) -> Router {
    // Routes and the OpenAPI document come from the same registrations.
    let (routes, _) = routes::api().split_for_parts();
    let mut routed = routes
        .merge(openapi::docs_page())
        .merge(pages)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    if let Some(limits) = state.limits.clone() {
        routed = routed.layer(axum::middleware::from_fn_with_state(
            limits,
            limits::budget_headers,
        ));
    }
    // What needs the matched route (the request's span, its log line and
    // metrics) wraps each route; the rest wraps the whole router once. A
    // layer on the router is applied to every route: cloned, boxed and
    // polled once more per request (bench/README.md, "The request path").
    let routed = routed
        .layer(axum::middleware::from_fn(crate::telemetry::observe_request))
        .with_state(state.clone());
    let whole = ServiceBuilder::new()
        // A bug must never cost the client its answer: a panic becomes a 500.
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::Internal("handler panicked".into()).into_response()
            },
        ))
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(SetRequestIdLayer::x_request_id(SequentialIds::default()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::map_response(wire_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Every request that authentication lets in leaves an access
        // record, whatever its route (SPEC §15).
        .layer(axum::middleware::from_fn_with_state(
            state,
            access::record_access,
        ))
        .service(routed);
    Router::new().fallback_service(whole)
}

/// Request ids unique to this process without a system call each: a random
/// prefix chosen at start, then a counter (`3f9c…-1a`).
#[derive(Clone)]
struct SequentialIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for SequentialIds {
    fn default() -> Self {
        Self {
            prefix: hex::encode(rand::random::<[u8; 8]>()).into(),
            next: std::sync::Arc::default(),
        }
    }
}

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{number:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Every JSON answer names its charset (SPEC §1), whichever handler or
/// rejection produced it: `axum::Json` alone says only `application/json`.
/// Every answer forbids caching without revalidation, with the three
/// headers SecureVideo sends (SPEC §6); History's ETag still lets a client
/// revalidate with `If-None-Match`.
async fn wire_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    headers
        .entry(header::PRAGMA)
        .or_insert(HeaderValue::from_static("no-cache"));
    headers
        .entry(header::EXPIRES)
        .or_insert(HeaderValue::from_static("-1"));
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

async fn method_not_allowed(method: Method) -> (axum::http::StatusCode, axum::Json<ErrorBody>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(ErrorBody::new(format!(
            "method {method} is not allowed here"
        ))),
    )
}
