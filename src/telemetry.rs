//! Metrics in Prometheus text, and the per-request middleware that records
//! them: requests by route and status, latency histograms by route.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use (one per process, however
/// many servers a test starts).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may have been installed first (a test harness);
            // then this handle still renders what it records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The route as routed (`/history/{user_id}`), never the raw path, so ids
/// and query strings (which may hold e-mail addresses) stay out of labels.
pub fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned())
}

/// Every request: a span named by its matched route, which every log line
/// of the request carries; one line when its response is ready; its
/// metrics. One middleware instead of tower-http's `TraceLayer` beside a
/// second one for the metrics: every layer around a route costs a boxed
/// service cloned and a boxed future per request (bench/README.md,
/// "Seventh session").
pub async fn observe_request(request: Request, next: Next) -> Response {
    let route = route_of(&request);
    let method = request.method().as_str().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // The method, the routed path and the request id, never the raw URI:
    // query strings may hold e-mail addresses. The tenant's company is
    // recorded once its key checks out.
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id,
        company_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        parent: &span,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        status,
        "finished processing request"
    );
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(latency.as_secs_f64());
    response
}
