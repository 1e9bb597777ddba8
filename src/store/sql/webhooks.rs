//! Outbound webhooks' endpoints, deliveries and attempts (SPEC §13). The
//! outbox's rows are written by `outbox`, in the changes' transactions;
//! here the tenants' endpoints are kept and the delivery workers claim and
//! settle deliveries. None of this is company data that History or the key
//! cache read, so these commits announce nothing to other nodes.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::journal::next_id;
use super::{Db, Pool, begin_write};
use crate::domain::Timestamp;
use crate::domain::webhooks::{message_id, types_from_column};
use crate::store::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, QueueStats, StoreError, Webhook,
    WebhookAttempt, WebhookDelivery,
};

/// The most endpoints a company may have.
const MOST_WEBHOOKS: i64 = 20;

/// The most deliveries `GET /webhook/{id}/deliveries` lists.
const LISTED_DELIVERIES: i64 = 100;

fn not_found() -> StoreError {
    StoreError::NotFound("Webhook not found".into())
}

pub(crate) async fn create_webhook(
    pool: &Pool,
    company_id: i64,
    url: &str,
    types: &str,
    secret: &str,
) -> Result<i64, StoreError> {
    let mut tx = begin_write(pool).await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhooks WHERE company_id = $1 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .fetch_one(&mut *tx)
    .await?;
    if count >= MOST_WEBHOOKS {
        return Err(StoreError::Conflict(format!(
            "a company may have at most {MOST_WEBHOOKS} webhooks; delete one first"
        )));
    }
    let webhook_id = next_id(&mut tx).await?;
    sqlx::query(
        "INSERT INTO webhooks (company_id, webhook_id, url, types, secret, created_us)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(company_id)
    .bind(webhook_id)
    .bind(url)
    .bind(types)
    .bind(secret)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(webhook_id)
}

type WebhookRow = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn webhook((webhook_id, url, types, created, disabled, reason, failing): WebhookRow) -> Webhook {
    Webhook {
        webhook_id,
        url,
        types: types_from_column(&types)
            .into_iter()
            .map(|kind| kind.as_str().to_owned())
            .collect(),
        created_ts: Timestamp::from_micros(created),
        enabled: disabled.is_none(),
        disabled_reason: reason,
        failing_since_ts: failing.map(Timestamp::from_micros),
    }
}

pub(crate) async fn webhooks(pool: &Pool, company_id: i64) -> Result<Vec<Webhook>, StoreError> {
    let rows: Vec<WebhookRow> = sqlx::query_as(
        "SELECT webhook_id, url, types, created_us, disabled_us, disabled_reason, failing_since_us
         FROM webhooks WHERE company_id = $1 AND deleted_us IS NULL ORDER BY webhook_id",
    )
    .bind(company_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(webhook).collect())
}

/// Whether the company has the endpoint (and it is not deleted): whether
/// it is disabled, if it has.
async fn endpoint_disabled(
    conn: &mut super::Conn,
    company_id: i64,
    webhook_id: i64,
) -> Result<bool, StoreError> {
    let disabled: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT disabled_us FROM webhooks
         WHERE company_id = $1 AND webhook_id = $2 AND deleted_us IS NULL",
    )
    .bind(company_id)
    .bind(webhook_id)
    .fetch_optional(conn)
    .await?;
    disabled.map(|at| at.is_some()).ok_or_else(not_found)
}

pub(crate) async fn delete_webhook(
    pool: &Pool,
    company_id: i64,
    webhook_id: i64,
) -> Result<(), StoreError> {
    let mut tx = begin_write(pool).await?;
    endpoint_disabled(&mut tx, company_id, webhook_id).await?;
    sqlx::query("UPDATE webhooks SET deleted_us = $3 WHERE company_id = $1 AND webhook_id = $2")
        .bind(company_id)
        .bind(webhook_id)
        .bind(Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM webhook_deliveries
         WHERE company_id = $1 AND webhook_id = $2 AND delivered_us IS NULL",
    )
    .bind(company_id)
    .bind(webhook_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn enable_webhook(
    pool: &Pool,
    company_id: i64,
    webhook_id: i64,
) -> Result<(), StoreError> {
    let mut tx = begin_write(pool).await?;
    endpoint_disabled(&mut tx, company_id, webhook_id).await?;
    sqlx::query(
        "UPDATE webhooks SET disabled_us = NULL, disabled_reason = NULL, failing_since_us = NULL
         WHERE company_id = $1 AND webhook_id = $2",
    )
    .bind(company_id)
    .bind(webhook_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_us = $3
         WHERE company_id = $1 AND webhook_id = $2 AND delivered_us IS NULL",
    )
    .bind(company_id)
    .bind(webhook_id)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn webhook_deliveries(
    pool: &Pool,
    company_id: i64,
    webhook_id: i64,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let mut tx = pool.begin().await?;
    endpoint_disabled(&mut tx, company_id, webhook_id).await?;
    type Row = (i64, String, String, i64, Option<i64>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.event_id, e.webhook_type, e.payload, d.created_us, d.delivered_us, d.next_attempt_us
         FROM webhook_deliveries d
         JOIN webhook_events e ON e.company_id = d.company_id AND e.event_id = d.event_id
         WHERE d.company_id = $1 AND d.webhook_id = $2
         ORDER BY d.event_id DESC LIMIT $3",
    )
    .bind(company_id)
    .bind(webhook_id)
    .bind(LISTED_DELIVERIES)
    .fetch_all(&mut *tx)
    .await?;
    let Some(oldest) = rows.last().map(|row| row.0) else {
        return Ok(Vec::new());
    };
    type AttemptRow = (i64, i64, Option<i64>, i64, String, Option<String>);
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT event_id, at_us, http_status, latency_ms, response, error FROM webhook_attempts
         WHERE company_id = $1 AND webhook_id = $2 AND event_id >= $3
         ORDER BY event_id, attempt",
    )
    .bind(company_id)
    .bind(webhook_id)
    .bind(oldest)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_event: HashMap<i64, Vec<WebhookAttempt>> = HashMap::new();
    for (event_id, at, http_status, latency_ms, response, error) in attempts {
        by_event.entry(event_id).or_default().push(WebhookAttempt {
            attempt_ts: Timestamp::from_micros(at),
            http_status,
            latency_ms,
            response,
            error,
        });
    }
    Ok(rows
        .into_iter()
        .map(
            |(event_id, webhook_type, payload, created, delivered, next)| WebhookDelivery {
                delivery_id: event_id,
                message_id: message_id(event_id),
                webhook_type,
                created_ts: Timestamp::from_micros(created),
                delivered_ts: delivered.map(Timestamp::from_micros),
                next_attempt_ts: delivered.is_none().then(|| Timestamp::from_micros(next)),
                payload,
                attempts: by_event.remove(&event_id).unwrap_or_default(),
            },
        )
        .collect())
}

pub(crate) async fn retry_webhook_delivery(
    pool: &Pool,
    company_id: i64,
    webhook_id: i64,
    event_id: i64,
) -> Result<(), StoreError> {
    let mut tx = begin_write(pool).await?;
    if endpoint_disabled(&mut tx, company_id, webhook_id).await? {
        return Err(StoreError::Conflict(
            "the webhook is disabled: enable it (POST /webhook/{id}/enable) and its undelivered messages are sent again".into(),
        ));
    }
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET delivered_us = NULL, next_attempt_us = $4, claimed_until_us = 0
         WHERE company_id = $1 AND webhook_id = $2 AND event_id = $3",
    )
    .bind(company_id)
    .bind(webhook_id)
    .bind(event_id)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound("Delivery not found".into()));
    }
    tx.commit().await?;
    Ok(())
}

/// The deliveries that may be claimed at `$1`: due, not leased, of an
/// enabled endpoint, and the oldest undelivered one of their endpoint and
/// subject (a later message of a session waits for the earlier one).
const CLAIMABLE: &str = "FROM webhook_deliveries d
    JOIN webhooks w ON w.company_id = d.company_id AND w.webhook_id = d.webhook_id
    WHERE d.delivered_us IS NULL AND d.next_attempt_us <= $1 AND d.claimed_until_us <= $1
      AND w.disabled_us IS NULL AND w.deleted_us IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries earlier
          WHERE earlier.company_id = d.company_id AND earlier.webhook_id = d.webhook_id
            AND earlier.subject_id = d.subject_id AND earlier.delivered_us IS NULL
            AND earlier.event_id < d.event_id)";

/// Whether any delivery may be claimed: an idle queue then costs a read, not a
/// write transaction, every poll.
pub(crate) async fn webhook_deliveries_due(
    pool: &Pool,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let due: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT d.event_id {CLAIMABLE} LIMIT 1"
    )))
    .bind(now.as_micros())
    .fetch_optional(pool)
    .await?;
    Ok(due.is_some())
}

/// Claims due deliveries with a lease: the outer `claimed_until_us` check
/// is made again on the row a concurrent claim left (PostgreSQL re-reads a
/// row it waited for), so two nodes never hold the same delivery. Only the
/// oldest undelivered delivery of an endpoint and subject is due: a later
/// message of a session waits for the earlier one.
pub(crate) async fn claim_webhook_deliveries(
    pool: &Pool,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let mut tx = begin_write(pool).await?;
    let claimed: Vec<(i64, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_deliveries SET claimed_until_us = $2
         WHERE (company_id, webhook_id, event_id) IN (
             SELECT d.company_id, d.webhook_id, d.event_id {CLAIMABLE}
             ORDER BY d.next_attempt_us LIMIT $3)
           AND delivered_us IS NULL AND claimed_until_us <= $1
         RETURNING company_id, webhook_id, event_id, attempts"
    )))
    .bind(now.as_micros())
    .bind(lease_until.as_micros())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT k.column1, k.column2, k.column3, w.url, w.secret, e.payload, w.failing_since_us FROM (",
    );
    sql.push_values(
        &claimed,
        |mut row, (company_id, webhook_id, event_id, _)| {
            row.push_bind(*company_id)
                .push_bind(*webhook_id)
                .push_bind(*event_id);
        },
    );
    sql.push(
        ") AS k JOIN webhooks w ON w.company_id = k.column1 AND w.webhook_id = k.column2
         JOIN webhook_events e ON e.company_id = k.column1 AND e.event_id = k.column3",
    );
    type Row = (i64, i64, i64, String, String, String, Option<i64>);
    let rows: Vec<Row> = sql.build_query_as().fetch_all(pool).await?;
    let attempts: HashMap<(i64, i64, i64), i64> = claimed
        .into_iter()
        .map(|(company_id, webhook_id, event_id, attempts)| {
            ((company_id, webhook_id, event_id), attempts)
        })
        .collect();
    let mut deliveries: Vec<ClaimedDelivery> = rows
        .into_iter()
        .map(
            |(company_id, webhook_id, event_id, url, secret, payload, failing)| ClaimedDelivery {
                company_id,
                webhook_id,
                event_id,
                attempts: attempts[&(company_id, webhook_id, event_id)],
                url,
                secret,
                payload,
                failing_since: failing.map(Timestamp::from_micros),
                lease_until,
            },
        )
        .collect();
    deliveries.sort_by_key(|delivery| delivery.event_id);
    Ok(deliveries)
}

pub(crate) async fn record_webhook_attempt(
    pool: &Pool,
    claimed: &ClaimedDelivery,
    attempt: &AttemptRecord,
) -> Result<(), StoreError> {
    let key = (claimed.company_id, claimed.webhook_id, claimed.event_id);
    let mut tx = begin_write(pool).await?;
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(attempt), 0) + 1 FROM webhook_attempts
         WHERE company_id = $1 AND webhook_id = $2 AND event_id = $3",
    )
    .bind(key.0)
    .bind(key.1)
    .bind(key.2)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_attempts
             (company_id, webhook_id, event_id, attempt, at_us, http_status, latency_ms, response, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(key.0)
    .bind(key.1)
    .bind(key.2)
    .bind(number)
    .bind(attempt.at.as_micros())
    .bind(attempt.http_status.map(i64::from))
    .bind(attempt.latency_ms)
    .bind(&attempt.response)
    .bind(&attempt.error)
    .execute(&mut *tx)
    .await?;
    let at = attempt.at.as_micros();
    let (delivered, next_attempt) = match &attempt.outcome {
        AttemptOutcome::Delivered => (Some(at), at),
        AttemptOutcome::RetryAt(when) => (None, when.as_micros()),
        AttemptOutcome::Disable(_) => (None, at),
    };
    // A retry asked for while this attempt was under way ended its lease:
    // the delivery stays due, to be sent again.
    sqlx::query(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, delivered_us = $4, next_attempt_us = $5, claimed_until_us = 0
         WHERE company_id = $1 AND webhook_id = $2 AND event_id = $3 AND claimed_until_us = $6",
    )
    .bind(key.0)
    .bind(key.1)
    .bind(key.2)
    .bind(delivered)
    .bind(next_attempt)
    .bind(claimed.lease_until.as_micros())
    .execute(&mut *tx)
    .await?;
    // The endpoint's row is written only when its state changes: every
    // attempt writing it made concurrent attempts to one endpoint wait
    // for each other's commits (PostgreSQL row locks), holding writers'
    // turns that the writes causing messages wait for.
    let endpoint = match &attempt.outcome {
        AttemptOutcome::Delivered => sqlx::query(
            "UPDATE webhooks SET failing_since_us = NULL
             WHERE company_id = $1 AND webhook_id = $2 AND failing_since_us IS NOT NULL",
        )
        .bind(key.0)
        .bind(key.1),
        AttemptOutcome::RetryAt(_) => sqlx::query(
            "UPDATE webhooks SET failing_since_us = $3
             WHERE company_id = $1 AND webhook_id = $2 AND failing_since_us IS NULL",
        )
        .bind(key.0)
        .bind(key.1)
        .bind(at),
        AttemptOutcome::Disable(reason) => sqlx::query(
            "UPDATE webhooks SET failing_since_us = COALESCE(failing_since_us, $3),
                 disabled_us = $3, disabled_reason = $4
             WHERE company_id = $1 AND webhook_id = $2",
        )
        .bind(key.0)
        .bind(key.1)
        .bind(at)
        .bind(reason.clone()),
    };
    endpoint.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn webhook_queue(pool: &Pool) -> Result<QueueStats, StoreError> {
    let (depth, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(d.created_us) FROM webhook_deliveries d
         JOIN webhooks w ON w.company_id = d.company_id AND w.webhook_id = d.webhook_id
         WHERE d.delivered_us IS NULL AND w.disabled_us IS NULL AND w.deleted_us IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueStats {
        depth,
        oldest: oldest.map(Timestamp::from_micros),
    })
}
