//! The DUPL window is stored with the company (SPEC §3): its default comes
//! from `--duplicate-window-minutes` when the company is created, only
//! `PUT /operator/companies/{id}` changes it (re-evaluating the company's
//! statuses, each change audited), and export/import carries it, so every
//! process derives the same statuses (SPEC §3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDatabase, assert_error, event, participant_event, spawn_app_with, spawn_on,
};

/// A host and a guest who meet in session 10 at 10:00 and again in session
/// 11, `minutes_later`; `window` is the Company line's DuplicateWindowMinutes
/// (absent when `None`).
fn ledger(window: Option<i64>, minutes_later: i64) -> String {
    let mut company = json!({"Type": "Company", "CompanyId": 1, "Name": "Window Clinic"});
    if let Some(window) = window {
        company["DuplicateWindowMinutes"] = json!(window);
    }
    let second = format!(
        "2024-03-01T{:02}:{:02}:00",
        10 + minutes_later / 60,
        minutes_later % 60
    );
    let session = |id: i64, at: &str| {
        json!({"Type": "Session", "CompanyId": 1, "SessionId": id, "UserId": 2, "ScheduleTs": at,
            "ScheduleType": "Scheduled", "Participants": [
                {"ParticipationId": id + 200, "SecureVideoUserId": 2},
                {"ParticipationId": id + 100, "ParticipantFullName": "Gus Guest", "ParticipantEmailAddress": "gus@x.example"}]})
    };
    [
        company,
        json!({"Type": "User", "CompanyId": 1, "UserId": 2, "FullName": "Hana Host", "EmailAddress": "hana@clinic.example"}),
        session(10, "2024-03-01T10:00:00"),
        session(11, &second),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
        + "\n"
}

/// Host and guest connect to sessions 10 and 11 at their scheduled times.
fn meetings(minutes_later: i64) -> Value {
    let second = format!(
        "2024-03-01T{:02}:{:02}:00",
        10 + minutes_later / 60,
        minutes_later % 60
    );
    json!([
        event("10h", 10, "Connect", "Host", "h10", "2024-03-01T10:00:00"),
        participant_event("10g", 10, "Connect", 110, "g10", "2024-03-01T10:00:00"),
        event("11h", 11, "Connect", "Host", "h11", &second),
        participant_event("11g", 11, "Connect", 111, "g11", &second),
    ])
}

async fn statuses(app: &TestApp) -> Vec<(i64, Value)> {
    let tenant = app.key_for(1).await;
    app.history(&tenant, "/history")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["SessionId"].as_i64().unwrap(),
                row["BillableStatusCd"].clone(),
            )
        })
        .collect()
}

async fn company(app: &TestApp) -> Value {
    let response = app
        .operator(Method::GET, "/operator/companies/1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn change_window(app: &TestApp, minutes: i64) -> reqwest::Response {
    app.operator(Method::PUT, "/operator/companies/1")
        .json(&json!({ "DuplicateWindowMinutes": minutes }))
        .send()
        .await
        .unwrap()
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

#[tokio::test]
async fn a_company_is_created_with_the_flags_window_or_its_own() {
    let app = spawn_app_with(|settings| settings.duplicate_window_minutes = 90).await;
    for (body, window) in [
        (json!({"Name": "Flag Clinic"}), 90),
        (
            json!({"Name": "Own Clinic", "DuplicateWindowMinutes": 30}),
            30,
        ),
        (
            json!({"Name": "Same Day Clinic", "DuplicateWindowMinutes": 0}),
            0,
        ),
    ] {
        let response = app
            .operator(Method::POST, "/operator/companies")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["DuplicateWindowMinutes"], window, "{body}");
        let shown: Value = app
            .operator(
                Method::GET,
                &format!("/operator/companies/{}", created["CompanyId"]),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(shown, created);
    }
}

/// The issue's case: `import` derived with its flag, `serve` with another.
/// Now both use the window the company was created with.
#[tokio::test]
async fn import_and_serve_with_other_flags_derive_with_the_companys_window() {
    let importer = spawn_on(TestDatabase::new().await, |settings| {
        settings.duplicate_window_minutes = 30
    })
    .await;
    importer.import(&ledger(None, 45)).await;
    let database = importer.stop().await;
    let server = spawn_on(database, |settings| settings.duplicate_window_minutes = 90).await;
    assert_eq!(company(&server).await["DuplicateWindowMinutes"], 30);
    assert_eq!(server.post_events(meetings(45)).await.status(), 200);
    // 45 minutes apart: within 90, not within the company's 30.
    assert_eq!(
        statuses(&server).await,
        [(10, json!("BILL")), (11, json!("BILL"))]
    );
}

#[tokio::test]
async fn changing_the_window_re_evaluates_the_companys_statuses_and_audits_each_change() {
    let app = spawn_app_with(|_| {}).await;
    app.import(&ledger(None, 75)).await;
    assert_eq!(app.post_events(meetings(75)).await.status(), 200);
    assert_eq!(company(&app).await["DuplicateWindowMinutes"], 60);
    assert_eq!(
        statuses(&app).await,
        [(10, json!("BILL")), (11, json!("BILL"))]
    );
    let before_10 = audit(&app, 10).await;

    let response = change_window(&app, 90).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["DuplicateWindowMinutes"], 90);
    assert_eq!(changed["IncludedSessionsPerMonth"], 0, "the plan is kept");
    assert_eq!(
        statuses(&app).await,
        [(10, json!("BILL")), (11, json!("DUPL"))]
    );
    let audit_11 = audit(&app, 11).await;
    let last = audit_11.last().unwrap();
    assert_eq!(
        (&last["OldStatus"], &last["NewStatus"], &last["Actor"]),
        (&json!("BILL"), &json!("DUPL"), &json!("operator"))
    );
    assert_eq!(
        last["Reason"],
        "DuplicateWindowMinutes changed from 60 to 90"
    );
    assert_eq!(audit(&app, 10).await, before_10, "no change, no entry");

    // Changing the plan alone keeps the window and changes no status.
    let response = app
        .operator(Method::PUT, "/operator/companies/1")
        .json(&json!({ "IncludedSessionsPerMonth": 4 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["DuplicateWindowMinutes"],
        90
    );
    assert_eq!(audit(&app, 11).await.len(), audit_11.len());

    assert_eq!(change_window(&app, 75).await.status(), StatusCode::OK);
    assert_eq!(
        statuses(&app).await,
        [(10, json!("BILL")), (11, json!("DUPL"))],
        "exactly 75:00 earlier is within a 75-minute window"
    );
    assert_eq!(change_window(&app, 74).await.status(), StatusCode::OK);
    assert_eq!(
        statuses(&app).await,
        [(10, json!("BILL")), (11, json!("BILL"))]
    );
    let last = audit(&app, 11).await.last().unwrap().clone();
    assert_eq!(
        (&last["OldStatus"], &last["NewStatus"], &last["Reason"]),
        (
            &json!("DUPL"),
            &json!("BILL"),
            &json!("DuplicateWindowMinutes changed from 75 to 74")
        )
    );

    // The operator's audit of the company lists each change.
    let actions: Value = app
        .operator(Method::GET, "/operator/companies/1/actions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["Action"] == "PlanChanged")
        .map(|a| a["Reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "IncludedSessionsPerMonth 0, OveragePriceCents 0, DuplicateWindowMinutes 90",
            "IncludedSessionsPerMonth 4, OveragePriceCents 0, DuplicateWindowMinutes 90",
            "IncludedSessionsPerMonth 4, OveragePriceCents 0, DuplicateWindowMinutes 75",
            "IncludedSessionsPerMonth 4, OveragePriceCents 0, DuplicateWindowMinutes 74",
        ]
    );
}

#[tokio::test]
async fn export_and_import_carry_the_window() {
    let app = spawn_app_with(|_| {}).await;
    app.import(&ledger(Some(20), 75)).await;
    assert_eq!(company(&app).await["DuplicateWindowMinutes"], 20);
    assert_eq!(app.post_events(meetings(75)).await.status(), 200);
    assert_eq!(change_window(&app, 90).await.status(), StatusCode::OK);
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();
    assert!(
        exported.contains(r#""DuplicateWindowMinutes":20"#),
        "{exported}"
    );
    assert!(
        exported.contains(r#""DuplicateWindowMinutes":90"#),
        "{exported}"
    );

    let copy = spawn_app_with(|settings| settings.duplicate_window_minutes = 15).await;
    copy.import(&exported).await;
    assert_eq!(company(&copy).await["DuplicateWindowMinutes"], 90);
    assert_eq!(statuses(&copy).await, statuses(&app).await);
    assert_eq!(
        statuses(&copy).await,
        [(10, json!("BILL")), (11, json!("DUPL"))]
    );
    assert_eq!(audit(&copy, 11).await, audit(&app, 11).await);
}

#[tokio::test]
async fn a_window_out_of_range_is_a_400_that_changes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    app.import(&ledger(None, 75)).await;
    for minutes in [-1, 10_081] {
        assert_error(
            change_window(&app, minutes).await,
            StatusCode::BAD_REQUEST,
            "DuplicateWindowMinutes",
        )
        .await;
        let response = app
            .operator(Method::POST, "/operator/companies")
            .json(&json!({"Name": "Odd Clinic", "DuplicateWindowMinutes": minutes}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "DuplicateWindowMinutes").await;
    }
    assert_eq!(company(&app).await["DuplicateWindowMinutes"], 60);
    let bad_line =
        r#"{"Type":"Company","CompanyId":5,"Name":"Odd Clinic","DuplicateWindowMinutes":-5}"#;
    let error = app
        .store
        .import(std::io::Cursor::new(bad_line.as_bytes().to_vec()))
        .await
        .expect_err("a negative window is refused");
    assert!(
        error.to_string().contains("DuplicateWindowMinutes"),
        "{error}"
    );
}
