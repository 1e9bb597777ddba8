//! Per-API-key rate limits (SPEC §10): a token bucket per key, 429 with
//! `Retry-After` when it is empty, and `X-RateLimit-*` on every tenant answer.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::credentials::parse_basic;
use super::error::ApiError;

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

pub struct RateLimits {
    limiter: KeyedLimiter,
    per_second: u32,
    burst: u32,
}

impl RateLimits {
    /// `per_second` requests a second per key, in bursts of twice that; `None` when 0 (off).
    pub fn new(per_second: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
        let limiter = RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
            .with_middleware::<StateInformationMiddleware>();
        Some(Arc::new(Self {
            limiter,
            per_second,
            burst: burst.get(),
        }))
    }

    /// Forgets keys whose buckets are full again, so memory follows the
    /// active keys, not every key ever presented.
    pub fn forget_idle_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn headers(&self, remaining: u32) -> HeaderMap {
        // Seconds until the bucket is full again.
        let reset = (self.burst - remaining).div_ceil(self.per_second);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.burst));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
        headers
    }
}

/// Limits requests that present an API key; others (the operator, health
/// checks, requests without credentials) pass through untouched.
pub async fn limit_per_key(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_basic)
        .map(|(key, _)| key);
    let Some(key) = key else {
        return next.run(request).await;
    };
    match limits.limiter.check_key(&key) {
        Ok(snapshot) => {
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .extend(limits.headers(snapshot.remaining_burst_capacity()));
            response
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::TooManyRequests.into_response();
            let headers = response.headers_mut();
            headers.extend(limits.headers(0));
            headers.insert("retry-after", HeaderValue::from(retry_after.max(1)));
            response
        }
    }
}
