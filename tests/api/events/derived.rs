//! BillableTs and DurationMinutes as the calls make them (SPEC §3.1).

use super::*;

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
