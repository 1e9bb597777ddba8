//! `serve --demo` builds its tenant through the API's own records: users,
//! sessions (some rescheduled, some cancelled) and the seed's e-mail change.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use session_ledger::demo::ensure_demo;

use crate::helpers::{Tenant, spawn_app};

#[tokio::test]
async fn the_demo_tenant_is_readable_through_every_tenant_api() {
    let app = spawn_app().await;
    let access = ensure_demo(&app.store).await.unwrap();
    let tenant = Tenant {
        company_id: access.company_id,
        api_key: access.api_key,
        api_secret: access.api_secret,
    };
    let (status, users) = app.send(&tenant, Method::GET, "/user", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 3);
    let history = app
        .history(&tenant, &format!("/history?month={}", access.month))
        .await;
    assert!(
        history.as_array().unwrap().len() > 20,
        "a month of sessions"
    );
    let alex = app
        .history(&tenant, "/history?participantEmail=aa@changed.com")
        .await;
    assert!(
        !alex.as_array().unwrap().is_empty(),
        "Alex Alexis's sessions under his new address"
    );
    assert_eq!(
        app.history(&tenant, "/history?participantEmail=aa@example.com")
            .await,
        Value::Array(vec![]),
        "his earlier address is nobody's current one"
    );
    let mut log = Vec::new();
    app.store.export(&mut log).await.unwrap();
    let log = String::from_utf8(log).unwrap();
    for kind in [
        "\"Type\":\"Reschedule\"",
        "\"Type\":\"Cancel\"",
        "\"Automatic\":true",
    ] {
        assert!(log.contains(kind), "the demo uses {kind}");
    }
}

/// With LiveKit configured, `serve --demo` prints a signed LiveKit webhook
/// for a session starting now: sent as printed, it is applied.
#[tokio::test]
async fn the_demos_livekit_example_is_applied_as_printed() {
    let app = spawn_app().await;
    let access = ensure_demo(&app.store).await.unwrap();
    let settings = crate::helpers::settings("sqlite://unused");
    let providers = settings.providers;
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let example = session_ledger::demo::livekit_example(
        &app.store,
        access.company_id,
        (
            providers.livekit_api_key.as_deref().unwrap(),
            providers.livekit_api_secret.as_ref().unwrap().expose(),
        ),
        address,
    )
    .await
    .unwrap();
    let quoted: Vec<&str> = example.split('\'').collect();
    // curl -X POST '<url>' -H '<content type>' -H 'Authorization: <jwt>' -d '<body>'
    let (url, authorization, body) = (quoted[1], quoted[5], quoted[7]);
    let token = authorization.strip_prefix("Authorization: ").unwrap();
    let response = app
        .client
        .post(url)
        .header("Authorization", token)
        .header("Content-Type", "application/webhook+json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["Outcome"], "applied", "{answer}");
    assert_eq!(answer["Accepted"], 1);
}
