//! An endpoint that keeps failing (SPEC §13): disabled once every attempt
//! has failed for 5 days, not before. The failures' start is moved back
//! in the database (`webhooks.failing_since_us`, which the worker compares
//! each attempt's time with), rather than waited for.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, spawn_app};
use crate::webhooks::{
    COMPANY, Receiver, guest_event, host_connect, import_into, post_events, session_line,
    subscribe, summary, verifier_ready,
};

const HOUR_US: i64 = 3_600_000_000;

/// Enough 500s that the endpoint fails for the whole test.
fn always_500() -> Value {
    json!(vec![500; 200])
}

/// Starts the endpoint's run of failures `hours` before now, straight in
/// the database, as if it had been failing that long.
async fn failing_for(app: &TestApp, webhook_id: i64, hours: i64) -> i64 {
    use sqlx::Connection;
    let since = now_us() - hours * HOUR_US;
    let sql =
        format!("UPDATE webhooks SET failing_since_us = {since} WHERE webhook_id = {webhook_id}");
    let updated = if app.database.url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(&app.database.url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let mut connection = sqlx::PgConnection::connect(&app.database.url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap()
            .rows_affected()
    };
    assert_eq!(updated, 1);
    since
}

fn now_us() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_micros()).unwrap()
}

async fn endpoint(app: &TestApp, tenant: &Tenant) -> Value {
    let (status, webhooks) = app.send(tenant, Method::GET, "/webhook", None).await;
    assert_eq!(status, StatusCode::OK, "{webhooks}");
    webhooks[0].clone()
}

async fn attempts(app: &TestApp, tenant: &Tenant, webhook_id: i64) -> Vec<Value> {
    let (status, log) = app
        .send(
            tenant,
            Method::GET,
            &format!("/webhook/{webhook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log[0]["Attempts"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to 30 s) until the delivery has had `count` attempts.
async fn wait_for_attempts(
    app: &TestApp,
    tenant: &Tenant,
    webhook_id: i64,
    count: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempts = attempts(app, tenant, webhook_id).await;
        if attempts.len() >= count {
            return attempts;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} attempts: {attempts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An app whose endpoint answers 500 to every delivery, its first
/// attempt made (and so its run of failures begun).
async fn failing_endpoint() -> (TestApp, Tenant, Receiver, i64) {
    let app = spawn_app().await;
    import_into(&app, 0, &[session_line(100, 9, 3)]).await;
    let tenant = app.key_for(COMPANY).await;
    let receiver = Receiver::start();
    let webhook_id = subscribe(&app, &tenant, &receiver, None, always_500(), 0.0).await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    wait_for_attempts(&app, &tenant, webhook_id, 1).await;
    assert!(endpoint(&app, &tenant).await["FailingSinceTs"].is_string());
    (app, tenant, receiver, webhook_id)
}

#[tokio::test]
async fn five_days_of_failures_disable_the_endpoint_and_enable_brings_deliveries_back() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant, receiver, webhook_id) = failing_endpoint().await;
    failing_for(&app, webhook_id, 5 * 24).await;

    // The next failed attempt disables it (one already under way may
    // still have read the failures' old start: allow it).
    let deadline = Instant::now() + Duration::from_secs(30);
    let disabled = loop {
        let webhook = endpoint(&app, &tenant).await;
        if webhook["Enabled"] == false {
            break webhook;
        }
        assert!(Instant::now() < deadline, "still enabled: {webhook}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        disabled["DisabledReason"], "every attempt failed for 5 days",
        "{disabled}"
    );
    let log = attempts(&app, &tenant, webhook_id).await;
    let last = log.last().unwrap();
    assert_eq!(last["HttpStatus"], 500, "{last}");
    assert_eq!(
        last["Error"], "the endpoint is now disabled: every attempt failed for 5 days",
        "{last}"
    );
    assert!(
        log[..log.len() - 1]
            .iter()
            .all(|attempt| attempt["Error"].is_null()),
        "only the last attempt disabled it: {log:?}"
    );
    // Disabled: tried no more.
    let tried = receiver.settled().await.len();
    assert_eq!(tried, log.len());
    assert_eq!(receiver.settled().await.len(), tried);

    // Enabled, and answered 200 now: the message comes, same id, and so
    // do the new ones.
    receiver.answer_with(json!([])).await;
    let (status, enabled) = app
        .send(
            &tenant,
            Method::POST,
            &format!("/webhook/{webhook_id}/enable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["Enabled"], true);
    assert_eq!(enabled["FailingSinceTs"], Value::Null);
    let received = receiver.wait_for(tried + 1).await;
    assert_eq!(received[tried]["answer"], 200);
    assert_eq!(received[tried]["id"], received[0]["id"]);
    post_events(&app, json!([guest_event(100, 9, "Connect", 3, "10:01:00")])).await;
    let received = receiver.wait_for(tried + 2).await;
    assert_eq!(
        summary(&received[tried + 1]),
        ("SESSION_BILLING".into(), 100, json!("BILL"))
    );
    let webhook = endpoint(&app, &tenant).await;
    assert_eq!(webhook["Enabled"], true, "{webhook}");
    assert_eq!(webhook["FailingSinceTs"], Value::Null, "{webhook}");
}

#[tokio::test]
async fn four_days_and_23_hours_of_failures_do_not_disable_the_endpoint() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant, receiver, webhook_id) = failing_endpoint().await;
    let since = failing_for(&app, webhook_id, 5 * 24 - 1).await;
    // Two more failed attempts: at least one of them claimed after the
    // move, so it compared its time with the moved start.
    let before = attempts(&app, &tenant, webhook_id).await.len();
    let log = wait_for_attempts(&app, &tenant, webhook_id, before + 2).await;
    assert!(
        log.iter().all(|attempt| attempt["HttpStatus"] == 500),
        "{log:?}"
    );
    assert!(
        log.iter().all(|attempt| attempt["Error"].is_null()),
        "{log:?}"
    );
    let webhook = endpoint(&app, &tenant).await;
    assert_eq!(webhook["Enabled"], true, "{webhook}");
    assert_eq!(webhook["DisabledReason"], Value::Null, "{webhook}");
    // Still the same run of failures, from the moved start.
    let failing_since = webhook["FailingSinceTs"].as_str().unwrap();
    let expected = session_ledger::domain::Timestamp::from_micros(since).to_string();
    assert_eq!(failing_since, expected);

    // It recovers: delivered, and no longer failing.
    receiver.answer_with(json!([])).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver
        .received()
        .await
        .last()
        .map(|d| d["answer"].clone())
        != Some(json!(200))
    {
        assert!(Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let webhook = endpoint(&app, &tenant).await;
    assert_eq!(webhook["Enabled"], true, "{webhook}");
    assert_eq!(webhook["FailingSinceTs"], Value::Null, "{webhook}");
}
