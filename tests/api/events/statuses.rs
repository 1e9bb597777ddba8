//! Deactivation and the billing statuses SVCO and DUPL (SPEC §3.1, §3.2).

use super::*;

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
