//! One benchmark run: on each store, import the dataset in two stages,
//! read under load beside nginx and the bare SQL, read the console's month
//! page beside the History JSON, read under load with the access audit on
//! beside it off, ingest over HTTP beside raw inserts (and again with
//! outbound webhook endpoints subscribed), and watch the server's memory
//! while it streams.
//!
//! Every step that needs a tool outside `cargo test` (wrk, nginx, sqlite3,
//! psql) is behind `Config::external`, so the test suite runs the rest of
//! this very code on a tiny dataset.

mod audit;
mod console;
mod external;
mod ingest;
mod outbound;
mod reads;
mod results;
mod server;
mod store;
mod webhooks;

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::Instant;

use super::dataset::{self, BUSY_MONTH, Meta, Outputs, Plan};
use super::http;

pub use external::{Nginx, parse_wrk};
pub use outbound::ENDPOINTS_PER_COMPANY;
pub use reads::count_elements;
pub use results::{
    AuditLoad, COMPARE_ROUNDS, ConsoleMonth, Ingest, Memory, Outbound, Rate, Raw, Read, Rounds,
    RunResult, SCALE_ROUNDS, SQL_RUNS_PER_ROUND, ScaleCheck, StoreResult, WRK_ROUNDS, Webhooks,
    Wrk,
};
pub use server::{Server, free_port, peak_rss_kb};

use audit::audit_under_load;
use console::console_month;
use external::history_sql;
use ingest::{ingest, raw_inserts};
use outbound::outbound;
use reads::{Probe, memory, reads, scale_checks};
use store::{Copy, Store, keep_copy};
use webhooks::{raw_single, webhook_ingest};

pub const OPERATOR_TOKEN: &str = "bench-operator-token";

#[derive(Clone, Debug)]
pub enum StoreKind {
    Sqlite,
    /// A server URL on which the run may create and drop a database.
    Postgres(String),
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The session-ledger binary.
    pub bin: PathBuf,
    /// Scratch space for the dataset, databases and logs.
    pub work: PathBuf,
    pub plan: Plan,
    pub stores: Vec<StoreKind>,
    /// Run the steps that need wrk, nginx, sqlite3 and psql.
    pub external: bool,
    pub wrk_seconds: u32,
    pub wrk_connections: u32,
    pub wrk_threads: u32,
    pub ingest_clients: usize,
    /// Concurrent senders of the webhook step (one event per request).
    pub webhook_senders: usize,
    pub cold_samples: usize,
    pub warm_samples: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
}

fn say(config: &Config, message: impl AsRef<str>) {
    if config.verbose {
        eprintln!("[bench] {}", message.as_ref());
    }
}

/// Generates the dataset into `config.work`.
pub fn generate(config: &Config) -> io::Result<(Meta, f64)> {
    fs::create_dir_all(&config.work)?;
    let started = Instant::now();
    let open = |name: &str| -> io::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(config.work.join(name))?,
        ))
    };
    let (mut a, mut b, mut batches, mut raw) = (
        open("stage-a.jsonl")?,
        open("stage-b.jsonl")?,
        open("ingest-batches.jsonl")?,
        open("raw-calls.sql")?,
    );
    let (mut webhooks, mut raw_single) = (open("webhooks.jsonl")?, open("raw-single.sql")?);
    let mut hooked = open("hooked-batches.jsonl")?;
    let meta = dataset::generate(
        &config.plan,
        Outputs {
            stage_a: &mut a,
            stage_b: &mut b,
            ingest_batches: &mut batches,
            raw_sql: &mut raw,
            webhooks: &mut webhooks,
            raw_single_sql: &mut raw_single,
            hooked_batches: &mut hooked,
        },
    )?;
    fs::write(config.work.join("meta.txt"), meta.to_text())?;
    Ok((meta, started.elapsed().as_secs_f64()))
}

/// The whole run.
pub fn run(config: &Config) -> io::Result<RunResult> {
    say(config, format!("generating {:?}", config.plan));
    let (meta, generate_seconds) = generate(config)?;
    say(
        config,
        format!(
            "generated in {generate_seconds:.1} s: stage A {} lines, stage B {} lines, {} ingest events",
            meta.stage_a_lines, meta.stage_b_lines, meta.ingest_events
        ),
    );
    let mut result = RunResult {
        meta: meta.clone(),
        generate_seconds,
        stores: Vec::new(),
    };
    for kind in &config.stores {
        let store = config.open_store(kind)?;
        let outcome = run_store(config, &store, &meta);
        config.close_store(&store);
        result.stores.push(outcome?);
    }
    Ok(result)
}

fn run_store(config: &Config, store: &Store, meta: &Meta) -> io::Result<StoreResult> {
    let mut result = StoreResult {
        backend: store.name().to_owned(),
        ..StoreResult::default()
    };
    result.import_base = import_stage(
        config,
        store,
        "A",
        meta.stage_a_lines,
        meta.stage_a_sessions,
    )?;
    let (probes, largest_key) = probes(config, store, meta)?;
    result
        .reads
        .extend(reads(config, store, &probes, meta.stage_a_sessions)?);
    if meta.stage_b_lines > 0 {
        stage_b(config, store, meta, &probes, &mut result)?;
    }
    let [busy, host] = &probes;
    result.console = Some(console_month(config, store, busy)?);
    if config.external {
        result.audit_load = Some(audit_under_load(config, store, host)?);
    }
    if config.external {
        result.raw = Some(raw_inserts(config, store, meta)?);
    }
    result.ingest = ingest(config, store, meta, &largest_key)?;
    if config.external {
        result.raw_single = Some(raw_single(config, store, meta)?);
    }
    result.webhooks = webhook_ingest(config, store, meta, &largest_key)?;
    if meta.hooked_events > 0 {
        result.outbound = outbound(config, store, meta, &largest_key)?;
    }
    result.memory = memory(config, store, meta, &largest_key)?;
    Ok(result)
}

/// Imports `stage-{a,b}.jsonl` (`stage` is "A" or "B").
fn import_stage(
    config: &Config,
    store: &Store,
    stage: &str,
    lines: u64,
    sessions: u64,
) -> io::Result<Rate> {
    let name = store.name();
    say(
        config,
        format!("{name}: importing stage {stage} ({lines} lines)"),
    );
    let file = config
        .work
        .join(format!("stage-{}.jsonl", stage.to_ascii_lowercase()));
    let rate = config.import(store, &file, lines, sessions)?;
    say(
        config,
        format!(
            "{name}: stage {stage} in {:.1} s ({:.0} lines/s)",
            rate.seconds,
            rate.lines_per_second()
        ),
    );
    Ok(rate)
}

/// The two reads measured, with a key each; and a key of the largest
/// company, for the ingest's check and the memory probe.
fn probes(config: &Config, store: &Store, meta: &Meta) -> io::Result<([Probe; 2], String)> {
    let busy_key = config.create_key(store, meta.busy_company)?;
    let probe_key = config.create_key(store, meta.probe_company)?;
    let largest_key = config.create_key(store, meta.largest_company)?;
    let probes = [
        Probe {
            what: "busy company's month",
            company: meta.busy_company,
            path: format!("/history?month={BUSY_MONTH}"),
            authorization: busy_key,
            expected: meta.busy_count,
            sql: history_sql(meta.busy_company, None, BUSY_MONTH),
        },
        Probe {
            what: "one host's month",
            company: meta.probe_company,
            path: format!("/history/{}?month={BUSY_MONTH}", meta.probe_host),
            authorization: probe_key,
            expected: meta.probe_count,
            sql: history_sql(meta.probe_company, Some(meta.probe_host), BUSY_MONTH),
        },
    ];
    Ok((probes, largest_key))
}

/// Keeps a copy of the stage-A database, imports stage B, reads again, and
/// reads both sizes in alternation (the scale check).
fn stage_b(
    config: &Config,
    store: &Store,
    meta: &Meta,
    probes: &[Probe],
    result: &mut StoreResult,
) -> io::Result<()> {
    let stage_a_copy = Copy {
        config,
        store: keep_copy(config, store)?,
    };
    result.import_more = Some(import_stage(
        config,
        store,
        "B",
        meta.stage_b_lines,
        meta.stage_b_sessions,
    )?);
    let base_scale = meta.stage_a_sessions;
    let full_scale = meta.stage_a_sessions + meta.stage_b_sessions;
    result
        .reads
        .extend(reads(config, store, probes, full_scale)?);
    say(
        config,
        format!(
            "{}: cold reads at {base_scale} and {full_scale} sessions, alternating",
            store.name()
        ),
    );
    let checks = scale_checks(
        config,
        (&stage_a_copy.store, store),
        probes,
        (base_scale, full_scale),
    );
    drop(stage_a_copy);
    result.scale_checks = checks?;
    Ok(())
}
