//! `export` writes the whole ledger as a log; importing it into an empty
//! database reproduces the same API output. Broken imports keep nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_ledger::domain::Timestamp;

use crate::helpers::{TestApp, TestDatabase, event, participant_event, spawn_app, spawn_on};
use crate::seed::{SEED_SETUP, seed_events};

/// Everything a tenant and the operator can read about company 1.
async fn observable(app: &TestApp) -> Vec<String> {
    let tenant = app.key_for(1).await;
    let mut seen = Vec::new();
    for path in [
        "/history",
        "/history?month=2016-11-01",
        "/history?month=2016-11-01&format=csv",
        "/history/4",
        "/history?participantEmail=trevor@patients.example",
        "/usage?month=2016-11-01",
        "/user",
        "/user/4",
        "/session",
        "/session/105022/calls",
        "/history?participantEmail=aaron@renamed.example",
        "/history?participantEmail=aa@changed.com",
    ] {
        let response = app.tenant(&tenant, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        seen.push(response.text().await.unwrap());
    }
    for session in [105236, 105022, 200] {
        let response = app
            .operator(Method::GET, &format!("/operator/sessions/{session}/audit"))
            .send()
            .await
            .unwrap();
        seen.push(response.text().await.unwrap());
    }
    seen
}

/// Every kind of User, Session and Participant API write, and an
/// automatic deactivation, on the seed company.
async fn api_writes(app: &TestApp) {
    let tenant = app.key_for(1).await;
    let send = |method: Method, path: String, body: Value| {
        let tenant = tenant.clone();
        async move {
            let (status, body) = app.send(&tenant, method, &path, Some(body)).await;
            assert!(status.is_success(), "{path}: {status} {body}");
            body
        }
    };
    let temp = send(
        Method::POST,
        "/user".into(),
        json!({"FullName": "Temp Host", "EmailAddress": "temp@seed.example"}),
    )
    .await;
    let temp = temp["SystemUserId"].as_str().unwrap().to_owned();
    send(
        Method::PUT,
        "/user/4".into(),
        json!({"FullName": "Aaron B. Johnson", "EmailAddress": "aaron@renamed.example"}),
    )
    .await;
    let kept = send(Method::POST, "/session/4".into(), json!({"ScheduleTs": "2030-01-07T15:30:00",
        "Participants": [{"ParticipantFullName": "Alex Alexis", "ParticipantEmailAddress": "aa@example.com", "ShouldAutoDeliverCode": "E"},
                         {"ParticipantFullName": "Xiao Chu"}]})).await;
    let kept_id = kept["SessionId"].as_i64().unwrap();
    let xiao = kept["Participants"][2]["ParticipationId"].as_i64().unwrap();
    send(
        Method::PUT,
        format!("/session/{kept_id}"),
        json!({"ScheduleTs": "2030-01-08T09:00:00"}),
    )
    .await;
    send(Method::DELETE, format!("/participant/{xiao}"), json!({})).await;
    send(
        Method::POST,
        format!("/participant/{kept_id}"),
        json!({"ParticipantFullName": "Dewey Gladstone"}),
    )
    .await;
    let meet_now = send(Method::POST, format!("/session/{temp}"), json!({})).await;
    send(
        Method::POST,
        format!("/participant/{}", meet_now["SessionId"]),
        json!({"ParticipantFullName": "alex alexis", "ParticipantEmailAddress": "aa@changed.com"}),
    )
    .await;
    let cancelled = send(
        Method::POST,
        "/session/1".into(),
        json!({"ScheduleTs": "2030-01-09T10:00:00"}),
    )
    .await;
    send(
        Method::DELETE,
        format!("/session/{}", cancelled["SessionId"]),
        json!({}),
    )
    .await;
    send(Method::DELETE, format!("/user/{temp}"), json!({})).await;
    let ended =
        session_ledger::deactivation::deactivate_idle_sessions(&app.store, Timestamp::now(), 0)
            .await
            .unwrap();
    // Idle for 0 hours: the seed's two 2016 sessions still active.
    assert_eq!(ended, 2);
}

async fn export_text(app: &TestApp) -> String {
    let mut out = Vec::new();
    app.store.export(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_export_from_sqlite_imported_into_an_empty_database_gives_identical_output() {
    // Arrange: a ledger on SQLite, built through imports and every kind of
    // API write. The copy is on this suite's backend, so under tests/postgres
    // this is the move of a deployment from SQLite to PostgreSQL.
    let original = spawn_on(TestDatabase::sqlite(), |_| {}).await;
    original.import(SEED_SETUP).await;
    original
        .import(
            r#"{"Type":"Session","CompanyId":1,"SessionId":200,"UserId":4,"ScheduleTs":"2016-11-03T22:15:00","Participants":[{"ParticipationId":201,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"trevor@new.example"}]}"#,
        )
        .await;
    // SecureVideo's wire fields (SPEC §5, §6): a VideoId brought from
    // another system, a connect code in the older string form (a leading
    // zero: a new code), a user invited by id showing the user's values.
    original
        .import(
            &[
                r#"{"Type":"User","CompanyId":1,"UserId":300,"FullName":"Imported Host","EmailAddress":"imported@seed.example","SmsNumber":"3124455566","TimeZoneWindowsId":"Hawaiian Standard Time","VideoId":"securevideo+sv000000030012345678"}"#,
                r#"{"Type":"Session","CompanyId":1,"SessionId":301,"UserId":300,"ScheduleTs":"2030-02-01T10:00:00","ConnectCode":"012345678","Participants":[{"ParticipationId":302,"SecureVideoUserId":4,"ConnectCode":204848645}]}"#,
            ]
            .join("\n"),
        )
        .await;
    assert_eq!(original.post_events(seed_events()).await.status(), 200);
    // A likely duplicate: Trevor meets Aaron again 40 minutes later, one event at a time.
    for single in [
        event("d-h", 200, "Connect", "Host", "h", "2016-11-03T22:26:00"),
        participant_event("d-t", 200, "Connect", 201, "t", "2016-11-03T22:26:16.5"),
        participant_event("d-t2", 200, "Disconnect", 201, "t", "2016-11-03T22:40:00"),
    ] {
        assert_eq!(original.post_events(json!([single])).await.status(), 200);
    }
    let comp = original
        .operator(Method::POST, "/operator/sessions/105236/comp")
        .json(&json!({"Reason": "Video trouble"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comp.status(), StatusCode::NO_CONTENT);
    let deactivate = original
        .operator(Method::POST, "/operator/sessions/200/deactivate")
        .send()
        .await
        .unwrap();
    assert_eq!(deactivate.status(), StatusCode::NO_CONTENT);
    let plan = original
        .operator(Method::PUT, "/operator/companies/1")
        .json(&json!({"IncludedSessionsPerMonth": 0, "OveragePriceCents": 1234}))
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), StatusCode::OK);
    api_writes(&original).await;
    let before = observable(&original).await;
    assert!(
        before[0].contains("DUPL"),
        "the ledger under test has a duplicate: {}",
        before[0]
    );
    assert!(
        before[0].contains("COMP"),
        "and a comped session: {}",
        before[0]
    );
    assert!(
        before[6].contains(r#""VideoId":"securevideo+sv000000030012345678""#),
        "{}",
        before[6]
    );
    assert!(
        before[8].contains(r#""ConnectCode":912345678"#),
        "{}",
        before[8]
    );
    assert!(
        before[8].contains(r#""ConnectCode":204848645"#),
        "{}",
        before[8]
    );
    assert!(
        before[8].contains(r#""ParticipantTimeZoneWindowsId":"Hawaiian Standard Time""#),
        "the imported host's participation shows its time zone: {}",
        before[8]
    );
    let log = export_text(&original).await;
    assert!(
        log.contains(r#""ConnectCode":912345678"#),
        "journaled as a number"
    );

    // Act: import the log into a new, empty database.
    let copy = spawn_app().await;
    copy.store
        .import(std::io::Cursor::new(log.clone().into_bytes()))
        .await
        .unwrap();

    // Assert
    let after = observable(&copy).await;
    assert_eq!(before, after);
    // New ids continue above the largest imported one.
    let company = copy.create_company("Next").await;
    assert!(
        company > 105_236,
        "new id {company} is above every imported id"
    );
    // And the copy exports the same changes again, apart from the keys and
    // company made since, and the numbering of batches.
    let again = export_text(&copy).await;
    let comparable = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| line["Type"] != "ApiKey" && line["CompanyId"] != json!(company))
            // The copy's reads went on with the imported access audit.
            .filter(|line| !line["Type"].as_str().unwrap().starts_with("Access"))
            .map(|mut line| {
                line.as_object_mut().unwrap().remove("Batch");
                line
            })
            .collect()
    };
    assert_eq!(comparable(&log), comparable(&again));
}

#[tokio::test]
async fn a_broken_line_stops_the_import_with_its_number_and_keeps_nothing() {
    let app = spawn_app().await;
    let lines = [
        r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}"#,
        r#"{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Ann Host","EmailAddress":"ann@clinic.example"}"#,
        r#"{"Type":"Session","CompanyId":1,"SessionId":5,"UserId":4,"ScheduleTs":"2016-11-03T22:00:00"}"#,
        r#"{"Type":"Disconnect","EventId":"e1","SessionId":5,"Party":"Host","CallId":"h","Ts":"2016-11-03T21:00:00"}"#,
        r#"{"Type":"Connect","EventId":"e2","SessionId":5,"Party":"Host","CallId":"h","Ts":"2016-11-03T22:00:00"}"#,
    ]
    .join("\n");
    let error = app
        .store
        .import(std::io::Cursor::new(lines.into_bytes()))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("line 5:"), "{message}");
    assert!(message.contains("before it connects"), "{message}");
    assert!(
        app.store.company(1).await.unwrap().is_none(),
        "nothing of the import is kept"
    );
    assert_eq!(export_text(&app).await, "");

    for (broken, line) in [
        (
            "{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Clinic\"}\nnot json\n",
            2,
        ),
        (
            "{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Clinic\"}\n{\"Type\":\"Nope\"}\n",
            2,
        ),
        (
            "{\"Type\":\"User\",\"CompanyId\":9,\"UserId\":4,\"FullName\":\"Ann\",\"EmailAddress\":\"a@b.example\"}\n",
            1,
        ),
        (
            "{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Clinic\"}\n\n{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Again\"}\n",
            3,
        ),
        // A connect code an integer client cannot keep, or none at all.
        (
            "{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Clinic\"}\n{\"Type\":\"User\",\"CompanyId\":1,\"UserId\":4,\"FullName\":\"Ann Host\",\"EmailAddress\":\"ann@clinic.example\"}\n{\"Type\":\"Session\",\"CompanyId\":1,\"SessionId\":5,\"UserId\":4,\"ScheduleTs\":\"2016-11-03T22:00:00\",\"ConnectCode\":12}\n",
            3,
        ),
        (
            "{\"Type\":\"Company\",\"CompanyId\":1,\"Name\":\"Clinic\"}\n{\"Type\":\"User\",\"CompanyId\":1,\"UserId\":4,\"FullName\":\"Ann Host\",\"EmailAddress\":\"ann@clinic.example\"}\n{\"Type\":\"Session\",\"CompanyId\":1,\"SessionId\":5,\"UserId\":4,\"ScheduleTs\":\"2016-11-03T22:00:00\",\"ConnectCode\":\"abc\"}\n",
            3,
        ),
    ] {
        let error = app
            .store
            .import(std::io::Cursor::new(broken.as_bytes().to_vec()))
            .await
            .unwrap_err();
        assert!(
            error.to_string().starts_with(&format!("line {line}:")),
            "{broken:?}: {error}"
        );
        assert!(app.store.company(1).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn an_imported_database_serves_after_a_restart() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    assert_eq!(app.post_events(seed_events()).await.status(), 200);
    let tenant = app.key_for(1).await;
    let before = app.history(&tenant, "/history").await;
    let database = app.stop().await;

    let restarted = spawn_on(database, |_| {}).await;
    assert_eq!(restarted.history(&tenant, "/history").await, before);
}

#[tokio::test]
async fn an_import_moves_each_company_it_changes_on_once_and_its_reads_follow() {
    // Arrange: the seed company, read once so that its answer is kept, and a
    // second company the import leaves alone.
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    app.import(r#"{"Type":"Company","CompanyId":2,"Name":"Other Clinic"}"#)
        .await;
    let tenant = app.key_for(1).await;
    let before = app.history(&tenant, "/history").await;
    assert_eq!(before.as_array().unwrap().len(), 2);
    let app = &app;
    let version = |company_id| async move {
        let company = app.store.company(company_id).await.unwrap().unwrap();
        company.data_version
    };
    let (seed_before, other_before) = (version(1).await, version(2).await);

    // Act: one import of many changes to the seed company: a plan, a user, two
    // sessions, a batch of events and a lone one, a deactivation.
    let lines = [
        r#"{"Type":"CompanyPlan","CompanyId":1,"IncludedSessionsPerMonth":12,"OveragePriceCents":500}"#,
        r#"{"Type":"User","CompanyId":1,"UserId":30,"FullName":"Nina Host","EmailAddress":"nina@seed.example"}"#,
        r#"{"Type":"Session","CompanyId":1,"SessionId":31,"UserId":30,"ScheduleTs":"2016-11-04T10:00:00","Participants":[{"ParticipationId":32,"ParticipantFullName":"Paul Guest","ParticipantEmailAddress":"paul@patients.example"}]}"#,
        r#"{"Type":"Session","CompanyId":1,"SessionId":33,"UserId":30,"ScheduleTs":"2016-11-05T10:00:00"}"#,
        r#"{"Type":"Connect","EventId":"n-h-in","SessionId":31,"Party":"Host","CallId":"nh","Ts":"2016-11-04T10:00:00","Batch":40}"#,
        r#"{"Type":"Connect","EventId":"n-p-in","SessionId":31,"Party":"Participant","ParticipationId":32,"CallId":"np","Ts":"2016-11-04T10:01:00","Batch":40}"#,
        r#"{"Type":"Disconnect","EventId":"n-p-out","SessionId":31,"Party":"Participant","ParticipationId":32,"CallId":"np","Ts":"2016-11-04T10:20:00","Batch":40}"#,
        r#"{"Type":"Disconnect","EventId":"n-h-out","SessionId":31,"Party":"Host","CallId":"nh","Ts":"2016-11-04T10:21:00"}"#,
        r#"{"Type":"Deactivate","SessionId":31,"Ts":"2016-11-05T10:21:00","Automatic":true}"#,
    ]
    .join("\n");
    app.import(&lines).await;

    // Assert: one transaction, one new data version for the company it
    // changed, none for the other; the kept answer is not served again.
    assert_eq!(version(1).await, seed_before + 1);
    assert_eq!(version(2).await, other_before);
    let after = app.history(&tenant, "/history").await;
    let imported = after
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["SessionId"] == 31)
        .unwrap_or_else(|| panic!("session 31 is in the history: {after}"));
    assert_eq!(imported["DurationMinutes"], 19, "{imported}");
}
