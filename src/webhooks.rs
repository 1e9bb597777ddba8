//! Delivering outbound webhooks (SPEC §13): every `serve` node runs a
//! worker that claims due deliveries from the shared outbox (leases, so
//! nodes never send the same delivery at once), signs each per Standard
//! Webhooks and POSTs it. A 2xx within the timeout delivers; anything else
//! is tried again with exponential backoff and jitter; 410, or five days
//! of failures without a break, disables the endpoint. Only public https
//! addresses are called (unless allowed otherwise), checked after DNS
//! resolution at every attempt; redirects are not followed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use crate::domain::Timestamp;
use crate::domain::webhooks::{
    DISABLE_AFTER, UrlPolicy, check_url, message_id, refused_address, retry_delay, secret_key,
    signature,
};
use crate::store::{AttemptOutcome, AttemptRecord, ClaimedDelivery, Store};

/// How the worker delivers.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub urls: UrlPolicy,
    /// A 2xx must come within this long (SPEC: 10 s).
    pub timeout: Duration,
    /// The first retry's delay, doubled for each later one.
    pub retry_base: Duration,
    /// How often an idle worker looks for due deliveries.
    pub poll: Duration,
}

/// The most deliveries one claim takes (sent side by side).
const CLAIM: i64 = 32;

/// How long a worker lets connection events go first on SQLite's one
/// writer before it claims anyway (`yield_to_event_writes`).
const YIELD_AT_MOST: Duration = Duration::from_millis(100);

/// How often a yielding worker looks again.
const YIELD_POLL: Duration = Duration::from_millis(2);

/// The most bytes of an answer kept in the attempt log.
const ANSWER_KEPT: usize = 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Guard>>, Full<Bytes>>;

/// Resolves host names, keeping only the addresses the policy allows: the
/// check happens at connection time, after resolution, on every attempt,
/// so a name that comes to point at a private address is refused then.
#[derive(Clone)]
struct Guard {
    allow_private: bool,
}

impl tower::Service<Name> for Guard {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match refused_address(address.ip()) {
                    Some(kind) if !allow_private => {
                        refused = Some(kind);
                        false
                    }
                    _ => true,
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.map_or("no address".to_owned(), |kind| {
                    format!("a {kind} address, which may not be called")
                });
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to {why}"),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

/// The client deliveries go through: TLS verified against the system's
/// CA certificates and the operator's `extra_roots` (`--webhook-ca-file`).
fn client(
    policy: &Policy,
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<HttpsClient, rustls::Error> {
    let mut http = HttpConnector::new_with_resolver(Guard {
        allow_private: policy.urls.allow_private,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(policy.timeout));
    // ring, not aws-lc (a C library built with cmake): without post-quantum
    // key exchange, which is what rustls deprecates its provider for.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())?;
    // "dangerous" only in name: the platform verifier is rustls' own
    // WebPKI verification over those roots.
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let https = if policy.urls.allow_http {
        https.https_or_http()
    } else {
        https.https_only()
    };
    let connector = https.enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Delivers until `stop` turns true (or its sender is gone). A delivery
/// under way when it stops is sent again later, with the same `webhook-id`.
/// Endpoints' certificates are verified against the system's CA
/// certificates and `extra_roots`.
pub async fn run(
    store: Store,
    policy: Policy,
    extra_roots: Vec<CertificateDer<'static>>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match client(&policy, extra_roots) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "outbound webhooks cannot be delivered: no TLS client");
            return;
        }
    };
    // The lease outlives an attempt, with room for recording it; a node
    // that dies mid-attempt holds its deliveries this long.
    let lease = policy.timeout + Duration::from_secs(5);
    loop {
        if *stop.borrow() {
            return;
        }
        yield_to_event_writes(&store).await;
        let now = Timestamp::now();
        let claimed = store
            .claim_webhook_deliveries(now, later(now, lease), CLAIM)
            .await;
        match claimed {
            Ok(claimed) if !claimed.is_empty() => {
                let sends = claimed
                    .iter()
                    .map(|delivery| attempt(&client, &policy, delivery));
                let attempts = futures_util::future::join_all(sends).await;
                let round: Vec<(ClaimedDelivery, AttemptRecord)> =
                    claimed.into_iter().zip(attempts).collect();
                // Well within the leases: the last answer came within the
                // timeout, and the lease is 5 s longer.
                yield_to_event_writes(&store).await;
                if let Err(error) = store.record_webhook_attempts(&round).await {
                    // The leases run out and the deliveries are sent
                    // again, with the same `webhook-id`s.
                    tracing::warn!(%error, attempts = round.len(), "webhook attempts could not be recorded");
                }
                // Whatever waited behind them may be due now.
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "claiming webhook deliveries failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(policy.poll) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits, up to [`YIELD_AT_MOST`], while connection events are written or
/// wait to be on SQLite's one writer. A round's claim and its record are
/// writes there too, and the ingest that causes the messages would wait
/// behind them; after the bound the round claims anyway, so deliveries go
/// on under a steady ingest.
async fn yield_to_event_writes(store: &Store) {
    let started = Instant::now();
    while store.event_writes_busy() && started.elapsed() < YIELD_AT_MOST {
        tokio::time::sleep(YIELD_POLL).await;
    }
}

fn later(at: Timestamp, by: Duration) -> Timestamp {
    Timestamp::from_micros(at.as_micros().saturating_add(by.as_micros() as i64))
}

/// One attempt at one delivery, and what it came to.
async fn attempt(
    client: &HttpsClient,
    policy: &Policy,
    claimed: &ClaimedDelivery,
) -> AttemptRecord {
    let at = Timestamp::now();
    let started = Instant::now();
    let answer = send(client, policy, claimed, at).await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (http_status, response, error) = match answer {
        Ok((status, response)) => (Some(status), response, None),
        Err(error) => (None, String::new(), Some(error)),
    };
    let failing_too_long = || {
        let since = claimed.failing_since.unwrap_or(at);
        at.as_micros() - since.as_micros() >= DISABLE_AFTER.as_micros() as i64
    };
    let outcome = match http_status {
        Some(status) if (200..300).contains(&status) => AttemptOutcome::Delivered,
        Some(410) => AttemptOutcome::Disable("the endpoint answered 410 Gone".into()),
        _ if failing_too_long() => {
            AttemptOutcome::Disable("every attempt failed for 5 days".into())
        }
        _ => {
            let attempts = u32::try_from(claimed.attempts + 1).unwrap_or(u32::MAX);
            let delay = retry_delay(attempts, policy.retry_base, rand::random::<f64>());
            AttemptOutcome::RetryAt(later(at, delay))
        }
    };
    let label = match &outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "failed",
        AttemptOutcome::Disable(_) => "disabled",
    };
    metrics::counter!("webhook_deliveries_total", "outcome" => label).increment(1);
    if let AttemptOutcome::Disable(reason) = &outcome {
        tracing::warn!(
            company_id = claimed.company_id,
            webhook_id = claimed.webhook_id,
            reason,
            "webhook endpoint disabled"
        );
    }
    // The delivery log says which attempt disabled the endpoint, and why.
    let error = match &outcome {
        AttemptOutcome::Disable(reason) => Some(match error {
            Some(error) => format!("{error}; the endpoint is now disabled: {reason}"),
            None => format!("the endpoint is now disabled: {reason}"),
        }),
        _ => error,
    };
    AttemptRecord {
        at,
        http_status,
        latency_ms,
        response,
        error,
        outcome,
    }
}

/// Signs and POSTs a message; answers its status and the start of its
/// body, or why there was none.
async fn send(
    client: &HttpsClient,
    policy: &Policy,
    claimed: &ClaimedDelivery,
    at: Timestamp,
) -> Result<(u16, String), String> {
    // Checked again: the operator's settings may have changed since.
    let url = check_url(&claimed.url, policy.urls)?;
    let key = secret_key(&claimed.secret).ok_or("the endpoint's secret is not valid base64")?;
    let id = message_id(claimed.event_id);
    let timestamp = at.as_micros().div_euclid(1_000_000);
    let body = Bytes::from(claimed.payload.clone());
    let request = hyper::Request::post(url.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "session-ledger-webhooks")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature(&key, &id, timestamp, &body))
        .body(Full::new(body))
        .map_err(|error| format!("the request could not be built: {error}"))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| chain(&error))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while kept.len() < ANSWER_KEPT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        kept.extend_from_slice(data);
                    }
                }
                // The status came: a body cut short does not change it.
                Some(Err(_)) | None => break,
            }
        }
        kept.truncate(ANSWER_KEPT);
        Ok((status, String::from_utf8_lossy(&kept).into_owned()))
    };
    match tokio::time::timeout(policy.timeout, exchange).await {
        Ok(answer) => answer,
        Err(_) => Err(format!(
            "no answer within {} ms",
            policy.timeout.as_millis()
        )),
    }
}

/// An error and its causes, as one line; a TLS failure (an endpoint's
/// certificate not trusted, say) is named as one.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        if !line.is_empty() {
            line.push_str(": ");
        }
        if is_tls(cause) {
            line.push_str("TLS error: ");
        }
        line.push_str(&cause.to_string());
        next = cause.source();
    }
    line
}

/// Whether the error is rustls' own, or an io::Error carrying one (as the
/// TLS connector reports a failed handshake: io::Errors within io::Errors,
/// whose source() skips what they wrap).
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    error
        .downcast_ref::<io::Error>()
        .and_then(io::Error::get_ref)
        .is_some_and(|inner| is_tls(inner))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_refused_after_resolution() {
        let name = Name::from_str("localhost").unwrap();
        let refused = Guard {
            allow_private: false,
        }
        .oneshot(name.clone())
        .await
        .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("loopback"), "{refused}");
        let allowed: Vec<SocketAddr> = Guard {
            allow_private: true,
        }
        .oneshot(name)
        .await
        .unwrap()
        .collect();
        assert!(allowed.iter().all(|address| address.ip().is_loopback()));
        assert!(!allowed.is_empty());
    }
}
