//! Authentication under attack: a key's budget is spent only by requests
//! that authenticate with it, failed authentications are limited per
//! client address, and odd key ids never reach a query — the same on both
//! stores (this module runs on each).

use std::net::IpAddr;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{OPERATOR_TOKEN, Tenant, TestApp, assert_error, spawn_app, spawn_app_with};
use crate::seed::SEED_SETUP;

/// A client whose connections come from another loopback address, as a
/// second machine's would.
fn client_from(address: [u8; 4]) -> Client {
    Client::builder()
        .local_address(IpAddr::from(address))
        .build()
        .unwrap()
}

async fn history_as(app: &TestApp, client: &Client, key: &str, secret: &str) -> Response {
    client
        .get(app.url("/history"))
        .basic_auth(key, Some(secret))
        .send()
        .await
        .unwrap()
}

async fn seeded(
    configure: impl FnOnce(&mut session_ledger::config::Settings),
) -> (TestApp, Tenant) {
    let app = spawn_app_with(configure).await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    (app, tenant)
}

#[tokio::test]
async fn wrong_secrets_with_a_real_key_id_do_not_spend_its_budget() {
    // 100 a second in bursts of 200 per key; 60 failures a minute per address.
    let (app, tenant) = seeded(|_| {}).await;
    let attacker = client_from([127, 0, 0, 2]);
    let mut refused = [0u32; 2];
    for _ in 0..400 {
        let response = history_as(&app, &attacker, &tenant.api_key, "wrong-secret").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => refused[0] += 1,
            StatusCode::TOO_MANY_REQUESTS => refused[1] += 1,
            other => panic!("a wrong secret got {other}"),
        }
        assert!(
            !response.headers().contains_key("x-ratelimit-remaining"),
            "an unauthenticated answer says nothing of the key's budget"
        );
    }
    // 60 at once, then one a second as the bucket refills.
    assert!(
        (60..=75).contains(&refused[0]),
        "401 until the address's failures are spent: {refused:?}"
    );
    // The tenant, from its own address, still has its whole budget.
    let response = history_as(&app, &app.client, &tenant.api_key, &tenant.api_secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "199");
}

#[tokio::test]
async fn failed_authentications_are_limited_per_client_address() {
    let (app, tenant) = seeded(|settings| settings.failed_auth_per_minute = 5).await;
    let attacker = client_from([127, 0, 0, 3]);
    for _ in 0..5 {
        let response = history_as(&app, &attacker, &tenant.api_key, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = history_as(&app, &attacker, "k1_unknown", "guess").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_error(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "failed authentications",
    )
    .await;
    // Not even good credentials are checked from that address now.
    let good = history_as(&app, &attacker, &tenant.api_key, &tenant.api_secret).await;
    assert_eq!(good.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address is not limited by it, and its first failures are 401s.
    let wrong = history_as(&app, &app.client, &tenant.api_key, "guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let good = history_as(&app, &app.client, &tenant.api_key, &tenant.api_secret).await;
    assert_eq!(good.status(), StatusCode::OK);

    // Wrong operator tokens count the same way.
    let guesser = client_from([127, 0, 0, 4]);
    let operator = |token: &'static str| {
        guesser
            .get(app.url("/operator/providers/unmatched"))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            operator("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = operator(OPERATOR_TOKEN).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    // Requests without credentials are not failures: health checks stay up.
    let health = guesser.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn odd_bytes_in_key_ids_are_401_and_404_on_every_store() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    for key in [
        "k1_\0abc",
        "k1_abc\u{1}",
        "k1_ab c",
        "k1_é",
        "k1_%00",
        &format!("k1_{}", "a".repeat(65)),
        &format!("k1_{}", "b".repeat(3_000)),
        "k99999999999999999999999_abc",
    ] {
        let response = history_as(&app, &app.client, key, &tenant.api_secret).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
        assert_error(response, StatusCode::UNAUTHORIZED, "credentials").await;
    }
    for path in [
        "/operator/keys/k1_%00",
        "/operator/keys/k1_%00abc",
        "/operator/keys/k1_abc%0A",
        "/operator/keys/k1_%C3%A9",
    ] {
        let response = app.operator(Method::DELETE, path).send().await.unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {status}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["Message"].is_string(), "{path}: {body}");
    }
    // The real key still works, and was never revoked.
    let response = history_as(&app, &app.client, &tenant.api_key, &tenant.api_secret).await;
    assert_eq!(response.status(), StatusCode::OK);
}
