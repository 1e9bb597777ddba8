//! Outbound webhooks (SPEC §13), received by a real endpoint on 127.0.0.1
//! (tests/fixtures/webhooks/receiver.py) that verifies every delivery with
//! the Standard Webhooks reference library (PyPI standardwebhooks,
//! installed by scripts/provider-sdks.sh).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Tenant, TestApp, assert_error, event, participant_event, spawn_app, spawn_on,
};

pub(crate) const COMPANY: i64 = 1;
const HOST: i64 = 4;

fn people(included: i64) -> String {
    format!(
        r#"{{"Type":"Company","CompanyId":1,"Name":"Acme Clinic","IncludedSessionsPerMonth":{included},"OveragePriceCents":0}}
{{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}}
{{"Type":"Company","CompanyId":2,"Name":"Other Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0}}
{{"Type":"User","CompanyId":2,"UserId":6,"FullName":"Olga Other","EmailAddress":"oo@example.com"}}
"#
    )
}

/// A scheduled session of the host with one guest, participation `guest`
/// (a name of its own, so that no two sessions are duplicates).
pub(crate) fn session_line(session_id: i64, guest: i64, day: u32) -> String {
    json!({
        "Type": "Session", "CompanyId": COMPANY, "SessionId": session_id, "UserId": HOST,
        "ScheduleTs": format!("2016-11-{day:02}T10:00:00"), "ScheduleType": "Scheduled",
        "Participants": [{"ParticipationId": guest, "ParticipantFullName": format!("Guest {guest}"),
                          "ParticipantEmailAddress": format!("guest{guest}@example.com")}],
    })
    .to_string()
}

async fn app_with(included: i64, sessions: &[String]) -> (TestApp, Tenant) {
    let app = spawn_app().await;
    import_into(&app, included, sessions).await;
    let tenant = app.key_for(COMPANY).await;
    (app, tenant)
}

pub(crate) async fn import_into(app: &TestApp, included: i64, sessions: &[String]) {
    let mut lines = people(included);
    for line in sessions {
        lines.push_str(line);
        lines.push('\n');
    }
    app.import(&lines).await;
}

fn ts(day: u32, hms: &str) -> String {
    format!("2016-11-{day:02}T{hms}")
}

pub(crate) fn host_connect(session_id: i64, day: u32, hms: &str) -> Value {
    event(
        &format!("{session_id}/h/c"),
        session_id,
        "Connect",
        "Host",
        &format!("h{session_id}"),
        &ts(day, hms),
    )
}

pub(crate) fn guest_event(session_id: i64, guest: i64, kind: &str, day: u32, hms: &str) -> Value {
    participant_event(
        &format!("{session_id}/g/{kind}"),
        session_id,
        kind,
        guest,
        &format!("g{session_id}"),
        &ts(day, hms),
    )
}

pub(crate) async fn post_events(app: &TestApp, events: Value) {
    let response = app.post_events(events).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn deactivate(app: &TestApp, session_id: i64) {
    let response = app
        .operator(
            Method::POST,
            &format!("/operator/sessions/{session_id}/deactivate"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// A session that became billable: the host, then the guest joined.
async fn billable_session(app: &TestApp, session_id: i64, guest: i64, day: u32) {
    post_events(
        app,
        json!([
            host_connect(session_id, day, "10:00:00"),
            guest_event(session_id, guest, "Connect", day, "10:01:00"),
        ]),
    )
    .await;
}

// ------------------------------------------------------------- the receiver

/// The test's webhook endpoint: a Python process verifying with the
/// Standard Webhooks library. Killed when dropped.
pub(crate) struct Receiver {
    child: Child,
    /// Where the test configures it and reads what it received.
    url: String,
    endpoint: String,
    client: reqwest::Client,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PYTHON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/provider-venv/bin/python"
);

/// Whether the Standard Webhooks library is installed; says so loudly when
/// not, and fails under CI=true.
pub(crate) fn verifier_ready() -> bool {
    let installed = Command::new(PYTHON)
        .args(["-c", "import standardwebhooks"])
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return true;
    }
    let message = "\n*** The outbound webhook tests did NOT run: run scripts/provider-sdks.sh \
        (it installs PyPI standardwebhooks into target/provider-venv). ***\n\n";
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "under CI=true the Standard Webhooks library must be installed (scripts/provider-sdks.sh)"
    );
    false
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Self::spawn(&[])
    }

    /// A receiver taking deliveries over https, with the certificate and
    /// key of the PEM files given.
    pub(crate) fn start_tls(certificate: &Path, key: &Path) -> Receiver {
        Self::spawn(&["--tls".as_ref(), certificate.as_os_str(), key.as_os_str()])
    }

    fn spawn(args: &[&OsStr]) -> Receiver {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/receiver.py"
        );
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test receiver starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut port = || -> u16 {
            let line = lines.next().expect("the receiver prints its port").unwrap();
            line.trim().parse().expect("the receiver prints its port")
        };
        let url = format!("http://127.0.0.1:{}", port());
        let endpoint = if args.is_empty() {
            format!("{url}/hooks")
        } else {
            format!("https://127.0.0.1:{}/hooks", port())
        };
        Receiver {
            child,
            url,
            endpoint,
            client: reqwest::Client::new(),
        }
    }

    /// The endpoint URL to register.
    pub(crate) fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub(crate) async fn configure(&self, secret: &str, answers: Value, hang_seconds: f64) {
        let response = self
            .client
            .post(format!("{}/_configure", self.url))
            .json(&json!({"secret": secret, "answers": answers, "hang_seconds": hang_seconds}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// The answers to give to the next deliveries (then 200), the secret kept.
    pub(crate) async fn answer_with(&self, answers: Value) {
        let response = self
            .client
            .post(format!("{}/_configure", self.url))
            .json(&json!({"answers": answers}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    pub(crate) async fn received(&self) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/_received", self.url))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Waits (up to 30 s) until `count` deliveries arrived; answers them,
    /// every one checked verified.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received().await;
            if received.len() >= count {
                for delivery in &received {
                    assert_eq!(delivery["verified"], true, "{delivery}");
                }
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {count} deliveries, got {}: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whatever arrived after a quiet while (what should not come has had
    /// time to): the deliveries, every one verified.
    pub(crate) async fn settled(&self) -> Vec<Value> {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let received = self.received().await;
        for delivery in &received {
            assert_eq!(delivery["verified"], true, "{delivery}");
        }
        received
    }
}

/// Registers the receiver for `types` (all when `None`); answers the
/// webhook's id and tells the receiver its secret.
pub(crate) async fn subscribe(
    app: &TestApp,
    tenant: &Tenant,
    receiver: &Receiver,
    types: Option<Value>,
    answers: Value,
    hang_seconds: f64,
) -> i64 {
    let mut body = json!({"Url": receiver.endpoint()});
    if let Some(types) = types {
        body["Types"] = types;
    }
    let (status, created) = app.send(tenant, Method::POST, "/webhook", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["Secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.configure(secret, answers, hang_seconds).await;
    created["WebhookId"].as_i64().unwrap()
}

pub(crate) fn summary(delivery: &Value) -> (String, i64, Value) {
    let payload = &delivery["payload"];
    (
        payload["WebhookType"].as_str().unwrap().to_owned(),
        payload["ID"].as_i64().unwrap(),
        payload["Status"].clone(),
    )
}

fn attribute(delivery: &Value, name: &str) -> Value {
    delivery["payload"]["Attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|attribute| attribute["AttributeName"] == name)
        .map(|attribute| attribute["AttributeValue"].clone())
        .unwrap_or_else(|| panic!("{name} is not among {delivery}"))
}

// ----------------------------------------------------------------- the tests

#[tokio::test]
async fn session_status_and_billing_fire_when_the_spec_says_and_only_then() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    subscribe(&app, &tenant, &receiver, None, json!([]), 0.0).await;

    // The host alone: the session started; nothing billable yet.
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(
        summary(&received[0]),
        ("SESSION_STATUS".into(), 100, json!("STARTED"))
    );
    assert_eq!(received[0]["payload"]["EventTs"], "2016-11-03T10:00:00");
    assert_eq!(received[0]["payload"]["Attributes"], json!([]));

    // The guest joins: billable, BILL, duration not known yet.
    post_events(&app, json!([guest_event(100, 9, "Connect", 3, "10:01:00")])).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(
        summary(&received[1]),
        ("SESSION_BILLING".into(), 100, json!("BILL"))
    );
    assert_eq!(attribute(&received[1], "BillableTs"), "2016-11-03T10:01:00");
    assert_eq!(attribute(&received[1], "DurationMinutes"), Value::Null);
    assert_eq!(attribute(&received[1], "BillableStatusCd"), "BILL");
    assert_eq!(attribute(&received[1], "UserId"), "4");
    assert_eq!(
        attribute(&received[1], "UsageDescription"),
        "Aaron Johnson Session #100 with Guest 9 - Counted Session"
    );

    // The guest leaves: the duration is known.
    post_events(
        &app,
        json!([guest_event(100, 9, "Disconnect", 3, "10:21:00")]),
    )
    .await;
    let received = receiver.wait_for(3).await;
    assert_eq!(
        summary(&received[2]),
        ("SESSION_BILLING".into(), 100, json!("BILL"))
    );
    assert_eq!(attribute(&received[2], "DurationMinutes"), "20");
    // History says the same.
    let history = app.history(&tenant, "/history").await;
    assert_eq!(history[0]["DurationMinutes"], 20);

    // The same events again change nothing, and so tell nothing.
    post_events(
        &app,
        json!([guest_event(100, 9, "Disconnect", 3, "10:21:00")]),
    )
    .await;
    assert_eq!(receiver.settled().await.len(), 3);

    // Deactivated: ended (the duration stays 20 minutes: no billing message).
    deactivate(&app, 100).await;
    let received = receiver.wait_for(4).await;
    assert_eq!(
        summary(&received[3]),
        ("SESSION_STATUS".into(), 100, json!("ENDED"))
    );
    let received = receiver.settled().await;
    assert_eq!(received.len(), 4, "{received:?}");
    let mut ids: Vec<&str> = received
        .iter()
        .map(|delivery| delivery["id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each message its own webhook-id: {ids:?}");

    // The delivery log, newest first, each delivered at its one attempt.
    let webhooks = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    let webhook_id = webhooks[0]["WebhookId"].as_i64().unwrap();
    assert!(webhooks[0].get("Secret").is_none(), "{webhooks}");
    let (status, log) = app
        .send(
            &tenant,
            Method::GET,
            &format!("/webhook/{webhook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0]["MessageId"], received[3]["id"]);
    assert_eq!(log[3]["MessageId"], received[0]["id"]);
    for delivery in log {
        assert!(delivery["DeliveredTs"].is_string(), "{delivery}");
        assert_eq!(delivery["Attempts"][0]["HttpStatus"], 200);
        assert_eq!(
            delivery["Attempts"][0]["Response"],
            "answered 200 by the test receiver"
        );
    }
    assert!(
        app.metric("webhook_deliveries_total{outcome=\"delivered\"}")
            .await
            >= 4.0
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for gauge in ["webhook_queue_depth", "webhook_oldest_pending_seconds"] {
        assert!(metrics.contains(gauge), "{gauge} in {metrics}");
    }
}

#[tokio::test]
async fn comp_and_uncomp_tell_billing_and_only_the_subscribed_types_come() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    subscribe(
        &app,
        &tenant,
        &receiver,
        Some(json!(["SESSION_BILLING"])),
        json!([]),
        0.0,
    )
    .await;
    billable_session(&app, 100, 9, 3).await;
    let response = app
        .operator(Method::POST, "/operator/sessions/100/comp")
        .json(&json!({"Reason": "free trial"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let response = app
        .operator(Method::DELETE, "/operator/sessions/100/comp")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    deactivate(&app, 100).await;
    let received = receiver.wait_for(3).await;
    let statuses: Vec<(String, i64, Value)> =
        receiver.settled().await.iter().map(summary).collect();
    assert_eq!(
        statuses,
        vec![
            ("SESSION_BILLING".into(), 100, json!("BILL")),
            ("SESSION_BILLING".into(), 100, json!("COMP")),
            ("SESSION_BILLING".into(), 100, json!("BILL")),
        ],
        "no SESSION_STATUS: not subscribed"
    );
    assert_eq!(
        attribute(&received[1], "UsageDescription"),
        "Aaron Johnson Session #100 with Guest 9 - Comped by SecureVideo.com - does not count towards billable limits"
    );
}

#[tokio::test]
async fn usage_thresholds_fire_once_a_month_at_80_and_100_percent() {
    if !verifier_ready() {
        return;
    }
    let sessions: Vec<String> = (0..6)
        .map(|n| session_line(100 + n, 10 + n, 3 + n as u32))
        .chain([session_line(120, 30, 1)])
        .collect();
    let (app, tenant) = app_with(5, &sessions).await;
    let receiver = Receiver::start();
    subscribe(
        &app,
        &tenant,
        &receiver,
        Some(json!(["USAGE_THRESHOLD"])),
        json!([]),
        0.0,
    )
    .await;
    for n in 0..3 {
        billable_session(&app, 100 + n, 10 + n, 3 + n as u32).await;
    }
    assert!(receiver.settled().await.is_empty(), "3 of 5 is 60 %");
    billable_session(&app, 103, 13, 6).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(
        summary(&received[0]),
        ("USAGE_THRESHOLD".into(), COMPANY, json!("80"))
    );
    assert_eq!(attribute(&received[0], "Month"), "2016-11-01");
    assert_eq!(attribute(&received[0], "CountedSessions"), "4");
    billable_session(&app, 104, 14, 7).await;
    billable_session(&app, 105, 15, 8).await;
    receiver.wait_for(2).await;
    let received = receiver.settled().await;
    let statuses: Vec<(String, i64, Value)> = received.iter().map(summary).collect();
    assert_eq!(
        statuses,
        vec![
            ("USAGE_THRESHOLD".into(), COMPANY, json!("80")),
            ("USAGE_THRESHOLD".into(), COMPANY, json!("100")),
        ],
        "each once, however far past"
    );
    assert_eq!(attribute(&received[1], "CountedSessions"), "5");
    // A session comped and uncomped counts again: still nothing new.
    app.operator(Method::POST, "/operator/sessions/105/comp")
        .json(&json!({"Reason": "goodwill"}))
        .send()
        .await
        .unwrap();
    app.operator(Method::DELETE, "/operator/sessions/105/comp")
        .send()
        .await
        .unwrap();
    billable_session(&app, 120, 30, 1).await;
    assert_eq!(receiver.settled().await.len(), 2);
}

#[tokio::test]
async fn failures_timeouts_and_500s_get_the_same_message_again_with_the_same_id() {
    if !verifier_ready() {
        return;
    }
    let app = spawn_app_with_timeout(400).await;
    import_into(&app, 0, &[session_line(100, 9, 3)]).await;
    let tenant = app.key_for(COMPANY).await;
    let receiver = Receiver::start();
    let webhook_id = subscribe(
        &app,
        &tenant,
        &receiver,
        Some(json!(["SESSION_STATUS"])),
        json!([500, "drop", "hang", 503]),
        1.5,
    )
    .await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let received = receiver.wait_for(5).await;
    let ids: Vec<&Value> = received.iter().map(|delivery| &delivery["id"]).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id: {ids:?}"
    );
    let answers: Vec<&Value> = received
        .iter()
        .map(|delivery| &delivery["answer"])
        .collect();
    assert_eq!(
        answers,
        [
            &json!(500),
            &json!("drop"),
            &json!("hang"),
            &json!(503),
            &json!(200)
        ]
    );
    // The retries waited longer each time (backoff).
    let at: Vec<f64> = received
        .iter()
        .map(|delivery| delivery["received_at"].as_f64().unwrap())
        .collect();
    assert!(at[4] - at[3] >= 0.1, "{at:?}");
    let received = receiver.settled().await;
    assert_eq!(received.len(), 5, "delivered once answered 2xx");

    let log = app
        .send(
            &tenant,
            Method::GET,
            &format!("/webhook/{webhook_id}/deliveries"),
            None,
        )
        .await
        .1;
    let attempts = log[0]["Attempts"].as_array().unwrap();
    let statuses: Vec<&Value> = attempts.iter().map(|a| &a["HttpStatus"]).collect();
    assert_eq!(
        statuses,
        [
            &json!(500),
            &Value::Null,
            &Value::Null,
            &json!(503),
            &json!(200)
        ]
    );
    assert!(attempts[1]["Error"].is_string(), "{attempts:?}");
    assert!(
        attempts[2]["Error"]
            .as_str()
            .unwrap()
            .contains("within 400 ms"),
        "{attempts:?}"
    );
    assert!(attempts[2]["LatencyMs"].as_i64().unwrap() >= 400);
    assert!(log[0]["DeliveredTs"].is_string());
    assert!(
        app.metric("webhook_deliveries_total{outcome=\"failed\"}")
            .await
            >= 4.0
    );
    let webhooks = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(webhooks[0]["Enabled"], true);
    assert_eq!(
        webhooks[0]["FailingSinceTs"],
        Value::Null,
        "delivered since"
    );
}

async fn spawn_app_with_timeout(timeout_ms: u64) -> TestApp {
    crate::helpers::spawn_app_with(|settings| settings.webhooks.webhook_timeout_ms = timeout_ms)
        .await
}

#[tokio::test]
async fn gone_disables_and_enable_and_retry_send_the_same_message_again() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    let webhook_id = subscribe(
        &app,
        &tenant,
        &receiver,
        Some(json!(["SESSION_STATUS"])),
        json!([410]),
        0.0,
    )
    .await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let received = receiver.wait_for(1).await;
    let started = received[0]["id"].clone();
    assert_eq!(receiver.settled().await.len(), 1, "410: not tried again");
    let webhooks = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(webhooks[0]["Enabled"], false, "{webhooks}");
    assert!(
        webhooks[0]["DisabledReason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let log = app
        .send(
            &tenant,
            Method::GET,
            &format!("/webhook/{webhook_id}/deliveries"),
            None,
        )
        .await
        .1;
    let delivery_id = log[0]["DeliveryId"].as_i64().unwrap();
    assert_eq!(log[0]["DeliveredTs"], Value::Null);
    let retry = format!("/webhook/{webhook_id}/deliveries/{delivery_id}/retry");
    let (status, _) = app.send(&tenant, Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "disabled: enable it first");

    // Enabled: the undelivered message comes again, same id.
    let (status, enabled) = app
        .send(
            &tenant,
            Method::POST,
            &format!("/webhook/{webhook_id}/enable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enabled["Enabled"], true);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1]["id"], started);
    assert_eq!(received[1]["answer"], 200);

    // Retried after delivery: once more, same id.
    let (status, retried) = app.send(&tenant, Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(retried["MessageId"], started);
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2]["id"], started);
    assert_eq!(receiver.settled().await.len(), 3);
    assert!(
        app.metric("webhook_deliveries_total{outcome=\"disabled\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn causal_order_holds_per_session_while_an_endpoint_fails() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    subscribe(&app, &tenant, &receiver, None, json!([500, 500, 500]), 0.0).await;
    // STARTED fails three times; BILLING and ENDED wait behind it.
    billable_session(&app, 100, 9, 3).await;
    deactivate(&app, 100).await;
    receiver.wait_for(6).await;
    let received = receiver.settled().await;
    let delivered: Vec<(String, i64, Value)> = received
        .iter()
        .filter(|delivery| delivery["answer"] == 200)
        .map(summary)
        .collect();
    assert_eq!(
        delivered,
        vec![
            ("SESSION_STATUS".into(), 100, json!("STARTED")),
            ("SESSION_BILLING".into(), 100, json!("BILL")),
            ("SESSION_STATUS".into(), 100, json!("ENDED")),
        ]
    );
    // Nothing of the session arrived before STARTED was delivered.
    let first_delivered = received
        .iter()
        .position(|delivery| delivery["answer"] == 200)
        .unwrap();
    assert!(
        received[..first_delivered]
            .iter()
            .all(|delivery| delivery["payload"]["Status"] == "STARTED"),
        "{received:?}"
    );
}

#[tokio::test]
async fn private_and_plain_http_endpoints_are_refused_by_default() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.webhooks.webhook_allow_http = false;
        settings.webhooks.webhook_allow_private = false;
    })
    .await;
    let tenant = app.new_tenant("Careful Clinic").await;
    for (url, needle) in [
        ("http://hooks.example.com/", "https"),
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://localhost:8443/hooks", "loopback"),
        ("https://[::1]/hooks", "loopback"),
        ("https://10.0.0.8/hooks", "private"),
        ("https://192.168.1.20/hooks", "private"),
        ("https://172.20.0.5/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/hooks", "link-local"),
        ("https://[fd12::1]/hooks", "unique-local"),
        ("https://[::ffff:10.0.0.1]/hooks", "private"),
        ("https://100.64.1.1/hooks", "CGNAT"),
    ] {
        let response = app
            .call(&tenant, Method::POST, "/webhook")
            .json(&json!({ "Url": url }))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    let (status, created) = app
        .send(
            &tenant,
            Method::POST,
            "/webhook",
            Some(json!({"Url": "https://hooks.example.com/session-ledger"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let listed = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(listed.as_array().unwrap().len(), 1, "only the public one");
}

#[tokio::test]
async fn addresses_are_checked_again_at_each_delivery() {
    if !verifier_ready() {
        return;
    }
    // Registered while private addresses were allowed…
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    let webhook_id = subscribe(&app, &tenant, &receiver, None, json!([]), 0.0).await;
    let database = app.stop().await;
    // …then served by a node that refuses them: nothing is sent.
    let app = spawn_on(database, |settings| {
        settings.webhooks.webhook_allow_private = false;
    })
    .await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let attempts = loop {
        let log = app
            .send(
                &tenant,
                Method::GET,
                &format!("/webhook/{webhook_id}/deliveries"),
                None,
            )
            .await
            .1;
        let attempts = log[0]["Attempts"].as_array().cloned().unwrap_or_default();
        if attempts.len() >= 2 || Instant::now() > deadline {
            break attempts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(attempts.len() >= 2, "{attempts:?}");
    for attempt in &attempts {
        assert_eq!(attempt["HttpStatus"], Value::Null);
        assert!(
            attempt["Error"].as_str().unwrap().contains("loopback"),
            "{attempt}"
        );
    }
    assert!(receiver.received().await.is_empty(), "nothing reached it");
}

#[tokio::test]
async fn another_companys_webhooks_are_not_found_and_its_events_not_sent() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let other = app.key_for(2).await;
    let ours = Receiver::start();
    let theirs = Receiver::start();
    let webhook_id = subscribe(&app, &tenant, &ours, None, json!([]), 0.0).await;
    subscribe(&app, &other, &theirs, None, json!([]), 0.0).await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let received = ours.wait_for(1).await;
    let delivery_id = received[0]["id"].as_str().unwrap()["msg_".len()..].to_owned();
    assert!(theirs.settled().await.is_empty(), "not their session");

    let listed = app.send(&other, Method::GET, "/webhook", None).await.1;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_ne!(listed[0]["WebhookId"], webhook_id);
    for (method, path) in [
        (Method::GET, format!("/webhook/{webhook_id}/deliveries")),
        (Method::POST, format!("/webhook/{webhook_id}/enable")),
        (
            Method::POST,
            format!("/webhook/{webhook_id}/deliveries/{delivery_id}/retry"),
        ),
        (Method::DELETE, format!("/webhook/{webhook_id}")),
    ] {
        let response = app
            .call(&other, method.clone(), &path)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not found").await;
    }
    let (status, _) = app
        .send(
            &tenant,
            Method::DELETE,
            &format!("/webhook/{webhook_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "still there for its owner");
    let listed = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Input Clinic").await;
    for (body, needle) in [
        (json!({}), "Url"),
        (json!({"Url": 5}), "Url"),
        (json!({"Url": ""}), "Url"),
        (json!({"Url": "not a url"}), "Url"),
        (json!({"Url": "ftp://hooks.example.com/"}), "Url"),
        (
            json!({"Url": "https://hooks.example.com/", "Types": []}),
            "Types",
        ),
        (
            json!({"Url": "https://hooks.example.com/", "Types": ["SESSION_ENDED"]}),
            "SESSION_ENDED",
        ),
        (
            json!({"Url": "https://hooks.example.com/", "Types": "SESSION_STATUS"}),
            "Types",
        ),
        (
            json!({"Url": format!("https://hooks.example.com/{}", "a".repeat(2100))}),
            "Url",
        ),
    ] {
        let response = app
            .call(&tenant, Method::POST, "/webhook")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    for path in [
        "/webhook/abc",
        "/webhook/0/deliveries",
        "/webhook/-3/enable",
        "/webhook/1/deliveries/x/retry",
    ] {
        let method = if path.ends_with("abc") {
            Method::DELETE
        } else if path.ends_with("deliveries") {
            Method::GET
        } else {
            Method::POST
        };
        let response = app.call(&tenant, method, path).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "Id").await;
    }
    let listed = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(listed, json!([]));
    let response = app.client.get(app.url("/webhook")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_import_replays_history_without_sending_it() {
    if !verifier_ready() {
        return;
    }
    let app = spawn_app().await;
    let tenant_key = {
        import_into(&app, 0, &[session_line(100, 9, 3)]).await;
        app.key_for(COMPANY).await
    };
    let receiver = Receiver::start();
    subscribe(&app, &tenant_key, &receiver, None, json!([]), 0.0).await;
    let mut lines = String::new();
    for event in [
        host_connect(100, 3, "10:00:00"),
        guest_event(100, 9, "Connect", 3, "10:01:00"),
    ] {
        lines.push_str(&event.to_string());
        lines.push('\n');
    }
    app.import(&lines).await;
    let history = app.history(&tenant_key, "/history").await;
    assert_eq!(history[0]["BillableStatusCd"], "BILL", "imported");
    assert!(receiver.settled().await.is_empty(), "history is no news");
}

#[tokio::test]
async fn endpoints_and_undelivered_messages_survive_export_and_import() {
    if !verifier_ready() {
        return;
    }
    let (app, tenant) = app_with(0, &[session_line(100, 9, 3)]).await;
    let receiver = Receiver::start();
    let webhook_id = subscribe(
        &app,
        &tenant,
        &receiver,
        Some(json!(["SESSION_STATUS", "SESSION_BILLING"])),
        json!([410]),
        0.0,
    )
    .await;
    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    let started = receiver.wait_for(1).await[0]["id"].clone();
    // Disabled by the 410: STARTED is still owed.
    let before = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(before[0]["Enabled"], false);

    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();
    assert!(exported.contains(r#""Type":"Webhook""#), "{exported}");
    assert!(
        exported.contains(r#""Type":"WebhookMessage""#),
        "{exported}"
    );
    let database = app.stop().await;
    drop(database);

    let restored = spawn_app().await;
    restored.import(&exported).await;
    let after = restored
        .send(&tenant, Method::GET, "/webhook", None)
        .await
        .1;
    assert_eq!(after, before, "the endpoint as it was");
    // Enabled on the new database: the message owed comes, with its id,
    // signed with the same secret (the receiver still verifies with it).
    let (status, _) = restored
        .send(
            &tenant,
            Method::POST,
            &format!("/webhook/{webhook_id}/enable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1]["id"], started);
    assert_eq!(received[1]["answer"], 200);
    // And the export of the import has the same webhook lines, less what
    // was delivered since (once the delivery is recorded).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = restored
            .send(
                &tenant,
                Method::GET,
                &format!("/webhook/{webhook_id}/deliveries"),
                None,
            )
            .await
            .1;
        if log[0]["DeliveredTs"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = Vec::new();
    restored.store.export(&mut again).await.unwrap();
    let again = String::from_utf8(again).unwrap();
    assert!(again.contains(r#""Type":"Webhook""#));
    assert!(!again.contains(r#""Type":"WebhookMessage""#), "delivered");
    // A session started before the move does not start again.
    post_events(
        &restored,
        json!([guest_event(100, 9, "Connect", 3, "10:01:00")]),
    )
    .await;
    let received = receiver.wait_for(3).await;
    assert_eq!(
        summary(&received[2]),
        ("SESSION_BILLING".into(), 100, json!("BILL"))
    );
    assert_eq!(receiver.settled().await.len(), 3);
}

#[tokio::test]
async fn a_bad_webhook_line_stops_the_import_naming_it() {
    let app = spawn_app().await;
    let mut lines = people(0);
    lines.push_str(
        r#"{"Type":"Webhook","CompanyId":1,"WebhookId":50,"Url":"https://hooks.example.com/","Types":["NOPE"],"Secret":"whsec_AAAA","CreatedTs":"2016-11-01T00:00:00"}"#,
    );
    lines.push('\n');
    let error = app
        .store
        .import(std::io::Cursor::new(lines.into_bytes()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 5") && error.contains("NOPE"),
        "{error}"
    );
    assert!(
        app.store.company(COMPANY).await.unwrap().is_none(),
        "nothing of the import kept"
    );
}
