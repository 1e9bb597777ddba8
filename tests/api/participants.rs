//! The Participant API (SPEC §6), and person resolution through it: the
//! seed's "Alex Alexis changed his e-mail" case end to end.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{event, participant_event};
use crate::sessions::{assert_participation_shape, session_ids, setup};

#[tokio::test]
async fn a_participant_is_added_and_removed() {
    let (app, tenant, host) = setup().await;
    let session = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-07T15:30:00"}))
        .await;
    let id = session["SessionId"].as_i64().unwrap();
    let (status, added) = app
        .send(&tenant, Method::POST, &format!("/participant/{id}"),
            Some(json!({"ParticipantFullName": "Dewey Gladstone", "ParticipantEmailAddress": "dewey@patients.example",
                        "ShouldAutoDeliverCode": "e", "ParticipantDefaultResolution": "720p"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_participation_shape(&added);
    assert_eq!(added["ParticipantFullName"], "Dewey Gladstone");
    assert_eq!(added["ShouldAutoDeliverCode"], "E");
    assert_eq!(added["ParticipantDefaultResolution"], "720p");
    assert!(added["ConnectionTs"].is_null());
    let (_, listed) = app
        .send(
            &tenant,
            Method::GET,
            "/session?participantEmail=dewey@patients.example",
            None,
        )
        .await;
    assert_eq!(listed[0]["Participants"][1], added);

    let participation = added["ParticipationId"].as_i64().unwrap();
    let (status, _) = app
        .send(
            &tenant,
            Method::DELETE,
            &format!("/participant/{participation}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app
        .send(
            &tenant,
            Method::GET,
            "/session?participantEmail=dewey@patients.example",
            None,
        )
        .await;
    assert_eq!(listed, json!([]));
    // A removed participant's name may be invited again.
    let (status, again) = app
        .send(
            &tenant,
            Method::POST,
            &format!("/participant/{id}"),
            Some(json!({"ParticipantFullName": "Dewey Gladstone"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["ParticipationId"], added["ParticipationId"]);
}

/// The seed's example, end to end: Alex Alexis had aa@example.com, is
/// invited later with aa@changed.com, and every session he took part in is
/// found under the new address.
#[tokio::test]
async fn alex_alexis_changes_his_email_and_history_follows_him() {
    let (app, tenant, host) = setup().await;
    let first = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-07T15:30:00",
            "Participants": [{"ParticipantFullName": "Alex Alexis", "ParticipantEmailAddress": "aa@example.com", "ShouldAutoDeliverCode": "E"}]}))
        .await;
    let first_id = first["SessionId"].as_i64().unwrap();
    let alex = first["Participants"][1]["ParticipationId"]
        .as_i64()
        .unwrap();
    let response = app
        .post_events(json!([
            event("h", first_id, "Connect", "Host", "h", "2030-01-07T15:29:00"),
            participant_event("a", first_id, "Connect", alex, "a", "2030-01-07T15:30:00"),
            participant_event(
                "a2",
                first_id,
                "Disconnect",
                alex,
                "a",
                "2030-01-07T15:55:00"
            ),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let second = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-02-07T15:30:00"}))
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    let (status, _) = app
        .send(&tenant, Method::POST, &format!("/participant/{second_id}"),
            Some(json!({"ParticipantFullName": " alex alexis ", "ParticipantEmailAddress": "aa@changed.com", "ShouldAutoDeliverCode": "E"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let history = app
        .history(&tenant, "/history?participantEmail=aa@changed.com")
        .await;
    assert_eq!(session_ids(&history), [first_id, second_id]);
    assert_eq!(
        app.history(&tenant, "/history?participantEmail=aa@example.com")
            .await,
        json!([])
    );
    let month = app
        .history(
            &tenant,
            "/history?month=2030-01-01&participantEmail=AA@changed.com",
        )
        .await;
    assert_eq!(
        month[0]["UsageDescription"],
        format!("Aaron Johnson Session #{first_id} with Alex Alexis - Counted Session")
    );
    let (_, active) = app
        .send(
            &tenant,
            Method::GET,
            "/session?participantEmail=aa@changed.com",
            None,
        )
        .await;
    assert_eq!(session_ids(&active), [first_id, second_id]);
}
