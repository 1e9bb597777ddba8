//! Delivery: repeated, reordered and invalid batches (SPEC §7).

use super::*;

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
