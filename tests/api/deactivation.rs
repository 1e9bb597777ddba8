//! Automatic deactivation (SPEC §3.2) as `serve` runs it: past, idle
//! sessions end through the journaled Deactivate change; others stay.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_ledger::domain::Timestamp;
use session_ledger::store::{Rules, Store};

use crate::helpers::{TestDatabase, spawn_on};

#[tokio::test]
async fn past_idle_sessions_are_deactivated_and_others_stay_active() {
    // Arrange: before the server starts, a company whose sessions are
    // (100) scheduled days ago and idle since, (101) scheduled days ago but
    // active an hour ago, (102) idle but scheduled in the future.
    let now = Timestamp::now();
    let hours_ago = |hours: i64| now.plus_minutes(-60 * hours);
    let day_start = |days: i64| {
        Timestamp::start_of(now.to_offset_date_time().date()).plus_minutes(days * 24 * 60)
    };
    let lines = [
        json!({"Type": "Company", "CompanyId": 1, "Name": "Clinic", "RecordedTs": hours_ago(24 * 10)}),
        json!({"Type": "User", "CompanyId": 1, "UserId": 4, "FullName": "Aaron Johnson",
               "EmailAddress": "aaron@clinic.example", "RecordedTs": hours_ago(24 * 10)}),
        json!({"Type": "Session", "CompanyId": 1, "SessionId": 100, "UserId": 4,
               "ScheduleTs": day_start(-3), "RecordedTs": hours_ago(24 * 5)}),
        json!({"Type": "Session", "CompanyId": 1, "SessionId": 101, "UserId": 4,
               "ScheduleTs": day_start(-3), "RecordedTs": hours_ago(1)}),
        json!({"Type": "Session", "CompanyId": 1, "SessionId": 102, "UserId": 4,
               "ScheduleTs": day_start(3), "RecordedTs": hours_ago(24 * 5)}),
    ];
    let log: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let database = TestDatabase::new().await;
    let store = Store::open(&database.url, Rules::default()).await.unwrap();
    store
        .import(std::io::Cursor::new(log.into_bytes()))
        .await
        .unwrap();
    store.close().await;

    // Act: serve with a sweep every second (the first one at start-up).
    let app = spawn_on(database, |settings| {
        settings.auto_deactivate_interval_seconds = 1;
        settings.auto_deactivate_after_hours = 24;
    })
    .await;
    let tenant = app.key_for(1).await;
    let active = || async {
        let (status, sessions) = app.send(&tenant, Method::GET, "/session", None).await;
        assert_eq!(status, StatusCode::OK);
        sessions
            .as_array()
            .unwrap()
            .iter()
            .map(|session| session["SessionId"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let mut waited = Duration::ZERO;
    while active().await.contains(&100) {
        assert!(
            waited < Duration::from_secs(20),
            "session 100 was never deactivated"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += Duration::from_millis(25);
    }

    // Assert: the same sweep left the others alone.
    assert_eq!(active().await, [101, 102]);
    let mut out = Vec::new();
    app.store.export(&mut out).await.unwrap();
    let deactivations: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["Type"] == "Deactivate")
        .collect();
    assert_eq!(deactivations.len(), 1, "{deactivations:?}");
    assert_eq!(deactivations[0]["SessionId"], 100);
    assert_eq!(deactivations[0]["Automatic"], true);
    // Still in history, and no longer open to events.
    let history = app.history(&tenant, "/history").await;
    assert_eq!(history.as_array().unwrap().len(), 3);
    let response = app
        .post_events(json!([crate::helpers::event(
            "late",
            100,
            "Connect",
            "Host",
            "h",
            "2030-01-01T00:00:00"
        )]))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let audit: Value = app
        .operator(Method::GET, "/operator/sessions/100/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit,
        json!([]),
        "a session that never became billable changes no status"
    );
}
