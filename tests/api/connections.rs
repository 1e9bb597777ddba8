//! Connections within bounds, over real sockets: a half-sent header and an
//! idle keep-alive connection are closed after their (short, configured)
//! timeouts, and connections over the cap make room or are refused at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{OPERATOR_TOKEN, TestApp, spawn_app_with};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("the server accepts")
}

/// Reads until the server closes the connection (or `limit` passes) and
/// returns what it sent and how long that took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(count) => received.extend_from_slice(&chunk[..count]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {limit:?}; received {:?}",
        String::from_utf8_lossy(&received)
    );
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_read_timeout() {
    let app = spawn_app_with(|settings| settings.header_read_timeout_seconds = 1).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nX-Slow: ")
        .await
        .unwrap();
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(received.is_empty(), "{received}");
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = connect(&app).await;
    let (_, waited) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );

    // A client that sends its headers in time is answered.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|settings| {
        settings.idle_timeout_seconds = 1;
        settings.header_read_timeout_seconds = 30;
    })
    .await;
    let mut stream = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let mut answer = [0u8; 1024];
    let count = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..count]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"Status":"ok"}"#), "{answer}");

    // Kept alive: a second request within the idle timeout is answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(request).await.unwrap();
    let count = stream.read(&mut [0u8; 1024]).await.unwrap();
    assert!(count > 0);

    // Then nothing: closed after the idle timeout, long before the 30 s
    // a request's headers would be given.
    let (received, waited) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(received.is_empty(), "{received}");
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
}

/// An authorized POST whose body is half sent: its request is being
/// answered (the handler waits for the rest) until the connection goes.
/// Returns once the server has said so: its `100 Continue` comes when the
/// handler first asks for the body.
async fn half_sent_post(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    stream
        .write_all(
            b"POST /operator/events HTTP/1.1\r\nHost: ledger\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\
              Expect: 100-continue\r\n",
        )
        .await
        .unwrap();
    let authorization = format!("Authorization: Bearer {OPERATOR_TOKEN}\r\n\r\n[");
    stream.write_all(authorization.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let count = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("100 Continue within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..count]);
    assert!(answer.starts_with("HTTP/1.1 100 Continue"), "{answer}");
    stream
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_at_once_while_every_one_is_busy() {
    let app = spawn_app_with(|settings| settings.max_connections = 2).await;
    let first = half_sent_post(&app).await;
    let _second = half_sent_post(&app).await;

    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n")
        .await
        .unwrap();
    let (answer, waited) = read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""Message":"#), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert!(waited < Duration::from_secs(1), "refused after {waited:?}");

    // Once one goes, a normal request is answered again.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = reqwest::Client::new()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap();
        if health.status() == StatusCode::OK {
            break;
        }
        assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "no room came free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_connection_over_the_cap_closes_the_one_waiting_longest_for_headers() {
    let app = spawn_app_with(|settings| {
        settings.max_connections = 2;
        settings.header_read_timeout_seconds = 30;
    })
    .await;
    let mut oldest = connect(&app).await;
    oldest
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut younger = connect(&app).await;
    younger
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A normal client is answered at once: the slow ones do not hold it out.
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));
    let (received, _) = read_until_closed(&mut oldest, Duration::from_secs(2)).await;
    assert!(received.is_empty(), "{received}");

    // The younger one is still open and can finish its request.
    younger.write_all(b"Host: ledger\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 1024];
    let count = tokio::time::timeout(Duration::from_secs(2), younger.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..count]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
