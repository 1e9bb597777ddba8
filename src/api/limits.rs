//! Rate limits (SPEC §10): a token bucket per API key, spent only by
//! requests that authenticated with it, with `X-RateLimit-*` on every
//! tenant answer; and a separate bucket of failed authentications per
//! client address. Either, when empty, is a 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sha2::Digest;

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

    /// Spends one request of an authenticated key: the requests it has left,
    /// or the seconds until it may send again.
    pub fn spend(&self, api_key: &str) -> Result<u32, u64> {
        match self.limiter.check_key(&api_key.to_owned()) {
            Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(whole_seconds(wait))
            }
        }
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

/// Seconds to wait, rounded up, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// What the tenant extractor found of the per-key budget, for the answer's
/// `X-RateLimit-*` headers: the requests left once it authenticated.
#[derive(Clone, Default)]
pub struct Budget(Arc<OnceLock<u32>>);

impl Budget {
    /// Notes the requests left, for this request's answer.
    pub fn note(parts: &Parts, remaining: u32) {
        if let Some(budget) = parts.extensions.get::<Budget>() {
            let _ = budget.0.set(remaining);
        }
    }
}

/// Puts the per-key budget's headers on the answer of every request that
/// authenticated as a tenant (the spending itself is the `Tenant`
/// extractor's, after the secret checked out).
pub async fn budget_headers(
    State(limits): State<Arc<RateLimits>>,
    mut request: Request,
    next: Next,
) -> Response {
    let budget = Budget::default();
    request.extensions_mut().insert(budget.clone());
    let mut response = next.run(request).await;
    if let Some(&remaining) = budget.0.get() {
        response.headers_mut().extend(limits.headers(remaining));
    }
    response
}

/// Failed authentications per client address: a bucket of `per_minute`,
/// refilled at that rate. While it is empty, every request from the address
/// that presents credentials is a 429 without their being checked, so
/// neither secrets nor key ids can be tried faster than that; requests
/// that authenticate spend nothing of it.
pub struct FailedAuthLimits {
    per_minute: u32,
    buckets: RwLock<HashMap<IpAddr, Bucket>>,
}

/// Most addresses kept; when full the limiter starts again empty.
const MOST_ADDRESSES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still allowed at `at`.
    tokens: f64,
    at: Instant,
}

impl FailedAuthLimits {
    /// `None` when `per_minute` is 0 (off).
    pub fn new(per_minute: u32) -> Option<Arc<Self>> {
        (per_minute > 0).then(|| {
            Arc::new(Self {
                per_minute,
                buckets: RwLock::default(),
            })
        })
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let per_second = f64::from(self.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * per_second).min(f64::from(self.per_minute))
    }

    /// Seconds until the address may try again, if it may not now.
    pub fn blocked(&self, address: Option<IpAddr>) -> Option<u64> {
        let key = address.map(group)?;
        let bucket = *self
            .buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)?;
        let tokens = self.refilled(bucket, Instant::now());
        (tokens < 1.0).then(|| {
            let per_second = f64::from(self.per_minute) / 60.0;
            whole_seconds(Duration::from_secs_f64((1.0 - tokens) / per_second))
        })
    }

    /// Spends one failure of the address.
    pub fn failed(&self, address: Option<IpAddr>) {
        let Some(key) = address.map(group) else {
            return;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MOST_ADDRESSES && !buckets.contains_key(&key) {
            buckets.clear();
        }
        let full = Bucket {
            tokens: f64::from(self.per_minute),
            at: now,
        };
        let bucket = buckets.entry(key).or_insert(full);
        let tokens = self.refilled(*bucket, now);
        *bucket = Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        };
    }

    /// Forgets addresses whose buckets are full again.
    pub fn forget_idle_addresses(&self) {
        let now = Instant::now();
        let most = f64::from(self.per_minute);
        self.buckets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, bucket| self.refilled(*bucket, now) < most);
    }
}

/// The address a client's failures count against: an IPv4 address, or an
/// IPv6 address's /64 (one host's share of a network, which it can fill
/// with addresses at will).
fn group(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

/// The client's address: the connection's peer (a proxy in front shares
/// its own address among its clients; docs/decisions.md, "Security").
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Attempts per account: a burst of this many, then one a minute.
pub const SIGN_IN_PER_ACCOUNT_BURST: u32 = 5;
/// Attempts per address: a burst of this many, then one every 3 seconds.
pub const SIGN_IN_PER_ADDRESS_BURST: u32 = 20;

/// Console sign-in attempts (SPEC §14): limited per account (the e-mail
/// given, or the operator) and per client address, whether they succeed or
/// not, so passwords cannot be tried faster than this from anywhere.
pub struct SignInLimits {
    accounts: Keyed<String>,
    addresses: Keyed<IpAddr>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        let nonzero = |n: u32| NonZeroU32::new(n).expect("not zero");
        Self {
            accounts: RateLimiter::keyed(
                Quota::per_minute(nonzero(1)).allow_burst(nonzero(SIGN_IN_PER_ACCOUNT_BURST)),
            ),
            addresses: RateLimiter::keyed(
                Quota::per_minute(nonzero(20)).allow_burst(nonzero(SIGN_IN_PER_ADDRESS_BURST)),
            ),
        }
    }
}

impl SignInLimits {
    /// Spends one attempt of the address and of the account (a digest of
    /// the lower-cased e-mail, never the address itself); the seconds to
    /// wait when either has none left.
    pub fn attempt(&self, address: Option<IpAddr>, account: &str) -> Result<(), u64> {
        let wait = |not_until: governor::NotUntil<_>| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        };
        if let Some(address) = address {
            self.addresses.check_key(&address).map_err(wait)?;
        }
        let account = hex::encode(sha2::Sha256::digest(account.to_lowercase().as_bytes()));
        self.accounts.check_key(&account).map_err(wait)?;
        Ok(())
    }

    /// Forgets the keys whose buckets are full again.
    pub fn forget_idle(&self) {
        self.accounts.retain_recent();
        self.addresses.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_once_its_failures_are_spent_and_refills() {
        let limits = FailedAuthLimits::new(3).unwrap();
        let address = IpAddr::from([10, 0, 0, 1]);
        let here = Some(address);
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert_eq!(limits.blocked(here), None);
            limits.failed(here);
        }
        let wait = limits.blocked(here).expect("blocked after 3 failures");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(limits.blocked(there), None, "per address");
        assert_eq!(limits.blocked(None), None, "no address, no limit");
        // A bucket refilled from long ago is full again, and forgotten.
        limits
            .buckets
            .write()
            .unwrap()
            .get_mut(&address)
            .unwrap()
            .at -= Duration::from_secs(60);
        assert_eq!(limits.blocked(here), None);
        limits.forget_idle_addresses();
        assert!(limits.buckets.read().unwrap().is_empty());
    }

    #[test]
    fn ipv6_failures_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(group(a), group(b));
        assert_ne!(group(a), group(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(group(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn zero_turns_either_limit_off() {
        assert!(RateLimits::new(0).is_none());
        assert!(FailedAuthLimits::new(0).is_none());
    }

    #[test]
    fn an_account_is_refused_after_its_burst_whatever_the_address() {
        let limits = SignInLimits::default();
        for n in 0..SIGN_IN_PER_ACCOUNT_BURST {
            let address = IpAddr::from([10, 0, 0, n as u8]);
            assert!(limits.attempt(Some(address), "pat@example.com").is_ok());
        }
        let wait = limits
            .attempt(Some(IpAddr::from([10, 0, 1, 1])), "PAT@example.com")
            .unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limits.attempt(None, "someone@example.com").is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_burst_whatever_the_account() {
        let limits = SignInLimits::default();
        let address = Some(IpAddr::from([10, 0, 0, 1]));
        for n in 0..SIGN_IN_PER_ADDRESS_BURST {
            assert!(
                limits
                    .attempt(address, &format!("user{n}@example.com"))
                    .is_ok()
            );
        }
        assert!(limits.attempt(address, "other@example.com").is_err());
    }
}
