//! Bad input (SPEC §1, §4, §7, §10): every kind gets a 4xx JSON
//! `{"Message"}` that names the problem, and nothing changes.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, assert_error, event, participant_event, spawn_app};

const LEDGER: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Acme Clinic","IncludedSessionsPerMonth":2,"OveragePriceCents":100}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"Session","CompanyId":1,"SessionId":100,"UserId":4,"ScheduleTs":"2016-11-03T10:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}
{"Type":"Session","CompanyId":1,"SessionId":101,"UserId":4,"ScheduleTs":"2016-11-04T10:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":19,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}
{"Type":"Connect","EventId":"h1c","SessionId":100,"Party":"Host","CallId":"h1","Ts":"2016-11-03T10:00:00"}
{"Type":"Connect","EventId":"p1c","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"p1","Ts":"2016-11-03T10:02:00"}
{"Type":"Disconnect","EventId":"p1d","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"p1","Ts":"2016-11-03T10:30:00"}
"#;

/// A company with a billable session (100) and one still waiting (101).
async fn ledger() -> (TestApp, Tenant) {
    let app = spawn_app().await;
    app.import(LEDGER).await;
    let tenant = app.key_for(1).await;
    (app, tenant)
}

/// What a tenant can see of the ledger: history with its ETag, and usage.
async fn state(app: &TestApp, tenant: &Tenant) -> (String, Value, Value) {
    let response = app.tenant(tenant, "/history").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    let history: Value = response.json().await.unwrap();
    let response = app
        .tenant(tenant, "/usage?month=2016-11-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    (tag, history, response.json().await.unwrap())
}

async fn get(app: &TestApp, tenant: &Tenant, path: &str) -> Response {
    app.tenant(tenant, path).send().await.unwrap()
}

async fn post_raw(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> Response {
    app.operator(Method::POST, path)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn history_filters_that_make_no_sense_are_400_naming_the_parameter() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    assert_eq!(
        before.1[0]["BillableStatusCd"], "BILL",
        "the ledger is set up"
    );
    let cases = [
        ("/history?month=2016-13-01", "Month"),
        ("/history?month=2016-02-30", "Month"),
        ("/history?Month=2016-00-01", "Month"),
        ("/history?month=2016-1-01", "Month"),
        ("/history?month=February", "Month"),
        ("/history?month=", "Month"),
        ("/history/4?month=2016-13-01", "Month"),
        ("/history?StartDt=2016-11-31", "StartDt"),
        ("/history?startdt=yesterday", "StartDt"),
        ("/history?EndDt=11/03/2016", "EndDt"),
        ("/history?StartDt=2016-11-01&EndDt=2016-02-30", "EndDt"),
        ("/history?StartDt=2016-11-02&EndDt=2016-11-01", "StartDt"),
        ("/history/abc", "UserId"),
        ("/history/4x", "UserId"),
        ("/history/-4", "UserId"),
        ("/history?Limit=0", "Limit"),
        ("/history?Limit=-1", "Limit"),
        ("/history?limit=ten", "Limit"),
        ("/history?Limit=1000000", "Limit"),
        ("/history?Cursor=garbage", "Cursor"),
        ("/history?Cursor=1.2", "Cursor"),
        ("/history?Cursor=7.1.100", "Cursor"),
        ("/history?Format=xml", "Format"),
        ("/history?ParticipantEmail=%20%20", "ParticipantEmail"),
        ("/usage", "Month"),
        ("/usage?month=2016-13-01", "Month"),
        ("/usage?month=2016-02-30", "Month"),
    ];
    for (path, needle) in cases {
        let response = get(&app, &tenant, path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    // A bad CSV request is still a JSON error.
    let response = app
        .tenant(&tenant, "/history?month=2016-13-01")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_error(response, StatusCode::BAD_REQUEST, "Month").await;
    assert_eq!(state(&app, &tenant).await, before);
}

#[tokio::test]
async fn tenant_credentials_that_do_not_check_out_are_401() {
    let (app, tenant) = ledger().await;
    let garbage = [
        None,
        Some("Basic".to_owned()),
        Some("Basic !!!not-base64!!!".to_owned()),
        Some("Basic bm8tY29sb24=".to_owned()), // "no-colon"
        Some("Bearer test-operator-token".to_owned()),
        Some("Digest username=\"x\"".to_owned()),
    ];
    for path in ["/history", "/history/4", "/usage?month=2016-11-01"] {
        for authorization in &garbage {
            let mut request = app.client.get(app.url(path));
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {authorization:?}"
            );
            assert_eq!(
                response.headers()["www-authenticate"].to_str().unwrap(),
                "Basic realm=\"session-ledger\""
            );
            assert_error(response, StatusCode::UNAUTHORIZED, "credentials").await;
        }
        for (key, secret) in [
            (tenant.api_key.as_str(), "wrong-secret"),
            (tenant.api_key.as_str(), ""),
            ("k1_000000000000000000", tenant.api_secret.as_str()),
            ("k999_abcdef", tenant.api_secret.as_str()),
            ("not-a-key", tenant.api_secret.as_str()),
        ] {
            let response = app
                .client
                .get(app.url(path))
                .basic_auth(key, Some(secret))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path} {key}");
            assert_error(response, StatusCode::UNAUTHORIZED, "credentials").await;
        }
    }
}

/// One event batch that must be refused with `needle` in its message.
async fn refused(app: &TestApp, body: impl Into<reqwest::Body>, needle: &str) {
    let response = post_raw(app, "/operator/events", body).await;
    assert_error(response, StatusCode::BAD_REQUEST, needle).await;
}

#[tokio::test]
async fn event_batches_that_are_not_batches_are_400() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    let valid = participant_event("p2c", 101, "Connect", 19, "p2", "2016-11-04T10:01:00");

    refused(&app, "", "JSON array").await;
    refused(&app, "{not json", "JSON array").await;
    refused(&app, "[{", "JSON array").await;
    refused(&app, json!(valid).to_string(), "JSON array").await;
    refused(&app, r#""Connect""#, "JSON array").await;
    refused(&app, "[]", "1 to 1000").await;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| {
            event(
                &format!("e{i}"),
                101,
                "Connect",
                "Host",
                &format!("h{i}"),
                "2016-11-04T10:00:00",
            )
        })
        .collect();
    refused(&app, Value::Array(too_many).to_string(), "1001").await;
    assert_eq!(state(&app, &tenant).await, before);
}

#[tokio::test]
async fn events_that_are_not_events_are_400_naming_the_event() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    let valid = participant_event("p2c", 101, "Connect", 19, "p2", "2016-11-04T10:01:00");
    let host = event("h2c", 101, "Connect", "Host", "h2", "2016-11-04T10:00:00");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut bad = valid.clone();
        change(&mut bad);
        json!([host, bad]).to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (with(&|e| e["EventId"] = json!("x".repeat(129))), "EventId"),
        (with(&|e| e["EventId"] = json!("")), "EventId"),
        (with(&|e| e["EventId"] = json!(17)), "event 1"),
        (
            with(&|e| drop(e.as_object_mut().unwrap().remove("EventId"))),
            "EventId",
        ),
        (
            with(&|e| drop(e.as_object_mut().unwrap().remove("ParticipationId"))),
            "ParticipationId",
        ),
        (with(&|e| e["SupportAgentId"] = json!(7)), "SupportAgentId"),
        (with(&|e| e["Party"] = json!("Guest")), "event 1"),
        (with(&|e| e["Type"] = json!("Reconnect")), "event 1"),
        (
            with(&|e| e["Type"] = json!("Deactivate")),
            "Type must be Connect or Disconnect",
        ),
        (
            with(&|e| drop(e.as_object_mut().unwrap().remove("Type"))),
            "event 1",
        ),
        (with(&|e| e["Ts"] = json!("yesterday")), "event 1"),
        (with(&|e| e["Ts"] = json!("2016-11-31T10:00:00")), "event 1"),
        (with(&|e| e["Ts"] = json!("2016-11-04 10:01")), "event 1"),
        (
            with(&|e| drop(e.as_object_mut().unwrap().remove("Ts"))),
            "event 1",
        ),
        (with(&|e| e["SessionId"] = json!("101")), "event 1"),
        (with(&|e| e["CallId"] = json!("")), "CallId"),
        (with(&|e| *e = json!("an event")), "event 1"),
    ];
    for (body, needle) in cases {
        refused(&app, body.clone(), needle).await;
        assert_eq!(state(&app, &tenant).await, before, "{body}");
    }
    // A Host event with a ParticipationId names what is wrong too.
    let mut host_with_id = host.clone();
    host_with_id["ParticipationId"] = json!(19);
    refused(&app, json!([host_with_id]).to_string(), "Party Host").await;
    assert_eq!(state(&app, &tenant).await, before);

    // None of the valid events was kept.
    let response = app.post_events(json!([host, valid])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "Accepted": 2, "Duplicates": 0 })
    );
}

#[tokio::test]
async fn malformed_operator_bodies_are_400() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    let company = || async {
        let response = app
            .operator(Method::GET, "/operator/companies/1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let company_before = company().await;

    let cases: Vec<(Method, &str, &str, &str)> = vec![
        (
            Method::POST,
            "/operator/companies",
            "{not json",
            "not valid",
        ),
        (Method::POST, "/operator/companies", "[]", "not valid"),
        (Method::POST, "/operator/companies", "{}", "Name"),
        (
            Method::POST,
            "/operator/companies",
            r#"{"Name":"A"}"#,
            "Name",
        ),
        (
            Method::POST,
            "/operator/companies",
            r#"{"Name":"Acme","IncludedSessionsPerMonth":-1}"#,
            "IncludedSessionsPerMonth",
        ),
        (
            Method::POST,
            "/operator/companies",
            r#"{"Name":"Acme","OveragePriceCents":"lots"}"#,
            "not valid",
        ),
        (Method::PUT, "/operator/companies/1", "{", "not valid"),
        (
            Method::PUT,
            "/operator/companies/1",
            r#"{"IncludedSessionsPerMonth":"ten"}"#,
            "not valid",
        ),
        (
            Method::PUT,
            "/operator/companies/1",
            r#"{"OveragePriceCents":-5}"#,
            "OveragePriceCents",
        ),
        (
            Method::PUT,
            "/operator/companies/one",
            r#"{"OveragePriceCents":5}"#,
            "CompanyId",
        ),
        (Method::POST, "/operator/support-agents", "{}", "FullName"),
        (
            Method::POST,
            "/operator/support-agents",
            "nonsense",
            "not valid",
        ),
        (Method::POST, "/operator/sessions/100/comp", "", "not valid"),
        (Method::POST, "/operator/sessions/100/comp", "{}", "Reason"),
        (
            Method::POST,
            "/operator/sessions/100/comp",
            r#"{"Reason":""}"#,
            "Reason",
        ),
        (
            Method::POST,
            "/operator/sessions/100/comp",
            r#"{"Reason":5}"#,
            "not valid",
        ),
        (
            Method::POST,
            "/operator/sessions/abc/comp",
            r#"{"Reason":"goodwill"}"#,
            "SessionId",
        ),
        (
            Method::POST,
            "/operator/sessions/0/deactivate",
            "",
            "SessionId",
        ),
        (Method::GET, "/operator/sessions/x/audit", "", "SessionId"),
    ];
    for (method, path, body, needle) in cases {
        let response = app
            .operator(method.clone(), path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}"
        );
        assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_eq!(company().await, company_before);
    assert_eq!(state(&app, &tenant).await, before);
    // The next company still gets an id: nothing was half-created.
    assert!(app.create_company("Beta Care").await > 0);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    // A well-formed batch, padded past the limit.
    let padding = " ".repeat(1024 * 1024);
    let body = format!(
        "[{}]{padding}",
        participant_event("p2c", 101, "Connect", 19, "p2", "2016-11-04T10:01:00")
    );
    let response = post_raw(&app, "/operator/events", body).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "1 MiB").await;

    let name = "x".repeat(1024 * 1024 + 1);
    let response = post_raw(
        &app,
        "/operator/companies",
        json!({ "Name": name }).to_string(),
    )
    .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "1 MiB").await;
    assert_eq!(state(&app, &tenant).await, before);

    // Just under the limit is fine.
    let event =
        participant_event("p2c", 101, "Connect", 19, "p2", "2016-11-04T10:01:00").to_string();
    let body = format!("[{event}]{}", " ".repeat(1024 * 1024 - event.len() - 2));
    assert_eq!(body.len(), 1024 * 1024);
    let response = post_raw(&app, "/operator/events", body).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let (app, tenant) = ledger().await;
    for path in ["/nope", "/history/4/extra", "/operator/nope", "/"] {
        let response = get(&app, &tenant, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        assert_error(response, StatusCode::NOT_FOUND, "not found").await;
    }
    let response = app
        .client
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not found").await;
    // Unknown things behind known routes.
    let response = get(&app, &tenant, "/history/987654").await;
    assert_error(response, StatusCode::NOT_FOUND, "User not found").await;
    let response = app
        .operator(Method::GET, "/operator/sessions/987654/audit")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_error() {
    let (app, tenant) = ledger().await;
    let before = state(&app, &tenant).await;
    let response = app
        .client
        .delete(app.url("/history"))
        .basic_auth(&tenant.api_key, Some(&tenant.api_secret))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "DELETE").await;
    let response = app
        .operator(Method::GET, "/operator/events")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "GET").await;
    assert_eq!(state(&app, &tenant).await, before);
}

#[tokio::test]
async fn a_mistyped_field_is_named_in_the_message() {
    let app = spawn_app().await;
    let response = app
        .operator(Method::POST, "/operator/companies")
        .json(&json!({"Name": "Clinic", "IncludedSessionsPerMonth": "lots"}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "IncludedSessionsPerMonth",
    )
    .await;
    let trailing = app
        .operator(Method::POST, "/operator/companies")
        .body(r#"{"Name": "Clinic"} trailing"#)
        .send()
        .await
        .unwrap();
    assert_error(trailing, StatusCode::BAD_REQUEST, "trailing").await;
}

#[tokio::test]
async fn nul_characters_in_events_and_month_9999_are_handled_on_every_backend() {
    let (app, tenant) = ledger().await;
    let before = app.history(&tenant, "/history").await;
    let mut with_nul = event(
        "nul\u{0}id",
        100,
        "Connect",
        "Host",
        "h9",
        "2016-11-03T11:00:00",
    );
    assert_error(
        app.post_events(json!([with_nul.clone()])).await,
        StatusCode::BAD_REQUEST,
        "NUL",
    )
    .await;
    with_nul["EventId"] = json!("fine");
    with_nul["CallId"] = json!("c\u{0}");
    assert_error(
        app.post_events(json!([with_nul])).await,
        StatusCode::BAD_REQUEST,
        "NUL",
    )
    .await;
    assert_eq!(app.history(&tenant, "/history").await, before);
    // The last month of the calendar (fuzzing found its end panicking).
    assert_eq!(
        app.history(&tenant, "/history?month=9999-12-01").await,
        json!([])
    );
    let usage = app
        .tenant(&tenant, "/usage?month=9999-12")
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), StatusCode::OK);
}
