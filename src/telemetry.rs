//! Metrics in Prometheus text, and the per-request middleware that records
//! them: requests by route and status, latency histograms by route.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
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
fn route_of(request: &Request) -> Option<MatchedPath> {
    request.extensions().get::<MatchedPath>().cloned()
}

/// A method's label: one of the standard ones, or `OTHER`, so a client
/// sending made-up methods cannot make the metrics grow without bound.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    }
}

/// One route's and method's metric handles: its latency histogram and a
/// request counter per status.
struct RouteMetrics {
    route: Box<str>,
    method: &'static str,
    latency: Histogram,
    by_status: Vec<(u16, Counter)>,
}

thread_local! {
    /// This thread's metric handles, taken from the recorder once per route,
    /// method and status. Building each request's labelled keys and finding
    /// them in the recorder's registry cost about 4 µs of CPU a request
    /// (bench/README.md, "Logging and metrics").
    static REQUEST_METRICS: RefCell<Vec<RouteMetrics>> = const { RefCell::new(Vec::new()) };
}

/// Counts a request and records its latency.
fn record_request(route: &str, method: &'static str, status: u16, latency: Duration) {
    REQUEST_METRICS.with_borrow_mut(|routes| {
        let at = match routes
            .iter()
            .position(|known| &*known.route == route && known.method == method)
        {
            Some(at) => at,
            None => {
                routes.push(RouteMetrics {
                    route: route.into(),
                    method,
                    latency: metrics::histogram!(
                        "http_request_duration_seconds",
                        "route" => route.to_owned(),
                        "method" => method
                    ),
                    by_status: Vec::new(),
                });
                routes.len() - 1
            }
        };
        let known = &mut routes[at];
        known.latency.record(latency.as_secs_f64());
        let counter = match known.by_status.iter().find(|(code, _)| *code == status) {
            Some((_, counter)) => counter,
            None => {
                let counter = metrics::counter!(
                    "http_requests_total",
                    "route" => route.to_owned(),
                    "method" => method,
                    "status" => status.to_string()
                );
                known.by_status.push((status, counter));
                &known.by_status.last().expect("just pushed").1
            }
        };
        counter.increment(1);
    });
}

/// Every request: a span named by its matched route, which every log line
/// of the request carries; one line when its response is ready; its
/// metrics. One middleware instead of tower-http's `TraceLayer` beside a
/// second one for the metrics: every layer around a route costs a boxed
/// service cloned and a boxed future per request (bench/README.md,
/// "The request path").
pub async fn observe_request(request: Request, next: Next) -> Response {
    let matched = route_of(&request);
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = method_label(request.method());
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
    record_request(route, method, status, latency);
    response
}
