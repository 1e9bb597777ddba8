//! Every tenant endpoint, called with another company's ids, answers 404 as
//! if they did not exist, and changes nothing (SPEC §1, §2).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, participant_event, spawn_app};

/// Everything company A can see of itself.
async fn what_a_sees(app: &TestApp, a: &Tenant, user: i64, session: i64) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "/user".to_owned(),
        format!("/user/{user}"),
        "/session".to_owned(),
        format!("/session/{session}/calls"),
        "/history".to_owned(),
    ] {
        let (status, body) = app.send(a, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        seen.push(body);
    }
    seen
}

#[tokio::test]
async fn another_companys_ids_are_not_found_and_nothing_changes() {
    // Arrange: company A with a user, a session, two participations and a
    // call; company B with its own user.
    let app = spawn_app().await;
    let a = app.new_tenant("Clinic A").await;
    let b = app.new_tenant("Clinic B").await;
    let (_, a_user) = app
        .send(&a, Method::POST, "/user",
            Some(json!({"FullName": "Aaron Johnson", "EmailAddress": "aaron@a.example", "ExternalId": "emr-a"})))
        .await;
    let a_user: i64 = a_user["SystemUserId"].as_str().unwrap().parse().unwrap();
    let session = app
        .create_session(&a, a_user, json!({"ScheduleTs": "2030-01-07T15:30:00",
            "Participants": [{"ParticipantFullName": "Trevor Stamp", "ParticipantEmailAddress": "trevor@patients.example"},
                             {"ParticipantFullName": "Xiao Chu"}]}))
        .await;
    let a_session = session["SessionId"].as_i64().unwrap();
    let trevor = session["Participants"][1]["ParticipationId"]
        .as_i64()
        .unwrap();
    let xiao = session["Participants"][2]["ParticipationId"]
        .as_i64()
        .unwrap();
    let response = app
        .post_events(json!([participant_event(
            "t",
            a_session,
            "Connect",
            trevor,
            "t",
            "2030-01-07T15:31:00"
        )]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let b_user = app.create_user(&b, "Bea Host", "bea@b.example").await;
    let before = what_a_sees(&app, &a, a_user, a_session).await;

    // Act and assert: B names A's things on every tenant endpoint.
    let calls: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/user/{a_user}"), json!(null)),
        (Method::GET, "/user/0?externalId=emr-a".into(), json!(null)),
        (
            Method::PUT,
            format!("/user/{a_user}"),
            json!({"FullName": "Hijacked"}),
        ),
        (Method::DELETE, format!("/user/{a_user}"), json!(null)),
        (Method::GET, format!("/session/{a_user}"), json!(null)),
        (
            Method::POST,
            format!("/session/{a_user}"),
            json!({"ScheduleTs": "2030-01-08T10:00:00"}),
        ),
        (
            Method::PUT,
            format!("/session/{a_session}"),
            json!({"ScheduleTs": "2030-01-08T10:00:00"}),
        ),
        (Method::DELETE, format!("/session/{a_session}"), json!(null)),
        (
            Method::GET,
            format!("/session/{a_session}/calls"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/participant/{a_session}"),
            json!({"ParticipantFullName": "Mallory Intruder"}),
        ),
        (Method::DELETE, format!("/participant/{xiao}"), json!(null)),
        (
            Method::DELETE,
            format!("/participant/{trevor}"),
            json!(null),
        ),
        (Method::GET, format!("/history/{a_user}"), json!(null)),
    ];
    for (method, path, body) in calls {
        let mut request = app.call(&b, method.clone(), &path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["Message"].as_str().unwrap().contains("not found"),
            "{method} {path}: {body}"
        );
    }
    // B's own invitation of A's user by id is refused as not B's user.
    let response = app
        .call(&b, Method::POST, &format!("/session/{b_user}"))
        .json(&json!({"Participants": [{"SecureVideoUserId": a_user}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // B's lists hold nothing of A's, even filtered by A's participant.
    let (_, users) = app.send(&b, Method::GET, "/user", None).await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["SystemUserId"], b_user.to_string());
    for path in [
        "/session",
        "/session?participantEmail=trevor@patients.example",
        "/history",
    ] {
        let (_, listed) = app.send(&b, Method::GET, path, None).await;
        assert_eq!(listed, json!([]), "{path}");
    }

    assert_eq!(
        what_a_sees(&app, &a, a_user, a_session).await,
        before,
        "nothing changed"
    );
}
