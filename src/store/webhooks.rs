//! Outbound webhooks (SPEC §13) as the store keeps them: tenants'
//! endpoints, the outbox's deliveries and their attempts, and the delivery
//! workers' claims (leases, so that several nodes share one queue).

use serde::Serialize;
use utoipa::ToSchema;

use super::health::Verdict;
use super::{Backend, Store, StoreError, postgres, sqlite};
use crate::domain::Timestamp;

/// An endpoint as a tenant sees it (never its secret, which is shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Webhook {
    pub webhook_id: i64,
    pub url: String,
    #[schema(example = json!(["SESSION_STATUS", "SESSION_BILLING", "USAGE_THRESHOLD"]))]
    pub types: Vec<String>,
    pub created_ts: Timestamp,
    /// False once disabled (410 from the endpoint, or 5 days of failures).
    pub enabled: bool,
    /// Why it was disabled, while it is.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// When its current run of failed attempts began, if it is failing.
    #[schema(required = true)]
    pub failing_since_ts: Option<Timestamp>,
}

/// One message to one endpoint, with every attempt to deliver it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookDelivery {
    /// The message's number; `webhook-id` is `msg_{DeliveryId}`.
    pub delivery_id: i64,
    pub message_id: String,
    pub webhook_type: String,
    pub created_ts: Timestamp,
    #[schema(required = true)]
    pub delivered_ts: Option<Timestamp>,
    /// When it is next tried, while it is not delivered.
    #[schema(required = true)]
    pub next_attempt_ts: Option<Timestamp>,
    /// The message's body, as sent.
    pub payload: String,
    pub attempts: Vec<WebhookAttempt>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookAttempt {
    pub attempt_ts: Timestamp,
    /// The endpoint's HTTP status; null when none came (refused address,
    /// connection failure, timeout).
    #[schema(required = true)]
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    /// The first 1 KB of the endpoint's answer.
    pub response: String,
    /// Why no status came, when none did; on the attempt that disabled
    /// the endpoint, that it did and why.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// A delivery claimed by a worker, with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub company_id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub url: String,
    pub secret: String,
    pub payload: String,
    /// When the endpoint's current run of failures began, if it is failing.
    pub failing_since: Option<Timestamp>,
    /// The claim's lease: the attempt settles the delivery only while the
    /// lease is still this one (a retry asked for meanwhile ends it).
    pub lease_until: Timestamp,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub at: Timestamp,
    pub http_status: Option<u16>,
    pub latency_ms: i64,
    pub response: String,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Tried again at the given time.
    RetryAt(Timestamp),
    /// The endpoint is disabled, with the reason; the delivery waits for
    /// it to be enabled.
    Disable(String),
}

/// The undelivered messages of enabled endpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    pub depth: i64,
    /// When the oldest of them was written.
    pub oldest: Option<Timestamp>,
}

impl Store {
    /// Registers an endpoint; answers its id.
    pub async fn create_webhook(
        &self,
        company_id: i64,
        url: &str,
        types: &str,
        secret: &str,
    ) -> Result<i64, StoreError> {
        on_writer!(self, pool => backend::create_webhook(pool, company_id, url, types, secret).await)
    }

    pub async fn webhooks(&self, company_id: i64) -> Result<Vec<Webhook>, StoreError> {
        on_backend!(self, pool => backend::webhooks(pool, company_id).await)
    }

    /// Deletes an endpoint and its undelivered messages.
    pub async fn delete_webhook(&self, company_id: i64, webhook_id: i64) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::delete_webhook(pool, company_id, webhook_id).await)
    }

    /// Enables an endpoint again; its undelivered messages are due at once.
    pub async fn enable_webhook(&self, company_id: i64, webhook_id: i64) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::enable_webhook(pool, company_id, webhook_id).await)
    }

    /// An endpoint's most recent deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        company_id: i64,
        webhook_id: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        on_backend!(self, pool => backend::webhook_deliveries(pool, company_id, webhook_id).await)
    }

    /// Makes a delivery due at once, delivered before or not.
    pub async fn retry_webhook_delivery(
        &self,
        company_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::retry_webhook_delivery(pool, company_id, webhook_id, event_id).await)
    }

    /// Claims up to `limit` due deliveries until `lease_until`: the oldest
    /// undelivered one of each endpoint and session, so that they go in order.
    pub async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if !on_backend!(self, pool => backend::webhook_deliveries_due(pool, now).await)? {
            return Ok(Vec::new());
        }
        on_writer!(self, pool => backend::claim_webhook_deliveries(pool, now, lease_until, limit).await)
    }

    /// Logs a round of attempts and moves their deliveries and endpoints
    /// on, all in one transaction.
    pub async fn record_webhook_attempts(
        &self,
        attempts: &[(ClaimedDelivery, AttemptRecord)],
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::record_webhook_attempts(pool, attempts).await)
    }

    pub async fn webhook_queue(&self) -> Result<QueueStats, StoreError> {
        on_backend!(self, pool => backend::webhook_queue(pool).await)
    }
}
