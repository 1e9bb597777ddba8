//! The ingest over HTTP, beside raw inserts of the same call rows by the
//! store's own client.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use super::dataset::{INGEST_MONTH, Meta};
use super::external::month_micros;
use super::http::Client;
use super::store::{Store, psql, run_with_input};
use super::{Config, Ingest, OPERATOR_TOKEN, Raw, StoreKind, count_elements, say};

/// The same call rows as the ingest step, inserted by the store's own client
/// with one transaction per batch; then removed again.
pub(super) fn raw_inserts(config: &Config, store: &Store, meta: &Meta) -> io::Result<Raw> {
    let name = store.name();
    say(
        config,
        format!("{name}: raw inserts of {} call rows", meta.ingest_call_rows),
    );
    // As many PostgreSQL writers as the ingest step has clients, batches
    // dealt out the same way.
    let script = RawScript {
        file: "raw-calls.sql",
        unit_end: "COMMIT;\n",
        writers: config.ingest_clients,
        month: INGEST_MONTH,
    };
    let (processes, seconds) = run_raw(config, store, &script)?;
    Ok(Raw {
        rows: meta.ingest_call_rows,
        events: meta.ingest_events,
        processes,
        seconds,
    })
}

/// A generated SQL script of call rows, run by the store's own client.
pub(super) struct RawScript {
    pub(super) file: &'static str,
    /// Ends each unit dealt out whole to one PostgreSQL writer.
    pub(super) unit_end: &'static str,
    pub(super) writers: usize,
    /// The rows belong to sessions from this month on; removed afterwards.
    pub(super) month: &'static str,
}

/// Runs `script`: one `sqlite3` (SQLite takes one writer at a time), or
/// `writers` `psql` processes with the units dealt out in turn; then removes
/// the rows again. Returns the processes and the seconds the run took.
pub(super) fn run_raw(
    config: &Config,
    store: &Store,
    script: &RawScript,
) -> io::Result<(usize, f64)> {
    let sql = fs::read_to_string(config.work.join(script.file))?;
    let (start, _) = month_micros(script.month);
    let cleanup = format!(
        "DELETE FROM calls WHERE (company_id, session_id) IN \
         (SELECT company_id, session_id FROM sessions WHERE schedule_ts >= {start});"
    );
    match &store.kind {
        StoreKind::Sqlite => {
            let file = store.sqlite_file.as_ref().expect("sqlite");
            let input = format!(".timeout 30000\nPRAGMA foreign_keys = ON;\n{sql}");
            let started = Instant::now();
            run_with_input(Command::new("sqlite3").arg(file), &input)?;
            let seconds = started.elapsed().as_secs_f64();
            run_with_input(Command::new("sqlite3").arg(file), &cleanup)?;
            Ok((1, seconds))
        }
        StoreKind::Postgres(_) => {
            let n = script.writers.max(1);
            let mut parts = vec![String::new(); n];
            for (i, unit) in sql.split_inclusive(script.unit_end).enumerate() {
                parts[i % n].push_str(unit);
            }
            let started = Instant::now();
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    let url = store.url.clone();
                    thread::spawn(move || run_with_input(&mut psql(&url), &part).map(|_| ()))
                })
                .collect();
            for handle in handles {
                handle.join().expect("psql thread")?;
            }
            let seconds = started.elapsed().as_secs_f64();
            run_with_input(&mut psql(&store.url), &cleanup)?;
            Ok((n, seconds))
        }
    }
}

pub(super) fn ingest(
    config: &Config,
    store: &Store,
    meta: &Meta,
    largest_key: &str,
) -> io::Result<Ingest> {
    let name = store.name();
    say(
        config,
        format!(
            "{name}: ingesting {} events in {} batches with {} clients",
            meta.ingest_events, meta.ingest_batches, config.ingest_clients
        ),
    );
    let server = config.start_server(store)?;
    let (accepted, seconds) = post_batches(config, &server.address, "ingest-batches.jsonl")?;
    if accepted != meta.ingest_events {
        return Err(io::Error::other(format!(
            "{accepted} events accepted of {}",
            meta.ingest_events
        )));
    }
    let sessions_visible = billable(
        &server.address,
        INGEST_MONTH,
        largest_key,
        meta.ingest_company_sessions,
    )?;
    server.stop();
    Ok(Ingest {
        events: meta.ingest_events,
        accepted,
        batches: meta.ingest_batches,
        clients: config.ingest_clients.max(1),
        seconds,
        sessions_visible,
    })
}

/// Posts the batches of `file` (a POST body a line) with
/// `config.ingest_clients` clients; returns the events accepted and the
/// seconds it took.
pub(super) fn post_batches(config: &Config, address: &str, file: &str) -> io::Result<(u64, f64)> {
    let batches: Vec<String> = BufReader::new(File::open(config.work.join(file))?)
        .lines()
        .collect::<io::Result<_>>()?;
    let clients = config.ingest_clients.max(1);
    let batches = Arc::new(batches);
    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let bearer = format!("Bearer {OPERATOR_TOKEN}");
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let batches = Arc::clone(&batches);
            let accepted = Arc::clone(&accepted);
            let failed = Arc::clone(&failed);
            let address = address.to_owned();
            let bearer = bearer.clone();
            thread::spawn(move || {
                post_share(
                    &address,
                    &bearer,
                    &batches,
                    (c, clients),
                    &accepted,
                    &failed,
                )
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("client thread")?;
    }
    Ok((
        accepted.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    ))
}

/// The sessions billable in `month` for the key's company, checked against
/// `expected`.
pub(super) fn billable(address: &str, month: &str, key: &str, expected: u64) -> io::Result<u64> {
    let mut client = Client::new(address);
    let response = client.get(
        &format!("/history?month={month}"),
        &[("Authorization", key)],
    )?;
    let sessions_visible = count_elements(&response.body);
    if sessions_visible != expected {
        return Err(io::Error::other(format!(
            "{sessions_visible} ingested sessions billable in {month}, {expected} expected"
        )));
    }
    Ok(sessions_visible)
}

/// One client's share of the batches (every `step`-th from `first`),
/// posted in order over one connection; stops early once another failed.
fn post_share(
    address: &str,
    bearer: &str,
    batches: &[String],
    (first, step): (usize, usize),
    accepted: &AtomicU64,
    failed: &AtomicBool,
) -> io::Result<()> {
    let mut client = Client::new(address);
    for batch in batches.iter().skip(first).step_by(step) {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let headers = [
            ("Authorization", bearer),
            ("Content-Type", "application/json"),
        ];
        let response = client.post("/operator/events", &headers, batch.as_bytes())?;
        if response.status != 200 {
            failed.store(true, Ordering::Relaxed);
            return Err(io::Error::other(format!(
                "POST /operator/events answered {}: {}",
                response.status,
                response.text()
            )));
        }
        let text = response.text();
        let count = text
            .split("\"Accepted\":")
            .nth(1)
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .ok_or_else(|| io::Error::other(format!("no Accepted in {text}")))?;
        accepted.fetch_add(count, Ordering::Relaxed);
    }
    Ok(())
}
