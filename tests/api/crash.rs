//! kill -9 in the middle of an ingest whose client retries every batch it has
//! no answer for: after a restart every acknowledged event is there exactly
//! once, and the history equals that of an uninterrupted run.
//!
//! The suite ingests 20,000 events; `scripts/crash-test.sh` runs the same
//! test with 100,000 (`SESSION_LEDGER_CRASH_EVENTS`).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestDatabase, event, participant_event, spawn_on};
use crate::process::{Server, TOKEN, cli};

const SESSIONS: usize = 100;
const BATCH: usize = 1_000;

/// The crash tests' clinic: one host and `sessions` sessions (ids from
/// 1,000), each with the host's and a guest's participation (ids from
/// 10,000), scheduled at `hour`:00 on the days of November 2016.
pub fn clinic_log(sessions: i64, hour: u32) -> String {
    let mut lines = vec![
        r#"{"Type":"Company","CompanyId":1,"Name":"Crash Clinic"}"#.to_owned(),
        r#"{"Type":"User","CompanyId":1,"UserId":2,"FullName":"Ann Host","EmailAddress":"ann@clinic.example"}"#.to_owned(),
    ];
    for n in 0..sessions {
        lines.push(
            json!({"Type": "Session", "CompanyId": 1, "SessionId": 1_000 + n, "UserId": 2,
                   "ScheduleTs": format!("2016-11-{:02}T{hour:02}:00:00", 1 + n % 28),
                   "Participants": [{"ParticipationId": 10_000 + 2 * n, "SecureVideoUserId": 2},
                                    {"ParticipationId": 10_001 + 2 * n, "ParticipantFullName": format!("Guest {n}"),
                                     "ParticipantEmailAddress": format!("guest{n}@x.example")}]})
            .to_string(),
        );
    }
    lines.join("\n") + "\n"
}

fn setup_log() -> String {
    clinic_log(SESSIONS as i64, 8)
}

/// Calls of host and guest, one pair a minute, interleaved across sessions.
fn batches(total_events: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(total_events);
    let mut call = 0;
    while events.len() < total_events {
        for n in 0..SESSIONS {
            let session = (1_000 + n) as i64;
            let guest = (10_001 + 2 * n) as i64;
            let day = 1 + n % 28;
            let minute = call * 3;
            let ts = |offset: usize| {
                format!(
                    "2016-11-{day:02}T{:02}:{:02}:{:02}",
                    8 + (minute + offset) / 60,
                    (minute + offset) % 60,
                    n % 60
                )
            };
            let id = |what: &str| format!("{session}-{call}-{what}");
            events.push(event(
                &id("hc"),
                session,
                "Connect",
                "Host",
                &format!("h{call}"),
                &ts(0),
            ));
            events.push(participant_event(
                &id("gc"),
                session,
                "Connect",
                guest,
                &format!("g{call}"),
                &ts(0),
            ));
            events.push(participant_event(
                &id("gd"),
                session,
                "Disconnect",
                guest,
                &format!("g{call}"),
                &ts(2),
            ));
            events.push(event(
                &id("hd"),
                session,
                "Disconnect",
                "Host",
                &format!("h{call}"),
                &ts(2),
            ));
        }
        call += 1;
    }
    events.truncate(total_events);
    events
        .chunks(BATCH)
        .map(|chunk| Value::Array(chunk.to_vec()))
        .collect()
}

async fn post(
    client: &Client,
    server: &Server,
    batch: &Value,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = client
        .post(server.url("/operator/events"))
        .bearer_auth(TOKEN)
        .json(batch)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingest_loses_and_doubles_nothing() {
    let total: usize = std::env::var("SESSION_LEDGER_CRASH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let batches = batches(total);

    // The uninterrupted run.
    let reference = spawn_on(TestDatabase::new().await, |_| {}).await;
    reference.import(&setup_log()).await;
    for batch in &batches {
        assert_eq!(
            reference.post_events(batch.clone()).await.status(),
            StatusCode::OK
        );
    }
    let tenant = reference.key_for(1).await;
    let expected = reference.history(&tenant, "/history").await;

    // The interrupted run: killed while the batch at 40% is in flight.
    let database = TestDatabase::new().await;
    let (imported, _, stderr) = cli(&database.url, &["import", "-"], Some(&setup_log()));
    assert!(imported, "{stderr}");
    let client = Client::new();
    let mut server = Server::start(&database.url);
    let kill_at = batches.len() * 2 / 5;
    let mut acknowledged = 0u64;
    let mut restarts = 0;
    for (index, batch) in batches.iter().enumerate() {
        if index == kill_at {
            let request = post(&client, &server, batch);
            let kill = async {
                tokio::time::sleep(Duration::from_millis(15)).await;
                server.signal("KILL");
            };
            let (result, ()) = tokio::join!(request, kill);
            assert_eq!(server.wait_exit(), None, "killed by a signal");
            server = Server::start(&database.url);
            restarts += 1;
            if let Ok((StatusCode::OK, body)) = result {
                acknowledged +=
                    body["Accepted"].as_u64().unwrap() + body["Duplicates"].as_u64().unwrap();
                continue;
            }
        }
        // Retry until acknowledged; the server may be gone.
        let body = loop {
            match post(&client, &server, batch).await {
                Ok((StatusCode::OK, body)) => break body,
                Ok((status, body)) => panic!("batch {index}: {status} {body}"),
                Err(_) => {
                    if server.child.try_wait().unwrap().is_some() {
                        server = Server::start(&database.url);
                        restarts += 1;
                    }
                }
            }
        };
        acknowledged += body["Accepted"].as_u64().unwrap() + body["Duplicates"].as_u64().unwrap();
    }
    assert_eq!(restarts, 1);
    assert_eq!(
        acknowledged, total as u64,
        "every event acknowledged once or as a duplicate"
    );

    // Every event is stored exactly once.
    let (exported, log, _) = cli(&database.url, &["export", "-"], None);
    assert!(exported);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in log.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if let Some(id) = record["EventId"].as_str() {
            *seen.entry(id.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), total);
    assert!(seen.values().all(|count| *count == 1));

    // And the history is that of the uninterrupted run.
    let key: Value = client
        .post(server.url("/operator/companies/1/keys"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let history: Value = client
        .get(server.url("/history"))
        .basic_auth(key["ApiKey"].as_str().unwrap(), key["ApiSecret"].as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history, expected);
    assert_eq!(history.as_array().unwrap().len(), SESSIONS);
}
