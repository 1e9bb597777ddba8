//! Outbound webhooks' endpoints, deliveries and attempts (SPEC §13). The
//! outbox's rows are written by `outbox`, in the changes' transactions;
//! here the tenants' endpoints are kept and the delivery workers claim and
//! settle deliveries. None of this is company data that History or the key
//! cache read, so these commits announce nothing to other nodes.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::journal::ROWS_PER_INSERT;
use super::journal::next_id;
use super::{Conn, Db, Pool, UPDATE_MANY, begin_write};
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

/// Logs a round of attempts and moves their deliveries and endpoints on,
/// in one transaction: a round of deliveries costs one writer's turn, not
/// one each, so the writes that cause messages are not kept waiting.
pub(crate) async fn record_webhook_attempts(
    pool: &Pool,
    attempts: &[(ClaimedDelivery, AttemptRecord)],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut tx = begin_write(pool).await?;
    for chunk in attempts.chunks(ROWS_PER_INSERT) {
        let numbers = last_attempt_numbers(&mut tx, chunk).await?;
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_attempts
                 (company_id, webhook_id, event_id, attempt, at_us, http_status, latency_ms, response, error) ",
        );
        sql.push_values(chunk, |mut row, (claimed, attempt)| {
            let key = (claimed.company_id, claimed.webhook_id, claimed.event_id);
            row.push_bind(key.0)
                .push_bind(key.1)
                .push_bind(key.2)
                .push_bind(numbers.get(&key).copied().unwrap_or(0) + 1)
                .push_bind(attempt.at.as_micros())
                .push_bind(attempt.http_status.map(i64::from))
                .push_bind(attempt.latency_ms)
                .push_bind(attempt.response.clone())
                .push_bind(attempt.error.clone());
        });
        sql.build().execute(&mut *tx).await?;
        // A retry asked for while an attempt was under way ended its
        // lease: that delivery stays due, to be sent again.
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{UPDATE_MANY} webhook_deliveries
             SET attempts = attempts + 1, delivered_us = v.column4, next_attempt_us = v.column5,
                 claimed_until_us = 0
             FROM ("
        ));
        sql.push_values(chunk, |mut row, (claimed, attempt)| {
            let at = attempt.at.as_micros();
            let (delivered, next_attempt) = match &attempt.outcome {
                AttemptOutcome::Delivered => (Some(at), at),
                AttemptOutcome::RetryAt(when) => (None, when.as_micros()),
                AttemptOutcome::Disable(_) => (None, at),
            };
            row.push_bind(claimed.company_id)
                .push_bind(claimed.webhook_id)
                .push_bind(claimed.event_id)
                .push_bind(delivered)
                .push_bind(next_attempt)
                .push_bind(claimed.lease_until.as_micros());
        });
        sql.push(
            ") AS v WHERE webhook_deliveries.company_id = v.column1
                 AND webhook_deliveries.webhook_id = v.column2
                 AND webhook_deliveries.event_id = v.column3
                 AND webhook_deliveries.claimed_until_us = v.column6",
        );
        sql.build().execute(&mut *tx).await?;
    }
    settle_endpoints(&mut tx, attempts).await?;
    tx.commit().await?;
    Ok(())
}

/// The number of each delivery's latest logged attempt (none: absent).
async fn last_attempt_numbers(
    conn: &mut Conn,
    attempts: &[(ClaimedDelivery, AttemptRecord)],
) -> Result<HashMap<(i64, i64, i64), i64>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT a.company_id, a.webhook_id, a.event_id, MAX(a.attempt) FROM (",
    );
    sql.push_values(attempts, |mut row, (claimed, _)| {
        row.push_bind(claimed.company_id)
            .push_bind(claimed.webhook_id)
            .push_bind(claimed.event_id);
    });
    sql.push(
        ") AS k JOIN webhook_attempts a
             ON a.company_id = k.column1 AND a.webhook_id = k.column2 AND a.event_id = k.column3
         GROUP BY a.company_id, a.webhook_id, a.event_id",
    );
    let rows: Vec<(i64, i64, i64, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(company_id, webhook_id, event_id, number)| {
            ((company_id, webhook_id, event_id), number)
        })
        .collect())
}

/// What a round's attempts do to an endpoint's run of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailingSince {
    /// It ends (the last attempt delivered).
    Cleared,
    /// It begins at this time unless one is under way already.
    BeganUnlessFailing(i64),
    /// It began at this time (after an attempt of the round delivered).
    Began(i64),
}

/// What a round's attempts did to one endpoint.
#[derive(Debug)]
struct EndpointChange<'a> {
    /// Company and webhook ids.
    endpoint: (i64, i64),
    failing: FailingSince,
    /// When and why the first attempt that disabled it did, if one did.
    disabled: Option<(i64, &'a str)>,
}

/// Each endpoint's run of failures after the round's attempts, taken in
/// the order they finished as if recorded one by one, and whether one
/// disabled it.
fn endpoint_changes(attempts: &[(ClaimedDelivery, AttemptRecord)]) -> Vec<EndpointChange<'_>> {
    let mut finished: Vec<&(ClaimedDelivery, AttemptRecord)> = attempts.iter().collect();
    finished.sort_by_key(|(_, attempt)| attempt.at.as_micros() + attempt.latency_ms * 1_000);
    let mut changes: Vec<EndpointChange<'_>> = Vec::new();
    let mut index: HashMap<(i64, i64), usize> = HashMap::new();
    for (claimed, attempt) in finished {
        let endpoint = (claimed.company_id, claimed.webhook_id);
        let at = attempt.at.as_micros();
        let failed = FailingSince::BeganUnlessFailing(at);
        let Some(&at_index) = index.get(&endpoint) else {
            index.insert(endpoint, changes.len());
            changes.push(EndpointChange {
                endpoint,
                failing: match attempt.outcome {
                    AttemptOutcome::Delivered => FailingSince::Cleared,
                    _ => failed,
                },
                disabled: match &attempt.outcome {
                    AttemptOutcome::Disable(reason) => Some((at, reason.as_str())),
                    _ => None,
                },
            });
            continue;
        };
        let change = &mut changes[at_index];
        change.failing = match (&attempt.outcome, change.failing) {
            (AttemptOutcome::Delivered, _) => FailingSince::Cleared,
            (_, FailingSince::Cleared) => FailingSince::Began(at),
            (_, under_way) => under_way,
        };
        if let AttemptOutcome::Disable(reason) = &attempt.outcome
            && change.disabled.is_none()
        {
            change.disabled = Some((at, reason.as_str()));
        }
    }
    changes
}

/// Writes what the round's attempts changed of their endpoints. An
/// endpoint's row is written only when its state changes: an attempt
/// writing it every time made concurrent attempts to one endpoint wait for
/// each other's commits (PostgreSQL row locks).
async fn settle_endpoints(
    conn: &mut Conn,
    attempts: &[(ClaimedDelivery, AttemptRecord)],
) -> Result<(), StoreError> {
    let changes = endpoint_changes(attempts);
    let cleared: Vec<(i64, i64)> = changes
        .iter()
        .filter(|change| change.failing == FailingSince::Cleared)
        .map(|change| change.endpoint)
        .collect();
    for chunk in cleared.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{UPDATE_MANY} webhooks SET failing_since_us = NULL FROM "
        ));
        super::push_keys(&mut sql, chunk);
        sql.push(
            " WHERE webhooks.company_id = k.column1 AND webhooks.webhook_id = k.column2
                AND webhooks.failing_since_us IS NOT NULL",
        );
        sql.build().execute(&mut *conn).await?;
    }
    for EndpointChange {
        endpoint: (company_id, webhook_id),
        failing,
        disabled,
    } in changes
    {
        let began = match failing {
            FailingSince::Cleared => None,
            FailingSince::BeganUnlessFailing(at) => Some((
                "UPDATE webhooks SET failing_since_us = $3
                 WHERE company_id = $1 AND webhook_id = $2 AND failing_since_us IS NULL",
                at,
            )),
            FailingSince::Began(at) => Some((
                "UPDATE webhooks SET failing_since_us = $3 WHERE company_id = $1 AND webhook_id = $2",
                at,
            )),
        };
        if let Some((statement, at)) = began {
            sqlx::query(statement)
                .bind(company_id)
                .bind(webhook_id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        if let Some((at, reason)) = disabled {
            sqlx::query(
                "UPDATE webhooks SET disabled_us = $3, disabled_reason = $4
                 WHERE company_id = $1 AND webhook_id = $2",
            )
            .bind(company_id)
            .bind(webhook_id)
            .bind(at)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt of delivery `event_id` to endpoint 7 of company 1 that
    /// began at `at` ms, took `latency_ms` and came to `outcome`.
    fn attempt(
        event_id: i64,
        at: i64,
        latency_ms: i64,
        outcome: AttemptOutcome,
    ) -> (ClaimedDelivery, AttemptRecord) {
        let claimed = ClaimedDelivery {
            company_id: 1,
            webhook_id: 7,
            event_id,
            attempts: 0,
            url: "https://example.com/hook".into(),
            secret: String::new(),
            payload: "{}".into(),
            failing_since: None,
            lease_until: Timestamp::from_micros(0),
        };
        let record = AttemptRecord {
            at: Timestamp::from_micros(at * 1_000),
            http_status: None,
            latency_ms,
            response: String::new(),
            error: None,
            outcome,
        };
        (claimed, record)
    }

    fn failed() -> AttemptOutcome {
        AttemptOutcome::RetryAt(Timestamp::from_micros(0))
    }

    #[test]
    fn a_round_settles_an_endpoint_as_its_attempts_in_the_order_they_finished() {
        use AttemptOutcome::Delivered;
        let only = |round: &[(ClaimedDelivery, AttemptRecord)]| {
            let changes = endpoint_changes(round);
            assert_eq!(changes.len(), 1, "one endpoint");
            assert_eq!(changes[0].endpoint, (1, 7));
            (
                changes[0].failing,
                changes[0].disabled.map(|(at, why)| (at, why.to_owned())),
            )
        };
        // Delivered last: the run of failures ends.
        assert_eq!(
            only(&[attempt(1, 0, 5, failed()), attempt(2, 10, 5, Delivered)]).0,
            FailingSince::Cleared
        );
        // Failed last, with no delivery in the round: a run begins at the
        // first failure unless one is under way.
        assert_eq!(
            only(&[attempt(1, 0, 5, failed()), attempt(2, 10, 5, failed())]).0,
            FailingSince::BeganUnlessFailing(0)
        );
        // A delivery finished, then failures: the run began at the first
        // failure after it, whatever came before.
        assert_eq!(
            only(&[
                attempt(1, 0, 1, failed()),
                attempt(2, 2, 1, Delivered),
                attempt(3, 20, 1, failed()),
                attempt(4, 30, 1, failed()),
            ])
            .0,
            FailingSince::Began(20_000)
        );
        // The order is that of finishing, not of claiming: the slow
        // delivery finished after the failure.
        assert_eq!(
            only(&[attempt(1, 0, 900, Delivered), attempt(2, 10, 5, failed())]).0,
            FailingSince::Cleared
        );
        // A 410 disables, once, with the first reason; it counts as failed.
        let gone = |why: &str| AttemptOutcome::Disable(why.into());
        assert_eq!(
            only(&[
                attempt(1, 4, 1, gone("first")),
                attempt(2, 8, 1, gone("second"))
            ]),
            (
                FailingSince::BeganUnlessFailing(4_000),
                Some((4_000, "first".to_owned()))
            )
        );
    }

    #[test]
    fn each_endpoint_of_a_round_is_settled_on_its_own() {
        let mut other = attempt(2, 0, 1, failed());
        other.0.webhook_id = 8;
        let round = [attempt(1, 0, 1, AttemptOutcome::Delivered), other];
        let by_endpoint: HashMap<(i64, i64), FailingSince> = endpoint_changes(&round)
            .into_iter()
            .map(|change| (change.endpoint, change.failing))
            .collect();
        assert_eq!(by_endpoint[&(1, 7)], FailingSince::Cleared);
        assert_eq!(by_endpoint[&(1, 8)], FailingSince::BeganUnlessFailing(0));
    }
}
