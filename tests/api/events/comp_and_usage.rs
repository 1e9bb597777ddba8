//! Comps, invoice lines and monthly usage (SPEC §3.1, §8).

use super::*;

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
