//! The Session and Participant APIs as a SecureVideo client uses them
//! (SPEC §6): every documented field and its JSON type, the lifecycle, and
//! the operator's connection reports showing through.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, assert_error, event, participant_event, spawn_app};

const SESSION_KEYS: [&str; 10] = [
    "SessionId",
    "ScheduleTs",
    "BillableTs",
    "DurationMinutes",
    "BillableStatusCd",
    "UserId",
    "ScheduleType",
    "IsRecorded",
    "ConnectCode",
    "Participants",
];

const PARTICIPANT_KEYS: [&str; 13] = [
    "ParticipationId",
    "ParticipantFullName",
    "SecureVideoUserId",
    "ParticipantEmailAddress",
    "ParticipantSmsNumber",
    "ParticipantDefaultResolution",
    "ParticipantTimeZoneWindowsId",
    "ParticipantExternalId",
    "ConnectCode",
    "ShouldAutoDeliverCode",
    "ConnectionTs",
    "ExpiresTs",
    "RSVP",
];

pub(crate) fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

pub(crate) fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    names.sort_unstable();
    names
}

/// A JSON number of nine digits, the first not 0 (SPEC §6).
pub(crate) fn is_connect_code(value: &Value) -> bool {
    value
        .as_i64()
        .is_some_and(|code| (100_000_000..=999_999_999).contains(&code))
}

pub(crate) fn assert_participation_shape(participation: &Value) {
    assert_eq!(
        keys(participation),
        sorted(&PARTICIPANT_KEYS),
        "{participation}"
    );
    assert!(participation["ParticipationId"].is_i64());
    assert!(
        participation["SecureVideoUserId"].is_i64() || participation["SecureVideoUserId"].is_null()
    );
    for text in [
        "ParticipantFullName",
        "ParticipantEmailAddress",
        "ParticipantSmsNumber",
        "ParticipantDefaultResolution",
        "ParticipantTimeZoneWindowsId",
        "ParticipantExternalId",
        "ShouldAutoDeliverCode",
    ] {
        assert!(participation[text].is_string(), "{text}: {participation}");
    }
    assert!(
        is_connect_code(&participation["ConnectCode"]),
        "{participation}"
    );
    assert!(participation["ConnectionTs"].is_string() || participation["ConnectionTs"].is_null());
    assert!(participation["ExpiresTs"].is_string() || participation["ExpiresTs"].is_null());
    assert_eq!(participation["RSVP"], "Unknown");
}

pub(crate) fn assert_session_shape(session: &Value) {
    assert_eq!(keys(session), sorted(&SESSION_KEYS), "{session}");
    assert!(session["SessionId"].is_i64());
    assert!(session["ScheduleTs"].is_string());
    assert!(session["BillableTs"].is_string() || session["BillableTs"].is_null());
    assert!(session["DurationMinutes"].is_i64() || session["DurationMinutes"].is_null());
    assert!(session["BillableStatusCd"].is_string() || session["BillableStatusCd"].is_null());
    assert!(session["UserId"].is_i64());
    assert!(
        ["Scheduled", "MeetNow", "Rescheduled"]
            .contains(&session["ScheduleType"].as_str().unwrap())
    );
    assert_eq!(session["IsRecorded"], false);
    assert!(is_connect_code(&session["ConnectCode"]), "{session}");
    let participants = session["Participants"].as_array().unwrap();
    participants.iter().for_each(assert_participation_shape);
    assert_eq!(
        participants[0]["SecureVideoUserId"], session["UserId"],
        "the host comes first"
    );
}

pub(crate) async fn setup() -> (TestApp, Tenant, i64) {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Clinic").await;
    let host = app
        .create_user(&tenant, "Aaron Johnson", "aaron@clinic.example")
        .await;
    (app, tenant, host)
}

pub(crate) fn session_ids(sessions: &Value) -> Vec<i64> {
    sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["SessionId"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_scheduled_session_has_every_documented_field_with_the_host_first() {
    let (app, tenant, host) = setup().await;
    let (status, colleague) = app
        .send(
            &tenant,
            Method::POST,
            "/user",
            Some(
                json!({"FullName": "Priya Raman", "EmailAddress": "priya@clinic.example",
                        "SmsNumber": "+15550122", "DefaultResolution": "default",
                        "TimeZoneWindowsId": "Hawaiian Standard Time"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{colleague}");
    let colleague: i64 = colleague["SystemUserId"].as_str().unwrap().parse().unwrap();
    let session = app
        .create_session(
            &tenant,
            host,
            json!({
                "ScheduleTs": "2030-01-07T15:30:00",
                "Participants": [
                    {"ParticipantFullName": "Trevor Stamp", "ParticipantEmailAddress": "trevor@patients.example",
                     "ShouldAutoDeliverCode": "E", "ParticipantTimeZoneWindowsId": "Eastern Standard Time",
                     "ParticipantExternalId": "emr-77"},
                    {"ParticipantFullName": "Xiao Chu", "ParticipantSmsNumber": "+15550111", "ShouldAutoDeliverCode": "S"},
                    {"SecureVideoUserId": colleague.to_string()}
                ]
            }),
        )
        .await;
    assert_session_shape(&session);
    assert_eq!(session["ScheduleTs"], "2030-01-07T15:30:00");
    assert_eq!(session["ScheduleType"], "Scheduled");
    assert_eq!(session["UserId"], host);
    for derived in ["BillableTs", "DurationMinutes", "BillableStatusCd"] {
        assert!(session[derived].is_null(), "{derived}");
    }
    let participants = session["Participants"].as_array().unwrap();
    assert_eq!(participants.len(), 4);
    assert_eq!(participants[0]["ParticipantFullName"], "Aaron Johnson");
    assert_eq!(
        participants[0]["ParticipantEmailAddress"],
        "aaron@clinic.example"
    );
    // The host's own carries the host user's values and delivers by e-mail.
    assert_eq!(participants[0]["ParticipantDefaultResolution"], "high");
    assert_eq!(participants[0]["ShouldAutoDeliverCode"], "E");
    assert_ne!(participants[0]["ConnectCode"], session["ConnectCode"]);
    assert_eq!(participants[1]["ParticipantFullName"], "Trevor Stamp");
    assert!(participants[1]["SecureVideoUserId"].is_null());
    assert_eq!(participants[1]["ShouldAutoDeliverCode"], "E");
    assert_eq!(participants[1]["ParticipantExternalId"], "emr-77");
    assert_eq!(
        participants[1]["ParticipantTimeZoneWindowsId"],
        "Eastern Standard Time"
    );
    assert_eq!(participants[2]["ParticipantSmsNumber"], "+15550111");
    assert_eq!(participants[2]["ShouldAutoDeliverCode"], "S");
    assert_eq!(participants[3]["SecureVideoUserId"], colleague);
    assert_eq!(participants[3]["ParticipantFullName"], "Priya Raman");
    assert_eq!(participants[3]["ShouldAutoDeliverCode"], "N");
    // A user invited by id carries that user's values.
    assert_eq!(participants[3]["ParticipantSmsNumber"], "+15550122");
    assert_eq!(participants[3]["ParticipantDefaultResolution"], "default");
    assert_eq!(
        participants[3]["ParticipantTimeZoneWindowsId"],
        "Hawaiian Standard Time"
    );
    for participant in participants {
        assert!(participant["ExpiresTs"].is_null(), "{participant}");
    }

    // Listed for the company and for its host, not for the other user.
    let id = session["SessionId"].as_i64().unwrap();
    let (status, all) = app.send(&tenant, Method::GET, "/session", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all, json!([session.clone()]));
    let (_, hosted) = app
        .send(&tenant, Method::GET, &format!("/session/{host}"), None)
        .await;
    assert_eq!(session_ids(&hosted), [id]);
    let (_, others) = app
        .send(&tenant, Method::GET, &format!("/session/{colleague}"), None)
        .await;
    assert_eq!(others, json!([]));
    let (_, by_email) = app
        .send(
            &tenant,
            Method::GET,
            "/session?ParticipantEmail=%20Trevor@Patients.example%20",
            None,
        )
        .await;
    assert_eq!(session_ids(&by_email), [id]);
    let (_, nobody) = app
        .send(
            &tenant,
            Method::GET,
            "/session?participantEmail=nobody@patients.example",
            None,
        )
        .await;
    assert_eq!(nobody, json!([]));
}

#[tokio::test]
async fn a_meet_now_session_starts_at_its_creation() {
    let (app, tenant, host) = setup().await;
    let before = time::OffsetDateTime::now_utc();
    let session = app
        .create_session(&tenant, host, json!({"Participants": []}))
        .await;
    assert_session_shape(&session);
    assert_eq!(session["ScheduleType"], "MeetNow");
    let text = session["ScheduleTs"].as_str().unwrap();
    let at = time::PrimitiveDateTime::parse(
        text,
        &time::format_description::well_known::Iso8601::DEFAULT,
    )
    .unwrap()
    .assume_utc();
    assert!(at >= before - time::Duration::seconds(1) && at <= time::OffsetDateTime::now_utc());
    // To the whole second, as SecureVideo's (SPEC §6).
    assert_eq!(at.nanosecond(), 0, "{text}");
    assert!(!text.contains('.'), "{text}");
    let session = app
        .create_session(&tenant, host, json!({"ScheduleTs": null}))
        .await;
    assert_eq!(session["ScheduleType"], "MeetNow");
    assert_eq!(session["Participants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_session_and_participant_input_is_a_400_that_names_the_field() {
    let (app, tenant, host) = setup().await;
    for (body, field) in [
        (json!({"ScheduleTs": "2030-01-07T15:31:00"}), "ScheduleTs"),
        (json!({"ScheduleTs": "2030-01-07T15:30:05"}), "ScheduleTs"),
        (json!({"ScheduleTs": "next tuesday"}), "ScheduleTs"),
        // UTC year 10000: once stored, then a 500 when written out.
        (
            json!({"ScheduleTs": "9999-12-31T23:45:00-05:00"}),
            "ScheduleTs",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "T"}]}),
            "Participants[0].ParticipantFullName",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "Tom Lee", "ShouldAutoDeliverCode": "E"}]}),
            "Participants[0].ParticipantEmailAddress",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "Tom Lee"}, {"ParticipantFullName": "Xiao Chu", "ShouldAutoDeliverCode": "S"}]}),
            "Participants[1].ParticipantSmsNumber",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "Tom Lee", "ShouldAutoDeliverCode": "X"}]}),
            "ShouldAutoDeliverCode",
        ),
        (
            json!({"Participants": [{"SecureVideoUserId": host}]}),
            "SecureVideoUserId",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": " aaron JOHNSON "}]}),
            "ParticipantFullName",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "Tom Lee"}, {"ParticipantFullName": "tom lee"}]}),
            "Participants[1].ParticipantFullName",
        ),
        (
            json!({"Participants": [{"SecureVideoUserId": 987654}]}),
            "SecureVideoUserId",
        ),
        (
            json!({"Participants": {"ParticipantFullName": "Tom Lee"}}),
            "Participants",
        ),
        (
            json!({"Participants": [{"ParticipantFullName": "Tom Lee"}, {"ParticipantFullName": "Xiao Chu", "ParticipantTimeZoneWindowsId": "Pacific/Honolulu"}]}),
            "Participants[1].ParticipantTimeZoneWindowsId",
        ),
    ] {
        let response = app
            .call(&tenant, Method::POST, &format!("/session/{host}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    let (_, none) = app.send(&tenant, Method::GET, "/session", None).await;
    assert_eq!(none, json!([]), "nothing was created");

    let session = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-07T15:30:00"}))
        .await;
    let id = session["SessionId"].as_i64().unwrap();
    for (body, field) in [
        (json!({"ParticipantFullName": "T"}), "ParticipantFullName"),
        (
            json!({"ParticipantFullName": "Tom Lee", "ShouldAutoDeliverCode": "E"}),
            "ParticipantEmailAddress",
        ),
        (
            json!({"ParticipantFullName": "Tom Lee", "ShouldAutoDeliverCode": "S"}),
            "ParticipantSmsNumber",
        ),
        (
            json!({"ParticipantFullName": "Tom Lee", "ParticipantEmailAddress": "tom@"}),
            "ParticipantEmailAddress",
        ),
        (json!({"SecureVideoUserId": host}), "SecureVideoUserId"),
        (
            json!({"ParticipantFullName": "Aaron Johnson"}),
            "ParticipantFullName",
        ),
    ] {
        let response = app
            .call(&tenant, Method::POST, &format!("/participant/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    for (body, field) in [
        (json!({"ScheduleTs": "2030-01-07T15:20:00"}), "ScheduleTs"),
        (json!({}), "ScheduleTs"),
        (json!({"ScheduleTs": 5}), "ScheduleTs"),
    ] {
        let response = app
            .call(&tenant, Method::PUT, &format!("/session/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    for (method, path, field) in [
        (Method::GET, "/session/x", "UserId"),
        (Method::POST, "/session/0", "UserId"),
        (Method::PUT, "/session/x", "SessionId"),
        (Method::DELETE, "/session/1.5", "SessionId"),
        (Method::GET, "/session/x/calls", "SessionId"),
        (Method::POST, "/participant/x", "SessionId"),
        (Method::DELETE, "/participant/x", "ParticipationId"),
        (
            Method::GET,
            "/session?participantEmail=",
            "ParticipantEmail",
        ),
    ] {
        let response = app
            .call(&tenant, method, path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    let (_, after) = app.send(&tenant, Method::GET, "/session", None).await;
    assert_eq!(after, json!([session]), "nothing changed");
    let response = app
        .call(&tenant, Method::POST, "/session/987654")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "User not found").await;
}

#[tokio::test]
async fn a_session_is_rescheduled_and_cancelled_until_it_becomes_billable() {
    let (app, tenant, host) = setup().await;
    let first = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-07T15:30:00"}))
        .await;
    let first_id = first["SessionId"].as_i64().unwrap();
    let (status, moved) = app
        .send(
            &tenant,
            Method::PUT,
            &format!("/session/{first_id}"),
            Some(json!({"ScheduleTs": "2030-01-08T09:45:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_session_shape(&moved);
    assert_eq!(moved["ScheduleTs"], "2030-01-08T09:45:00");
    assert_eq!(moved["ScheduleType"], "Rescheduled");
    assert_eq!(moved["ConnectCode"], first["ConnectCode"]);

    let (status, _) = app
        .send(
            &tenant,
            Method::DELETE,
            &format!("/session/{first_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app.send(&tenant, Method::GET, "/session", None).await;
    assert_eq!(listed, json!([]));
    assert_eq!(
        app.history(&tenant, "/history").await,
        json!([]),
        "gone from history too"
    );
    for (method, path) in [
        (Method::DELETE, format!("/session/{first_id}")),
        (Method::PUT, format!("/session/{first_id}")),
        (Method::GET, format!("/session/{first_id}/calls")),
        (Method::POST, format!("/participant/{first_id}")),
    ] {
        let response = app
            .call(&tenant, method, &path)
            .json(&json!({"ScheduleTs": "2030-01-08T10:00:00", "ParticipantFullName": "Tom Lee"}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not found").await;
    }

    // A session becomes billable once the operator reports an overlap.
    let second = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-09T10:00:00",
            "Participants": [{"ParticipantFullName": "Trevor Stamp"}, {"ParticipantFullName": "Xiao Chu"}]}))
        .await;
    let id = second["SessionId"].as_i64().unwrap();
    let trevor = second["Participants"][1]["ParticipationId"]
        .as_i64()
        .unwrap();
    let xiao = second["Participants"][2]["ParticipationId"]
        .as_i64()
        .unwrap();
    let response = app
        .post_events(json!([
            event("h-in", id, "Connect", "Host", "h1", "2030-01-09T09:58:00"),
            participant_event("t-in", id, "Connect", trevor, "t1", "2030-01-09T10:01:00.5"),
            participant_event(
                "t-out",
                id,
                "Disconnect",
                trevor,
                "t1",
                "2030-01-09T10:21:00.5"
            ),
            event(
                "h-out",
                id,
                "Disconnect",
                "Host",
                "h1",
                "2030-01-09T10:22:00"
            ),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, listed) = app
        .send(&tenant, Method::GET, &format!("/session/{host}"), None)
        .await;
    let session = &listed[0];
    assert_session_shape(session);
    assert_eq!(session["BillableTs"], "2030-01-09T10:01:00.5");
    assert_eq!(session["DurationMinutes"], 20);
    assert_eq!(session["BillableStatusCd"], "BILL");
    assert_eq!(
        session["Participants"][0]["ConnectionTs"],
        "2030-01-09T09:58:00"
    );
    assert_eq!(
        session["Participants"][1]["ConnectionTs"],
        "2030-01-09T10:01:00.5"
    );
    assert!(session["Participants"][2]["ConnectionTs"].is_null());

    let response = app
        .call(&tenant, Method::PUT, &format!("/session/{id}"))
        .json(&json!({"ScheduleTs": "2030-01-10T10:00:00"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::CONFLICT, "billable").await;
    let response = app
        .call(&tenant, Method::DELETE, &format!("/session/{id}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::CONFLICT, "billable").await;
    let response = app
        .call(&tenant, Method::DELETE, &format!("/participant/{trevor}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::CONFLICT, "connected").await;

    // The calls behind the duration.
    let (status, calls) = app
        .send(&tenant, Method::GET, &format!("/session/{id}/calls"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calls,
        json!([
            {"CallId": "h1", "Party": "Host", "ParticipationId": session["Participants"][0]["ParticipationId"],
             "SupportAgentId": null, "FullName": "Aaron Johnson",
             "ConnectTs": "2030-01-09T09:58:00", "DisconnectTs": "2030-01-09T10:22:00"},
            {"CallId": "t1", "Party": "Participant", "ParticipationId": trevor, "SupportAgentId": null,
             "FullName": "Trevor Stamp", "ConnectTs": "2030-01-09T10:01:00.5", "DisconnectTs": "2030-01-09T10:21:00.5"}
        ])
    );

    // Xiao never connected: the invitation can be taken back.
    let (status, _) = app
        .send(
            &tenant,
            Method::DELETE,
            &format!("/participant/{xiao}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app.send(&tenant, Method::GET, "/session", None).await;
    assert_eq!(listed[0]["Participants"].as_array().unwrap().len(), 2);
    let response = app
        .call(&tenant, Method::DELETE, &format!("/participant/{xiao}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Participant not found").await;
    let host_participation = session["Participants"][0]["ParticipationId"]
        .as_i64()
        .unwrap();
    let response = app
        .call(
            &tenant,
            Method::DELETE,
            &format!("/participant/{host_participation}"),
        )
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "host").await;
}
