//! SPEC §3.1's precise points, one test for each point that had
//! none: a zero-length call with a known end, microsecond lengths truncated
//! to milliseconds, ties in UsageDescription, the DUPL window's edge and the
//! earlier session's status, what one observation is, and the scopes of
//! EventId and CallId. (A deactivated session's open host call running on
//! while open guest calls are unknown: events.rs,
//! deactivation_ends_a_session_and_settles_its_duration.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, event, participant_event, spawn_app, support_event};

const PEOPLE: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Acme Clinic"}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"mz@example.com"}
{"Type":"SupportAgent","SupportAgentId":8,"FullName":"Abe Agent","EmailAddress":"abe@example.com"}
"#;

/// A session of Aaron's at 10:00 with these `(ParticipationId, name)`
/// guests, listed (invited) in this order.
fn session(session_id: i64, guests: &[(i64, &str)]) -> String {
    let participants: Vec<Value> = guests
        .iter()
        .map(|(id, name)| json!({"ParticipationId": id, "ParticipantFullName": name}))
        .collect();
    json!({"Type": "Session", "CompanyId": 1, "SessionId": session_id, "UserId": 4,
        "ScheduleTs": "2016-11-03T10:00:00", "ScheduleType": "Scheduled", "Participants": participants})
    .to_string()
}

async fn app_with(lines: &[String]) -> (TestApp, Tenant) {
    let app = spawn_app().await;
    app.import(&format!("{PEOPLE}{}\n", lines.join("\n"))).await;
    let tenant = app.key_for(1).await;
    (app, tenant)
}

fn at(hms: &str) -> String {
    format!("2016-11-03T{hms}")
}

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

async fn row(app: &TestApp, tenant: &Tenant, session_id: i64) -> Value {
    app.history(tenant, "/history")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["SessionId"] == session_id)
        .cloned()
        .unwrap_or_else(|| panic!("session {session_id} is in the history"))
}

/// A call of one party (`"h"` the host, `"a7"` agent 7, else the
/// participation `p`) from `from` to `to` (open when `None`), event ids
/// named after session and call.
fn call(session_id: i64, party: &str, call_id: &str, from: &str, to: Option<&str>) -> Vec<Value> {
    let make = |kind: &str, ts: &str| {
        let id = format!("{session_id}/{call_id}/{kind}");
        match party {
            "h" => event(&id, session_id, kind, "Host", call_id, ts),
            agent if agent.starts_with('a') => support_event(
                &id,
                session_id,
                kind,
                agent[1..].parse().unwrap(),
                call_id,
                ts,
            ),
            participation => participant_event(
                &id,
                session_id,
                kind,
                participation.parse().unwrap(),
                call_id,
                ts,
            ),
        }
    };
    let mut events = vec![make("Connect", from)];
    if let Some(to) = to {
        events.push(make("Disconnect", to));
    }
    events
}

fn batch(parts: Vec<Vec<Value>>) -> Value {
    Value::Array(parts.into_iter().flatten().collect())
}

/// "a zero-length call with a known end counts as known, giving a number".
#[tokio::test]
async fn a_zero_length_call_with_a_known_end_gives_a_duration() {
    let (app, tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp")]),
        session(101, &[(19, "Xiao Chu"), (20, "Dewey Gladstone")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            call(100, "h", "h", &at("10:00:00"), Some(&at("10:30:00"))),
            call(100, "9", "t", &at("10:05:00"), Some(&at("10:05:00"))),
        ]),
    )
    .await;
    let element = row(&app, &tenant, 100).await;
    assert_eq!(element["DurationMinutes"], 0, "{element}");
    assert_eq!(
        element["BillableTs"],
        Value::Null,
        "a zero-length call meets nobody"
    );

    // Deactivated: Xiao's open call has an unknown end and is left out;
    // Dewey's zero-length call is known, so the duration is a number.
    post_ok(
        &app,
        batch(vec![
            call(101, "h", "h", &at("10:00:00"), None),
            call(101, "19", "x", &at("10:01:00"), None),
            call(101, "20", "d", &at("10:02:00"), Some(&at("10:02:00"))),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 101).await["DurationMinutes"],
        Value::Null
    );
    let response = app
        .operator(Method::POST, "/operator/sessions/101/deactivate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let element = row(&app, &tenant, 101).await;
    assert_eq!(element["DurationMinutes"], 0, "{element}");
    assert_eq!(element["BillableTs"], "2016-11-03T10:01:00");
}

/// "lengths in milliseconds are truncated from microseconds": 29,999.999 ms
/// is 29,999 ms (0 minutes), not 30,000 (1 minute).
#[tokio::test]
async fn lengths_are_truncated_from_microseconds_to_milliseconds() {
    let (app, tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp")]),
        session(101, &[(19, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            call(100, "h", "h", &at("10:00:00"), Some(&at("11:00:00"))),
            call(100, "9", "t", &at("10:00:00.000001"), Some(&at("10:00:30"))),
            call(101, "h", "h", &at("10:00:00"), Some(&at("11:00:00"))),
            call(101, "19", "x", &at("10:00:00"), Some(&at("10:00:30"))),
        ]),
    )
    .await;
    let truncated = row(&app, &tenant, 100).await;
    assert_eq!(truncated["DurationMinutes"], 0, "{truncated}");
    assert_eq!(truncated["BillableTs"], "2016-11-03T10:00:00.000001");
    assert_eq!(row(&app, &tenant, 101).await["DurationMinutes"], 1);
}

/// "ties at the same instant: participations in invitation order, then
/// agents by SupportAgentId" — invitation order, not ParticipationId order.
#[tokio::test]
async fn ties_in_usage_description_list_participations_in_invitation_order_then_agents_by_id() {
    let (app, tenant) = app_with(&[session(100, &[(50, "Zed Last"), (40, "Amy First")])]).await;
    // Invited last (Participant API, as a log line), with the smallest id
    // the session's participations have… in the log a later line may bring
    // any free id.
    app.import(r#"{"Type":"AddParticipant","CompanyId":1,"SessionId":100,"ParticipationId":30,"ParticipantFullName":"Bea Later"}"#)
        .await;
    post_ok(
        &app,
        batch(vec![
            call(100, "h", "h", &at("10:00:00"), None),
            call(100, "a8", "s8", &at("10:05:00"), None),
            call(100, "30", "b", &at("10:05:00"), None),
            call(100, "a7", "s7", &at("10:05:00"), None),
            call(100, "40", "a", &at("10:05:00"), None),
            call(100, "50", "z", &at("10:05:00"), None),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 100).await["UsageDescription"],
        "Aaron Johnson Session #100 with Zed Last, Amy First, Bea Later, Marisa Zendejas, Abe Agent - Session with SecureVideo.com - does not count towards billable limits"
    );
}

/// The DUPL window is inclusive to the microsecond: exactly 60:00.000000
/// earlier is within it, 60:00.000001 is not.
#[tokio::test]
async fn the_dupl_window_is_inclusive_to_the_microsecond() {
    let (app, tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp")]),
        session(101, &[(19, "Trevor Stamp")]),
        session(102, &[(29, "Trevor Stamp")]),
    ])
    .await;
    post_ok(
        &app,
        batch(vec![
            call(100, "h", "h", &at("10:00:00.5"), Some(&at("10:10:00"))),
            call(100, "9", "t", &at("10:00:00.5"), Some(&at("10:10:00"))),
            call(101, "h", "h", &at("11:00:00.5"), Some(&at("11:10:00"))),
            call(101, "19", "t", &at("11:00:00.5"), Some(&at("11:10:00"))),
        ]),
    )
    .await;
    assert_eq!(row(&app, &tenant, 101).await["BillableStatusCd"], "DUPL");
    post_ok(
        &app,
        batch(vec![
            call(102, "h", "h", &at("12:10:00.000001"), Some(&at("12:20:00"))),
            call(
                102,
                "29",
                "t",
                &at("12:10:00.000001"),
                Some(&at("12:20:00")),
            ),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 102).await["BillableStatusCd"],
        "BILL",
        "60:00.000001 after session 101"
    );
}

/// "whatever that session's own status (BILL, SVCO, DUPL or COMP)": each
/// earlier billable session makes the later one with the same guest a DUPL.
#[tokio::test]
async fn any_earlier_billable_status_makes_a_duplicate() {
    let mut lines = Vec::new();
    for (session_id, guest) in [
        (100, 9),
        (101, 19),
        (110, 29),
        (111, 39),
        (120, 49),
        (121, 59),
        (122, 69),
    ] {
        lines.push(session(session_id, &[(guest, "Trevor Stamp")]));
    }
    let (app, tenant) = app_with(&lines).await;
    let meet = |session_id: i64, guest: i64, from: &str, to: &str| {
        vec![
            call(session_id, "h", "h", &at(from), Some(&at(to))),
            call(
                session_id,
                &guest.to_string(),
                "t",
                &at(from),
                Some(&at(to)),
            ),
        ]
    };
    // SVCO earlier: an agent joined session 100.
    let mut svco = meet(100, 9, "08:00:00", "08:10:00");
    svco.push(call(100, "a7", "s", &at("08:01:00"), Some(&at("08:02:00"))));
    post_ok(&app, batch(svco)).await;
    post_ok(&app, batch(meet(101, 19, "08:30:00", "08:40:00"))).await;
    // COMP earlier: 110 comped before 111 became billable.
    post_ok(&app, batch(meet(110, 29, "12:00:00", "12:10:00"))).await;
    let response = app
        .operator(Method::POST, "/operator/sessions/110/comp")
        .json(&json!({"Reason": "goodwill"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    post_ok(&app, batch(meet(111, 39, "12:30:00", "12:40:00"))).await;
    // DUPL earlier: 122 is 100 minutes after 120 but 50 after 121, a DUPL.
    post_ok(&app, batch(meet(120, 49, "16:00:00", "16:10:00"))).await;
    post_ok(&app, batch(meet(121, 59, "16:50:00", "17:00:00"))).await;
    post_ok(&app, batch(meet(122, 69, "17:40:00", "17:50:00"))).await;

    let status = |row: Value| row["BillableStatusCd"].clone();
    assert_eq!(status(row(&app, &tenant, 100).await), "SVCO");
    assert_eq!(status(row(&app, &tenant, 101).await), "DUPL", "after SVCO");
    assert_eq!(status(row(&app, &tenant, 110).await), "COMP");
    assert_eq!(status(row(&app, &tenant, 111).await), "DUPL", "after COMP");
    assert_eq!(status(row(&app, &tenant, 120).await), "BILL");
    assert_eq!(status(row(&app, &tenant, 121).await), "DUPL");
    assert_eq!(status(row(&app, &tenant, 122).await), "DUPL", "after DUPL");
}

/// An observation is one applied unit of input: within one batch (or one
/// import `Batch`), BillableTs is the first overlap of everything it
/// brought; a later observation never moves it.
#[tokio::test]
async fn billable_ts_is_the_first_overlap_of_the_observation_that_revealed_it() {
    let (app, tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp"), (10, "Xiao Chu")]),
        session(101, &[(19, "Trevor Stamp"), (20, "Xiao Chu")]),
    ])
    .await;
    // One batch: the later overlap listed first, the earlier one after.
    post_ok(
        &app,
        batch(vec![
            call(100, "h", "h", &at("10:00:00"), None),
            call(100, "9", "t", &at("10:20:00"), None),
            call(100, "10", "x", &at("10:05:00"), Some(&at("10:10:00"))),
        ]),
    )
    .await;
    assert_eq!(
        row(&app, &tenant, 100).await["BillableTs"],
        "2016-11-03T10:05:00"
    );

    // The same as import lines: one Batch is one observation, lone lines
    // are one each.
    let line = |mut value: Value, batch: Option<i64>| {
        if let Some(batch) = batch {
            value["Batch"] = json!(batch);
        }
        value.to_string()
    };
    let events = batch(vec![
        call(101, "h", "h", &at("10:00:00"), None),
        call(101, "19", "t", &at("10:20:00"), None),
        call(101, "20", "x", &at("10:05:00"), Some(&at("10:10:00"))),
    ]);
    let events = events.as_array().unwrap();
    let grouped: Vec<String> = events.iter().map(|e| line(e.clone(), Some(7))).collect();
    let lone: Vec<String> = events.iter().map(|e| line(e.clone(), None)).collect();
    let (grouped_app, grouped_tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp"), (10, "Xiao Chu")]),
        session(101, &[(19, "Trevor Stamp"), (20, "Xiao Chu")]),
    ])
    .await;
    grouped_app.import(&grouped.join("\n")).await;
    assert_eq!(
        row(&grouped_app, &grouped_tenant, 101).await["BillableTs"],
        "2016-11-03T10:05:00"
    );
    app.import(&lone.join("\n")).await;
    assert_eq!(
        row(&app, &tenant, 101).await["BillableTs"],
        "2016-11-03T10:20:00",
        "the line revealing 10:05 came after the one that set 10:20"
    );
}

/// "EventId idempotency is per company": another company's EventId is
/// another event; within a company it is the same event, whatever session.
#[tokio::test]
async fn event_ids_are_idempotency_keys_per_company() {
    let other = r#"{"Type":"Company","CompanyId":2,"Name":"Other Clinic"}
{"Type":"User","CompanyId":2,"UserId":5,"FullName":"Beth Carter","EmailAddress":"bc@example.com"}
{"Type":"Session","CompanyId":2,"SessionId":200,"UserId":5,"ScheduleTs":"2016-11-03T10:00:00","Participants":[]}"#;
    let (app, _) = app_with(&[session(100, &[]), session(101, &[]), other.to_owned()]).await;
    let connect =
        |id: &str, session_id: i64| event(id, session_id, "Connect", "Host", "h", &at("10:00:00"));
    assert_eq!(
        post_ok(&app, json!([connect("e1", 100), connect("e1", 200)])).await,
        (2, 0),
        "one EventId in two companies: two events"
    );
    assert_eq!(
        post_ok(&app, json!([connect("e1", 101)])).await,
        (0, 1),
        "the same company's EventId, for another session: the same event"
    );
    let calls = |session_id: i64| {
        let app = &app;
        async move {
            let company = if session_id == 200 { 2 } else { 1 };
            let tenant = app.key_for(company).await;
            let (status, calls) = app
                .send(
                    &tenant,
                    Method::GET,
                    &format!("/session/{session_id}/calls"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            calls.as_array().unwrap().len()
        }
    };
    assert_eq!(
        (calls(100).await, calls(101).await, calls(200).await),
        (1, 0, 1)
    );
}

/// "a CallId identifies a call within its session": the same CallId in two
/// sessions is two calls, each closed by its own session's Disconnect.
#[tokio::test]
async fn a_call_id_names_a_call_within_its_session() {
    let (app, tenant) = app_with(&[
        session(100, &[(9, "Trevor Stamp")]),
        session(101, &[(19, "Xiao Chu")]),
    ])
    .await;
    post_ok(
        &app,
        json!([
            event("a", 100, "Connect", "Host", "c1", &at("10:00:00")),
            event("b", 101, "Connect", "Host", "c1", &at("10:02:00")),
            participant_event("c", 100, "Connect", 9, "c2", &at("10:00:00")),
            participant_event("d", 101, "Connect", 19, "c2", &at("10:02:00")),
            event("e", 100, "Disconnect", "Host", "c1", &at("10:30:00")),
            participant_event("f", 100, "Disconnect", 9, "c2", &at("10:30:00")),
        ]),
    )
    .await;
    let calls = |session_id: i64| {
        let (app, tenant) = (&app, &tenant);
        async move {
            let (status, calls) = app
                .send(
                    tenant,
                    Method::GET,
                    &format!("/session/{session_id}/calls"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            calls
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["CallId"].clone(),
                        c["ConnectTs"].clone(),
                        c["DisconnectTs"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        calls(100).await,
        [
            (json!("c1"), json!(at("10:00:00")), json!(at("10:30:00"))),
            (json!("c2"), json!(at("10:00:00")), json!(at("10:30:00"))),
        ]
    );
    assert_eq!(
        calls(101).await,
        [
            (json!("c1"), json!(at("10:02:00")), Value::Null),
            (json!("c2"), json!(at("10:02:00")), Value::Null),
        ],
        "session 100's Disconnects closed its own calls only"
    );
    assert_eq!(row(&app, &tenant, 100).await["DurationMinutes"], 30);
    assert_eq!(
        row(&app, &tenant, 101).await["DurationMinutes"],
        Value::Null
    );
}
