//! The outbound-webhook step: the ingest again, a second set of batches of
//! the same shape, with three endpoints (every type) subscribed for every
//! company it touches, all pointing at a receiver in this process; then the
//! time until every message is delivered.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::dataset::{HOOKED_MONTH, Meta};
use super::http::Client;
use super::ingest::{billable, post_batches};
use super::store::Store;
use super::{Config, Outbound, say};

/// Endpoints subscribed per company.
pub const ENDPOINTS_PER_COMPANY: usize = 3;

/// How long the queue may take to empty after the ingest.
const DRAIN_LIMIT: Duration = Duration::from_secs(3_600);

/// A webhook receiver on 127.0.0.1: answers every request `200` with an
/// empty body over kept-alive connections, a thread each, and counts them.
pub(super) struct Receiver {
    pub(super) address: String,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    pub(super) fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let received = Arc::clone(&received);
                        thread::spawn(move || {
                            let _ = answer(stream, &received);
                        });
                    }
                }
            })
        };
        Ok(Self {
            address,
            received,
            stop,
            accept: Some(accept),
        })
    }

    /// Requests received so far.
    pub(super) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread up.
        let _ = TcpStream::connect(&self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One connection's requests, each read whole (Content-Length bodies) and
/// answered `200`, until the sender closes it.
fn answer(stream: TcpStream, received: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value
                        .parse()
                        .map_err(|_| io::Error::other("bad Content-Length"))?;
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        received.fetch_add(1, Ordering::Relaxed);
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
        if close {
            return Ok(());
        }
    }
}

/// The step: subscribe, ingest, wait for the queue to empty, unsubscribe.
pub(super) fn outbound(
    config: &Config,
    store: &Store,
    meta: &Meta,
    largest_key: &str,
) -> io::Result<Outbound> {
    let name = store.name();
    let companies = &meta.hooked_companies;
    let endpoints = companies.len() * ENDPOINTS_PER_COMPANY;
    say(
        config,
        format!(
            "{name}: ingesting {} events with {endpoints} webhook endpoints subscribed",
            meta.hooked_events
        ),
    );
    let keys = companies
        .iter()
        .map(|&company| config.create_key(store, company))
        .collect::<io::Result<Vec<_>>>()?;
    let receiver = Receiver::start()?;
    let server = config.start_server(store)?;
    let mut client = Client::new(&server.address);
    let mut registered = Vec::with_capacity(endpoints);
    for (company, key) in companies.iter().zip(&keys) {
        for n in 0..ENDPOINTS_PER_COMPANY {
            let body = format!(
                "{{\"Url\": \"http://{}/hooks/{company}/{n}\"}}",
                receiver.address
            );
            let headers = [
                ("Authorization", key.as_str()),
                ("Content-Type", "application/json"),
            ];
            let response = client.post("/webhook", &headers, body.as_bytes())?;
            let id = (response.status == 201)
                .then(|| number_after(&response.text(), "\"WebhookId\":"))
                .flatten()
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "POST /webhook answered {}: {}",
                        response.status,
                        response.text()
                    ))
                })?;
            registered.push((key, id));
        }
    }

    let started = Instant::now();
    let (accepted, seconds) = post_batches(config, &server.address, "hooked-batches.jsonl")?;
    if accepted != meta.hooked_events {
        return Err(io::Error::other(format!(
            "{accepted} events accepted of {}",
            meta.hooked_events
        )));
    }
    loop {
        let response = client.get("/metrics", &[])?;
        let depth = number_after(&response.text(), "\nwebhook_queue_depth ")
            .ok_or_else(|| io::Error::other("no webhook_queue_depth in /metrics"))?;
        if depth == 0 {
            break;
        }
        if started.elapsed() > DRAIN_LIMIT {
            return Err(io::Error::other(format!(
                "{depth} webhook messages still queued after {} s",
                DRAIN_LIMIT.as_secs()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let drained_seconds = started.elapsed().as_secs_f64();
    let deliveries = receiver.received();
    let sessions_visible = billable(
        &server.address,
        HOOKED_MONTH,
        largest_key,
        meta.hooked_company_sessions,
    )?;
    // Later steps run without endpoints.
    for (key, id) in registered {
        let response = client.send(
            "DELETE",
            &format!("/webhook/{id}"),
            &[("Authorization", key.as_str())],
            &[],
            true,
            &mut |_| {},
        )?;
        if response.status != 204 {
            return Err(io::Error::other(format!(
                "DELETE /webhook/{id} answered {}: {}",
                response.status,
                response.text()
            )));
        }
    }
    server.stop();
    say(
        config,
        format!(
            "{name}: {deliveries} deliveries in {drained_seconds:.2} s from the ingest's start ({:.0}/s)",
            deliveries as f64 / drained_seconds
        ),
    );
    Ok(Outbound {
        events: meta.hooked_events,
        endpoints,
        seconds,
        deliveries,
        drained_seconds,
        sessions_visible,
    })
}

/// The whole number right after `label` in `text` (`12` of `1.2e3` too, so
/// only for integers).
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
