//! The webhook step: a video provider's webhooks (Daily's, one connection
//! event per request, signed as Daily signs them) posted by many senders at
//! once, beside raw single-row transactions of the same call rows by the
//! store's own client.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::dataset::{Meta, WEBHOOK_MONTH};
use super::http::{Client, base64};
use super::ingest::{RawScript, run_raw};
use super::server::DAILY_KEY;
use super::store::Store;
use super::{Config, Raw, Webhooks, count_elements, say};

/// The webhook step's bodies, grouped by session in the generated order.
fn sessions(config: &Config) -> io::Result<Vec<Vec<String>>> {
    let mut sessions: Vec<Vec<String>> = Vec::new();
    let mut current = None;
    for line in BufReader::new(File::open(config.work.join("webhooks.jsonl"))?).lines() {
        let line = line?;
        let (session, body) = line
            .split_once('\t')
            .ok_or_else(|| io::Error::other("webhooks.jsonl: a line without its session"))?;
        if current != Some(session.to_owned()) {
            current = Some(session.to_owned());
            sessions.push(Vec::new());
        }
        sessions.last_mut().expect("pushed").push(body.to_owned());
    }
    Ok(sessions)
}

/// The same call rows as the webhook step, an insert when a call connects
/// and an update when it ends, each its own transaction; then removed.
/// SQLite takes one writer at a time, so one `sqlite3` runs them; PostgreSQL
/// gets as many `psql` processes as the step has senders, sessions dealt
/// out the same way.
pub(super) fn raw_single(config: &Config, store: &Store, meta: &Meta) -> io::Result<Raw> {
    say(
        config,
        format!(
            "{}: raw single-row transactions for {} events",
            store.name(),
            meta.webhook_events
        ),
    );
    let script = RawScript {
        file: "raw-single.sql",
        unit_end: "\n\n",
        writers: config.webhook_senders,
        month: WEBHOOK_MONTH,
    };
    let (processes, seconds) = run_raw(config, store, &script)?;
    Ok(Raw {
        rows: meta.webhook_events / 2,
        events: meta.webhook_events,
        processes,
        seconds,
    })
}

/// Posts every webhook, one event per request, from
/// `Config::webhook_senders` senders (a session's events in order by one
/// sender); checks that each was applied and that the sessions are then
/// billable in the History API.
pub(super) fn webhook_ingest(
    config: &Config,
    store: &Store,
    meta: &Meta,
    largest_key: &str,
) -> io::Result<Webhooks> {
    let senders = config.webhook_senders.max(1);
    say(
        config,
        format!(
            "{}: posting {} Daily webhooks from {senders} senders",
            store.name(),
            meta.webhook_events
        ),
    );
    let sessions = Arc::new(sessions(config)?);
    let server = config.start_server(store)?;
    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..senders)
        .map(|s| {
            let (sessions, accepted, failed) = (
                Arc::clone(&sessions),
                Arc::clone(&accepted),
                Arc::clone(&failed),
            );
            let address = server.address.clone();
            thread::spawn(move || {
                let mine = sessions.iter().skip(s).step_by(senders);
                send_share(&address, mine.flatten(), &accepted, &failed)
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("sender thread")?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    if accepted != meta.webhook_events {
        return Err(io::Error::other(format!(
            "{accepted} webhook events applied of {}",
            meta.webhook_events
        )));
    }
    let response = Client::new(&server.address).get(
        &format!("/history?month={WEBHOOK_MONTH}"),
        &[("Authorization", largest_key)],
    )?;
    let sessions_visible = count_elements(&response.body);
    if sessions_visible != meta.webhook_company_sessions {
        return Err(io::Error::other(format!(
            "{sessions_visible} webhook sessions billable in {WEBHOOK_MONTH}, {} expected",
            meta.webhook_company_sessions
        )));
    }
    server.stop();
    Ok(Webhooks {
        events: meta.webhook_events,
        senders,
        seconds,
        sessions_visible,
    })
}

/// One sender's webhooks, over one kept-alive connection, each signed when
/// sent; stops early once another sender failed.
fn send_share<'a>(
    address: &str,
    bodies: impl Iterator<Item = &'a String>,
    accepted: &AtomicU64,
    failed: &AtomicBool,
) -> io::Result<()> {
    let mut client = Client::new(address);
    for body in bodies {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (timestamp, signature) = sign(body.as_bytes());
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Webhook-Timestamp", timestamp.as_str()),
            ("X-Webhook-Signature", signature.as_str()),
        ];
        let response = client.post("/providers/daily", &headers, body.as_bytes())?;
        let text = response.text();
        if response.status != 200 || !text.contains(r#""Outcome":"applied""#) {
            failed.store(true, Ordering::Relaxed);
            return Err(io::Error::other(format!(
                "POST /providers/daily answered {}: {text}",
                response.status
            )));
        }
        if text.contains(r#""Accepted":1"#) {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Daily's signature: base64 of HMAC-SHA256, keyed with the base64-decoded
/// secret, over `{timestamp}.{body}`; the timestamp in Unix seconds.
fn sign(body: &[u8]) -> (String, String) {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(DAILY_KEY).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    (timestamp, base64(&mac.finalize().into_bytes()))
}
