//! The transactional outbox of outbound webhooks (SPEC §13): the messages
//! a change causes are written in the change's own transaction, so a commit
//! and its messages are kept or lost together. One `webhook_events` row per
//! change, with its envelope, and one delivery row per endpoint subscribed
//! to its type when it was written; the delivery workers send them.

use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::journal::ROWS_PER_INSERT;
use super::{Conn, Db, INSERT_MANY, next_block};
use crate::domain::status::usage_description;
use crate::domain::webhooks::{WebhookType, envelope, types_from_column};
use crate::domain::{BillableStatus, Month, Timestamp};
use crate::store::{Counter, Rules, StoreError};

/// A session's billing record as it was before a run of derivations.
pub(super) struct Before {
    pub(super) status: Option<String>,
    pub(super) duration_minutes: Option<i64>,
}

/// A session's billing record as a run of derivations left it.
pub(super) struct After {
    pub(super) host_user_id: i64,
    pub(super) schedule_ts: i64,
    pub(super) billable_ts: Option<i64>,
    pub(super) duration_minutes: Option<i64>,
    pub(super) status: Option<&'static str>,
    pub(super) guest_names: String,
    /// The earliest connection of any party, if anyone connected.
    pub(super) first_connect: Option<i64>,
}

/// The sessions a run derived, each with its record before the run (as
/// first loaded) and after it (as last derived), in the order first derived.
#[derive(Default)]
pub(super) struct Outbox {
    sessions: Vec<((i64, i64), Before, After)>,
    index: HashMap<(i64, i64), usize>,
}

impl Outbox {
    pub(super) fn track(&mut self, key: (i64, i64), before: impl FnOnce() -> Before, after: After) {
        match self.index.get(&key) {
            Some(&at) => self.sessions[at].2 = after,
            None => {
                self.index.insert(key, self.sessions.len());
                self.sessions.push((key, before(), after));
            }
        }
    }
}

/// A message to write: what it is about and its envelope.
pub(super) struct Message {
    pub(super) company_id: i64,
    pub(super) kind: WebhookType,
    /// The session (or, for usage, the company) whose messages keep their order.
    pub(super) subject_id: i64,
    pub(super) payload: String,
}

/// The types that the endpoints of each company subscribe to, over the
/// endpoints that are enabled; companies without any are left out.
async fn subscriptions(
    conn: &mut Conn,
    company_ids: &[i64],
) -> Result<HashMap<i64, HashSet<WebhookType>>, StoreError> {
    let mut subscribed: HashMap<i64, HashSet<WebhookType>> = HashMap::new();
    for chunk in company_ids.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT company_id, types FROM webhooks
             WHERE disabled_us IS NULL AND deleted_us IS NULL AND company_id IN ",
        );
        super::push_id_list(&mut sql, chunk);
        let rows: Vec<(i64, String)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        for (company_id, types) in rows {
            subscribed
                .entry(company_id)
                .or_default()
                .extend(types_from_column(&types));
        }
    }
    Ok(subscribed)
}

/// Writes the messages of what a run of derivations changed: a session's
/// first connection (`SESSION_STATUS` `STARTED`), a new status or duration
/// (`SESSION_BILLING`), and a month's counted sessions reaching 80 % or
/// 100 % of the plan (`USAGE_THRESHOLD`).
pub(super) async fn write_derived(
    conn: &mut Conn,
    outbox: Outbox,
    now: Timestamp,
    rules: &Rules,
) -> Result<(), StoreError> {
    if !rules.emit_webhooks || outbox.sessions.is_empty() {
        return Ok(());
    }
    let mut company_ids: Vec<i64> = outbox.sessions.iter().map(|((c, _), ..)| *c).collect();
    company_ids.sort_unstable();
    company_ids.dedup();
    let subscribed = subscriptions(&mut *conn, &company_ids).await?;
    if subscribed.is_empty() {
        return Ok(());
    }
    let wants = |company_id: i64, kind: WebhookType| {
        subscribed
            .get(&company_id)
            .is_some_and(|types| types.contains(&kind))
    };
    let sessions: Vec<_> = outbox
        .sessions
        .into_iter()
        .filter(|((company_id, _), ..)| subscribed.contains_key(company_id))
        .collect();

    // A session that was billable before the run had started already.
    let may_have_started: Vec<(i64, i64)> = sessions
        .iter()
        .filter(|((company_id, _), before, after)| {
            wants(*company_id, WebhookType::SessionStatus)
                && before.status.is_none()
                && after.first_connect.is_some()
        })
        .map(|(key, ..)| *key)
        .collect();
    let started = mark_once(&mut *conn, &may_have_started, "STARTED").await?;

    let changed: Vec<&((i64, i64), Before, After)> = sessions
        .iter()
        .filter(|((company_id, _), before, after)| {
            wants(*company_id, WebhookType::SessionBilling)
                && (before.status.as_deref() != after.status
                    || before.duration_minutes != after.duration_minutes)
        })
        .collect();
    let hosts = host_names(
        &mut *conn,
        changed
            .iter()
            .map(|((company_id, _), _, after)| (*company_id, after.host_user_id)),
    )
    .await?;

    let mut messages = Vec::new();
    for ((company_id, session_id), before, after) in &sessions {
        let key = (*company_id, *session_id);
        if started.contains(&key) {
            let at = Timestamp::from_micros(after.first_connect.unwrap_or_default());
            messages.push(Message {
                company_id: *company_id,
                kind: WebhookType::SessionStatus,
                subject_id: *session_id,
                payload: envelope(
                    WebhookType::SessionStatus,
                    *session_id,
                    Some("STARTED"),
                    at,
                    &[],
                )
                .to_string(),
            });
        }
        let billing_changed = wants(*company_id, WebhookType::SessionBilling)
            && (before.status.as_deref() != after.status
                || before.duration_minutes != after.duration_minutes);
        if billing_changed {
            let host = hosts
                .get(&(*company_id, after.host_user_id))
                .map_or("", String::as_str);
            messages.push(billing_message(key, after, host, now, rules));
        }
    }
    messages.extend(usage_messages(&mut *conn, &sessions, &wants, now).await?);
    write_messages(conn, &messages).await
}

/// The `SESSION_BILLING` message of a session's new billing record: its
/// History fields as attributes.
fn billing_message(
    (company_id, session_id): (i64, i64),
    after: &After,
    host_full_name: &str,
    now: Timestamp,
    rules: &Rules,
) -> Message {
    let status = after.status.and_then(BillableStatus::from_code);
    let description = usage_description(
        host_full_name,
        session_id,
        &after.guest_names,
        status,
        &rules.platform_name,
    );
    let time = |micros: i64| Timestamp::from_micros(micros).to_string();
    let attributes = [
        ("SessionId", Some(session_id.to_string())),
        ("ScheduleTs", Some(time(after.schedule_ts))),
        ("BillableTs", after.billable_ts.map(time)),
        (
            "DurationMinutes",
            after.duration_minutes.map(|minutes| minutes.to_string()),
        ),
        ("BillableStatusCd", after.status.map(str::to_owned)),
        ("UserId", Some(after.host_user_id.to_string())),
        ("UsageDescription", Some(description)),
    ];
    Message {
        company_id,
        kind: WebhookType::SessionBilling,
        subject_id: session_id,
        payload: envelope(
            WebhookType::SessionBilling,
            session_id,
            after.status,
            now,
            &attributes,
        )
        .to_string(),
    }
}

/// The share of the plan's included sessions that fire `USAGE_THRESHOLD`.
const THRESHOLDS: [i64; 2] = [80, 100];

/// `USAGE_THRESHOLD` messages of the months in which sessions became
/// counted (`BILL`): each threshold once per company and month, when the
/// month's counted sessions reach it. A plan with no included sessions has
/// no thresholds.
async fn usage_messages(
    conn: &mut Conn,
    sessions: &[((i64, i64), Before, After)],
    wants: &impl Fn(i64, WebhookType) -> bool,
    now: Timestamp,
) -> Result<Vec<Message>, StoreError> {
    let bill = BillableStatus::Bill.code();
    let mut months: Vec<(i64, Month)> = sessions
        .iter()
        .filter(|((company_id, _), before, after)| {
            wants(*company_id, WebhookType::UsageThreshold)
                && after.status == Some(bill)
                && before.status.as_deref() != Some(bill)
        })
        .filter_map(|((company_id, _), _, after)| {
            let at = Timestamp::from_micros(after.billable_ts?);
            Some((
                *company_id,
                Month::containing(at.to_offset_date_time().date()),
            ))
        })
        .collect();
    months.sort_by_key(|(company_id, month)| (*company_id, month.start()));
    months.dedup_by_key(|(company_id, month)| (*company_id, month.start()));
    // Each month's counted sessions against its company's plan, all in one
    // query: a query a month was a round trip each to PostgreSQL, inside
    // the transaction of the write that caused them.
    let mut reached: Vec<(i64, Month, i64, i64)> = Vec::new();
    for chunk in months.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT k.column1, k.column2, c.included_sessions,
                    (SELECT COUNT(*) FROM sessions s
                     WHERE s.company_id = k.column1 AND s.history_group = 0
                       AND s.history_ts >= k.column2 AND s.history_ts < k.column3
                       AND s.status = 'BILL' AND s.state <> 'cancelled')
             FROM (",
        );
        sql.push_values(chunk, |mut row, (company_id, month)| {
            row.push_bind(*company_id)
                .push_bind(month.start().as_micros())
                .push_bind(month.end().as_micros());
        });
        sql.push(
            ") AS k JOIN companies c ON c.company_id = k.column1
             WHERE c.included_sessions > 0",
        );
        let rows: Vec<(i64, i64, i64, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        let month_of: HashMap<(i64, i64), Month> = chunk
            .iter()
            .map(|(company_id, month)| ((*company_id, month.start().as_micros()), *month))
            .collect();
        reached.extend(
            rows.into_iter()
                .map(|(company_id, start, included, counted)| {
                    (
                        company_id,
                        month_of[&(company_id, start)],
                        included,
                        counted,
                    )
                }),
        );
    }
    reached.sort_by_key(|(company_id, month, ..)| (*company_id, month.start()));
    let mut marked = HashMap::new();
    for threshold in THRESHOLDS {
        let keys: Vec<(i64, i64)> = reached
            .iter()
            .filter(|(.., included, counted)| counted * 100 >= included * threshold)
            .map(|(company_id, month, ..)| (*company_id, month.start().as_micros()))
            .collect();
        let mark = format!("USAGE_{threshold}");
        marked.insert(threshold, mark_once(&mut *conn, &keys, &mark).await?);
    }
    let mut messages = Vec::new();
    for (company_id, month, included, counted) in reached {
        for threshold in THRESHOLDS {
            if !marked[&threshold].contains(&(company_id, month.start().as_micros())) {
                continue;
            }
            let attributes = [
                ("Month", Some(month.to_string())),
                ("CountedSessions", Some(counted.to_string())),
                ("IncludedSessions", Some(included.to_string())),
            ];
            let status = threshold.to_string();
            messages.push(Message {
                company_id,
                kind: WebhookType::UsageThreshold,
                subject_id: company_id,
                payload: envelope(
                    WebhookType::UsageThreshold,
                    company_id,
                    Some(&status),
                    now,
                    &attributes,
                )
                .to_string(),
            });
        }
    }
    Ok(messages)
}

/// Records `mark` for each `(company, subject)` that does not have it yet;
/// answers those that did not.
async fn mark_once(
    conn: &mut Conn,
    keys: &[(i64, i64)],
    mark: &str,
) -> Result<HashSet<(i64, i64)>, StoreError> {
    let mut marked = HashSet::new();
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut sql =
            QueryBuilder::<Db>::new("INSERT INTO webhook_marks (company_id, subject_id, mark) ");
        sql.push_values(chunk, |mut row, &(company_id, subject_id)| {
            row.push_bind(company_id)
                .push_bind(subject_id)
                .push_bind(mark.to_owned());
        });
        sql.push(" ON CONFLICT DO NOTHING RETURNING company_id, subject_id");
        let rows: Vec<(i64, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        marked.extend(rows);
    }
    Ok(marked)
}

/// The full names of the hosts, by company and user.
async fn host_names(
    conn: &mut Conn,
    hosts: impl Iterator<Item = (i64, i64)>,
) -> Result<HashMap<(i64, i64), String>, StoreError> {
    let mut hosts: Vec<(i64, i64)> = hosts.collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut names = HashMap::new();
    for chunk in hosts.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new("SELECT u.company_id, u.user_id, u.full_name FROM ");
        super::push_keys(&mut sql, chunk);
        sql.push(" JOIN users u ON u.company_id = k.column1 AND u.user_id = k.column2");
        let rows: Vec<(i64, i64, String)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        names.extend(
            rows.into_iter()
                .map(|(company_id, user_id, name)| ((company_id, user_id), name)),
        );
    }
    Ok(names)
}

/// The `SESSION_STATUS` `ENDED` message of a session deactivated at `at`.
pub(super) async fn write_ended(
    conn: &mut Conn,
    (company_id, session_id): (i64, i64),
    at: Timestamp,
    rules: &Rules,
) -> Result<(), StoreError> {
    if !rules.emit_webhooks {
        return Ok(());
    }
    let subscribed = subscriptions(&mut *conn, &[company_id]).await?;
    if !subscribed
        .get(&company_id)
        .is_some_and(|types| types.contains(&WebhookType::SessionStatus))
    {
        return Ok(());
    }
    let message = Message {
        company_id,
        kind: WebhookType::SessionStatus,
        subject_id: session_id,
        payload: envelope(
            WebhookType::SessionStatus,
            session_id,
            Some("ENDED"),
            at,
            &[],
        )
        .to_string(),
    };
    write_messages(conn, &[message]).await
}

/// Writes the messages, numbered in order, and a delivery of each to every
/// enabled endpoint of its company subscribed to its type, due at once.
async fn write_messages(conn: &mut Conn, messages: &[Message]) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids = next_block(&mut *conn, Counter::Entity, messages.len()).await?;
    let rows: Vec<(i64, &Message)> = ids.into_iter().zip(messages).collect();
    let written = Timestamp::now().as_micros();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{INSERT_MANY} webhook_events (company_id, event_id, webhook_type, subject_id, payload, created_us) "
        ));
        sql.push_values(chunk, |mut row, (event_id, message)| {
            row.push_bind(message.company_id)
                .push_bind(*event_id)
                .push_bind(message.kind.as_str())
                .push_bind(message.subject_id)
                .push_bind(message.payload.clone())
                .push_bind(written);
        });
        sql.build().execute(&mut *conn).await?;
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_deliveries
                 (company_id, webhook_id, event_id, subject_id, created_us, next_attempt_us)
             SELECT e.column1, w.webhook_id, e.column2, e.column4, ",
        );
        sql.push_bind(written)
            .push(", ")
            .push_bind(written)
            .push(" FROM (");
        sql.push_values(chunk, |mut row, (event_id, message)| {
            row.push_bind(message.company_id)
                .push_bind(*event_id)
                .push_bind(format!("%,{},%", message.kind.as_str()))
                .push_bind(message.subject_id);
        });
        sql.push(
            ") AS e JOIN webhooks w ON w.company_id = e.column1
             WHERE w.disabled_us IS NULL AND w.deleted_us IS NULL AND w.types LIKE e.column3",
        );
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
