//! Outbound webhooks over https (SPEC §13): the receiver serves TLS with a
//! certificate of a CA made by the test, which the server trusts through
//! `--webhook-ca-file`; a certificate of a CA it does not trust brings the
//! receiver nothing, and the attempt is logged and retried.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_ledger::config::TrustedCas;
use tempfile::TempDir;

use crate::helpers::{TestApp, spawn_app_with};
use crate::webhooks::{
    COMPANY, Receiver, host_connect, import_into, post_events, session_line, subscribe, summary,
    verifier_ready,
};

/// A certificate authority made for one test, in a folder of its own.
struct TestCa {
    dir: TempDir,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).unwrap();
        TestCa { dir, issuer }
    }

    /// The CA's certificate, as a PEM file.
    fn certificate_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for 127.0.0.1 and localhost, issued by this
    /// CA: the PEM files of the certificate and of its key.
    fn issue_for_localhost(&self) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "webhook receiver");
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let certificate_file = self.dir.path().join("receiver.pem");
        let key_file = self.dir.path().join("receiver-key.pem");
        std::fs::write(&certificate_file, certificate.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (certificate_file, key_file)
    }
}

/// The server with `trusted` as `--webhook-ca-file` and only https
/// endpoints allowed (127.0.0.1 still is).
async fn app_trusting(trusted: &Path) -> TestApp {
    let cas = TrustedCas::load(trusted.to_str().unwrap()).expect("the test CA loads");
    let app = spawn_app_with(|settings| {
        settings.webhooks.webhook_allow_http = false;
        settings.webhooks.webhook_ca_file = Some(cas);
    })
    .await;
    import_into(&app, 0, &[session_line(100, 9, 3)]).await;
    app
}

async fn deliveries(app: &TestApp, tenant: &crate::helpers::Tenant, webhook_id: i64) -> Value {
    let (status, log) = app
        .send(
            tenant,
            Method::GET,
            &format!("/webhook/{webhook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log
}

#[tokio::test]
async fn https_deliveries_reach_an_endpoint_whose_certificate_a_trusted_ca_issued() {
    if !verifier_ready() {
        return;
    }
    let ca = TestCa::new("session-ledger test CA");
    let (certificate, key) = ca.issue_for_localhost();
    let app = app_trusting(&ca.certificate_file()).await;
    let tenant = app.key_for(COMPANY).await;
    let receiver = Receiver::start_tls(&certificate, &key);
    assert!(receiver.endpoint().starts_with("https://"));
    let webhook_id = subscribe(&app, &tenant, &receiver, None, json!([]), 0.0).await;

    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    // Verified with the Standard Webhooks library, as over http.
    let received = receiver.wait_for(1).await;
    assert_eq!(
        summary(&received[0]),
        ("SESSION_STATUS".into(), 100, json!("STARTED"))
    );
    assert_eq!(received[0]["path"], "/hooks");
    // Recorded once the answer came.
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = deliveries(&app, &tenant, webhook_id).await;
        if log[0]["DeliveredTs"].is_string() {
            break log;
        }
        assert!(Instant::now() < deadline, "not recorded delivered: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts = log[0]["Attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{log}");
    assert_eq!(attempts[0]["HttpStatus"], 200);
    assert_eq!(receiver.settled().await.len(), 1);
}

#[tokio::test]
async fn an_endpoint_whose_certificate_no_trusted_ca_issued_gets_nothing_and_is_retried() {
    if !verifier_ready() {
        return;
    }
    let trusted = TestCa::new("session-ledger test CA");
    let other = TestCa::new("a CA the server does not trust");
    let (certificate, key) = other.issue_for_localhost();
    let app = app_trusting(&trusted.certificate_file()).await;
    let tenant = app.key_for(COMPANY).await;
    let receiver = Receiver::start_tls(&certificate, &key);
    let webhook_id = subscribe(&app, &tenant, &receiver, None, json!([]), 0.0).await;

    post_events(&app, json!([host_connect(100, 3, "10:00:00")])).await;
    // Retries come after tens of ms here: wait for a few attempts.
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = deliveries(&app, &tenant, webhook_id).await;
        if log[0]["Attempts"].as_array().is_some_and(|a| a.len() >= 3) {
            break log;
        }
        assert!(Instant::now() < deadline, "no third attempt: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivery = &log[0];
    let attempts = delivery["Attempts"].as_array().unwrap();
    for attempt in attempts {
        assert_eq!(attempt["HttpStatus"], Value::Null, "{attempt}");
        let error = attempt["Error"].as_str().unwrap();
        assert!(error.contains("TLS"), "{error}");
        assert!(error.contains("UnknownIssuer"), "{error}");
    }
    // Tried again later, and not delivered.
    assert!(attempts[1]["AttemptTs"].as_str() > attempts[0]["AttemptTs"].as_str());
    assert_eq!(delivery["DeliveredTs"], Value::Null);
    assert!(delivery["NextAttemptTs"].is_string(), "{delivery}");
    assert!(
        receiver.received().await.is_empty(),
        "no delivery reached the receiver"
    );
    let webhooks = app.send(&tenant, Method::GET, "/webhook", None).await.1;
    assert_eq!(webhooks[0]["Enabled"], true, "{webhooks}");
    assert!(webhooks[0]["FailingSinceTs"].is_string(), "{webhooks}");
}

/// `serve` with a `--webhook-ca-file`: whether it kept running (stopped
/// after 10 s), and what it wrote to stderr.
fn serve_with_ca_file(path: &Path) -> (bool, String) {
    let database = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_session-ledger"))
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            database.path().join("ledger.db").display()
        ))
        .args(["serve", "--bind", "127.0.0.1:0", "--webhook-ca-file"])
        .arg(path)
        .env_remove("SESSION_LEDGER_WEBHOOK_CA_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut kept_running = false;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            kept_running = true;
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        kept_running || output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_webhook_ca_file_stops_the_start_naming_the_file_and_why() {
    let ca = TestCa::new("session-ledger test CA");
    let (_, key) = ca.issue_for_localhost();
    let broken = ca.dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let not_a_ca = ca.dir.path().join("not-a-certificate.pem");
    std::fs::write(
        &not_a_ca,
        "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = ca.dir.path().join("missing.pem");
    let cases = [
        (missing.as_path(), "cannot be read"),
        (key.as_path(), "holds no PEM certificate"),
        (broken.as_path(), "is not valid PEM"),
        (
            not_a_ca.as_path(),
            "certificate 1 cannot be trusted as a CA",
        ),
    ];
    for (path, why) in cases {
        let (started, stderr) = serve_with_ca_file(path);
        assert!(!started, "{}: {stderr}", path.display());
        assert!(stderr.contains("--webhook-ca-file"), "{stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
}
