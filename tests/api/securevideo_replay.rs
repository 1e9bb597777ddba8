//! SecureVideo's own recorded traffic (SPEC §6): the 18 exchanges that the
//! public Ruby client recorded against the real API in 2015
//! (tests/fixtures/securevideo), each cassette replayed against a freshly
//! seeded server. Every answer has the recorded status, every recorded
//! field with the same name and JSON type (and, where the seed makes it
//! knowable, the same value), and the recorded cache headers.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, spawn_app};

const EXCHANGES: &str = include_str!("../fixtures/securevideo/exchanges.json");

/// Fields whose recorded value follows from SecureVideo's rules and the
/// seed, not from ids, codes or clocks: ours must be equal.
const SAME_VALUE: [&str; 10] = [
    "DefaultResolution",
    "TimeZoneWindowsId",
    "ParticipantDefaultResolution",
    "ParticipantTimeZoneWindowsId",
    "ParticipantSmsNumber",
    "ShouldAutoDeliverCode",
    "IsRecorded",
    "RSVP",
    "SmsNumber",
    "Message",
];

/// Ids the recordings name, answered as the ids this server gave the same things.
const ID_FIELDS: [&str; 4] = ["SessionId", "UserId", "SystemUserId", "SecureVideoUserId"];

fn exchanges() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(EXCHANGES).expect("the fixture is JSON")
}

/// The recorded users and sessions that existed before a cassette ran:
/// those its paths name, and those its reads answered. A session's host
/// (user 12281 in every recording) comes with it.
fn existing_ids(cassette: &[&Value]) -> Vec<i64> {
    let mut ids = Vec::new();
    for exchange in cassette {
        let path = exchange["path"].as_str().unwrap();
        ids.extend(
            path.split(['/', '?', '=', '&'])
                .filter_map(|part| part.parse::<i64>().ok()),
        );
        if exchange["method"] == "GET" {
            let body = &exchange["response_body"];
            let found: Vec<&Value> = match body {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in found {
                for key in ["SystemUserId", "SessionId", "UserId"] {
                    let id = &item[key];
                    ids.extend(
                        id.as_i64()
                            .or_else(|| id.as_str().and_then(|t| t.parse().ok())),
                    );
                }
            }
        }
    }
    if ids.iter().any(|id| RECORDED_SESSIONS.contains(id)) {
        ids.push(RECORDED_HOST);
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The user who hosts every recorded session, and those sessions.
const RECORDED_HOST: i64 = 12281;
const RECORDED_SESSIONS: [i64; 2] = [36208, 36209];

/// The seed: the recordings' users and sessions that a cassette's requests
/// name, created through the API as SecureVideo's test account had them.
async fn seed(app: &TestApp, tenant: &Tenant, ids: &[i64]) -> HashMap<i64, i64> {
    let mut mapped = HashMap::new();
    let mut host = None;
    for (recorded, name, email) in [
        (12281, "Test User", "test@test.com"),
        (12163, "Test User", "test@test.com"),
        (12283, "Test User", "testuser@test.com"),
    ] {
        if !ids.contains(&recorded) {
            continue;
        }
        let (status, user) = app
            .send(
                tenant,
                Method::POST,
                "/user",
                Some(json!({"FullName": name, "EmailAddress": email,
                            "TimeZoneWindowsId": "Pacific Standard Time", "HelpNumber": "4084062331"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "seeding user {recorded}: {user}"
        );
        let id: i64 = user["SystemUserId"].as_str().unwrap().parse().unwrap();
        mapped.insert(recorded, id);
        if recorded == RECORDED_HOST {
            host = Some(id);
        }
    }
    for recorded in RECORDED_SESSIONS {
        if !ids.contains(&recorded) {
            continue;
        }
        let host = host.expect("the recorded host is seeded with its sessions");
        let session = app
            .create_session(
                tenant,
                host,
                json!({"ScheduleTs": "2016-04-16T15:00:00", "Participants": [
                    {"ParticipantFullName": "Trevor", "ParticipantEmailAddress": "trevor@geemail.com",
                     "ParticipantSmsNumber": "3124455566", "ParticipantDefaultResolution": "default",
                     "ParticipantTimeZoneWindowsId": "Hawaiian Standard Time", "ShouldAutoDeliverCode": "S"}]}),
            )
            .await;
        mapped.insert(recorded, session["SessionId"].as_i64().unwrap());
    }
    mapped
}

/// A recorded path with the recorded ids replaced by this server's.
fn map_path(path: &str, ids: &HashMap<i64, i64>) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in path.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            let recorded: i64 = digits.parse().unwrap();
            out.push_str(&ids.get(&recorded).copied().unwrap_or(recorded).to_string());
            digits.clear();
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `recorded` is in `ours` with the same JSON type; the
/// differences found are pushed onto `wrong`, named by their path.
fn compare(
    at: &str,
    recorded: &Value,
    ours: &Value,
    ids: &HashMap<i64, i64>,
    wrong: &mut Vec<String>,
) {
    if json_type(recorded) != json_type(ours) {
        wrong.push(format!(
            "{at}: recorded {recorded} ({}), ours {ours} ({})",
            json_type(recorded),
            json_type(ours)
        ));
        return;
    }
    match (recorded, ours) {
        (Value::Object(recorded), Value::Object(ours)) => {
            for (key, value) in recorded {
                let here = format!("{at}.{key}");
                let Some(our) = ours.get(key) else {
                    wrong.push(format!("{here}: missing"));
                    continue;
                };
                compare(&here, value, our, ids, wrong);
                if SAME_VALUE.contains(&key.as_str()) && value != our {
                    wrong.push(format!("{here}: recorded {value}, ours {our}"));
                }
                if ID_FIELDS.contains(&key.as_str()) {
                    let recorded_id = value
                        .as_i64()
                        .or_else(|| value.as_str().and_then(|text| text.parse().ok()));
                    if let Some(mapped) = recorded_id.and_then(|id| ids.get(&id)) {
                        let our_id = our
                            .as_i64()
                            .or_else(|| our.as_str().and_then(|t| t.parse().ok()));
                        if our_id != Some(*mapped) {
                            wrong.push(format!(
                                "{here}: recorded {value} is our {mapped}, ours {our}"
                            ));
                        }
                    }
                }
            }
        }
        (Value::Array(recorded), Value::Array(ours)) => {
            if recorded.len() != ours.len() {
                wrong.push(format!(
                    "{at}: recorded {} elements, ours {}",
                    recorded.len(),
                    ours.len()
                ));
            }
            for (index, (value, our)) in recorded.iter().zip(ours).enumerate() {
                compare(&format!("{at}[{index}]"), value, our, ids, wrong);
            }
        }
        _ => {}
    }
}

/// Replays one cassette on a fresh server; answers what differs.
async fn replay(name: &str, cassette: &[&Value]) -> Vec<String> {
    let app = spawn_app().await;
    let tenant = app.new_tenant("SecureVideo test account").await;
    let mut ids = seed(&app, &tenant, &existing_ids(cassette)).await;
    let mut wrong = Vec::new();
    for (step, exchange) in cassette.iter().enumerate() {
        let method: Method = exchange["method"].as_str().unwrap().parse().unwrap();
        let path = map_path(exchange["path"].as_str().unwrap(), &ids);
        let mut request = app.call(&tenant, method.clone(), &path);
        if !exchange["request_body"].is_null() {
            request = request.json(&exchange["request_body"]);
        }
        let response = request.send().await.unwrap();
        let at = format!("{name} #{step} {method} {path}");
        let status = response.status().as_u16();
        if Some(u64::from(status)) != exchange["status"].as_u64() {
            wrong.push(format!(
                "{at}: status {status}, recorded {}",
                exchange["status"]
            ));
        }
        for (header, value) in exchange["response_headers"].as_object().unwrap() {
            let ours = response
                .headers()
                .get(header.as_str())
                .map(|v| v.to_str().unwrap().to_owned());
            if ours.as_deref() != value.as_str() {
                wrong.push(format!("{at}: header {header} {ours:?}, recorded {value}"));
            }
        }
        let body = response.text().await.unwrap();
        let recorded = &exchange["response_body"];
        if recorded.is_null() {
            if !body.is_empty() {
                wrong.push(format!("{at}: a body where none was recorded: {body}"));
            }
            continue;
        }
        let ours: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{at}: {e}: {body}"));
        // What a create answers is known from then on by its new id.
        if exchange["status"] == 201 {
            for (key, recorded_id) in [
                ("SessionId", &recorded["SessionId"]),
                ("SystemUserId", &recorded["SystemUserId"]),
            ] {
                let recorded_id = recorded_id
                    .as_i64()
                    .or_else(|| recorded_id.as_str().and_then(|t| t.parse().ok()));
                let our_id = ours[key]
                    .as_i64()
                    .or_else(|| ours[key].as_str().and_then(|t| t.parse().ok()));
                if let (Some(recorded_id), Some(our_id)) = (recorded_id, our_id) {
                    ids.insert(recorded_id, our_id);
                }
            }
        }
        compare(&at, recorded, &ours, &ids, &mut wrong);
    }
    wrong
}

#[tokio::test]
async fn every_recorded_exchange_comes_back_with_its_status_fields_types_and_headers() {
    let exchanges = exchanges();
    assert_eq!(
        exchanges.len(),
        18,
        "the fixture holds the 18 recorded exchanges"
    );
    let mut cassettes: Vec<(String, Vec<&Value>)> = Vec::new();
    for exchange in &exchanges {
        let name = exchange["cassette"].as_str().unwrap().to_owned();
        match cassettes.iter_mut().find(|(seen, _)| *seen == name) {
            Some((_, list)) => list.push(exchange),
            None => cassettes.push((name, vec![exchange])),
        }
    }
    assert_eq!(cassettes.len(), 11, "11 cassettes");
    let mut wrong = Vec::new();
    for (name, cassette) in &cassettes {
        wrong.extend(replay(name, cassette).await);
    }
    assert!(
        wrong.is_empty(),
        "{} differences:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_comparison_catches_a_string_where_a_number_was_recorded() {
    let mut wrong = Vec::new();
    let recorded = json!({"ConnectCode": 204848645, "Participants": [{"ExpiresTs": null}]});
    compare(
        "x",
        &recorded,
        &json!({"ConnectCode": "204848645", "Participants": [{}]}),
        &HashMap::new(),
        &mut wrong,
    );
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].contains("ConnectCode"), "{wrong:?}");
    assert!(wrong[1].contains("ExpiresTs: missing"), "{wrong:?}");
}
