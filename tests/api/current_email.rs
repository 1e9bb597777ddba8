//! A person's current e-mail (SPEC §3): only an invitation carrying a
//! different non-empty address, or a user update that changes the user's
//! EmailAddress, moves it. Hosting, an invitation without an address (by
//! SecureVideoUserId, external id or name) and a rename keep it, through the
//! APIs and through import alike (issue 32).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Tenant, TestApp, spawn_app};

/// The sessions `?ParticipantEmail=` finds, in history order.
async fn found(app: &TestApp, tenant: &Tenant, email: &str) -> Vec<i64> {
    let history = app
        .history(tenant, &format!("/history?ParticipantEmail={email}"))
        .await;
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["SessionId"].as_i64().unwrap())
        .collect()
}

/// A clinic with a host (Wes) and Xia, a user whose User record says
/// xia4@clinic.example; Wes's first session invites Xia by user id with
/// xia9@patients.example, which becomes her current address. Answers the
/// app, the tenant, Wes's and Xia's ids and the first session's id.
async fn xia_moved_to_a_newer_address() -> (TestApp, Tenant, i64, i64, i64) {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Repro").await;
    let wes = app
        .create_user(&tenant, "Wes Brook", "wes3@mail.example")
        .await;
    let (status, xia) = app
        .send(
            &tenant,
            Method::POST,
            "/user",
            Some(json!({"FullName": "Xia Jones", "EmailAddress": "xia4@clinic.example", "ExternalId": "emr-102"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{xia}");
    let xia: i64 = xia["SystemUserId"].as_str().unwrap().parse().unwrap();
    let first = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-01T00:15:00", "Participants": [
                {"SecureVideoUserId": xia, "ParticipantEmailAddress": "xia9@patients.example"}]}),
        )
        .await;
    let first = first["SessionId"].as_i64().unwrap();
    assert_eq!(found(&app, &tenant, "xia9@patients.example").await, [first]);
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [] as [i64; 0]
    );
    (app, tenant, wes, xia, first)
}

/// Xia's current address is still xia9@patients.example: it finds every
/// session she took part in, and her User record's address finds none.
async fn assert_still_xia9(app: &TestApp, tenant: &Tenant, sessions: &[i64]) {
    assert_eq!(
        found(app, tenant, "xia9@patients.example").await,
        sessions,
        "the newer address finds every session of Xia's"
    );
    assert_eq!(
        found(app, tenant, "xia4@clinic.example").await,
        [] as [i64; 0],
        "the User record's address is not Xia's current one"
    );
}

#[tokio::test]
async fn hosting_a_session_keeps_the_hosts_current_email() {
    let (app, tenant, _, xia, first) = xia_moved_to_a_newer_address().await;
    let hosted = app
        .create_session(&tenant, xia, json!({"ScheduleTs": "2030-03-02T00:15:00"}))
        .await;
    let hosted_id = hosted["SessionId"].as_i64().unwrap();
    // The host's own participation still shows the User record's address.
    assert_eq!(
        hosted["Participants"][0]["ParticipantEmailAddress"],
        "xia4@clinic.example"
    );
    assert_still_xia9(&app, &tenant, &[first, hosted_id]).await;
}

#[tokio::test]
async fn an_invitation_by_user_id_without_email_keeps_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"SecureVideoUserId": xia}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    // Display only: the participation shows the user's address.
    assert_eq!(
        second["Participants"][1]["ParticipantEmailAddress"],
        "xia4@clinic.example"
    );
    // The same through the Participant API.
    let third = app
        .create_session(&tenant, wes, json!({"ScheduleTs": "2030-03-03T00:15:00"}))
        .await;
    let third_id = third["SessionId"].as_i64().unwrap();
    let (status, added) = app
        .send(
            &tenant,
            Method::POST,
            &format!("/participant/{third_id}"),
            Some(json!({"SecureVideoUserId": xia})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["ParticipantEmailAddress"], "xia4@clinic.example");
    assert_still_xia9(&app, &tenant, &[first, second_id, third_id]).await;
}

#[tokio::test]
async fn an_invitation_by_name_without_email_keeps_the_current_email() {
    let (app, tenant, wes, _, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"ParticipantFullName": " xia JONES "}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_eq!(second["Participants"][1]["ParticipantEmailAddress"], "");
    assert_still_xia9(&app, &tenant, &[first, second_id]).await;
}

#[tokio::test]
async fn an_invitation_by_external_id_without_email_keeps_the_current_email() {
    let (app, tenant, wes, _, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [
                {"ParticipantFullName": "X. Jones", "ParticipantExternalId": "emr-102"}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_still_xia9(&app, &tenant, &[first, second_id]).await;
}

#[tokio::test]
async fn a_rename_through_put_user_keeps_the_current_email() {
    let (app, tenant, _, xia, first) = xia_moved_to_a_newer_address().await;
    // EmailAddress left out, then given unchanged (in another case).
    for body in [
        json!({"FullName": "Cara Stamp"}),
        json!({"FullName": "Cara Stamp-Jones", "EmailAddress": "XIA4@clinic.example"}),
    ] {
        let (status, user) = app
            .send(&tenant, Method::PUT, &format!("/user/{xia}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{user}");
        assert_still_xia9(&app, &tenant, &[first]).await;
    }
    // A PUT that changes the address does move it, and the earlier ones
    // still find her sessions through the new one.
    let (status, _) = app
        .send(
            &tenant,
            Method::PUT,
            &format!("/user/{xia}"),
            Some(json!({"EmailAddress": "cara@clinic.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found(&app, &tenant, "cara@clinic.example").await, [first]);
    assert_eq!(
        found(&app, &tenant, "xia9@patients.example").await,
        [] as [i64; 0]
    );
}

/// An invitation that carries a different address does move it, by user id
/// or by name (the rule's other half, unchanged).
#[tokio::test]
async fn an_invitation_with_a_different_email_moves_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [
                {"SecureVideoUserId": xia, "ParticipantEmailAddress": "xia4@clinic.example"}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [first, second_id]
    );
    let third = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-03T00:15:00", "Participants": [
                {"ParticipantFullName": "Xia Jones", "ParticipantEmailAddress": "xia@home.example"}]}),
        )
        .await;
    let third_id = third["SessionId"].as_i64().unwrap();
    assert_eq!(
        found(&app, &tenant, "xia@home.example").await,
        [first, second_id, third_id]
    );
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [] as [i64; 0]
    );
}

/// The issue's reproduction, as import lines, before its trigger.
const REPRO: &str = r#"{"Type":"Company","CompanyId":100,"Name":"Repro","IncludedSessionsPerMonth":0,"OveragePriceCents":0}
{"Type":"User","CompanyId":100,"UserId":101,"FullName":"Wes Brook","EmailAddress":"wes3@mail.example"}
{"Type":"User","CompanyId":100,"UserId":102,"FullName":"Xia Jones","EmailAddress":"xia4@clinic.example","ExternalId":"emr-102"}
{"Type":"Session","CompanyId":100,"SessionId":103,"UserId":101,"ScheduleTs":"2024-03-01T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":104,"ParticipantFullName":"Wes Brook","ParticipantEmailAddress":"","SecureVideoUserId":101},{"ParticipantFullName":"Xia Jones","ParticipantEmailAddress":"xia9@patients.example","SecureVideoUserId":102,"ParticipationId":105}]}
"#;

/// Imports the reproduction and then `trigger`; answers what
/// `?ParticipantEmail=` finds for Xia's newer and older address.
async fn import_repro_then(trigger: &str) -> (Vec<i64>, Vec<i64>) {
    let app = spawn_app().await;
    app.import(&format!("{REPRO}{trigger}\n")).await;
    let tenant = app.key_for(100).await;
    (
        found(&app, &tenant, "xia9@patients.example").await,
        found(&app, &tenant, "xia4@clinic.example").await,
    )
}

#[tokio::test]
async fn importing_the_issues_reproduction_keeps_the_current_email() {
    let rename = r#"{"Type":"UserUpdate","CompanyId":100,"UserId":102,"FullName":"Cara Stamp","EmailAddress":"xia4@clinic.example","SmsNumber":"","DefaultResolution":"","TimeZoneWindowsId":"","HelpNumber":"","ExternalId":""}"#;
    assert_eq!(import_repro_then(rename).await, (vec![103], vec![]));
}

#[tokio::test]
async fn imported_hosting_and_invitations_without_email_keep_the_current_email() {
    let triggers = [
        // Xia hosts, her own participation listed without an address…
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":102,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"SecureVideoUserId":102,"ParticipantEmailAddress":""}]}"#,
        // …or not listed at all.
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":102,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[]}"#,
        // Invited by user id, by name, by external id, without an address.
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"SecureVideoUserId":102}]}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"ParticipantFullName":"XIA JONES"}]}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"ParticipantFullName":"X. Jones","ParticipantExternalId":"emr-102"}]}"#,
        r#"{"Type":"AddParticipant","CompanyId":100,"SessionId":103,"ParticipationId":107,"ParticipantFullName":"Xia J.","ParticipantExternalId":"emr-102"}"#,
    ];
    let mut wrong = Vec::new();
    for trigger in triggers {
        let expected = if trigger.contains("AddParticipant") {
            vec![103]
        } else {
            vec![103, 106]
        };
        let got = import_repro_then(trigger).await;
        if got != (expected.clone(), vec![]) {
            wrong.push(format!("{trigger}: found {got:?}, not ({expected:?}, [])"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// An export of a ledger in which the current address and the User record's
/// differ replays to the same answers: the journal keeps an invitation's own
/// address, not the user's address shown beside it.
#[tokio::test]
async fn an_export_replays_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"SecureVideoUserId": xia}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    let hosted = app
        .create_session(&tenant, xia, json!({"ScheduleTs": "2030-03-03T00:15:00"}))
        .await;
    let hosted_id = hosted["SessionId"].as_i64().unwrap();
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let copy = spawn_app().await;
    copy.import(std::str::from_utf8(&exported).unwrap()).await;
    let copied_tenant = copy.key_for(tenant.company_id).await;
    for (app, tenant) in [(&app, &tenant), (&copy, &copied_tenant)] {
        assert_still_xia9(app, tenant, &[first, second_id, hosted_id]).await;
        let (_, session) = app
            .send(tenant, Method::GET, &format!("/session/{xia}"), None)
            .await;
        assert_eq!(
            session[0]["Participants"][0]["ParticipantEmailAddress"],
            "xia4@clinic.example"
        );
    }
}
