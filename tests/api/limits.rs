//! One set of input limits (docs/decisions.md, "Input limits"): text over
//! its field's length, or with a control character, is a 400 naming the
//! field through every door — tenant API, operator API and import — and
//! the same on both stores (this module runs on each); nothing changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, event, spawn_app};

const LEDGER: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Acme Clinic","IncludedSessionsPerMonth":2,"OveragePriceCents":100}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"Session","CompanyId":1,"SessionId":100,"UserId":4,"ScheduleTs":"2016-11-03T10:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}
{"Type":"Connect","EventId":"h1c","SessionId":100,"Party":"Host","CallId":"h1","Ts":"2016-11-03T10:00:00"}
{"Type":"Connect","EventId":"p1c","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"p1","Ts":"2016-11-03T10:02:00"}
{"Type":"Disconnect","EventId":"p1d","SessionId":100,"Party":"Participant","ParticipationId":9,"CallId":"p1","Ts":"2016-11-03T10:30:00"}
"#;

/// Long enough to break PostgreSQL's btree limit (about 2,700 bytes) where
/// the field is indexed.
/// Letters that do not compress (PostgreSQL compresses index entries, so a
/// repeated letter would fit).
fn long() -> String {
    let mut state = 0x2545_f491_u32;
    (0..2_800)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

/// Everything the journal holds: any change at all would show here.
async fn journal(app: &TestApp) -> String {
    let mut out = Vec::new();
    app.store.export(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// A request through one door, with the field its 400 must name.
struct Case {
    tenant: bool,
    method: Method,
    path: &'static str,
    body: Value,
    field: &'static str,
}

fn tenant(method: Method, path: &'static str, body: Value, field: &'static str) -> Case {
    Case {
        tenant: true,
        method,
        path,
        body,
        field,
    }
}

fn operator(method: Method, path: &'static str, body: Value, field: &'static str) -> Case {
    Case {
        tenant: false,
        method,
        path,
        body,
        field,
    }
}

fn cases() -> Vec<Case> {
    let user = |field: &str, value: Value| {
        let mut body = json!({"FullName": "Ann Smith", "EmailAddress": "ann@example.com"});
        body[field] = value;
        body
    };
    let invite = |field: &str, value: Value| {
        let mut body = json!({"ParticipantFullName": "Pat Doe"});
        body[field] = value;
        body
    };
    let session = |field: &str, value: Value| json!({"Participants": [invite(field, value)]});
    let mut long_event = event(
        "e-long",
        100,
        "Connect",
        "Host",
        "h9",
        "2016-11-03T11:00:00",
    );
    long_event["EventId"] = json!("e".repeat(129));
    let mut control_event = event("e-ctl", 100, "Connect", "Host", "h9", "2016-11-03T11:00:00");
    control_event["CallId"] = json!("h\u{1}9");
    let fine_ts = event(
        "e-ts",
        100,
        "Connect",
        "Host",
        "h9",
        "2016-11-03T11:00:00.1234567",
    );
    vec![
        tenant(
            Method::POST,
            "/user",
            user("FullName", json!(long())),
            "FullName",
        ),
        tenant(
            Method::POST,
            "/user",
            user("ExternalId", json!(long())),
            "ExternalId",
        ),
        tenant(
            Method::POST,
            "/user",
            user("FullName", json!("Ann\tSmith")),
            "FullName",
        ),
        tenant(
            Method::POST,
            "/user",
            user("SmsNumber", json!("555\u{7f}")),
            "SmsNumber",
        ),
        tenant(
            Method::POST,
            "/user",
            user("HelpNumber", json!(long())),
            "HelpNumber",
        ),
        tenant(
            Method::PUT,
            "/user/4",
            json!({"FullName": long()}),
            "FullName",
        ),
        tenant(
            Method::PUT,
            "/user/4",
            json!({"ExternalId": long()}),
            "ExternalId",
        ),
        tenant(
            Method::PUT,
            "/user/4",
            json!({"ExternalId": "a\nb"}),
            "ExternalId",
        ),
        tenant(
            Method::POST,
            "/session/4",
            session("ParticipantFullName", json!(long())),
            "Participants[0].ParticipantFullName",
        ),
        tenant(
            Method::POST,
            "/session/4",
            session("ParticipantExternalId", json!(long())),
            "Participants[0].ParticipantExternalId",
        ),
        tenant(
            Method::POST,
            "/session/4",
            session("ParticipantFullName", json!("Pat\u{85}Doe")),
            "Participants[0].ParticipantFullName",
        ),
        tenant(
            Method::POST,
            "/participant/100",
            invite("ParticipantFullName", json!(long())),
            "ParticipantFullName",
        ),
        tenant(
            Method::POST,
            "/participant/100",
            invite("ParticipantExternalId", json!(long())),
            "ParticipantExternalId",
        ),
        tenant(
            Method::POST,
            "/participant/100",
            invite("ParticipantTimeZoneWindowsId", json!("Zone\r")),
            "ParticipantTimeZoneWindowsId",
        ),
        tenant(
            Method::POST,
            "/session/4",
            json!({"ScheduleTs": "2016-12-01T10:00:00.0000001"}),
            "ScheduleTs",
        ),
        operator(
            Method::POST,
            "/operator/companies",
            json!({"Name": long()}),
            "Name",
        ),
        operator(
            Method::POST,
            "/operator/companies",
            json!({"Name": "Acme\u{1b}[31m"}),
            "Name",
        ),
        operator(
            Method::POST,
            "/operator/support-agents",
            json!({"FullName": long(), "EmailAddress": "sa@example.com"}),
            "FullName",
        ),
        operator(
            Method::POST,
            "/operator/events",
            json!([long_event]),
            "EventId",
        ),
        operator(
            Method::POST,
            "/operator/events",
            json!([control_event]),
            "CallId",
        ),
        operator(Method::POST, "/operator/events", json!([fine_ts]), "Ts"),
        operator(
            Method::POST,
            "/operator/sessions/100/comp",
            json!({"Reason": "r".repeat(1_001)}),
            "Reason",
        ),
        operator(
            Method::PUT,
            "/operator/sessions/100/room",
            json!({"Provider": "zoom", "RoomId": "room\u{0}1"}),
            "RoomId",
        ),
    ]
}

#[tokio::test]
async fn text_over_its_limit_or_with_control_characters_is_400_naming_the_field() {
    let app = spawn_app().await;
    app.import(LEDGER).await;
    let key = app.key_for(1).await;
    let before = journal(&app).await;
    for case in cases() {
        let request = if case.tenant {
            app.call(&key, case.method.clone(), case.path)
        } else {
            app.operator(case.method.clone(), case.path)
        };
        let response = request.json(&case.body).send().await.unwrap();
        let what = format!("{} {} ({})", case.method, case.path, case.field);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: Value = response.json().await.unwrap();
        let message = body["Message"].as_str().unwrap_or_default();
        assert!(message.contains(case.field), "{what}: {message}");
        assert_eq!(journal(&app).await, before, "{what} changed nothing");
    }
    // Within the limits, the same doors take the longest text allowed.
    let (status, user) = app
        .send(
            &key,
            Method::POST,
            "/user",
            Some(json!({
                "FullName": "é".repeat(256),
                "EmailAddress": "long@example.com",
                "ExternalId": "ü".repeat(256),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["ExternalId"], "ü".repeat(256));
}

#[tokio::test]
async fn a_lookup_by_an_overlong_external_id_finds_nothing_on_either_store() {
    let app = spawn_app().await;
    app.import(LEDGER).await;
    let key = app.key_for(1).await;
    let path = format!("/user/0?ExternalId={}", long());
    let response = app.call(&key, Method::GET, &path).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "User not found").await;
}

#[tokio::test]
async fn import_refuses_the_same_text_naming_its_line_and_field() {
    let app = spawn_app().await;
    let company = r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}"#;
    let user = r#"{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Ann Host","EmailAddress":"ann@clinic.example"}"#;
    let session = r#"{"Type":"Session","CompanyId":1,"SessionId":5,"UserId":4,"ScheduleTs":"2016-11-03T22:00:00"}"#;
    let cases = [
        (
            format!(
                r#"{{"Type":"User","CompanyId":1,"UserId":7,"FullName":"{}","EmailAddress":"a@b.example"}}"#,
                long()
            ),
            "FullName",
        ),
        (
            format!(
                r#"{{"Type":"User","CompanyId":1,"UserId":7,"FullName":"Ann","EmailAddress":"a@b.example","ExternalId":"{}"}}"#,
                long()
            ),
            "ExternalId",
        ),
        (
            r#"{"Type":"User","CompanyId":1,"UserId":7,"FullName":"Ann\u0007","EmailAddress":"a@b.example"}"#
                .to_owned(),
            "FullName",
        ),
        (
            format!(
                r#"{{"Type":"Session","CompanyId":1,"SessionId":6,"UserId":4,"ScheduleTs":"2016-11-03T22:00:00","Participants":[{{"ParticipantFullName":"Pat","ParticipantExternalId":"{}"}}]}}"#,
                long()
            ),
            "Participants[0].ParticipantExternalId",
        ),
        (
            r#"{"Type":"Connect","EventId":"e\u0001","SessionId":5,"Party":"Host","CallId":"h","Ts":"2016-11-03T22:00:00"}"#
                .to_owned(),
            "EventId",
        ),
        (
            r#"{"Type":"Connect","EventId":"e1","SessionId":5,"Party":"Host","CallId":"h","Ts":"2016-11-03T22:00:00.1234567"}"#
                .to_owned(),
            "Ts",
        ),
        (
            format!(
                r#"{{"Type":"Comp","SessionId":5,"Reason":"{}"}}"#,
                "r".repeat(1_001)
            ),
            "Reason",
        ),
    ];
    for (bad, field) in cases {
        let log = format!("{company}\n{user}\n{session}\n{bad}\n");
        let error = app
            .store
            .import(std::io::Cursor::new(log.into_bytes()))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line 4: "), "{field}: {error}");
        assert!(error.contains(field), "{field}: {error}");
        assert_eq!(journal(&app).await, "", "{field}: nothing of it is kept");
    }
}

#[tokio::test]
async fn import_refuses_lines_over_1_mib_and_undecodable_ones_by_number() {
    let app = spawn_app().await;
    let company = r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}"#;
    // A 50 MB name was once read whole; now the line stops at 1 MiB.
    let huge = format!(
        r#"{{"Type":"Company","CompanyId":2,"Name":"{}"}}"#,
        "n".repeat(50 * 1024 * 1024)
    );
    let mut not_utf8 = format!("{company}\n{}\n", company.replace(":1,", ":2,")).into_bytes();
    not_utf8.extend_from_slice(b"{\"Type\":\"Company\",\"CompanyId\":3,\"Name\":\"\xff\xfe\"}\n");
    let cases: [(Vec<u8>, &str, &str); 4] = [
        (
            format!("{company}\n{huge}\n").into_bytes(),
            "line 2: ",
            "longer than 1048576 bytes",
        ),
        (not_utf8, "line 3: ", "not UTF-8"),
        (
            format!("{company}\n\n{{\"Type\":\"Company\",").into_bytes(),
            "line 3: ",
            "EOF",
        ),
        (
            format!("{company}\n{{\"Type\":\"Session\",\"CompanyId\":1,\"UserId\":\"four\"}}\n")
                .into_bytes(),
            "line 2: ",
            "UserId",
        ),
    ];
    for (log, line, needle) in cases {
        let error = app
            .store
            .import(std::io::Cursor::new(log))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(line), "{needle}: {error}");
        assert!(error.contains(needle), "{needle}: {error}");
        assert!(error.len() < 500, "the error does not echo the line");
        assert_eq!(journal(&app).await, "");
    }
    // A line of exactly 1 MiB is still taken.
    let bare = r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}"#;
    let exact = format!(
        "{}{}}}",
        &bare[..bare.len() - 1],
        " ".repeat(1024 * 1024 - bare.len())
    );
    assert_eq!(exact.len(), 1024 * 1024);
    app.import(&format!("{exact}\n")).await;
    assert!(app.store.company(1).await.unwrap().is_some());
}
