//! PostgreSQL going away under the server: the real server talks to the real
//! test server through a TCP relay that the test cuts (every connection
//! dropped, the port refusing) and restores on the same port. While cut,
//! requests and /readyz answer 503 {"Message"} within about 2 s; once
//! restored, the server recovers without a restart; a quick cut-and-restore
//! costs no request an error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Tenant, TestApp, TestDatabase, event, spawn_on};
use crate::seed::{SEED_SETUP, seed_events};

/// A relay from a local port to the PostgreSQL server.
struct Relay {
    address: std::net::SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            address: listener.local_addr().unwrap(),
            upstream,
            tasks: Arc::default(),
            accepting: None,
        };
        relay.accept(listener);
        relay
    }

    fn accept(&mut self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream.clone(), self.tasks.clone());
        self.accepting = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        }));
    }

    /// Drops every relayed connection; the port refuses new ones.
    fn cut(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.abort();
        }
        for pipe in self.tasks.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Accepts again, on the same port.
    async fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            match socket.bind(self.address).and_then(|()| socket.listen(128)) {
                Ok(listener) => break listener,
                Err(error) => {
                    assert!(Instant::now() < deadline, "cannot listen again: {error}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.accept(listener);
    }
}

/// `postgres://user@host:port/db` with `host:port` replaced.
fn through(url: &str, address: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
    let (host, path) = rest.split_once('/').unwrap();
    let at = if credentials.is_empty() { "" } else { "@" };
    (
        format!("{scheme}://{credentials}{at}{address}/{path}"),
        host.to_owned(),
    )
}

async fn relayed_app() -> (TestApp, Relay, TestDatabase) {
    let database = TestDatabase::postgres().await;
    let (_, upstream) = through(&database.url, "127.0.0.1:1".parse().unwrap());
    let relay = Relay::start(upstream).await;
    let (url, _) = through(&database.url, relay.address);
    let app = spawn_on(database.reached_at(url), |_| {}).await;
    app.import(SEED_SETUP).await;
    (app, relay, database)
}

fn events_from(start: usize, count: usize) -> Value {
    Value::Array(
        (start..start + count)
            .map(|n| {
                event(
                    &format!("outage-{n}"),
                    105236,
                    "Connect",
                    "Host",
                    &format!("c{n}"),
                    "2016-11-03T23:59:00",
                )
            })
            .collect(),
    )
}

/// A tenant read, an event batch and /readyz: their statuses and the
/// longest any took.
async fn one_of_each(app: &TestApp, tenant: &Tenant, round: usize) -> (Vec<StatusCode>, Duration) {
    let read = app.tenant(tenant, "/history/4?month=2016-11-01");
    let write = app
        .operator(reqwest::Method::POST, "/operator/events")
        .json(&events_from(round * 10, 1));
    let ready = app.client.get(app.url("/readyz"));
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for request in [read, write, ready] {
        let sent = Instant::now();
        let response = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("an answer within 10 s");
        slowest = slowest.max(sent.elapsed());
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = response.json().await.unwrap();
            assert!(
                body["Message"]
                    .as_str()
                    .is_some_and(|m| m.contains("database")),
                "{body}"
            );
        }
        statuses.push(status);
    }
    (statuses, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_unreachable_requests_answer_503_fast_and_recover() {
    let (app, mut relay, _database) = relayed_app().await;
    let tenant = app.key_for(1).await;
    let (statuses, _) = one_of_each(&app, &tenant, 0).await;
    assert_eq!(statuses, [StatusCode::OK; 3]);

    relay.cut();
    for round in 1..=4 {
        let (statuses, slowest) = one_of_each(&app, &tenant, round).await;
        assert_eq!(
            statuses,
            [StatusCode::SERVICE_UNAVAILABLE; 3],
            "round {round}"
        );
        assert!(
            slowest < Duration::from_millis(2_500),
            "round {round}: an answer took {slowest:?}"
        );
    }

    relay.restore().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "not ready 5 s after the restore");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (statuses, _) = one_of_each(&app, &tenant, 9).await;
    assert_eq!(statuses, [StatusCode::OK; 3], "recovered without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_by_a_quick_restart_cost_no_request_an_error() {
    let (app, mut relay, _database) = relayed_app().await;
    let tenant = app.key_for(1).await;
    assert_eq!(
        app.post_events(seed_events()).await.status(),
        StatusCode::OK
    );

    for round in 0..3 {
        // Fill the pools, so that their connections were all used within
        // the last second (connections idle longer are pinged anyway).
        let warm = (0..24).map(|n| {
            let request = if n % 3 == 0 {
                app.operator(reqwest::Method::POST, "/operator/events")
                    .json(&events_from(1_000 + round * 100 + n, 1))
            } else {
                app.tenant(&tenant, "/history/4?month=2016-11-01")
            };
            request.send()
        });
        for response in futures_util::future::join_all(warm).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        relay.cut();
        relay.restore().await;

        let burst = (0..24).map(|n| {
            let request = match n % 3 {
                0 => app
                    .operator(reqwest::Method::POST, "/operator/events")
                    .json(&events_from(2_000 + round * 100 + n, 1)),
                1 => app.tenant(&tenant, "/user"),
                _ => app.tenant(&tenant, "/history/4?month=2016-11-01"),
            };
            request.send()
        });
        let statuses: Vec<StatusCode> = futures_util::future::join_all(burst)
            .await
            .into_iter()
            .map(|response| response.unwrap().status())
            .collect();
        assert!(
            statuses.iter().all(|status| *status == StatusCode::OK),
            "round {round}: {statuses:?}"
        );
    }
}
