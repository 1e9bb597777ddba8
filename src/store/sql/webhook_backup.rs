//! Outbound webhooks in the export, a full backup (SPEC §9, §13): after the
//! journal, each company's endpoints (secrets included), the messages not
//! yet delivered to all of them, and what already fired once. Import puts
//! them back as they were; they are not journaled (they are not ledger
//! changes), so an export of the import writes them once again.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Conn;
use super::journal::reserve_id;
use crate::domain::Timestamp;
use crate::domain::webhooks::{WebhookType, check_url, types_column, types_from_column};
use crate::store::StoreError;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub(crate) enum WebhookLine {
    Webhook(EndpointLine),
    WebhookMessage(MessageLine),
    WebhookMarks(MarksLine),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct EndpointLine {
    company_id: i64,
    webhook_id: i64,
    url: String,
    types: Vec<String>,
    secret: String,
    created_ts: Timestamp,
    #[serde(default)]
    disabled_ts: Option<Timestamp>,
    #[serde(default)]
    disabled_reason: Option<String>,
    #[serde(default)]
    failing_since_ts: Option<Timestamp>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct MessageLine {
    company_id: i64,
    /// Its number: `webhook-id` is `msg_{MessageId}`, kept across the move.
    message_id: i64,
    webhook_type: String,
    subject_id: i64,
    payload: String,
    created_ts: Timestamp,
    /// The endpoints it is still owed to.
    deliveries: Vec<DeliveryLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DeliveryLine {
    webhook_id: i64,
    attempts: i64,
    next_attempt_ts: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct MarksLine {
    company_id: i64,
    /// `[SubjectId, Mark]`: a session's `STARTED`, a month's `USAGE_80`…
    marks: Vec<(i64, String)>,
}

impl WebhookLine {
    /// A line of this kind, or `None` when its `Type` is another.
    pub(crate) fn parse(text: &str) -> Option<Result<Self, String>> {
        let value: Value = serde_json::from_str(text).ok()?;
        let kind = value.get("Type")?.as_str()?.to_owned();
        if !matches!(kind.as_str(), "Webhook" | "WebhookMessage" | "WebhookMarks") {
            return None;
        }
        Some(serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            format!("{kind} line: {path}: {}", error.into_inner())
        }))
    }
}

/// Every company's webhook lines, as JSON text.
pub(crate) async fn export_lines(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    type EndpointRow = (
        i64,
        i64,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let endpoints: Vec<EndpointRow> = sqlx::query_as(
        "SELECT company_id, webhook_id, url, types, secret, created_us, disabled_us,
                disabled_reason, failing_since_us
         FROM webhooks WHERE deleted_us IS NULL ORDER BY company_id, webhook_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (company_id, webhook_id, url, types, secret, created, disabled, reason, failing) in
        endpoints
    {
        lines.push(WebhookLine::Webhook(EndpointLine {
            company_id,
            webhook_id,
            url,
            types: types_from_column(&types)
                .into_iter()
                .map(|kind| kind.as_str().to_owned())
                .collect(),
            secret,
            created_ts: Timestamp::from_micros(created),
            disabled_ts: disabled.map(Timestamp::from_micros),
            disabled_reason: reason,
            failing_since_ts: failing.map(Timestamp::from_micros),
        }));
    }
    type MessageRow = (i64, i64, String, i64, String, i64, i64, i64, i64);
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT e.company_id, e.event_id, e.webhook_type, e.subject_id, e.payload, e.created_us,
                d.webhook_id, d.attempts, d.next_attempt_us
         FROM webhook_deliveries d
         JOIN webhook_events e ON e.company_id = d.company_id AND e.event_id = d.event_id
         WHERE d.delivered_us IS NULL
         ORDER BY e.company_id, e.event_id, d.webhook_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut message: Option<MessageLine> = None;
    for (company_id, event_id, kind, subject_id, payload, created, webhook_id, attempts, next) in
        rows
    {
        let delivery = DeliveryLine {
            webhook_id,
            attempts,
            next_attempt_ts: Timestamp::from_micros(next),
        };
        match &mut message {
            Some(current) if (current.company_id, current.message_id) == (company_id, event_id) => {
                current.deliveries.push(delivery)
            }
            _ => {
                if let Some(done) = message.take() {
                    lines.push(WebhookLine::WebhookMessage(done));
                }
                message = Some(MessageLine {
                    company_id,
                    message_id: event_id,
                    webhook_type: kind,
                    subject_id,
                    payload,
                    created_ts: Timestamp::from_micros(created),
                    deliveries: vec![delivery],
                });
            }
        }
    }
    if let Some(done) = message {
        lines.push(WebhookLine::WebhookMessage(done));
    }
    let marks: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT company_id, subject_id, mark FROM webhook_marks ORDER BY company_id, subject_id, mark",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut current: Option<MarksLine> = None;
    for (company_id, subject_id, mark) in marks {
        match &mut current {
            Some(line) if line.company_id == company_id => line.marks.push((subject_id, mark)),
            _ => {
                if let Some(done) = current.take() {
                    lines.push(WebhookLine::WebhookMarks(done));
                }
                current = Some(MarksLine {
                    company_id,
                    marks: vec![(subject_id, mark)],
                });
            }
        }
    }
    if let Some(done) = current {
        lines.push(WebhookLine::WebhookMarks(done));
    }
    lines
        .iter()
        .map(|line| serde_json::to_string(line).map_err(|error| StoreError::Io(error.into())))
        .collect()
}

/// Puts one webhook line back, as exported.
pub(crate) async fn restore(conn: &mut Conn, line: WebhookLine) -> Result<(), StoreError> {
    match line {
        WebhookLine::Webhook(endpoint) => restore_endpoint(conn, endpoint).await,
        WebhookLine::WebhookMessage(message) => restore_message(conn, message).await,
        WebhookLine::WebhookMarks(marks) => {
            for (subject_id, mark) in marks.marks {
                sqlx::query(
                    "INSERT INTO webhook_marks (company_id, subject_id, mark) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(marks.company_id)
                .bind(subject_id)
                .bind(mark)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }
    }
}

async fn company_exists(conn: &mut Conn, company_id: i64) -> Result<(), StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT company_id FROM companies WHERE company_id = $1")
            .bind(company_id)
            .fetch_optional(&mut *conn)
            .await?;
    found
        .map(drop)
        .ok_or_else(|| StoreError::Invalid(format!("company {company_id} is not in the log")))
}

async fn restore_endpoint(conn: &mut Conn, endpoint: EndpointLine) -> Result<(), StoreError> {
    company_exists(&mut *conn, endpoint.company_id).await?;
    // Checked as any URL would be, short of the operator's allowances,
    // which the next deliveries check again anyway.
    let permissive = crate::domain::webhooks::UrlPolicy {
        allow_http: true,
        allow_private: true,
    };
    check_url(&endpoint.url, permissive).map_err(StoreError::Invalid)?;
    let types: Vec<WebhookType> = endpoint
        .types
        .iter()
        .map(|text| {
            WebhookType::parse(text).ok_or_else(|| {
                StoreError::Invalid(format!("Types: '{text}' is not a webhook type"))
            })
        })
        .collect::<Result<_, _>>()?;
    if crate::domain::webhooks::secret_key(&endpoint.secret).is_none() {
        return Err(StoreError::Invalid("Secret is not a whsec_ secret".into()));
    }
    reserve_id(&mut *conn, endpoint.webhook_id).await?;
    sqlx::query(
        "INSERT INTO webhooks (company_id, webhook_id, url, types, secret, created_us,
             disabled_us, disabled_reason, failing_since_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(endpoint.company_id)
    .bind(endpoint.webhook_id)
    .bind(&endpoint.url)
    .bind(types_column(&types))
    .bind(&endpoint.secret)
    .bind(endpoint.created_ts.as_micros())
    .bind(endpoint.disabled_ts.map(Timestamp::as_micros))
    .bind(&endpoint.disabled_reason)
    .bind(endpoint.failing_since_ts.map(Timestamp::as_micros))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn restore_message(conn: &mut Conn, message: MessageLine) -> Result<(), StoreError> {
    company_exists(&mut *conn, message.company_id).await?;
    if WebhookType::parse(&message.webhook_type).is_none() {
        return Err(StoreError::Invalid(format!(
            "WebhookType '{}' is not a webhook type",
            message.webhook_type
        )));
    }
    reserve_id(&mut *conn, message.message_id).await?;
    sqlx::query(
        "INSERT INTO webhook_events (company_id, event_id, webhook_type, subject_id, payload, created_us)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(message.company_id)
    .bind(message.message_id)
    .bind(&message.webhook_type)
    .bind(message.subject_id)
    .bind(&message.payload)
    .bind(message.created_ts.as_micros())
    .execute(&mut *conn)
    .await?;
    for delivery in message.deliveries {
        let endpoint: Option<i64> = sqlx::query_scalar(
            "SELECT webhook_id FROM webhooks WHERE company_id = $1 AND webhook_id = $2",
        )
        .bind(message.company_id)
        .bind(delivery.webhook_id)
        .fetch_optional(&mut *conn)
        .await?;
        if endpoint.is_none() {
            return Err(StoreError::Invalid(format!(
                "webhook {} is not in the log before its messages",
                delivery.webhook_id
            )));
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries
                 (company_id, webhook_id, event_id, subject_id, created_us, attempts, next_attempt_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(message.company_id)
        .bind(delivery.webhook_id)
        .bind(message.message_id)
        .bind(message.subject_id)
        .bind(message.created_ts.as_micros())
        .bind(delivery.attempts)
        .bind(delivery.next_attempt_ts.as_micros())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
