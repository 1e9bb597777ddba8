//! kill -9 the server at random moments while sessions start, bill and end:
//! after each restart the outbox carries on, and in the end every message
//! the ledger calls for has been delivered at least once, none is missing,
//! and repeats carry the same webhook-id and body.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestDatabase, event, participant_event};
use crate::process::{Server, TOKEN, cli};
use crate::webhooks::{Receiver, verifier_ready};

const SESSIONS: i64 = 24;

fn setup_log() -> String {
    crate::crash::clinic_log(SESSIONS, 10)
}

/// What each session goes through: started and billable, its duration
/// known, deactivated.
#[derive(Clone)]
enum Step {
    Events(Value),
    Deactivate(i64),
}

fn steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for stage in 0..3 {
        for n in 0..SESSIONS {
            let session = 1_000 + n;
            let guest = 10_001 + 2 * n;
            let day = 1 + n % 28;
            let ts = |hms: &str| format!("2016-11-{day:02}T{hms}");
            steps.push(match stage {
                0 => Step::Events(json!([
                    event(
                        &format!("{session}-hc"),
                        session,
                        "Connect",
                        "Host",
                        "h",
                        &ts("10:00:00")
                    ),
                    participant_event(
                        &format!("{session}-gc"),
                        session,
                        "Connect",
                        guest,
                        "g",
                        &ts("10:01:00")
                    ),
                ])),
                1 => Step::Events(json!([participant_event(
                    &format!("{session}-gd"),
                    session,
                    "Disconnect",
                    guest,
                    "g",
                    &ts("10:03:00")
                )])),
                _ => Step::Deactivate(session),
            });
        }
    }
    steps
}

/// Sends a step; `Ok(true)` once it is applied (or was, before a kill).
async fn send(client: &Client, server: &Server, step: &Step) -> Result<bool, reqwest::Error> {
    let response = match step {
        Step::Events(batch) => {
            client
                .post(server.url("/operator/events"))
                .bearer_auth(TOKEN)
                .json(batch)
                .send()
                .await?
        }
        Step::Deactivate(session) => {
            client
                .post(server.url(&format!("/operator/sessions/{session}/deactivate")))
                .bearer_auth(TOKEN)
                .send()
                .await?
        }
    };
    let status = response.status();
    Ok(match step {
        Step::Events(_) => status == StatusCode::OK,
        // Deactivated before the kill: applied.
        Step::Deactivate(_) => status == StatusCode::NO_CONTENT || status == StatusCode::CONFLICT,
    })
}

fn start(database_url: &str) -> Server {
    Server::start_with(
        database_url,
        &[
            ("SESSION_LEDGER_WEBHOOK_ALLOW_HTTP", "true"),
            ("SESSION_LEDGER_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("SESSION_LEDGER_WEBHOOK_RETRY_BASE_MS", "50"),
            ("SESSION_LEDGER_WEBHOOK_TIMEOUT_MS", "1000"),
            ("SESSION_LEDGER_RATE_LIMIT_PER_SECOND", "0"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_sessions_start_bill_and_end_loses_no_webhook() {
    if !verifier_ready() {
        return;
    }
    let database = TestDatabase::new().await;
    let (imported, _, stderr) = cli(&database.url, &["import", "-"], Some(&setup_log()));
    assert!(imported, "{stderr}");
    let client = Client::new();
    let mut server = start(&database.url);
    let key: Value = client
        .post(server.url("/operator/companies/1/keys"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (api_key, api_secret) = (
        key["ApiKey"].as_str().unwrap().to_owned(),
        key["ApiSecret"].as_str().unwrap().to_owned(),
    );
    let receiver = Receiver::start();
    let created: Value = client
        .post(server.url("/webhook"))
        .basic_auth(&api_key, Some(&api_secret))
        .json(&json!({"Url": receiver.endpoint()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver
        .configure(created["Secret"].as_str().unwrap(), json!([]), 0.0)
        .await;

    // Three kills, at random steps, a random few milliseconds into them.
    let steps = steps();
    let seed: u64 = rand::random();
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let kills: BTreeSet<usize> = (0..3)
        .map(|_| random.random_range(0..steps.len()))
        .collect();
    let mut restarts = 0;
    for (index, step) in steps.iter().enumerate() {
        if kills.contains(&index) {
            let delay = Duration::from_millis(random.random_range(0..25));
            let request = send(&client, &server, step);
            let kill = async {
                tokio::time::sleep(delay).await;
                server.signal("KILL");
            };
            let (result, ()) = tokio::join!(request, kill);
            assert_eq!(server.wait_exit(), None, "killed by a signal (seed {seed})");
            server = start(&database.url);
            restarts += 1;
            if let Ok(true) = result {
                continue;
            }
        }
        loop {
            match send(&client, &server, step).await {
                Ok(true) => break,
                Ok(false) => panic!("step {index} refused (seed {seed})"),
                Err(_) => {
                    if server.child.try_wait().unwrap().is_some() {
                        server = start(&database.url);
                        restarts += 1;
                    }
                }
            }
        }
    }
    assert_eq!(restarts, kills.len(), "seed {seed}");

    // Every message the ledger calls for: 4 a session.
    let expected = 4 * SESSIONS as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    let received = loop {
        let received = receiver.received().await;
        let ids: BTreeSet<&str> = received
            .iter()
            .filter(|delivery| delivery["answer"] == 200)
            .map(|delivery| delivery["id"].as_str().unwrap())
            .collect();
        if ids.len() >= expected {
            break received;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} messages delivered (seed {seed})",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    for delivery in &received {
        assert_eq!(delivery["verified"], true, "{delivery}");
        let id = delivery["id"].as_str().unwrap();
        let first = by_id.entry(id).or_insert(&delivery["payload"]);
        assert_eq!(*first, &delivery["payload"], "a repeat is the same message");
    }
    assert_eq!(
        by_id.len(),
        expected,
        "none missing, none extra (seed {seed})"
    );

    // The messages, in the order each first arrived, per session.
    let mut per_session: HashMap<i64, Vec<(String, Value, Value)>> = HashMap::new();
    let mut seen = BTreeSet::new();
    for delivery in &received {
        if !seen.insert(delivery["id"].as_str().unwrap()) {
            continue;
        }
        let payload = &delivery["payload"];
        let duration = payload["Attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|attribute| attribute["AttributeName"] == "DurationMinutes")
            .map_or(Value::Null, |attribute| attribute["AttributeValue"].clone());
        per_session
            .entry(payload["ID"].as_i64().unwrap())
            .or_default()
            .push((
                payload["WebhookType"].as_str().unwrap().to_owned(),
                payload["Status"].clone(),
                duration,
            ));
    }
    let history: Value = client
        .get(server.url("/history"))
        .basic_auth(&api_key, Some(&api_secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), SESSIONS as usize);
    for row in history.as_array().unwrap() {
        let session = row["SessionId"].as_i64().unwrap();
        assert_eq!(row["BillableStatusCd"], "BILL");
        assert_eq!(row["DurationMinutes"], 2);
        assert_eq!(
            per_session[&session],
            vec![
                ("SESSION_STATUS".into(), json!("STARTED"), Value::Null),
                ("SESSION_BILLING".into(), json!("BILL"), Value::Null),
                ("SESSION_BILLING".into(), json!("BILL"), json!("2")),
                ("SESSION_STATUS".into(), json!("ENDED"), Value::Null),
            ],
            "session {session}, in causal order (seed {seed})"
        );
    }
}
