//! Connection events end to end (SPEC §3.1, §7, §8): what the operator
//! reports, checked through what a tenant reads from /history and /usage.
//! The shared scenario and helpers are here; the tests, by topic, below.

mod comp_and_usage;
mod delivery;
mod derived;
mod statuses;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Tenant, TestApp, assert_error, event, participant_event, spawn_app, support_event,
};

const COMPANY: i64 = 1;
const AARON: i64 = 4;
const BETH: i64 = 5;
const AGENT: i64 = 7;

const PEOPLE: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Acme Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"User","CompanyId":1,"UserId":5,"FullName":"Beth Carter","EmailAddress":"bc@example.com"}
{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"mz@example.com"}
"#;

/// A Session log line: scheduled at `schedule`, with `(ParticipationId, name)` guests.
fn session_line(session_id: i64, user_id: i64, schedule: &str, guests: &[(i64, &str)]) -> String {
    let participants: Vec<Value> = guests
        .iter()
        .map(|(id, name)| {
            let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
            json!({ "ParticipationId": id, "ParticipantFullName": name, "ParticipantEmailAddress": email })
        })
        .collect();
    json!({
        "Type": "Session", "CompanyId": COMPANY, "SessionId": session_id, "UserId": user_id,
        "ScheduleTs": schedule, "ScheduleType": "Scheduled", "Participants": participants,
    })
    .to_string()
}

/// The people above and these sessions, and a key for the company.
async fn app_with(sessions: &[String]) -> (TestApp, Tenant) {
    let app = spawn_app().await;
    let mut lines = PEOPLE.to_owned();
    for line in sessions {
        lines.push_str(line);
        lines.push('\n');
    }
    app.import(&lines).await;
    let tenant = app.key_for(COMPANY).await;
    (app, tenant)
}

/// 2016-11-03 at `hms` (UTC).
fn at(hms: &str) -> String {
    format!("2016-11-03T{hms}")
}

/// The Connect (and, given `to`, the Disconnect) of one call; event ids are
/// derived from session and call, so a repeat is a duplicate.
fn call_events(
    session_id: i64,
    call: &str,
    from: &str,
    to: Option<&str>,
    make: impl Fn(&str, &str, &str) -> Value,
) -> Vec<Value> {
    let mut events = vec![make(
        &format!("{session_id}/{call}/connect"),
        "Connect",
        from,
    )];
    if let Some(to) = to {
        events.push(make(
            &format!("{session_id}/{call}/disconnect"),
            "Disconnect",
            to,
        ));
    }
    events
}

fn host(session_id: i64, call: &str, from: &str, to: Option<&str>) -> Vec<Value> {
    call_events(session_id, call, from, to, |id, kind, ts| {
        event(id, session_id, kind, "Host", call, ts)
    })
}

fn guest(
    session_id: i64,
    participation: i64,
    call: &str,
    from: &str,
    to: Option<&str>,
) -> Vec<Value> {
    call_events(session_id, call, from, to, |id, kind, ts| {
        participant_event(id, session_id, kind, participation, call, ts)
    })
}

fn agent(session_id: i64, agent_id: i64, call: &str, from: &str, to: Option<&str>) -> Vec<Value> {
    call_events(session_id, call, from, to, |id, kind, ts| {
        support_event(id, session_id, kind, agent_id, call, ts)
    })
}

fn batch(parts: Vec<Vec<Value>>) -> Value {
    Value::Array(parts.into_iter().flatten().collect())
}

/// Posts a batch that must be accepted; returns (Accepted, Duplicates).
async fn post_ok(app: &TestApp, events: Value) -> (i64, i64) {
    let response = app.post_events(events).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["Accepted"].as_i64().unwrap(),
        body["Duplicates"].as_i64().unwrap(),
    )
}

/// One session's History JSON, as the company-wide history lists it.
async fn row(app: &TestApp, tenant: &Tenant, session_id: i64) -> Value {
    let all = app.history(tenant, "/history").await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|element| element["SessionId"] == session_id)
        .cloned()
        .unwrap_or_else(|| panic!("session {session_id} is not in {all}"))
}

/// The whole history and its ETag.
async fn snapshot(app: &TestApp, tenant: &Tenant) -> (String, Value) {
    let response = app.tenant(tenant, "/history").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    (tag, response.json().await.unwrap())
}

async fn usage(app: &TestApp, tenant: &Tenant, month: &str) -> Value {
    let response = app
        .tenant(tenant, &format!("/usage?month={month}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn audit(app: &TestApp, session_id: i64) -> Vec<Value> {
    let response = app
        .operator(
            Method::GET,
            &format!("/operator/sessions/{session_id}/audit"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A session's audited status changes, as (old, new), oldest first.
async fn status_changes(app: &TestApp, session_id: i64) -> Vec<(Value, Value)> {
    audit(app, session_id)
        .await
        .iter()
        .map(|entry| (entry["OldStatus"].clone(), entry["NewStatus"].clone()))
        .collect()
}

async fn comp(app: &TestApp, session_id: i64, reason: &str) -> reqwest::Response {
    app.operator(
        Method::POST,
        &format!("/operator/sessions/{session_id}/comp"),
    )
    .json(&json!({ "Reason": reason }))
    .send()
    .await
    .unwrap()
}

async fn deactivate(app: &TestApp, session_id: i64) -> reqwest::Response {
    app.operator(
        Method::POST,
        &format!("/operator/sessions/{session_id}/deactivate"),
    )
    .send()
    .await
    .unwrap()
}

/// Session 100 of Aaron, with two guests (participations 9 and 10).
fn two_guests() -> String {
    session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp"), (10, "Xiao Chu")],
    )
}
