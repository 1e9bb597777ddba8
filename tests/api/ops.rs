//! The operations surface: health, readiness, metrics, request ids, rate
//! limits and compression (SPEC §10).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, event, spawn_app, spawn_app_with};
use crate::seed::{SEED_SETUP, seed_events};

#[tokio::test]
async fn health_and_readiness_answer_json() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"Status": "ok"})
    );
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"Status": "ready"})
    );

    // With the database closed, the process is alive but not ready.
    app.store.close().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "database").await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_events() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    assert_eq!(app.post_events(seed_events()).await.status(), 200);
    app.history(&tenant, "/history/4?month=2016-11-01").await;
    let missing_key =
        r#"http_requests_total{route="/history/{user_id}",method="GET",status="404"}"#;
    let before = app.metric(missing_key).await;
    for _ in 0..3 {
        let missing = app.tenant(&tenant, "/history/999").send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
    // Other tests in this process count on the same route too.
    assert!(app.metric(missing_key).await >= before + 3.0);
    // A made-up method is counted, under a label of its own kind.
    let brewed = app
        .client
        .request(Method::from_bytes(b"BREW").unwrap(), app.url("/history/4"))
        .send()
        .await
        .unwrap();
    assert_eq!(brewed.status(), StatusCode::METHOD_NOT_ALLOWED);

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|line| line.contains(needle));
    // Routes as routed, never raw paths with ids.
    assert!(
        has(r#"http_requests_total{route="/history/{user_id}",method="GET",status="200"}"#),
        "{text}"
    );
    assert!(
        has(r#"http_requests_total{route="/history/{user_id}",method="GET",status="404"}"#),
        "{text}"
    );
    assert!(!text.contains("/history/999"), "{text}");
    assert!(has(r#"method="OTHER",status="405"}"#), "{text}");
    assert!(!text.contains("BREW"), "{text}");
    assert!(has("http_request_duration_seconds_bucket{"), "{text}");
    assert!(has(r#"route="/operator/events""#), "{text}");
    let ingested: f64 = text
        .lines()
        .find(|line| line.starts_with("events_ingested_total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
        .expect("an events_ingested_total sample");
    assert!(ingested >= 12.0, "{ingested}");
    assert!(has(r#"db_pool_connections{backend="#), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_given_one() {
    let app = spawn_app().await;
    let fresh = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (prefix, number) = id.split_once('-').expect("prefix-number");
    assert_eq!(prefix.len(), 16, "a random prefix of 16 hex digits: {id}");
    assert!(
        (prefix.to_owned() + number)
            .chars()
            .all(|c| c.is_ascii_hexdigit()),
        "hex digits: {id}"
    );
    let other = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    let given = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn each_api_key_has_its_own_rate_limit() {
    // 1 request a second, in bursts of 2.
    let app = spawn_app_with(|settings| settings.rate_limit_per_second = 1).await;
    app.import(SEED_SETUP).await;
    let (first, second) = (app.key_for(1).await, app.key_for(1).await);
    for remaining in ["1", "0"] {
        let ok = app.tenant(&first, "/history").send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["x-ratelimit-limit"], "2");
        assert_eq!(ok.headers()["x-ratelimit-remaining"], remaining);
        assert!(ok.headers().contains_key("x-ratelimit-reset"));
    }
    let limited = app.tenant(&first, "/history").send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "Retry-After").await;

    // Another key of the same company, and the operator, are not limited by it.
    assert_eq!(
        app.tenant(&second, "/history")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for _ in 0..5 {
        let events = json!([event(
            "x",
            105236,
            "Connect",
            "Host",
            "h9",
            "2016-11-03T23:00:00"
        )]);
        assert_eq!(app.post_events(events).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn rate_limits_can_be_turned_off() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_second = 0).await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    for _ in 0..300 {
        let response = app
            .tenant(&tenant, "/usage?month=2016-11")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-ratelimit-limit"));
    }
}

#[tokio::test]
async fn large_answers_are_compressed_when_the_client_accepts_it() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    assert_eq!(app.post_events(seed_events()).await.status(), 200);
    for encoding in ["gzip", "br"] {
        let response = app
            .tenant(&tenant, "/history")
            .header("Accept-Encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-encoding"], encoding);
    }
    let plain = app.tenant(&tenant, "/history").send().await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    let operator = app
        .operator(Method::GET, "/operator/companies/1")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), StatusCode::OK);
}
