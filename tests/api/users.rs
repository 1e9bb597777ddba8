//! The User API as a SecureVideo client uses it (SPEC §5): PascalCase
//! bodies, Basic auth, `Accept: application/json`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, assert_error, spawn_app};

const USER_KEYS: [&str; 10] = [
    "SystemUserId",
    "FullName",
    "EmailAddress",
    "SmsNumber",
    "DefaultResolution",
    "TimeZoneWindowsId",
    "HelpNumber",
    "ExternalId",
    "SystemRoles",
    "VideoId",
];

/// Exactly the documented keys, every one a string; SystemUserId digits.
fn assert_user_shape(user: &Value) {
    let object = user.as_object().expect("a user is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = USER_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{user}");
    for key in USER_KEYS {
        assert!(user[key].is_string(), "{key} is a string: {user}");
    }
    let id = user["SystemUserId"].as_str().unwrap();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        "{id}"
    );
    assert!(
        user["SystemRoles"] == "H,P" || user["SystemRoles"] == "H,P,A",
        "{user}"
    );
    assert!(!user["VideoId"].as_str().unwrap().is_empty(), "{user}");
}

async fn setup() -> (TestApp, Tenant) {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Clinic").await;
    (app, tenant)
}

#[tokio::test]
async fn a_user_is_created_read_found_updated_and_deleted() {
    let (app, tenant) = setup().await;

    // Create: absent text fields are stored as "".
    let (status, created) = app
        .send(
            &tenant,
            Method::POST,
            "/user",
            Some(json!({
                "FullName": "Aaron Johnson",
                "EmailAddress": "aaron@clinic.example",
                "TimeZoneWindowsId": "Pacific Standard Time",
                "ExternalId": "emr-4",
                "SystemUserId": "999",
                "SystemRoles": "A"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_user_shape(&created);
    assert_eq!(created["FullName"], "Aaron Johnson");
    assert_eq!(created["EmailAddress"], "aaron@clinic.example");
    assert_eq!(created["TimeZoneWindowsId"], "Pacific Standard Time");
    assert_eq!(created["ExternalId"], "emr-4");
    assert_eq!(created["SmsNumber"], "");
    assert_eq!(created["HelpNumber"], "");
    assert_eq!(
        created["DefaultResolution"], "high",
        "SecureVideo's default"
    );
    assert_ne!(created["SystemUserId"], "999", "ids are the service's");
    assert_eq!(created["SystemRoles"], "H,P,A", "A makes an administrator");
    let id = created["SystemUserId"].as_str().unwrap().to_owned();

    // Read it back three ways.
    let (status, one) = app
        .send(&tenant, Method::GET, &format!("/user/{id}"), None)
        .await;
    assert_eq!((status, &one), (StatusCode::OK, &created));
    let (status, by_external) = app
        .send(&tenant, Method::GET, "/user/0?externalId=emr-4", None)
        .await;
    assert_eq!((status, &by_external), (StatusCode::OK, &created));
    let (status, by_external) = app
        .send(&tenant, Method::GET, "/user/0?EXTERNALID=emr-4", None)
        .await;
    assert_eq!((status, &by_external), (StatusCode::OK, &created));
    let second = app
        .create_user(&tenant, "Priya Raman", "priya@clinic.example")
        .await;
    let (status, all) = app.send(&tenant, Method::GET, "/user", None).await;
    assert_eq!(status, StatusCode::OK);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    all.iter().for_each(assert_user_shape);
    assert_eq!(all[0], created);
    assert_eq!(all[1]["SystemUserId"], second.to_string());

    // Update: the fields given change, the others stay.
    let (status, updated) = app
        .send(
            &tenant,
            Method::PUT,
            &format!("/user/{id}"),
            Some(json!({"FullName": "Aaron B. Johnson", "SmsNumber": "+15550100"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_user_shape(&updated);
    assert_eq!(updated["FullName"], "Aaron B. Johnson");
    assert_eq!(updated["SmsNumber"], "+15550100");
    assert_eq!(updated["EmailAddress"], "aaron@clinic.example");
    assert_eq!(updated["ExternalId"], "emr-4");
    assert_eq!(updated["VideoId"], created["VideoId"], "stable");
    let (_, second_user) = app
        .send(&tenant, Method::GET, &format!("/user/{second}"), None)
        .await;
    assert_ne!(second_user["VideoId"], created["VideoId"], "unique");

    // Delete: gone from the User API, its history still readable.
    let (status, _) = app
        .send(&tenant, Method::DELETE, &format!("/user/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .send(&tenant, Method::GET, &format!("/user/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"Message": "User not found"}));
    let (_, all) = app.send(&tenant, Method::GET, "/user", None).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let (status, _) = app
        .send(&tenant, Method::GET, "/user/0?externalId=emr-4", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, history) = app
        .send(&tenant, Method::GET, &format!("/history/{id}"), None)
        .await;
    assert_eq!((status, history), (StatusCode::OK, json!([])));
    let (status, _) = app
        .send(&tenant, Method::DELETE, &format!("/user/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
    // Its address is free for a new user.
    app.create_user(&tenant, "Aaron Johnson", "AARON@clinic.example")
        .await;
}

#[tokio::test]
async fn bad_user_input_is_a_400_that_names_the_field_and_changes_nothing() {
    let (app, tenant) = setup().await;
    let id = app
        .create_user(&tenant, "Aaron Johnson", "aaron@clinic.example")
        .await;
    for (body, field) in [
        (
            json!({"FullName": "A", "EmailAddress": "a@clinic.example"}),
            "FullName",
        ),
        (json!({"EmailAddress": "a@clinic.example"}), "FullName"),
        (
            json!({"FullName": "Ann Lee", "EmailAddress": "not-an-address"}),
            "EmailAddress",
        ),
        (json!({"FullName": "Ann Lee"}), "EmailAddress"),
        (
            json!({"FullName": "Ann Lee", "EmailAddress": " AARON@Clinic.example "}),
            "EmailAddress",
        ),
        (
            json!({"FullName": 42, "EmailAddress": "a@clinic.example"}),
            "FullName",
        ),
        (
            json!({"FullName": "Ann Lee", "EmailAddress": ["a@clinic.example"]}),
            "EmailAddress",
        ),
        // Windows ids only (CLDR's windowsZones): not IANA, not abbreviations.
        (
            json!({"FullName": "Ann Lee", "EmailAddress": "a@clinic.example", "TimeZoneWindowsId": "America/Los_Angeles"}),
            "TimeZoneWindowsId",
        ),
        (
            json!({"FullName": "Ann Lee", "EmailAddress": "a@clinic.example", "TimeZoneWindowsId": "PST"}),
            "TimeZoneWindowsId",
        ),
    ] {
        let response = app
            .call(&tenant, Method::POST, "/user")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    let second = app
        .create_user(&tenant, "Priya Raman", "priya@clinic.example")
        .await;
    for (body, field) in [
        (json!({"FullName": " "}), "FullName"),
        (
            json!({"EmailAddress": "priya@clinic.example"}),
            "EmailAddress",
        ),
        (json!({"EmailAddress": "x@"}), "EmailAddress"),
        (
            json!({"TimeZoneWindowsId": "Pacific Time"}),
            "TimeZoneWindowsId",
        ),
    ] {
        let response = app
            .call(&tenant, Method::PUT, &format!("/user/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, field).await;
    }
    let response = app
        .call(&tenant, Method::POST, "/user")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "body").await;
    for path in ["/user/abc", "/user/-3", "/user/0"] {
        let response = app.call(&tenant, Method::GET, path).send().await.unwrap();
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            if path == "/user/0" {
                "ExternalId"
            } else {
                "UserId"
            },
        )
        .await;
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let response = app
            .call(&tenant, method.clone(), "/user/987654")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "User not found").await;
    }
    // NUL cannot be stored (PostgreSQL text): bad input, never a 500.
    let response = app
        .call(&tenant, Method::POST, "/user")
        .json(&json!({"FullName": "Ann\u{0}Lee", "EmailAddress": "ann@clinic.example"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "NUL").await;
    for path in [
        "/user/0?externalId=a%00b",
        "/session?participantEmail=a%00b@x.example",
    ] {
        let response = app.call(&tenant, Method::GET, path).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "NUL").await;
    }
    let (_, users) = app.send(&tenant, Method::GET, "/user", None).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["FullName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Aaron Johnson", "Priya Raman"], "nothing changed");
    assert_ne!(id, second);
}

#[tokio::test]
async fn without_credentials_the_user_api_is_a_401() {
    let (app, tenant) = setup().await;
    let response = app.client.get(app.url("/user")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let wrong = Tenant {
        api_secret: "wrong".into(),
        ..tenant
    };
    let response = app
        .call(&wrong, Method::POST, "/user")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_changed_email_address_becomes_the_users_current_one_in_history() {
    let (app, tenant) = setup().await;
    let host = app
        .create_user(&tenant, "Aaron Johnson", "aaron@old.example")
        .await;
    let session = app
        .create_session(&tenant, host, json!({"ScheduleTs": "2030-01-07T15:30:00"}))
        .await;
    let session_id = session["SessionId"].as_i64().unwrap();
    let (status, _) = app
        .send(
            &tenant,
            Method::PUT,
            &format!("/user/{host}"),
            Some(json!({"EmailAddress": "Aaron@New.example", "FullName": "Aaron B. Johnson"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let ids = |history: Value| -> Vec<i64> {
        history
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["SessionId"].as_i64().unwrap())
            .collect()
    };
    let current = app
        .history(&tenant, "/history?participantEmail=aaron@new.example")
        .await;
    assert_eq!(ids(current.clone()), [session_id]);
    assert_eq!(
        current[0]["UsageDescription"],
        format!("Aaron B. Johnson Session #{session_id} - Not Connected"),
        "a renamed host is renamed in its invoice lines"
    );
    let earlier = app
        .history(&tenant, "/history?participantEmail=aaron@old.example")
        .await;
    assert_eq!(ids(earlier), Vec::<i64>::new());
    let (_, sessions) = app
        .send(
            &tenant,
            Method::GET,
            "/session?participantEmail=AARON@new.example",
            None,
        )
        .await;
    assert_eq!(sessions[0]["SessionId"], session_id);
    assert_eq!(
        sessions[0]["Participants"][0]["ParticipantFullName"],
        "Aaron B. Johnson"
    );
}
