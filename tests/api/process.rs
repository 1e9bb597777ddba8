//! The real binary as an operator runs it: graceful shutdown on SIGTERM with
//! an in-flight request, and logs that never carry secrets or addresses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestDatabase, event};
use crate::seed::{SEED_SETUP, seed_events};

pub const TOKEN: &str = "process-test-operator-token-7f3a";
const BINARY: &str = env!("CARGO_BIN_EXE_session-ledger");

/// A running `session-ledger serve` whose log lines are collected.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    /// With more settings, as environment variables.
    pub fn start_with(database_url: &str, settings: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BINARY)
            .arg("serve")
            .envs(settings.iter().copied())
            .env("SESSION_LEDGER_DATABASE_URL", database_url)
            .env("SESSION_LEDGER_BIND", "127.0.0.1:0")
            .env("SESSION_LEDGER_OPERATOR_TOKEN", TOKEN)
            .env("SESSION_LEDGER_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let collected = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["fields"]["message"] == "listening"
                {
                    let _ = address_sender.send(
                        entry["fields"]["address"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                collected.lock().unwrap().push(line);
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address");
        Self {
            child,
            address,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cli(database_url: &str, args: &[&str], input: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BINARY)
        .args(args)
        .env("SESSION_LEDGER_DATABASE_URL", database_url)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let database = TestDatabase::new().await;
    let (imported, _, stderr) = cli(&database.url, &["import", "-"], Some(SEED_SETUP));
    assert!(imported, "{stderr}");
    let mut server = Server::start(&database.url);

    // An event batch whose body is half sent when the signal arrives.
    let body = serde_json::to_string(&seed_events()).unwrap();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    write!(
        stream,
        "POST /operator/events HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first_half}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal("TERM");

    // Shutdown has begun once new connections are refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&server.address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server kept accepting connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stream.write_all(second_half.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#"{"Accepted":12,"Duplicates":0}"#),
        "{response}"
    );
    assert_eq!(server.wait_exit(), Some(0));

    // What was acknowledged is durable.
    let (exported, log, _) = cli(&database.url, &["export", "-"], None);
    assert!(exported);
    assert_eq!(
        log.lines()
            .filter(|line| line.contains(r#""Type":"Connect""#))
            .count(),
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drops_a_request_still_half_sent_at_the_shutdown_deadline() {
    let database = TestDatabase::new().await;
    let mut server = Server::start_with(
        &database.url,
        &[
            ("SESSION_LEDGER_SHUTDOWN_TIMEOUT_SECONDS", "2"),
            ("SESSION_LEDGER_HEADER_READ_TIMEOUT_SECONDS", "60"),
        ],
    );
    // One request with half its body sent, one with half its headers.
    let mut body = TcpStream::connect(&server.address).unwrap();
    write!(
        body,
        "POST /operator/events HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n["
    )
    .unwrap();
    let mut head = TcpStream::connect(&server.address).unwrap();
    head.write_all(b"GET /healthz HTTP/1.1\r\nHost: led")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let signalled = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait_exit(), Some(0));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM"
    );
    // Both were closed without an answer.
    for mut stream in [body, head] {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(logs.contains("shutdown deadline passed"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_full_scenario_hold_no_secret_address_or_credential() {
    let database = TestDatabase::new().await;
    let (imported, _, import_logs) = cli(&database.url, &["import", "-"], Some(SEED_SETUP));
    assert!(imported, "{import_logs}");
    let mut server = Server::start(&database.url);
    let client = reqwest::Client::new();
    let operator = |request: reqwest::RequestBuilder| request.bearer_auth(TOKEN);

    let key: Value = operator(client.post(server.url("/operator/companies/1/keys")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (api_key, api_secret) = (
        key["ApiKey"].as_str().unwrap(),
        key["ApiSecret"].as_str().unwrap(),
    );
    let agent = operator(client.post(server.url("/operator/support-agents")))
        .json(&json!({"FullName": "Ola Nordmann", "EmailAddress": "ola.nordmann@support.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(agent.status(), StatusCode::CREATED);
    let events = operator(client.post(server.url("/operator/events")))
        .json(&seed_events())
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let bad_event = json!([event(
        "bad",
        105236,
        "Connect",
        "Host",
        "h1",
        "2016-11-03T23:59:00"
    )]);
    let refused = operator(client.post(server.url("/operator/events")))
        .json(&bad_event)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    for path in [
        "/history?month=2016-11-01&participantEmail=trevor@patients.example",
        "/history/4?participantEmail=jonathan%40seed.example&format=csv",
        "/usage?month=2016-11-01",
        "/history?month=2016-13-01",
    ] {
        let response = client
            .get(server.url(path))
            .basic_auth(api_key, Some(api_secret))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success() || response.status() == StatusCode::BAD_REQUEST);
    }
    let wrong = client
        .get(server.url("/history"))
        .basic_auth(api_key, Some("not-the-secret@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let comp = operator(client.post(server.url("/operator/sessions/105236/comp")))
        .json(&json!({"Reason": "Video trouble"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comp.status(), StatusCode::NO_CONTENT);
    let revoke = operator(client.delete(server.url(&format!("/operator/keys/{api_key}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    server.signal("TERM");
    assert_eq!(server.wait_exit(), Some(0));

    let server_logs = server.logs.lock().unwrap().join("\n");
    // The scan is not vacuous: requests were logged, with their routes.
    assert!(
        server_logs.contains(r#""route":"/history/{user_id}""#),
        "{server_logs}"
    );
    assert!(server_logs.contains("request_id"), "{server_logs}");
    // One line a request once its response is ready, in the request's span
    // (which names the tenant), all written out before the process exited.
    let answered = server_logs
        .lines()
        .filter(|line| line.contains("finished processing request"))
        .collect::<Vec<_>>();
    assert!(
        answered.iter().any(|line| line.contains(r#""status":401"#)),
        "{server_logs}"
    );
    assert!(
        answered.iter().any(|line| line.contains(r#""status":200"#)
            && line.contains(r#""company_id":"#)
            && line.contains(r#""route":"/history/{user_id}""#)),
        "{server_logs}"
    );
    for (name, logs) in [("server", &server_logs), ("import", &import_logs)] {
        for forbidden in [
            "@",
            api_secret,
            TOKEN,
            "Basic ",
            "Bearer ",
            "authorization",
            "Authorization",
        ] {
            let leaked: Vec<&str> = logs
                .lines()
                .filter(|line| line.contains(forbidden))
                .collect();
            assert!(
                leaked.is_empty(),
                "{name} logs contain {forbidden:?}: {leaked:#?}"
            );
        }
    }
}
