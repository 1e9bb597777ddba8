//! The report: one table of ratios (ours ÷ limit) against the targets of
//! issue 5, then the figures behind them and the machine they came from.

use std::fmt::Write as _;
use std::process::Command;

use super::dataset::{BUSY_MONTH, Plan};
use super::runner::{
    AuditLoad, COMPARE_ROUNDS, ConsoleMonth, Read, Rounds, RunResult, SCALE_ROUNDS,
    SQL_RUNS_PER_ROUND, StoreResult, WRK_ROUNDS,
};

// The targets (issue 5), each a ratio of ours to the limit.
/// The busy company's month under wrk, ÷ nginx serving the same bytes: at least.
const BUSY_MONTH_UNDER_LOAD: f64 = 0.7;
/// One host's month under wrk, ÷ nginx serving the same bytes: at least.
const HOST_MONTH_UNDER_LOAD: f64 = 0.5;
/// A cold read ÷ the bare query: at most.
const COLD_READ: f64 = 2.0;
/// Ingested events/s ÷ raw inserts of the same call rows: at least.
const INGEST: f64 = 0.3;
/// Provider webhooks (one event a request) ÷ raw single-row transactions of
/// the same call rows: at least (issue 27).
const WEBHOOKS: f64 = 0.3;
/// Ingest with three outbound webhook endpoints subscribed per company ÷
/// ingest with none, same run: at least (issue 28).
const OUTBOUND_INGEST: f64 = 0.8;
/// A cold read at full size ÷ the same at stage-A size: at most.
const SCALE: f64 = 1.2;
/// Stage A's import into PostgreSQL, lines/s ÷ the same into SQLite in the
/// same run: at least (issue 31).
const POSTGRES_IMPORT: f64 = 0.8;
/// The console's month page of the busy company ÷ the History JSON cold
/// read of the same month, same run: at most (issue 29).
const CONSOLE_MONTH: f64 = 3.0;
/// One host's month under wrk with the access audit on ÷ with it off, same
/// run: at least (issue 30).
const AUDIT_UNDER_LOAD: f64 = 0.8;
/// Peak RSS streaming the largest history, in MB: at most this (ratio 1).
const MEMORY_LIMIT_MB: f64 = 100.0;

/// One line of the ratio table.
#[derive(Clone, Debug)]
pub struct Ratio {
    pub store: String,
    pub measure: String,
    pub ours: String,
    pub limit: String,
    pub ratio: f64,
    /// `≥ x` or `≤ x`.
    pub target: (bool, f64),
}

impl Ratio {
    pub fn met(&self) -> bool {
        let (at_least, value) = self.target;
        if at_least {
            self.ratio >= value
        } else {
            self.ratio <= value
        }
    }
}

fn read_at<'a>(store: &'a StoreResult, what: &str, scale: u64) -> Option<&'a Read> {
    store
        .reads
        .iter()
        .find(|read| read.what == what && read.scale == scale)
}

fn scales(store: &StoreResult) -> Vec<u64> {
    let mut scales: Vec<u64> = store.reads.iter().map(|read| read.scale).collect();
    scales.sort_unstable();
    scales.dedup();
    scales
}

/// The ratio table: at the run's largest size, each store's reads under
/// load, cold reads, ingest, scale and memory against their targets.
pub fn ratios(result: &RunResult) -> Vec<Ratio> {
    let mut rows = Vec::new();
    for store in &result.stores {
        let scales = scales(store);
        let Some(&top) = scales.last() else { continue };
        rows.extend(under_load(store, top));
        rows.extend(cold_reads(store, top));
        rows.extend(ingest(store));
        rows.extend(webhooks(store));
        rows.extend(outbound(store));
        rows.extend(scale(store, &scales));
        rows.extend(
            store
                .console
                .as_ref()
                .map(|month| console_month(store, month)),
        );
        rows.extend(
            store
                .audit_load
                .as_ref()
                .map(|load| audit_load(store, load)),
        );
        rows.push(memory(store));
    }
    rows.extend(postgres_import(result));
    rows
}

/// Stage A imported into PostgreSQL against the same into SQLite.
fn postgres_import(result: &RunResult) -> Option<Ratio> {
    let stage_a = |backend: &str| {
        result
            .stores
            .iter()
            .find(|store| store.backend == backend)
            .map(|store| &store.import_base)
    };
    let (sqlite, postgres) = (stage_a("SQLite")?, stage_a("PostgreSQL")?);
    Some(Ratio {
        store: "PostgreSQL".to_owned(),
        measure: format!(
            "import of stage A ({} lines, one transaction), lines/s vs the same into SQLite",
            postgres.lines
        ),
        ours: format!("{:.0} lines/s", postgres.lines_per_second()),
        limit: format!("{:.0} lines/s", sqlite.lines_per_second()),
        ratio: postgres.lines_per_second() / sqlite.lines_per_second(),
        target: (true, POSTGRES_IMPORT),
    })
}

/// Each read under wrk against nginx serving the same bytes.
fn under_load(store: &StoreResult, top: u64) -> Vec<Ratio> {
    let mut rows = Vec::new();
    for (what, target) in [
        ("busy company's month", BUSY_MONTH_UNDER_LOAD),
        ("one host's month", HOST_MONTH_UNDER_LOAD),
    ] {
        if let Some(read) = read_at(store, what, top)
            && let (Some(ours), Some(nginx)) = (&read.ours, &read.nginx)
        {
            rows.push(Ratio {
                store: store.backend.clone(),
                measure: format!(
                    "{what}, req/s vs nginx ({} B, {top} sessions; median of {WRK_ROUNDS} alternating runs each)",
                    read.bytes
                ),
                ours: format!("{:.0} req/s", ours.median.requests_per_second),
                limit: format!("{:.0} req/s", nginx.median.requests_per_second),
                ratio: ours.median.requests_per_second / nginx.median.requests_per_second,
                target: (true, target),
            });
        }
    }
    rows
}

/// Each cold read against the bare query.
fn cold_reads(store: &StoreResult, top: u64) -> Vec<Ratio> {
    let mut rows = Vec::new();
    for what in ["busy company's month", "one host's month"] {
        if let Some(read) = read_at(store, what, top)
            && let Some(sql_ms) = read.sql_ms
        {
            rows.push(Ratio {
                store: store.backend.clone(),
                measure: format!(
                    "cold read (first after a change) of the {what} vs bare SQL (medians, alternating in {COMPARE_ROUNDS} rounds)"
                ),
                ours: format!("{:.2} ms", read.cold_ms),
                limit: format!("{sql_ms:.2} ms"),
                ratio: read.cold_ms / sql_ms,
                target: (false, COLD_READ),
            });
        }
    }
    rows
}

/// The ingest against raw inserts of the same call rows.
fn ingest(store: &StoreResult) -> Option<Ratio> {
    let raw = store.raw.as_ref()?;
    let ours = store.ingest.events as f64 / store.ingest.seconds;
    let limit = raw.events as f64 / raw.seconds;
    Some(Ratio {
        store: store.backend.clone(),
        measure: format!(
            "ingest, events/s vs raw inserts of the same call rows ({} clients)",
            store.ingest.clients
        ),
        ours: format!("{ours:.0} events/s"),
        limit: format!("{limit:.0} events/s"),
        ratio: ours / limit,
        target: (true, INGEST),
    })
}

/// The provider webhooks against raw single-row transactions of the same
/// call rows.
fn webhooks(store: &StoreResult) -> Option<Ratio> {
    let raw = store.raw_single.as_ref()?;
    let ours = store.webhooks.events as f64 / store.webhooks.seconds;
    let limit = raw.events as f64 / raw.seconds;
    Some(Ratio {
        store: store.backend.clone(),
        measure: format!(
            "Daily webhooks, one event a request ({} senders), events/s vs raw single-row transactions of the same call rows ({} process(es))",
            store.webhooks.senders, raw.processes
        ),
        ours: format!("{ours:.0} events/s"),
        limit: format!("{limit:.0} events/s"),
        ratio: ours / limit,
        target: (true, WEBHOOKS),
    })
}

/// The ingest with outbound webhook endpoints subscribed against the ingest
/// without any.
fn outbound(store: &StoreResult) -> Option<Ratio> {
    let hooked = &store.outbound;
    if hooked.events == 0 {
        return None;
    }
    let ours = hooked.events as f64 / hooked.seconds;
    let limit = store.ingest.events as f64 / store.ingest.seconds;
    Some(Ratio {
        store: store.backend.clone(),
        measure: format!(
            "ingest with {} webhook endpoints subscribed (3 a company), events/s vs ingest with none ({} clients)",
            hooked.endpoints, store.ingest.clients
        ),
        ours: format!("{ours:.0} events/s"),
        limit: format!("{limit:.0} events/s"),
        ratio: ours / limit,
        target: (true, OUTBOUND_INGEST),
    })
}

/// Each cold read at full size against stage-A size: read in alternation
/// when the scale check ran, else after each import.
fn scale(store: &StoreResult, scales: &[u64]) -> Vec<Ratio> {
    let mut rows = Vec::new();
    for check in &store.scale_checks {
        rows.push(Ratio {
            store: store.backend.clone(),
            measure: format!(
                "cold read of the {}, {} vs {} sessions (alternating, {} rounds, {} reads each)",
                check.what, check.high, check.low, SCALE_ROUNDS, check.samples
            ),
            ours: format!("{:.2} ms", check.high_ms),
            limit: format!("{:.2} ms", check.low_ms),
            ratio: check.high_ms / check.low_ms,
            target: (false, SCALE),
        });
    }
    if scales.len() >= 2 && store.scale_checks.is_empty() {
        let (low, top) = (scales[0], scales[scales.len() - 1]);
        for what in ["busy company's month", "one host's month"] {
            if let (Some(small), Some(big)) = (read_at(store, what, low), read_at(store, what, top))
            {
                rows.push(Ratio {
                    store: store.backend.clone(),
                    measure: format!("cold read of the {what}, {top} vs {low} sessions"),
                    ours: format!("{:.2} ms", big.cold_ms),
                    limit: format!("{:.2} ms", small.cold_ms),
                    ratio: big.cold_ms / small.cold_ms,
                    target: (false, SCALE),
                });
            }
        }
    }
    rows
}

/// The console's month page against the History JSON of the same month,
/// both cold.
fn console_month(store: &StoreResult, month: &ConsoleMonth) -> Ratio {
    Ratio {
        store: store.backend.clone(),
        measure: format!(
            "console's month page of the busy company ({} sessions, {} B of HTML), cold, vs the History JSON cold read of the same month (medians of {} alternating reads each)",
            month.elements, month.page_bytes, month.samples
        ),
        ours: format!("{:.2} ms", month.page_ms),
        limit: format!("{:.2} ms", month.json_ms),
        ratio: month.page_ms / month.json_ms,
        target: (false, CONSOLE_MONTH),
    }
}

/// A read under wrk with the access audit on against the same with it off.
fn audit_load(store: &StoreResult, load: &AuditLoad) -> Ratio {
    Ratio {
        store: store.backend.clone(),
        measure: format!(
            "{} under wrk ({} B), access audit on, req/s vs a server with it off on the same database (median of {WRK_ROUNDS} alternating runs each)",
            load.what, load.bytes
        ),
        ours: format!("{:.0} req/s", load.on.median.requests_per_second),
        limit: format!("{:.0} req/s", load.off.median.requests_per_second),
        ratio: load.on.median.requests_per_second / load.off.median.requests_per_second,
        target: (true, AUDIT_UNDER_LOAD),
    }
}

/// The peak resident set while the largest history streams, against 100 MB.
fn memory(store: &StoreResult) -> Ratio {
    let peak_mb = store.memory.peak_kb as f64 / 1024.0;
    Ratio {
        store: store.backend.clone(),
        measure: format!(
            "peak RSS streaming the largest company's whole history ({} sessions, {:.1} MB)",
            store.memory.elements,
            store.memory.bytes as f64 / 1e6
        ),
        ours: format!("{peak_mb:.1} MB"),
        limit: format!("{MEMORY_LIMIT_MB} MB"),
        ratio: peak_mb / MEMORY_LIMIT_MB,
        target: (false, 1.0),
    }
}

pub fn ratio_table(rows: &[Ratio]) -> String {
    let mut out = String::from(
        "| store | measure | ours | limit | ours ÷ limit | target | met |\n|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let (at_least, value) = row.target;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {} {value} | {} |",
            row.store,
            row.measure,
            row.ours,
            row.limit,
            row.ratio,
            if at_least { "≥" } else { "≤" },
            if row.met() { "yes" } else { "**no**" }
        );
    }
    out
}

fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(output) => {
            let text = if output.stdout.is_empty() {
                output.stderr
            } else {
                output.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        }
        Err(_) => "not installed".into(),
    }
}

/// The commit checked out, as the run starts (the binary was built from it).
pub fn commit() -> String {
    let changed = !first_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    format!(
        "{}{}",
        first_line("git", &["rev-parse", "--short", "HEAD"]),
        if changed {
            " with uncommitted changes"
        } else {
            ""
        }
    )
}

/// The machine, as far as it can be read without privileges, and the
/// commit the run started at (from [`commit`]).
pub fn machine(bin: &std::path::Path, postgres: Option<&str>, commit: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let postgres_version = postgres.map_or_else(
        || "not used".to_owned(),
        |url| {
            first_line(
                "psql",
                &["-X", "-t", "-A", "-d", url, "-c", "SHOW server_version"],
            )
        },
    );
    let bin = bin.to_string_lossy();
    let mut out = String::new();
    let _ = writeln!(out, "- CPU: {cpu}; `nproc`: {}", first_line("nproc", &[]));
    let _ = writeln!(out, "- memory: {memory}");
    let _ = writeln!(out, "- kernel: {}", first_line("uname", &["-sr"]));
    let _ = writeln!(out, "- load average at the end of the run: {}", load.trim());
    let _ = writeln!(
        out,
        "- session-ledger: {}",
        first_line(&bin, &["--version"])
    );
    let _ = writeln!(out, "- commit: {commit}");
    let _ = writeln!(out, "- rustc: {}", first_line("rustc", &["--version"]));
    let _ = writeln!(out, "- sqlite3: {}", first_line("sqlite3", &["--version"]));
    let _ = writeln!(out, "- PostgreSQL server: {postgres_version}");
    let _ = writeln!(out, "- nginx: {}", first_line("nginx", &["-v"]));
    let _ = writeln!(out, "- wrk: {}", first_line("wrk", &["-v"]));
    out
}

fn wrk_cell(rounds: &Option<Rounds>) -> String {
    match rounds {
        Some(rounds) => {
            let w = &rounds.median;
            let all: Vec<String> = rounds
                .requests_per_second
                .iter()
                .map(|rate| format!("{rate:.0}"))
                .collect();
            format!(
                "{:.0} req/s (runs: {}); p50 {:.2} / p90 {:.2} / p99 {:.2} ms{}",
                w.requests_per_second,
                all.join(", "),
                w.p50_ms,
                w.p90_ms,
                w.p99_ms,
                if rounds.bad_responses > 0 {
                    format!("; **{} non-2xx**", rounds.bad_responses)
                } else {
                    String::new()
                }
            )
        }
        None => "—".into(),
    }
}

pub fn details(result: &RunResult, plan: &Plan, wrk: &str) -> String {
    let m = &result.meta;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Dataset: {} regular companies (Zipf sizes) with {} sessions in stage A and {} in stage B over 12 months of 2025, \
         about 4 calls per session; a busy company with {} billable sessions in {BUSY_MONTH}; the probe host {} \
         has {} billable sessions that month; {} sessions wait for {} ingested events. Generated in {:.1} s.\n",
        plan.companies,
        m.stage_a_sessions,
        m.stage_b_sessions,
        m.busy_count,
        m.probe_host,
        m.probe_count,
        plan.ingest_sessions,
        m.ingest_events,
        result.generate_seconds
    );
    for store in &result.stores {
        store_details(&mut out, store, wrk);
    }
    out
}

/// One store's imports, reads, ingest, raw inserts and memory.
fn store_details(out: &mut String, store: &StoreResult, wrk: &str) {
    let _ = writeln!(out, "### {}\n", store.backend);
    let _ = writeln!(
        out,
        "| import (one transaction) | lines | sessions | seconds | lines/s | sessions/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (label, rate) in [
        ("stage A", Some(&store.import_base)),
        ("stage B", store.import_more.as_ref()),
    ] {
        if let Some(rate) = rate {
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {:.1} | {:.0} | {:.0} |",
                rate.lines,
                rate.sessions,
                rate.seconds,
                rate.lines_per_second(),
                rate.sessions_per_second()
            );
        }
    }
    reads_table(out, store, wrk);
    if let Some(month) = &store.console {
        let _ = writeln!(
            out,
            "\nConsole: the busy company's month page for an account administrator signed in through the sign-in form, {} sessions, {} B of HTML, {:.2} ms (median, each the first read after a change to the company); the History JSON of the same month, {} B, {:.2} ms; {} reads each, alternating.",
            month.elements,
            month.page_bytes,
            month.page_ms,
            month.json_bytes,
            month.json_ms,
            month.samples
        );
    }
    if let Some(load) = &store.audit_load {
        let _ = writeln!(
            out,
            "Access audit under load ({}, {wrk}): on {}; off {}.",
            load.what,
            wrk_cell(&Some(load.on.clone())),
            wrk_cell(&Some(load.off.clone()))
        );
    }
    let i = &store.ingest;
    let _ = writeln!(
        out,
        "\nIngest: {} events in {} batches by {} clients in {:.2} s = {:.0} events/s; {} ingested sessions then billable in the History API.",
        i.events,
        i.batches,
        i.clients,
        i.seconds,
        i.events as f64 / i.seconds,
        i.sessions_visible
    );
    if let Some(raw) = &store.raw {
        let _ = writeln!(
            out,
            "Raw inserts: the same {} call rows ({} events) by {} client process(es), one transaction per batch, in {:.2} s = {:.0} rows/s, {:.0} events/s.",
            raw.rows,
            raw.events,
            raw.processes,
            raw.seconds,
            raw.rows as f64 / raw.seconds,
            raw.events as f64 / raw.seconds
        );
    }
    let w = &store.webhooks;
    let _ = writeln!(
        out,
        "Webhooks: {} Daily webhooks (one event each, signed) by {} senders in {:.2} s = {:.0} events/s; {} webhook sessions then billable in the History API.",
        w.events,
        w.senders,
        w.seconds,
        w.events as f64 / w.seconds,
        w.sessions_visible
    );
    if let Some(raw) = &store.raw_single {
        let _ = writeln!(
            out,
            "Raw single-row transactions: the same {} call rows, an insert at connect and an update at disconnect ({} transactions) by {} client process(es), in {:.2} s = {:.0} transactions/s.",
            raw.rows,
            raw.events,
            raw.processes,
            raw.seconds,
            raw.events as f64 / raw.seconds
        );
    }
    let o = &store.outbound;
    if o.events > 0 {
        let _ = writeln!(
            out,
            "Outbound webhooks: {} events ingested as above with {} endpoints subscribed (every type) in {:.2} s = {:.0} events/s; {} deliveries to the local receiver, the queue empty {:.2} s after the ingest's start = {:.0} deliveries/s; {} of the set's sessions then billable in the History API.",
            o.events,
            o.endpoints,
            o.seconds,
            o.events as f64 / o.seconds,
            o.deliveries,
            o.drained_seconds,
            o.deliveries as f64 / o.drained_seconds,
            o.sessions_visible
        );
    }
    let mem = &store.memory;
    let _ = writeln!(
        out,
        "Memory: VmHWM {:.1} MB before, {:.1} MB after streaming {} sessions ({:.1} MB of JSON in {:.2} s).\n",
        mem.baseline_kb as f64 / 1024.0,
        mem.peak_kb as f64 / 1024.0,
        mem.elements,
        mem.bytes as f64 / 1e6,
        mem.seconds
    );
}

/// Every read: cold, warm, under wrk beside nginx, and the bare query.
fn reads_table(out: &mut String, store: &StoreResult, wrk: &str) {
    let _ = writeln!(
        out,
        "\n| read | sessions in db | elements | bytes | cold ms | warm ms | ours under wrk ({wrk}) | nginx, same bytes | bare SQL ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for read in &store.reads {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} |",
            read.what,
            read.scale,
            read.elements,
            read.bytes,
            read.cold_ms,
            read.warm_ms,
            wrk_cell(&read.ours),
            wrk_cell(&read.nginx),
            read.sql_ms
                .map_or_else(|| "—".into(), |ms| format!("{ms:.2}"))
        );
    }
    if store.reads.iter().any(|read| read.ours.is_some()) {
        let _ = writeln!(
            out,
            "\nCold reads (median) alternate with the bare query in {COMPARE_ROUNDS} rounds, {SQL_RUNS_PER_ROUND} runs of the bare query a round (sqlite3: a new process each; psql: one session a round, its first run left out). wrk alternates between our server and nginx, {WRK_ROUNDS} runs each: the median run is shown, with every run's req/s, lowest first."
        );
    }
}
