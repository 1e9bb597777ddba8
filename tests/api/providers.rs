//! The video providers' own webhooks (SPEC §12), end to end: each provider's
//! documented payloads, signed by an implementation of its documented
//! scheme written here (LiveKit's by LiveKit's own server SDK), fed to the
//! server, and checked through History against the same facts sent as
//! operator batches.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_ledger::config::{ProviderSecrets, Secret};
use session_ledger::domain::Timestamp;
use sha2::{Digest, Sha256};

use crate::helpers::{Tenant, TestApp, spawn_app, spawn_app_with};
use crate::seed::{SEED_HISTORY, SEED_SETUP, seed_events};

const LIVEKIT_KEY: &str = "APIdevkey";
const LIVEKIT_SECRET: &str = "livekit-test-secret-of-some-length";
/// Daily shows its webhook secret base64-encoded.
const DAILY_SECRET: &str = "c2VjcmV0LWJ5dGVzLW9mLWRhaWx5LXdlYmhvb2s=";
const ZOOM_SECRET: &str = "zoom-secret-token";
const VONAGE_SECRET: &str = "vonage-signature-secret";
const WHEREBY_SECRET: &str = "whereby-signing-secret";
/// The rooms bound to the seed's sessions for providers that name their
/// own (Zoom meetings, Vonage sessions).
const BOUND: [(i64, &str); 2] = [(105236, "85746065432"), (105022, "85746065999")];

/// Every provider configured with the secrets above.
pub fn secrets() -> ProviderSecrets {
    let secret = |text: &str| Some(Secret::from(text.to_owned()));
    ProviderSecrets {
        livekit_api_key: Some(LIVEKIT_KEY.to_owned()),
        livekit_api_secret: secret(LIVEKIT_SECRET),
        daily_webhook_secret: secret(DAILY_SECRET),
        zoom_secret_token: secret(ZOOM_SECRET),
        vonage_signature_secret: secret(VONAGE_SECRET),
        whereby_webhook_secret: secret(WHEREBY_SECRET),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Provider {
    LiveKit,
    Daily,
    Zoom,
    Vonage,
    Whereby,
}

use Provider::{Daily, LiveKit, Vonage, Whereby, Zoom};

impl Provider {
    fn path(self) -> &'static str {
        match self {
            LiveKit => "/providers/livekit",
            Daily => "/providers/daily",
            Zoom => "/providers/zoom",
            Vonage => "/providers/vonage",
            Whereby => "/providers/whereby",
        }
    }

    fn names_its_rooms(self) -> bool {
        matches!(self, Zoom | Vonage)
    }
}

/// One connection's start or end, provider-neutral.
#[derive(Clone, Debug)]
struct Fact {
    id: String,
    session_id: i64,
    joined: bool,
    identity: String,
    call: String,
    micros: i64,
    /// When the same call connected (for a leave).
    connected: Option<i64>,
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn iso(micros: i64) -> String {
    format!("{}Z", Timestamp::from_micros(micros))
}

/// The seed's connection events as facts: the host by its own
/// participation (`p{id}`), participants by theirs, agents as `s{id}`.
async fn seed_facts(app: &TestApp, tenant: &Tenant) -> Vec<Fact> {
    let mut hosts = std::collections::HashMap::new();
    for user in [4, 1] {
        let sessions: Value = app
            .tenant(tenant, &format!("/session/{user}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for session in sessions.as_array().unwrap() {
            let host = session["Participants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["SecureVideoUserId"] == json!(user))
                .unwrap();
            hosts.insert(
                session["SessionId"].as_i64().unwrap(),
                host["ParticipationId"].as_i64().unwrap(),
            );
        }
    }
    let mut connected = std::collections::HashMap::new();
    let mut facts = Vec::new();
    for event in seed_events().as_array().unwrap() {
        let session_id = event["SessionId"].as_i64().unwrap();
        let identity = match event["Party"].as_str().unwrap() {
            "Host" => format!("p{}", hosts[&session_id]),
            "Participant" => format!("p{}", event["ParticipationId"]),
            _ => format!("s{}", event["SupportAgentId"]),
        };
        let micros = Timestamp::parse(event["Ts"].as_str().unwrap())
            .unwrap()
            .as_micros();
        let call = format!("{session_id}-{}", event["CallId"].as_str().unwrap());
        let joined = event["Type"] == "Connect";
        if joined {
            connected.insert(call.clone(), micros);
        }
        facts.push(Fact {
            id: event["EventId"].as_str().unwrap().to_owned(),
            session_id,
            joined,
            identity,
            connected: connected.get(&call).copied().filter(|_| !joined),
            call,
            micros,
        });
    }
    facts
}

fn room(provider: Provider, session_id: i64) -> String {
    if provider.names_its_rooms() {
        BOUND
            .iter()
            .find(|(id, _)| *id == session_id)
            .map(|(_, room)| (*room).to_owned())
            .unwrap_or_else(|| format!("unbound-{session_id}"))
    } else {
        format!("session-{session_id}")
    }
}

/// The provider's documented payload for a fact.
fn payload(provider: Provider, fact: &Fact) -> Value {
    let room = room(provider, fact.session_id);
    let seconds = fact.micros as f64 / 1_000_000.0;
    match provider {
        LiveKit => {
            let joined_ms = fact.connected.unwrap_or(fact.micros) / 1000;
            json!({
                "event": if fact.joined { "participant_joined" } else { "participant_left" },
                "room": {"sid": "RM_test", "name": room},
                "participant": {"sid": fact.call, "identity": fact.identity, "state": "ACTIVE",
                                "joinedAt": (joined_ms / 1000).to_string(), "joinedAtMs": joined_ms.to_string()},
                "id": fact.id,
                "createdAt": fact.micros.div_euclid(1_000_000).to_string(),
            })
        }
        Daily => {
            let mut payload = json!({"room": room, "user_id": fact.identity, "user_name": "x",
                                     "session_id": fact.call, "owner": false, "permissions": {}});
            if fact.joined {
                payload["joined_at"] = json!(seconds);
            } else {
                let joined = fact.connected.unwrap() as f64 / 1_000_000.0;
                payload["joined_at"] = json!(joined);
                payload["duration"] = json!(seconds - joined);
            }
            json!({"version": "1.0.0",
                   "type": if fact.joined { "participant.joined" } else { "participant.left" },
                   "id": fact.id, "payload": payload, "event_ts": seconds})
        }
        Zoom => {
            let time_field = if fact.joined {
                "join_time"
            } else {
                "leave_time"
            };
            json!({"event": if fact.joined { "meeting.participant_joined" } else { "meeting.participant_left" },
                   "event_ts": fact.micros / 1000,
                   "payload": {"account_id": "o8KK_AAACq6BBEyA70CA", "object": {
                       "id": room, "uuid": "czLF6FFFoQOKgAB99DlDb9g==", "host_id": "x1", "topic": "visit", "type": 2,
                       "participant": {"user_id": fact.call, "user_name": "x", "customer_key": fact.identity,
                                       time_field: iso(fact.micros)}}}})
        }
        Vonage => json!({
            "sessionId": room, "projectId": "123456",
            "event": if fact.joined { "connectionCreated" } else { "connectionDestroyed" },
            "timestamp": fact.micros / 1000,
            "connection": {"id": fact.call, "createdAt": fact.connected.unwrap_or(fact.micros) / 1000,
                           "data": fact.identity},
        }),
        Whereby => json!({
            "id": fact.id, "apiVersion": "1.0", "createdAt": iso(fact.micros),
            "type": if fact.joined { "room.client.joined" } else { "room.client.left" },
            "data": {"meetingId": "134", "roomName": format!("/{room}"), "roleName": "visitor",
                     "displayName": "x", "participantId": fact.call, "externalId": fact.identity},
        }),
    }
}

/// The headers that sign `body` as the provider does, at `seconds`.
fn signed(provider: Provider, body: &str, seconds: i64, secret: &str) -> Vec<(String, String)> {
    let ts = seconds.to_string();
    match provider {
        LiveKit => vec![(
            "Authorization".into(),
            livekit_sdk_tokens(&[body.to_owned()], secret).remove(0),
        )],
        Daily => {
            let key = STANDARD.decode(secret).unwrap();
            let signature = hmac(&key, &[ts.as_bytes(), b".", body.as_bytes()]);
            vec![
                ("X-Webhook-Timestamp".into(), ts),
                ("X-Webhook-Signature".into(), STANDARD.encode(signature)),
            ]
        }
        Zoom => {
            let signature = hmac(
                secret.as_bytes(),
                &[b"v0:", ts.as_bytes(), b":", body.as_bytes()],
            );
            vec![
                ("x-zm-request-timestamp".into(), ts),
                (
                    "x-zm-signature".into(),
                    format!("v0={}", hex::encode(signature)),
                ),
            ]
        }
        Vonage => {
            let claims = json!({"iat": seconds, "jti": format!("j-{}", hex::encode(Sha256::digest(body))),
                                "iss": "Vonage", "api_key": "a1b2c3d",
                                "payload_hash": hex::encode(Sha256::digest(body.as_bytes()))});
            let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{head}.{claims}");
            let signature = URL_SAFE_NO_PAD.encode(hmac(secret.as_bytes(), &[signed.as_bytes()]));
            vec![(
                "Authorization".into(),
                format!("Bearer {signed}.{signature}"),
            )]
        }
        Whereby => {
            let signature = hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body.as_bytes()]);
            vec![(
                "Whereby-Signature".into(),
                format!("t={ts},v1={}", hex::encode(signature)),
            )]
        }
    }
}

fn secret_of(provider: Provider) -> &'static str {
    match provider {
        LiveKit => LIVEKIT_SECRET,
        Daily => DAILY_SECRET,
        Zoom => ZOOM_SECRET,
        Vonage => VONAGE_SECRET,
        Whereby => WHEREBY_SECRET,
    }
}

/// JWTs made by LiveKit's own server SDK (PyPI livekit-api, installed by
/// scripts/provider-sdks.sh), each checked by the SDK's WebhookReceiver.
fn livekit_sdk_tokens(bodies: &[String], secret: &str) -> Vec<String> {
    use std::io::Write;
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/provider-venv/bin/python"
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/providers/livekit_sign.py"
    );
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("LiveKit's SDK is needed to sign these webhooks: run scripts/provider-sdks.sh ({error})")
        });
    let mut stdin = child.stdin.take().unwrap();
    for body in bodies {
        let request = json!({"key": LIVEKIT_KEY, "secret": secret, "body": body});
        writeln!(stdin, "{request}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the LiveKit SDK refused to sign");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether LiveKit's SDK is installed; says so loudly when not, and fails
/// under CI=true.
fn livekit_sdk_ready() -> bool {
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/provider-venv/bin/python"
    );
    if std::path::Path::new(python).exists() {
        return true;
    }
    let message = "\n*** The LiveKit SDK-signed webhook tests did NOT run: run \
        scripts/provider-sdks.sh (it installs PyPI livekit-api into target/provider-venv). ***\n\n";
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "under CI=true the LiveKit SDK must be installed (scripts/provider-sdks.sh)"
    );
    false
}

async fn send(
    app: &TestApp,
    provider: Provider,
    body: &str,
    headers: &[(String, String)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(provider.path()))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// Sends facts as the provider's webhooks, each signed now; every one must be 200.
async fn deliver(app: &TestApp, provider: Provider, facts: &[Fact]) -> Vec<Value> {
    let bodies: Vec<String> = facts
        .iter()
        .map(|fact| payload(provider, fact).to_string())
        .collect();
    let tokens = if provider == LiveKit {
        livekit_sdk_tokens(&bodies, LIVEKIT_SECRET)
    } else {
        Vec::new()
    };
    let mut answers = Vec::new();
    for (index, body) in bodies.iter().enumerate() {
        let headers = match provider {
            LiveKit => vec![("Authorization".to_owned(), tokens[index].clone())],
            _ => signed(provider, body, now_seconds(), secret_of(provider)),
        };
        let response = send(app, provider, body, &headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{provider:?} {body}");
        answers.push(response.json().await.unwrap());
    }
    answers
}

/// The seed's company, a key for it, and the rooms bound for the
/// providers that name their own.
async fn seeded(app: &TestApp, provider: Provider) -> Tenant {
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    if provider.names_its_rooms() {
        let name = format!("{provider:?}").to_lowercase();
        for (session_id, room) in BOUND {
            let bound = app
                .operator(
                    Method::PUT,
                    &format!("/operator/sessions/{session_id}/room"),
                )
                .json(&json!({"Provider": name, "RoomId": room}))
                .send()
                .await
                .unwrap();
            assert_eq!(bound.status(), StatusCode::NO_CONTENT);
        }
    }
    tenant
}

async fn seed_history(app: &TestApp, tenant: &Tenant) -> Value {
    app.history(tenant, "/history?month=2016-11-01").await
}

#[tokio::test]
async fn each_providers_webhooks_give_the_history_of_the_same_operator_events() {
    let expected: Value = serde_json::from_str(SEED_HISTORY).unwrap();
    for provider in [Daily, Zoom, Vonage, Whereby] {
        let app = spawn_app().await;
        let tenant = seeded(&app, provider).await;
        let facts = seed_facts(&app, &tenant).await;
        let answers = deliver(&app, provider, &facts).await;
        assert!(
            answers.iter().all(|answer| answer["Outcome"] == "applied"),
            "{provider:?}: {answers:?}"
        );
        assert_eq!(seed_history(&app, &tenant).await, expected, "{provider:?}");
    }
}

#[tokio::test]
async fn livekit_webhooks_signed_by_livekits_own_sdk_feed_the_ledger() {
    if !livekit_sdk_ready() {
        return;
    }
    let app = spawn_app().await;
    let tenant = seeded(&app, LiveKit).await;
    let facts = seed_facts(&app, &tenant).await;
    let answers = deliver(&app, LiveKit, &facts).await;
    assert!(answers.iter().all(|answer| answer["Outcome"] == "applied"));
    // LiveKit dates a leave in whole seconds (`createdAt`): the seed's
    // fractions of a second are dropped, and no duration rounds otherwise.
    let expected: Value = serde_json::from_str(SEED_HISTORY).unwrap();
    assert_eq!(seed_history(&app, &tenant).await, expected);
    let calls: Value = app
        .tenant(&tenant, "/session/105236/calls")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trevor = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|call| call["ParticipationId"] == json!(9))
        .unwrap();
    assert_eq!(trevor["CallId"], "105236-t1");
    assert_eq!(trevor["ConnectTs"], "2016-11-03T21:46:16.1");
    assert_eq!(trevor["DisconnectTs"], "2016-11-03T22:11:16");
}

#[tokio::test]
async fn repeated_and_reordered_deliveries_give_the_in_order_ledger() {
    let expected: Value = serde_json::from_str(SEED_HISTORY).unwrap();
    let app = spawn_app().await;
    let tenant = seeded(&app, Whereby).await;
    let facts = seed_facts(&app, &tenant).await;
    // Three passes in different orders (each a rotation, reversed every
    // other time), so each leave also arrives before its join.
    for pass in 0..3 {
        let mut shuffled = facts.clone();
        shuffled.rotate_left((pass * 5) % facts.len());
        if pass % 2 == 0 {
            shuffled.reverse();
        }
        deliver(&app, Whereby, &shuffled).await;
    }
    // Every derived field but BillableTs, which is set at the first overlap
    // the service observes and never moves (SPEC §3.1): a leave delivered
    // before its join can show a later overlap first.
    let without_billable_ts = |mut history: Value| {
        for row in history.as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("BillableTs");
        }
        history
    };
    assert_eq!(
        without_billable_ts(seed_history(&app, &tenant).await),
        without_billable_ts(expected)
    );
    let in_order = spawn_app().await;
    let in_order_tenant = seeded(&in_order, Whereby).await;
    let facts = seed_facts(&in_order, &in_order_tenant).await;
    deliver(&in_order, Whereby, &facts).await;
    for session in [105236, 105022] {
        let path = format!("/session/{session}/calls");
        let shuffled_calls: Value = app
            .tenant(&tenant, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let in_order_calls: Value = in_order
            .tenant(&in_order_tenant, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(shuffled_calls, in_order_calls, "session {session}");
    }
}

#[tokio::test]
async fn a_room_end_disconnects_every_call_still_open() {
    let app = spawn_app().await;
    let tenant = seeded(&app, Daily).await;
    let facts = seed_facts(&app, &tenant).await;
    // Only the joins of the first session, then the meeting ends.
    let joins: Vec<Fact> = facts
        .iter()
        .filter(|fact| fact.session_id == 105236 && fact.joined)
        .cloned()
        .collect();
    deliver(&app, Daily, &joins).await;
    let end = Timestamp::parse("2016-11-03T22:11:16.1")
        .unwrap()
        .as_micros() as f64
        / 1e6;
    let body = json!({"version": "1.0.0", "type": "meeting.ended", "id": "met-end-1",
                      "payload": {"start_ts": 1478209530.0, "end_ts": end, "meeting_id": "m1",
                                  "room": "session-105236"},
                      "event_ts": end})
    .to_string();
    let headers = signed(Daily, &body, now_seconds(), DAILY_SECRET);
    let response = send(&app, Daily, &body, &headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["Accepted"], 2, "the host's and the guest's call end");
    let history = seed_history(&app, &tenant).await;
    let session = history
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["SessionId"] == 105236)
        .unwrap();
    // Host from 21:45:30, guest 21:46:16.1 to 22:11:16.1: 25 minutes together.
    assert_eq!(session["DurationMinutes"], 25);
    // A leave reported after the room's end changes nothing.
    let late_leave: Vec<Fact> = facts
        .iter()
        .filter(|fact| fact.session_id == 105236 && !fact.joined)
        .cloned()
        .collect();
    deliver(&app, Daily, &late_leave).await;
    let again = seed_history(&app, &tenant).await;
    assert_eq!(again, history);
}

#[tokio::test]
async fn bad_stale_and_missing_signatures_are_401_and_store_nothing() {
    let app = spawn_app().await;
    let tenant = seeded(&app, Daily).await;
    let facts = seed_facts(&app, &tenant).await;
    for provider in [Daily, Zoom, Vonage, Whereby] {
        let body = payload(provider, &facts[0]).to_string();
        let name = format!("{provider:?}").to_lowercase();
        let sample = |reason: &str| {
            format!("provider_webhooks_refused_total{{provider=\"{name}\",reason=\"{reason}\"}}")
        };
        let (wrong_before, stale_before, missing_before) = (
            app.metric(&sample("wrong")).await,
            app.metric(&sample("stale")).await,
            app.metric(&sample("missing")).await,
        );
        let wrong = signed(provider, &body, now_seconds(), "YW5vdGhlci1zZWNyZXQ=");
        let stale = signed(provider, &body, now_seconds() - 301, secret_of(provider));
        for (headers, what) in [(wrong, "wrong"), (stale, "stale"), (Vec::new(), "missing")] {
            let response = send(&app, provider, &body, &headers).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{provider:?} {what}"
            );
        }
        // A body changed after signing.
        let good = signed(provider, &body, now_seconds(), secret_of(provider));
        let tampered = body
            .replace("21:45:30", "21:40:30")
            .replace("1478209530", "1478209230");
        assert_ne!(tampered, body);
        let response = send(&app, provider, &tampered, &good).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{provider:?} tampered"
        );
        assert_eq!(
            app.metric(&sample("wrong")).await,
            wrong_before + 2.0,
            "{provider:?}"
        );
        assert_eq!(
            app.metric(&sample("stale")).await,
            stale_before + 1.0,
            "{provider:?}"
        );
        assert_eq!(
            app.metric(&sample("missing")).await,
            missing_before + 1.0,
            "{provider:?}"
        );
    }
    let calls: Value = app
        .tenant(&tenant, "/session/105236/calls")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, json!([]), "nothing was stored");
    let unmatched: Value = app
        .operator(Method::GET, "/operator/providers/unmatched")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unmatched, json!([]));
}

#[tokio::test]
async fn a_provider_without_its_secret_is_not_there() {
    let app = spawn_app_with(|settings| settings.providers = ProviderSecrets::default()).await;
    for path in [
        "/providers/daily",
        "/providers/livekit",
        "/providers/twilio",
    ] {
        let response = app
            .client
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let configured = spawn_app().await;
    let response = configured
        .client
        .post(configured.url("/providers/twilio"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn zoom_validates_its_endpoint_with_a_signed_challenge() {
    let app = spawn_app().await;
    let body = json!({"event": "endpoint.url_validation",
                      "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
                      "event_ts": now_seconds() * 1000})
    .to_string();
    let headers = signed(Zoom, &body, now_seconds(), ZOOM_SECRET);
    let response = send(&app, Zoom, &body, &headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let expected = hex::encode(hmac(ZOOM_SECRET.as_bytes(), &[b"qgg8vlvZRS6UYooatFL8Aw"]));
    assert_eq!(
        answer,
        json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected})
    );
    // Unsigned, it is refused like any other request.
    let response = send(&app, Zoom, &body, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unused_event_types_are_ignored_and_malformed_bodies_are_400() {
    let app = spawn_app().await;
    let before = app
        .metric("provider_webhooks_total{provider=\"whereby\",outcome=\"ignored\"}")
        .await;
    let body = json!({"id": "e-1", "apiVersion": "1.0", "createdAt": "2016-11-03T21:45:00Z",
                      "type": "room.client.knocked", "data": {"meetingId": "1", "roomName": "/session-105236"}})
    .to_string();
    let response = send(
        &app,
        Whereby,
        &body,
        &signed(Whereby, &body, now_seconds(), WHEREBY_SECRET),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["Outcome"],
        "ignored"
    );
    assert_eq!(
        app.metric("provider_webhooks_total{provider=\"whereby\",outcome=\"ignored\"}")
            .await,
        before + 1.0
    );
    for body in [
        "{not json",
        "[]",
        r#"{"type":"room.client.joined","id":"x"}"#,
    ] {
        let response = send(
            &app,
            Whereby,
            body,
            &signed(Whereby, body, now_seconds(), WHEREBY_SECRET),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let message: Value = response.json().await.unwrap();
        assert!(
            message["Message"].as_str().unwrap().contains("whereby"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn unmatched_events_are_kept_listed_and_applied_once_their_room_is_bound() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    let facts = seed_facts(&app, &tenant).await;
    // Zoom names its meetings: unbound, the first session's events match no session.
    let first: Vec<Fact> = facts
        .iter()
        .filter(|fact| fact.session_id == 105236)
        .cloned()
        .collect();
    let answers = deliver(&app, Zoom, &first).await;
    assert!(
        answers
            .iter()
            .all(|answer| answer["Outcome"] == "unmatched"),
        "{answers:?}"
    );
    let unmatched: Value = app
        .operator(Method::GET, "/operator/providers/unmatched")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept = unmatched.as_array().unwrap();
    assert_eq!(kept.len(), first.len());
    assert!(
        kept[0]["Reason"].as_str().unwrap().contains("85746065432"),
        "{kept:?}"
    );
    assert_eq!(kept[0]["Provider"], "zoom");

    // An identity that is no participation is unmatched too.
    let mut stranger = facts[0].clone();
    stranger.identity = "guest-42".into();
    stranger.session_id = 105022;
    stranger.id = "stranger".into();
    let response = deliver(&app, Daily, &[stranger]).await;
    assert_eq!(response[0]["Outcome"], "unmatched");

    let bound = app
        .operator(Method::PUT, "/operator/sessions/105236/room")
        .json(&json!({"Provider": "zoom", "RoomId": "85746065432"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), StatusCode::NO_CONTENT);
    // Oldest first, as they happened.
    let mut ids: Vec<(String, i64)> = kept
        .iter()
        .map(|item| {
            (
                item["Received"].as_str().unwrap().to_owned(),
                item["UnmatchedId"].as_i64().unwrap(),
            )
        })
        .collect();
    ids.sort();
    for (_, id) in &ids {
        let retried = app
            .operator(
                Method::POST,
                &format!("/operator/providers/unmatched/{id}/retry"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(retried.status(), StatusCode::NO_CONTENT);
    }
    let left: Value = app
        .operator(Method::GET, "/operator/providers/unmatched")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        left.as_array().unwrap().len(),
        1,
        "only the stranger is left"
    );
    let retried = app
        .operator(
            Method::POST,
            &format!(
                "/operator/providers/unmatched/{}/retry",
                left[0]["UnmatchedId"]
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), StatusCode::CONFLICT);
    let history = seed_history(&app, &tenant).await;
    let first_row = history
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["SessionId"] == 105236)
        .unwrap();
    assert_eq!(first_row["DurationMinutes"], 25);
    assert_eq!(first_row["BillableTs"], "2016-11-03T21:46:16.1");
}

/// A provider's room and identity keep the limits of every other door: a
/// NUL or an over-long id is kept as unmatched (naming the field), the same
/// on both stores, never a database error.
#[tokio::test]
async fn rooms_and_identities_breaking_the_input_limits_are_unmatched_not_errors() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    let facts = seed_facts(&app, &tenant).await;
    let cases = [
        ("room", json!("session-105236\u{0}")),
        ("room", json!(format!("session-{}", "9".repeat(300)))),
        ("user_id", json!("p9\u{0}")),
    ];
    for (index, (field, value)) in cases.into_iter().enumerate() {
        let mut body = payload(Daily, &facts[0]);
        body["id"] = json!(format!("limits-{index}"));
        body["payload"][field] = value;
        let body = body.to_string();
        let headers = signed(Daily, &body, now_seconds(), secret_of(Daily));
        let response = send(&app, Daily, &body, &headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{field} {body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["Outcome"], "unmatched", "{field}");
    }
    let unmatched: Value = app
        .operator(Method::GET, "/operator/providers/unmatched")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = unmatched
        .as_array()
        .unwrap()
        .iter()
        .map(|kept| kept["Reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().all(|reason| !reason.contains('\0')),
        "{reasons:?}"
    );
}
