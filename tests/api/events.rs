//! Connection events end to end (SPEC §3.1, §7, §8): what the operator
//! reports, checked through what a tenant reads from /history and /usage.

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

// ---------------------------------------------------------------- BillableTs

#[tokio::test]
async fn billable_ts_is_the_start_of_the_first_overlap_of_two_parties() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;

    // The host alone is not a session.
    post_ok(&app, batch(vec![host(100, "h1", &at("10:01:00"), None)])).await;
    let alone = row(&app, &tenant, 100).await;
    assert_eq!(alone["BillableTs"], Value::Null);
    assert_eq!(alone["BillableStatusCd"], Value::Null);
    assert_eq!(alone["DurationMinutes"], Value::Null);

    post_ok(
        &app,
        batch(vec![guest(100, 9, "p1", &at("10:02:03.45"), None)]),
    )
    .await;
    let together = row(&app, &tenant, 100).await;
    assert_eq!(together["BillableTs"], "2016-11-03T10:02:03.45");
    assert_eq!(together["BillableStatusCd"], "BILL");
    // Host and participant both still connected.
    assert_eq!(together["DurationMinutes"], Value::Null);
}

#[tokio::test]
async fn calls_that_only_touch_do_not_make_a_session_billable() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), Some(&at("10:10:00"))),
            guest(100, 9, "p1", &at("10:10:00"), Some(&at("10:20:00"))),
        ]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["BillableTs"], Value::Null);
    assert_eq!(element["BillableStatusCd"], Value::Null);
    assert_eq!(element["DurationMinutes"], 0);
    assert_eq!(
        element["UsageDescription"],
        "Aaron Johnson Session #100 with Trevor Stamp - Not Connected"
    );
}

#[tokio::test]
async fn two_guests_without_the_host_make_a_session_billable() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp"), (10, "Xiao Chu")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            guest(100, 9, "p1", &at("10:00:00"), Some(&at("10:20:00"))),
            guest(100, 10, "p2", &at("10:05:00"), Some(&at("10:15:00"))),
        ]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["BillableTs"], "2016-11-03T10:05:00");
    assert_eq!(element["BillableStatusCd"], "BILL");
    // The host was never connected to anyone.
    assert_eq!(element["DurationMinutes"], 0);
}

// ----------------------------------------------------------- DurationMinutes

#[tokio::test]
async fn duration_rounds_half_up() {
    let (app, tenant) = app_with(&[
        session_line(100, AARON, &at("10:00:00"), &[(9, "Trevor Stamp")]),
        session_line(101, AARON, &at("12:00:00"), &[(19, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            // 24 minutes 30 seconds: rounds up to 25.
            host(100, "h1", &at("10:00:00"), Some(&at("11:00:00"))),
            guest(100, 9, "p1", &at("10:00:00"), Some(&at("10:24:30"))),
            // One millisecond less: rounds down to 24.
            host(101, "h1", &at("12:00:00"), Some(&at("13:00:00"))),
            guest(101, 19, "p1", &at("12:00:00"), Some(&at("12:24:29.999"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 100).await["DurationMinutes"], 25);
    assert_eq!(row(&app, &tenant, 101).await["DurationMinutes"], 24);
}

#[tokio::test]
async fn duration_is_null_while_host_and_participant_are_connected_then_counts_once_one_leaves() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), None),
            guest(100, 9, "p1", &at("10:05:00"), None),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 100).await["DurationMinutes"],
        Value::Null
    );

    // The participant leaves; the host, still connected, counts up to then.
    post_ok(
        &app,
        json!([participant_event(
            "100/p1/disconnect",
            100,
            "Disconnect",
            9,
            "p1",
            &at("10:35:00")
        )]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["DurationMinutes"], 30);
    assert_eq!(element["BillableTs"], "2016-11-03T10:05:00");
}

#[tokio::test]
async fn duration_is_null_when_no_participant_call_has_a_known_end() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), Some(&at("10:30:00"))),
            guest(100, 9, "p1", &at("10:05:00"), None),
        ]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["BillableTs"], "2016-11-03T10:05:00");
    assert_eq!(element["BillableStatusCd"], "BILL");
    assert_eq!(element["DurationMinutes"], Value::Null);
}

#[tokio::test]
async fn duration_grows_when_the_session_is_reconnected() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp"), (10, "Xiao Chu")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), Some(&at("10:30:00"))),
            guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:30:00"))),
        ]),
    )
    .await;
    let first = row(&app, &tenant, 100).await;
    assert_eq!(first["DurationMinutes"], 25);

    // Both come back; a second guest overlaps the first: counted once.
    post_ok(
        &app,
        batch(vec![
            host(100, "h2", &at("11:00:00"), Some(&at("11:20:00"))),
            guest(100, 9, "p2", &at("11:00:00"), Some(&at("11:10:00"))),
            guest(100, 10, "x1", &at("11:05:00"), Some(&at("11:12:00"))),
        ]),
    )
    .await;
    let second = row(&app, &tenant, 100).await;
    assert_eq!(second["DurationMinutes"], 37);
    assert_eq!(
        second["BillableTs"], first["BillableTs"],
        "BillableTs never moves"
    );
    assert_eq!(
        second["UsageDescription"],
        "Aaron Johnson Session #100 with Trevor Stamp, Xiao Chu - Counted Session"
    );
}

// --------------------------------------------------------------- idempotency

#[tokio::test]
async fn reposting_a_batch_changes_nothing() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    let events = batch(vec![
        host(100, "h1", &at("10:00:00"), Some(&at("10:40:00"))),
        guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:30:00"))),
    ]);
    assert_eq!(post_ok(&app, events.clone()).await, (4, 0));
    let before = snapshot(&app, &tenant).await;
    assert_eq!(before.1[0]["DurationMinutes"], 25);

    assert_eq!(post_ok(&app, events).await, (0, 4));
    assert_eq!(
        snapshot(&app, &tenant).await,
        before,
        "history and ETag unchanged"
    );
}

#[tokio::test]
async fn a_repeated_event_id_inside_one_batch_counts_once() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    let connect = event("e1", 100, "Connect", "Host", "h1", &at("10:00:00"));
    let guest_connect = participant_event("e2", 100, "Connect", 9, "p1", &at("10:01:00"));
    assert_eq!(
        post_ok(&app, json!([connect, connect, guest_connect])).await,
        (2, 1)
    );
    assert_eq!(
        row(&app, &tenant, 100).await["BillableTs"],
        "2016-11-03T10:01:00"
    );
    // Seen once, so seen for good.
    assert_eq!(post_ok(&app, json!([guest_connect])).await, (0, 1));
}

#[tokio::test]
async fn a_repeated_event_id_is_skipped_even_with_other_content() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    post_ok(
        &app,
        json!([event("e1", 100, "Connect", "Host", "h1", &at("10:00:00"))]),
    )
    .await;
    let before = snapshot(&app, &tenant).await;
    // The idempotency key decides: the same EventId is the same event.
    assert_eq!(
        post_ok(
            &app,
            json!([event("e1", 100, "Connect", "Host", "h9", &at("09:00:00"))])
        )
        .await,
        (0, 1)
    );
    assert_eq!(snapshot(&app, &tenant).await, before);
}

// -------------------------------------------------------------- out of order

/// The same calls, delivered in order, one event per batch.
fn in_order_calls() -> Vec<Value> {
    batch(vec![
        host(100, "h1", &at("10:00:00"), Some(&at("10:40:00"))),
        guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:30:00"))),
        guest(100, 10, "x1", &at("10:10:00"), Some(&at("10:20:00"))),
    ])
    .as_array()
    .unwrap()
    .clone()
}

fn two_guests() -> String {
    session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp"), (10, "Xiao Chu")],
    )
}

#[tokio::test]
async fn out_of_order_delivery_ends_with_the_history_of_in_order_delivery() {
    let (ordered, ordered_tenant) = app_with(&[two_guests()]).await;
    let mut events = in_order_calls();
    events.sort_by_key(|e| e["Ts"].as_str().unwrap().to_owned());
    for event in &events {
        post_ok(&ordered, json!([event])).await;
    }
    let expected = ordered.history(&ordered_tenant, "/history").await;
    assert_eq!(expected[0]["BillableTs"], "2016-11-03T10:05:00");
    assert_eq!(expected[0]["DurationMinutes"], 25);

    // Disconnects first, each before its Connect, in batches of their own.
    let (shuffled, shuffled_tenant) = app_with(&[two_guests()]).await;
    let by_id = |id: &str| events.iter().find(|e| e["EventId"] == id).unwrap().clone();
    post_ok(
        &shuffled,
        json!([by_id("100/p1/disconnect"), by_id("100/x1/disconnect")]),
    )
    .await;
    let pending = row(&shuffled, &shuffled_tenant, 100).await;
    assert_eq!(
        pending["BillableTs"],
        Value::Null,
        "a Disconnect alone is no call yet"
    );
    assert_eq!(
        pending["UsageDescription"],
        "Aaron Johnson Session #100 - Not Connected"
    );
    post_ok(
        &shuffled,
        json!([by_id("100/h1/disconnect"), by_id("100/p1/connect")]),
    )
    .await;
    post_ok(&shuffled, json!([by_id("100/h1/connect")])).await;
    post_ok(&shuffled, json!([by_id("100/x1/connect")])).await;
    let actual = shuffled.history(&shuffled_tenant, "/history").await;
    assert_eq!(actual, expected);
}

#[tokio::test]
async fn a_late_event_revealing_an_earlier_overlap_does_not_move_billable_ts() {
    let (app, tenant) = app_with(&[two_guests()]).await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), None),
            guest(100, 9, "p1", &at("10:20:00"), None),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 100).await["BillableTs"],
        "2016-11-03T10:20:00"
    );

    // Xiao Chu was there from 10:05 to 10:10, reported late.
    post_ok(
        &app,
        batch(vec![guest(
            100,
            10,
            "x1",
            &at("10:05:00"),
            Some(&at("10:10:00")),
        )]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["BillableTs"], "2016-11-03T10:20:00");
    // Host and Trevor are still connected.
    assert_eq!(element["DurationMinutes"], Value::Null);
    // Names are in order of first connection, whenever reported.
    assert_eq!(
        element["UsageDescription"],
        "Aaron Johnson Session #100 with Xiao Chu, Trevor Stamp - Counted Session"
    );
}

// ----------------------------------------------------------- batch atomicity

#[tokio::test]
async fn a_batch_with_one_invalid_event_is_refused_whole() {
    let (app, tenant) = app_with(&[
        session_line(100, AARON, &at("10:00:00"), &[(9, "Trevor Stamp")]),
        session_line(101, AARON, &at("12:00:00"), &[(19, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        json!([event(
            "stored",
            100,
            "Connect",
            "Host",
            "h0",
            &at("09:00:00")
        )]),
    )
    .await;
    let before = snapshot(&app, &tenant).await;

    let valid = batch(vec![
        host(100, "h1", &at("10:00:00"), Some(&at("10:40:00"))),
        guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:30:00"))),
    ]);
    let invalid = [
        (
            "unknown session",
            event("bad", 999, "Connect", "Host", "h1", &at("10:00:00")),
        ),
        (
            "unknown participation",
            participant_event("bad", 100, "Connect", 555, "p9", &at("10:00:00")),
        ),
        (
            "participation of another session",
            participant_event("bad", 100, "Connect", 19, "p9", &at("10:00:00")),
        ),
        (
            "unknown support agent",
            support_event("bad", 100, "Connect", 77, "a9", &at("10:00:00")),
        ),
        (
            "Disconnect earlier than the stored Connect",
            event("bad", 100, "Disconnect", "Host", "h0", &at("08:59:59")),
        ),
        (
            "CallId of another party",
            participant_event("bad", 100, "Disconnect", 9, "h0", &at("09:30:00")),
        ),
    ];
    for (what, bad) in invalid {
        for position in [0, 2, 4] {
            let mut events = valid.as_array().unwrap().clone();
            events.insert(position, bad.clone());
            let response = app.post_events(Value::Array(events)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
            assert_error(response, StatusCode::BAD_REQUEST, "EventId 'bad'").await;
            assert_eq!(
                snapshot(&app, &tenant).await,
                before,
                "{what}: nothing applied"
            );
        }
    }

    // Disconnect earlier than Connect within the batch itself.
    let mut events = valid.as_array().unwrap().clone();
    events.push(event(
        "bad-connect",
        100,
        "Connect",
        "Host",
        "h7",
        &at("11:10:00"),
    ));
    events.push(event(
        "bad-disconnect",
        100,
        "Disconnect",
        "Host",
        "h7",
        &at("11:05:00"),
    ));
    assert_error(
        app.post_events(Value::Array(events)).await,
        StatusCode::BAD_REQUEST,
        "EventId 'bad-",
    )
    .await;
    assert_eq!(snapshot(&app, &tenant).await, before);

    // None of the valid events was recorded: alone, they are all new.
    assert_eq!(post_ok(&app, valid).await, (4, 0));
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["BillableTs"], "2016-11-03T10:05:00");
    assert_eq!(element["DurationMinutes"], 25);
}

#[tokio::test]
async fn an_invalid_event_for_one_session_keeps_the_events_of_another_out() {
    let (app, tenant) = app_with(&[
        session_line(100, AARON, &at("10:00:00"), &[(9, "Trevor Stamp")]),
        session_line(101, AARON, &at("12:00:00"), &[(19, "Xiao Chu")]),
    ])
    .await;
    let before = snapshot(&app, &tenant).await;
    // Session 100's events are valid and would be applied first.
    let mut events = batch(vec![
        host(100, "h1", &at("10:00:00"), Some(&at("10:40:00"))),
        guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:30:00"))),
    ])
    .as_array()
    .unwrap()
    .clone();
    events.push(participant_event(
        "wrong",
        101,
        "Connect",
        9,
        "p1",
        &at("12:00:00"),
    ));
    assert_error(
        app.post_events(Value::Array(events)).await,
        StatusCode::BAD_REQUEST,
        "EventId 'wrong'",
    )
    .await;
    assert_eq!(snapshot(&app, &tenant).await, before);
}

// -------------------------------------------------------------- deactivation

#[tokio::test]
async fn deactivation_ends_a_session_and_settles_its_duration() {
    let (app, tenant) = app_with(&[two_guests()]).await;
    let acknowledged = batch(vec![
        host(100, "h1", &at("10:00:00"), None),
        guest(100, 9, "p1", &at("10:05:00"), Some(&at("10:35:00"))),
        guest(100, 10, "x1", &at("10:10:00"), None),
    ]);
    post_ok(&app, acknowledged.clone()).await;
    // Host and Xiao Chu still connected.
    assert_eq!(
        row(&app, &tenant, 100).await["DurationMinutes"],
        Value::Null
    );

    let response = deactivate(&app, 100).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Open calls now have unknown ends: only Trevor's known call counts,
    // against the host's call that never ended.
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["DurationMinutes"], 30);
    assert_eq!(element["BillableTs"], "2016-11-03T10:05:00");
    assert_eq!(element["BillableStatusCd"], "BILL");

    let (tag, body) = snapshot(&app, &tenant).await;
    let late = json!([participant_event(
        "late",
        100,
        "Disconnect",
        10,
        "x1",
        &at("10:50:00")
    )]);
    assert_error(
        app.post_events(late.clone()).await,
        StatusCode::CONFLICT,
        "deactivated",
    )
    .await;
    assert_eq!(snapshot(&app, &tenant).await, (tag.clone(), body.clone()));
    // Refused, not recorded: still refused, not a duplicate.
    assert_error(
        app.post_events(late).await,
        StatusCode::CONFLICT,
        "deactivated",
    )
    .await;
    // A client re-delivering a batch that was acknowledged before the
    // deactivation learns that it is all duplicates, not a conflict.
    assert_eq!(post_ok(&app, acknowledged).await, (0, 4));
    assert_eq!(snapshot(&app, &tenant).await, (tag.clone(), body.clone()));

    assert_error(
        deactivate(&app, 100).await,
        StatusCode::CONFLICT,
        "deactivated",
    )
    .await;
    assert_error(
        deactivate(&app, 999).await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
}

#[tokio::test]
async fn deactivating_a_session_with_no_known_participant_end_leaves_duration_null() {
    let (app, tenant) = app_with(&[session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    )])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h1", &at("10:00:00"), None),
            guest(100, 9, "p1", &at("10:05:00"), None),
        ]),
    )
    .await;
    assert_eq!(deactivate(&app, 100).await.status(), StatusCode::NO_CONTENT);
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["DurationMinutes"], Value::Null);
    assert_eq!(element["BillableStatusCd"], "BILL");
}

// ----------------------------------------------------------------- statuses

#[tokio::test]
async fn a_support_agent_makes_the_session_svco_and_reproduces_the_seed() {
    let app = spawn_app().await;
    app.import(
        r#"{"Type":"Company","CompanyId":3,"Name":"Vernon Therapy","IncludedSessionsPerMonth":0,"OveragePriceCents":0}
{"Type":"User","CompanyId":3,"UserId":1,"FullName":"Jonathan Vernon","EmailAddress":"jv@example.com"}
{"Type":"User","CompanyId":3,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"mz@example.com"}
{"Type":"Session","CompanyId":3,"SessionId":105022,"UserId":1,"ScheduleTs":"2016-11-03T22:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":11,"ParticipantFullName":"Dewey Gladstone","ParticipantEmailAddress":"dg@example.com"},{"ParticipationId":12,"ParticipantFullName":"Xiao Chu","ParticipantEmailAddress":"xc@example.com"}]}
{"Type":"Session","CompanyId":3,"SessionId":105236,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09.467","ScheduleType":"MeetNow","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}
"#,
    )
    .await;
    let tenant = app.key_for(3).await;
    post_ok(
        &app,
        batch(vec![
            host(
                105236,
                "h",
                "2016-11-03T21:45:30",
                Some("2016-11-03T22:12:00"),
            ),
            guest(
                105236,
                9,
                "t",
                "2016-11-03T21:46:16.1",
                Some("2016-11-03T22:11:16.1"),
            ),
            host(
                105022,
                "h",
                "2016-11-03T21:55:00",
                Some("2016-11-03T22:27:30.72"),
            ),
            guest(
                105022,
                11,
                "d",
                "2016-11-03T21:56:30.72",
                Some("2016-11-03T22:27:30.72"),
            ),
            guest(
                105022,
                12,
                "x",
                "2016-11-03T21:58:00",
                Some("2016-11-03T22:27:30.72"),
            ),
        ]),
    )
    .await;
    // Before the agent joins, it is a counted session.
    assert_eq!(row(&app, &tenant, 105022).await["BillableStatusCd"], "BILL");
    post_ok(
        &app,
        batch(vec![agent(
            105022,
            AGENT,
            "m",
            "2016-11-03T22:00:00",
            Some("2016-11-03T22:20:00"),
        )]),
    )
    .await;

    let history = app.history(&tenant, "/history?month=2016-11-01").await;
    assert_eq!(
        history,
        json!([
            {
                "SessionId": 105236,
                "ScheduleTs": "2016-11-03T21:45:09.467",
                "BillableTs": "2016-11-03T21:46:16.1",
                "DurationMinutes": 25,
                "BillableStatusCd": "BILL",
                "UserId": 4,
                "UsageDescription": "Aaron Johnson Session #105236 with Trevor Stamp - Counted Session"
            },
            {
                "SessionId": 105022,
                "ScheduleTs": "2016-11-03T22:00:00",
                "BillableTs": "2016-11-03T21:56:30.72",
                "DurationMinutes": 31,
                "BillableStatusCd": "SVCO",
                "UserId": 1,
                "UsageDescription": "Jonathan Vernon Session #105022 with Dewey Gladstone, Xiao Chu, Marisa Zendejas - Session with SecureVideo.com - does not count towards billable limits"
            }
        ])
    );
    assert_eq!(
        status_changes(&app, 105022).await,
        vec![(Value::Null, json!("BILL")), (json!("BILL"), json!("SVCO"))]
    );
}

#[tokio::test]
async fn a_second_session_with_the_same_guest_within_the_window_is_a_likely_duplicate() {
    let (app, tenant) = app_with(&[
        session_line(300, AARON, &at("10:00:00"), &[(31, "Trevor Stamp")]),
        // A different guest, within the window.
        session_line(301, AARON, &at("10:15:00"), &[(32, "Dewey Gladstone")]),
        // The same guest, exactly 60 minutes later.
        session_line(302, AARON, &at("11:00:00"), &[(33, "Trevor Stamp")]),
        // The same guest, 61 minutes after the last session with him.
        session_line(303, AARON, &at("12:00:00"), &[(34, "Trevor Stamp")]),
        // Another host, with the same guest.
        session_line(304, BETH, &at("10:15:00"), &[(35, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(300, "h", &at("09:59:00"), Some(&at("10:30:00"))),
            guest(300, 31, "g", &at("10:00:00"), Some(&at("10:30:00"))),
            host(301, "h", &at("10:20:00"), Some(&at("10:50:00"))),
            guest(301, 32, "g", &at("10:20:00"), Some(&at("10:50:00"))),
            host(302, "h", &at("11:00:00"), Some(&at("11:10:00"))),
            guest(302, 33, "g", &at("11:00:00"), Some(&at("11:10:00"))),
            host(303, "h", &at("12:01:00"), Some(&at("12:10:00"))),
            guest(303, 34, "g", &at("12:01:00"), Some(&at("12:10:00"))),
            host(304, "h", &at("10:10:00"), Some(&at("10:40:00"))),
            guest(304, 35, "g", &at("10:10:00"), Some(&at("10:40:00"))),
        ]),
    )
    .await;
    let status = |history: &Value, id: i64| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["SessionId"] == id)
            .map(|e| e["BillableStatusCd"].clone())
            .unwrap()
    };
    let history = app.history(&tenant, "/history").await;
    assert_eq!(status(&history, 300), "BILL");
    assert_eq!(status(&history, 301), "BILL", "different guest");
    assert_eq!(
        status(&history, 302),
        "DUPL",
        "same host and guest, 60 minutes later"
    );
    assert_eq!(
        status(&history, 303),
        "BILL",
        "61 minutes after the last one"
    );
    assert_eq!(status(&history, 304), "BILL", "different host");
    assert_eq!(
        row(&app, &tenant, 302).await["UsageDescription"],
        "Aaron Johnson Session #302 with Trevor Stamp - Likely Duplicate - does not count towards billable limits"
    );
    assert_eq!(
        usage(&app, &tenant, "2016-11-01").await["DuplicateSessions"],
        1
    );
}

#[tokio::test]
async fn a_session_that_becomes_billable_earlier_later_makes_the_other_one_the_duplicate() {
    let (app, tenant) = app_with(&[
        session_line(310, AARON, &at("10:00:00"), &[(41, "Trevor Stamp")]),
        session_line(311, AARON, &at("10:00:00"), &[(42, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(311, "h", &at("10:30:00"), Some(&at("10:50:00"))),
            guest(311, 42, "g", &at("10:30:00"), Some(&at("10:50:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 311).await["BillableStatusCd"], "BILL");
    // Session 310 is reported afterwards but was billable first.
    post_ok(
        &app,
        batch(vec![
            host(310, "h", &at("10:10:00"), Some(&at("10:20:00"))),
            guest(310, 41, "g", &at("10:10:00"), Some(&at("10:20:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 310).await["BillableStatusCd"], "BILL");
    assert_eq!(row(&app, &tenant, 311).await["BillableStatusCd"], "DUPL");
    let changes = audit(&app, 311).await;
    assert_eq!(changes.last().unwrap()["NewStatus"], "DUPL");
    assert_eq!(changes.last().unwrap()["OldStatus"], "BILL");
}

#[tokio::test]
async fn one_batch_that_makes_an_earlier_session_billable_re_derives_a_later_one_it_also_changes() {
    let (app, tenant) = app_with(&[
        session_line(330, AARON, &at("10:00:00"), &[(61, "Trevor Stamp")]),
        session_line(331, AARON, &at("10:00:00"), &[(62, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(331, "h", &at("10:30:00"), None),
            guest(331, 62, "g", &at("10:30:00"), None),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 331).await["BillableStatusCd"], "BILL");
    // One batch: session 330 becomes billable before 331 (with the same
    // guest), and 331's calls end. 330 is derived first and makes 331 a
    // duplicate; 331 is then derived again with its new calls.
    post_ok(
        &app,
        batch(vec![
            host(330, "h", &at("10:10:00"), Some(&at("10:20:00"))),
            guest(330, 61, "g", &at("10:10:00"), Some(&at("10:20:00"))),
            host(331, "h", &at("10:30:00"), Some(&at("10:52:00"))),
            guest(331, 62, "g", &at("10:30:00"), Some(&at("10:50:00"))),
        ]),
    )
    .await;
    let later = row(&app, &tenant, 331).await;
    assert_eq!(later["BillableStatusCd"], "DUPL");
    assert_eq!(later["DurationMinutes"], 20);
    assert_eq!(later["BillableTs"], "2016-11-03T10:30:00");
    assert_eq!(row(&app, &tenant, 330).await["BillableStatusCd"], "BILL");
    assert_eq!(
        status_changes(&app, 331).await,
        vec![(Value::Null, json!("BILL")), (json!("BILL"), json!("DUPL"))]
    );
}

#[tokio::test]
async fn a_later_session_re_derived_twice_in_one_batch_is_audited_once() {
    let (app, tenant) = app_with(&[
        session_line(340, AARON, &at("10:00:00"), &[(71, "Trevor Stamp")]),
        session_line(341, AARON, &at("10:15:00"), &[(72, "Trevor Stamp")]),
        session_line(342, AARON, &at("10:45:00"), &[(73, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(342, "h", &at("10:40:00"), Some(&at("10:50:00"))),
            guest(342, 73, "g", &at("10:40:00"), Some(&at("10:50:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 342).await["BillableStatusCd"], "BILL");
    // 340 becomes billable first and makes 342 a duplicate; 341, derived
    // next, is a duplicate of 340 and re-derives 342 again, which stays a
    // duplicate: its status changed once, and is audited once.
    post_ok(
        &app,
        batch(vec![
            host(340, "h", &at("10:05:00"), Some(&at("10:15:00"))),
            guest(340, 71, "g", &at("10:05:00"), Some(&at("10:15:00"))),
            host(341, "h", &at("10:25:00"), Some(&at("10:35:00"))),
            guest(341, 72, "g", &at("10:25:00"), Some(&at("10:35:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 340).await["BillableStatusCd"], "BILL");
    assert_eq!(row(&app, &tenant, 341).await["BillableStatusCd"], "DUPL");
    let later = row(&app, &tenant, 342).await;
    assert_eq!(later["BillableStatusCd"], "DUPL");
    assert_eq!(later["DurationMinutes"], 10);
    assert_eq!(
        status_changes(&app, 342).await,
        vec![(Value::Null, json!("BILL")), (json!("BILL"), json!("DUPL"))]
    );
}

#[tokio::test]
async fn a_guest_reported_late_in_the_earlier_session_makes_the_later_one_the_duplicate() {
    let (app, tenant) = app_with(&[
        session_line(
            320,
            AARON,
            &at("10:00:00"),
            &[(51, "Xiao Chu"), (52, "Trevor Stamp")],
        ),
        session_line(321, AARON, &at("10:30:00"), &[(53, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(320, "h", &at("10:00:00"), Some(&at("10:20:00"))),
            guest(320, 51, "x", &at("10:01:00"), Some(&at("10:20:00"))),
            host(321, "h", &at("10:30:00"), Some(&at("10:50:00"))),
            guest(321, 53, "t", &at("10:30:00"), Some(&at("10:50:00"))),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 321).await["BillableStatusCd"],
        "BILL",
        "no shared guest yet"
    );
    // Trevor was in session 320 too.
    post_ok(
        &app,
        batch(vec![guest(
            320,
            52,
            "t",
            &at("10:05:00"),
            Some(&at("10:15:00")),
        )]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 320).await["BillableStatusCd"], "BILL");
    assert_eq!(row(&app, &tenant, 321).await["BillableStatusCd"], "DUPL");
}

#[tokio::test]
async fn comp_and_its_withdrawal_are_audited() {
    let (app, tenant) = app_with(&[
        session_line(100, AARON, &at("10:00:00"), &[(9, "Trevor Stamp")]),
        session_line(101, AARON, &at("12:00:00"), &[(19, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h", &at("10:00:00"), Some(&at("10:30:00"))),
            guest(100, 9, "g", &at("10:00:00"), Some(&at("10:30:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 100).await["BillableStatusCd"], "BILL");

    let response = comp(&app, 100, "audio trouble, customer asked").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let comped = row(&app, &tenant, 100).await;
    assert_eq!(comped["BillableStatusCd"], "COMP");
    assert_eq!(
        comped["UsageDescription"],
        "Aaron Johnson Session #100 with Trevor Stamp - Comped by SecureVideo.com - does not count towards billable limits"
    );
    assert_eq!(
        usage(&app, &tenant, "2016-11-01").await["CompedSessions"],
        1
    );
    assert_error(
        comp(&app, 100, "again").await,
        StatusCode::CONFLICT,
        "comped",
    )
    .await;

    // Comp overrides the rules even when the calls change.
    post_ok(
        &app,
        batch(vec![
            host(100, "h2", &at("11:00:00"), Some(&at("11:10:00"))),
            guest(100, 9, "g2", &at("11:00:00"), Some(&at("11:10:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 100).await["BillableStatusCd"], "COMP");

    let response = app
        .operator(Method::DELETE, "/operator/sessions/100/comp")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let withdrawn = row(&app, &tenant, 100).await;
    assert_eq!(withdrawn["BillableStatusCd"], "BILL");
    assert_eq!(
        withdrawn["UsageDescription"],
        "Aaron Johnson Session #100 with Trevor Stamp - Counted Session"
    );
    let response = app
        .operator(Method::DELETE, "/operator/sessions/100/comp")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::CONFLICT, "not comped").await;

    let changes = audit(&app, 100).await;
    let summary: Vec<(Value, Value, Value, Value)> = changes
        .iter()
        .map(|entry| {
            (
                entry["OldStatus"].clone(),
                entry["NewStatus"].clone(),
                entry["Reason"].clone(),
                entry["Actor"].clone(),
            )
        })
        .collect();
    assert_eq!(summary.len(), 3, "{changes:?}");
    assert_eq!(summary[0].0, Value::Null);
    assert_eq!(summary[0].1, "BILL");
    assert_eq!(
        summary[1],
        (
            json!("BILL"),
            json!("COMP"),
            json!("audio trouble, customer asked"),
            json!("operator")
        )
    );
    assert_eq!(summary[2].0, "COMP");
    assert_eq!(summary[2].1, "BILL");
    assert_eq!(summary[2].3, "operator");
    assert!(
        summary[2]
            .2
            .as_str()
            .is_some_and(|reason| !reason.is_empty())
    );
    for entry in &changes {
        assert_eq!(entry["SessionId"], 100);
        assert!(
            entry["At"].as_str().is_some_and(|at| at.len() >= 19),
            "{entry}"
        );
    }

    // A session that never became billable cannot be comped.
    assert_error(
        comp(&app, 101, "goodwill").await,
        StatusCode::CONFLICT,
        "not billable",
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 101).await["BillableStatusCd"],
        Value::Null
    );
    assert!(audit(&app, 101).await.is_empty());
    assert_error(
        comp(&app, 999, "goodwill").await,
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    assert_error(
        comp(&app, 100, "   ").await,
        StatusCode::BAD_REQUEST,
        "Reason",
    )
    .await;
}

#[tokio::test]
async fn usage_descriptions_name_each_status() {
    let (app, tenant) = app_with(&[
        session_line(100, AARON, &at("09:00:00"), &[(9, "Trevor Stamp")]),
        session_line(101, AARON, &at("10:00:00"), &[(19, "Trevor Stamp")]),
        session_line(102, AARON, &at("10:15:00"), &[(29, "Trevor Stamp")]),
        session_line(103, AARON, &at("14:00:00"), &[(39, "Dewey Gladstone")]),
        session_line(104, AARON, &at("18:00:00"), &[(49, "Xiao Chu")]),
        session_line(105, AARON, &at("20:00:00"), &[(59, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(101, "h", &at("10:00:00"), Some(&at("10:10:00"))),
            guest(101, 19, "g", &at("10:00:00"), Some(&at("10:10:00"))),
            host(102, "h", &at("10:15:00"), Some(&at("10:20:00"))),
            guest(102, 29, "g", &at("10:15:00"), Some(&at("10:20:00"))),
            host(103, "h", &at("14:00:00"), Some(&at("14:10:00"))),
            agent(103, AGENT, "a", &at("14:01:00"), Some(&at("14:05:00"))),
            guest(103, 39, "g", &at("14:02:00"), Some(&at("14:10:00"))),
            host(104, "h", &at("18:00:00"), Some(&at("18:10:00"))),
            guest(104, 49, "g", &at("18:00:00"), Some(&at("18:10:00"))),
            host(105, "h", &at("20:00:00"), None),
        ]),
    )
    .await;
    assert_eq!(
        comp(&app, 104, "goodwill").await.status(),
        StatusCode::NO_CONTENT
    );
    let history = app.history(&tenant, "/history").await;
    let descriptions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["UsageDescription"].as_str().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        vec![
            "Aaron Johnson Session #101 with Trevor Stamp - Counted Session",
            "Aaron Johnson Session #102 with Trevor Stamp - Likely Duplicate - does not count towards billable limits",
            "Aaron Johnson Session #103 with Marisa Zendejas, Dewey Gladstone - Session with SecureVideo.com - does not count towards billable limits",
            "Aaron Johnson Session #104 with Xiao Chu - Comped by SecureVideo.com - does not count towards billable limits",
            // Not billable: after the billable ones, by ScheduleTs.
            "Aaron Johnson Session #100 - Not Connected",
            "Aaron Johnson Session #105 - Not Connected",
        ]
    );
}

#[tokio::test]
async fn the_platform_name_is_configurable() {
    let app =
        crate::helpers::spawn_app_with(|settings| settings.platform_name = "Acme Video".into())
            .await;
    let mut lines = PEOPLE.to_owned();
    lines.push_str(&session_line(
        100,
        AARON,
        &at("10:00:00"),
        &[(9, "Trevor Stamp")],
    ));
    app.import(&lines).await;
    let tenant = app.key_for(COMPANY).await;
    post_ok(
        &app,
        batch(vec![
            host(100, "h", &at("10:00:00"), Some(&at("10:10:00"))),
            agent(100, AGENT, "a", &at("10:01:00"), Some(&at("10:10:00"))),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 100).await["UsageDescription"],
        "Aaron Johnson Session #100 with Marisa Zendejas - Session with Acme Video - does not count towards billable limits"
    );
}

// --------------------------------------------------------------------- usage

#[tokio::test]
async fn usage_counts_each_status_and_bills_the_overage() {
    let december = "2016-12-05T10:00:00";
    let (app, tenant) = app_with(&[
        session_line(201, AARON, &at("10:00:00"), &[(21, "Trevor Stamp")]),
        session_line(202, AARON, &at("10:30:00"), &[(22, "Trevor Stamp")]),
        session_line(203, AARON, &at("13:00:00"), &[(23, "Trevor Stamp")]),
        session_line(204, AARON, &at("16:00:00"), &[(24, "Trevor Stamp")]),
        session_line(205, AARON, &at("18:00:00"), &[]),
        session_line(206, AARON, &at("20:00:00"), &[(26, "Trevor Stamp")]),
        session_line(207, BETH, december, &[(27, "Xiao Chu")]),
        session_line(208, BETH, &at("21:00:00"), &[(28, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            host(201, "h", &at("10:00:00"), Some(&at("10:30:00"))),
            guest(201, 21, "g", &at("10:00:00"), Some(&at("10:30:00"))),
            host(202, "h", &at("10:40:00"), Some(&at("10:50:00"))),
            guest(202, 22, "g", &at("10:40:00"), Some(&at("10:50:00"))),
            host(203, "h", &at("13:00:00"), Some(&at("13:20:00"))),
            guest(203, 23, "g", &at("13:00:00"), Some(&at("13:20:00"))),
            host(204, "h", &at("16:00:00"), Some(&at("16:05:00"))),
            guest(204, 24, "g", &at("16:00:00"), Some(&at("16:05:00"))),
            host(205, "h", &at("18:00:00"), Some(&at("18:15:00"))),
            agent(205, AGENT, "a", &at("18:00:00"), Some(&at("18:15:00"))),
            host(206, "h", &at("20:00:00"), Some(&at("20:45:00"))),
            guest(206, 26, "g", &at("20:00:00"), Some(&at("20:45:00"))),
            host(207, "h", december, Some("2016-12-05T10:40:00")),
            guest(207, 27, "g", december, Some("2016-12-05T10:40:00")),
            // 208 never becomes billable.
            host(208, "h", &at("21:00:00"), Some(&at("21:10:00"))),
        ]),
    )
    .await;
    assert_eq!(
        comp(&app, 204, "goodwill").await.status(),
        StatusCode::NO_CONTENT
    );

    let november = usage(&app, &tenant, "2016-11-01").await;
    assert_eq!(
        november,
        json!({
            "Month": "2016-11-01",
            "CountedSessions": 3,
            "SupportSessions": 1,
            "DuplicateSessions": 1,
            "CompedSessions": 1,
            "TotalDurationMinutes": 30 + 10 + 20 + 5 + 15 + 45,
            "IncludedSessions": 0,
            "OverageSessions": 3,
            "OveragePriceCents": 0,
            "OverageAmountCents": 0
        })
    );

    let response = app
        .operator(Method::PUT, &format!("/operator/companies/{COMPANY}"))
        .json(&json!({ "IncludedSessionsPerMonth": 1, "OveragePriceCents": 250 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let november = usage(&app, &tenant, "2016-11-01").await;
    assert_eq!(november["IncludedSessions"], 1);
    assert_eq!(november["OverageSessions"], 2);
    assert_eq!(november["OveragePriceCents"], 250);
    assert_eq!(november["OverageAmountCents"], 500);

    // Any day selects its month; December holds one counted session.
    let december = usage(&app, &tenant, "2016-12-31").await;
    assert_eq!(december["Month"], "2016-12-01");
    assert_eq!(december["CountedSessions"], 1);
    assert_eq!(december["TotalDurationMinutes"], 40);
    assert_eq!(
        december["OverageSessions"], 0,
        "within the included sessions"
    );
    assert_eq!(december["OverageAmountCents"], 0);

    let empty = usage(&app, &tenant, "2016-10-01").await;
    assert_eq!(empty["CountedSessions"], 0);
    assert_eq!(empty["TotalDurationMinutes"], 0);
    assert_eq!(empty["IncludedSessions"], 1);

    // Withdrawing the comp counts the session again.
    let response = app
        .operator(Method::DELETE, "/operator/sessions/204/comp")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let november = usage(&app, &tenant, "2016-11-01").await;
    assert_eq!(november["CountedSessions"], 4);
    assert_eq!(november["CompedSessions"], 0);
    assert_eq!(november["OverageAmountCents"], 750);
}
