//! What a run measured, store by store: the figures the report reads.

use super::dataset::Meta;

#[derive(Clone, Debug, Default)]
pub struct Rate {
    pub lines: u64,
    pub sessions: u64,
    pub seconds: f64,
}

impl Rate {
    pub fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.seconds
    }
    pub fn sessions_per_second(&self) -> f64 {
        self.sessions as f64 / self.seconds
    }
}

#[derive(Clone, Debug, Default)]
pub struct Wrk {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub bad_responses: u64,
}

/// wrk runs on our server and on nginx, alternating, this many times each.
pub const WRK_ROUNDS: usize = 3;

/// The cold reads (`Config::cold_samples` rounded up to a multiple of this)
/// alternate with the bare query in this many rounds, the bare query run
/// this many times a round.
pub const COMPARE_ROUNDS: usize = 3;
pub const SQL_RUNS_PER_ROUND: usize = 4;

/// The wrk runs on one server: the median run (by requests per second)
/// stands for them, every run's rate beside it.
#[derive(Clone, Debug, Default)]
pub struct Rounds {
    pub median: Wrk,
    /// Every run's, lowest first.
    pub requests_per_second: Vec<f64>,
    /// Non-2xx answers in all the runs.
    pub bad_responses: u64,
}

impl Rounds {
    /// Of at least one run.
    pub fn new(mut runs: Vec<Wrk>) -> Self {
        assert!(!runs.is_empty(), "at least one wrk run");
        runs.sort_by(|a, b| {
            a.requests_per_second
                .partial_cmp(&b.requests_per_second)
                .expect("no NaN")
        });
        let requests_per_second = runs.iter().map(|run| run.requests_per_second).collect();
        let bad_responses = runs.iter().map(|run| run.bad_responses).sum();
        let median = runs.swap_remove(runs.len() / 2);
        Rounds {
            median,
            requests_per_second,
            bad_responses,
        }
    }
}

/// One read (the busy company's month, or one host's month) at one scale.
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub what: &'static str,
    /// Sessions in the database when measured.
    pub scale: u64,
    pub elements: u64,
    pub bytes: u64,
    /// The first read after the company's data changed (median).
    pub cold_ms: f64,
    /// Sequential requests on a warm server (median).
    pub warm_ms: f64,
    pub ours: Option<Rounds>,
    pub nginx: Option<Rounds>,
    /// The bare SQL query for those rows in the store's own client (median).
    pub sql_ms: Option<f64>,
    pub sql_rows: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Ingest {
    pub events: u64,
    pub accepted: u64,
    pub batches: u64,
    pub clients: usize,
    pub seconds: f64,
    /// Ingested sessions found in the History API afterwards.
    pub sessions_visible: u64,
}

/// The webhook step: one provider webhook per event.
#[derive(Clone, Debug, Default)]
pub struct Webhooks {
    pub events: u64,
    pub senders: usize,
    pub seconds: f64,
    /// Webhook sessions found in the History API afterwards.
    pub sessions_visible: u64,
}

/// The outbound-webhook step: the ingest again (a second set of the same
/// shape) with endpoints subscribed, and the deliveries to the receiver.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    pub events: u64,
    /// Endpoints subscribed, every type each.
    pub endpoints: usize,
    /// The ingest's seconds.
    pub seconds: f64,
    /// Requests the receiver answered.
    pub deliveries: u64,
    /// From the ingest's start until the queue was empty.
    pub drained_seconds: f64,
    /// The set's sessions found in the History API afterwards.
    pub sessions_visible: u64,
}

/// The console's month page of the busy company and the History JSON of the
/// same month, each the first read after a change to the company, in turns
/// on one server (issue 29).
#[derive(Clone, Debug, Default)]
pub struct ConsoleMonth {
    /// Sessions listed, in each.
    pub elements: u64,
    pub page_bytes: u64,
    pub json_bytes: u64,
    /// Reads of each.
    pub samples: usize,
    /// Medians.
    pub page_ms: f64,
    pub json_ms: f64,
}

/// One read under wrk on a server with the access audit on and on one with
/// it off, the same database, in turns (issue 30).
#[derive(Clone, Debug, Default)]
pub struct AuditLoad {
    pub what: &'static str,
    pub bytes: u64,
    pub on: Rounds,
    pub off: Rounds,
}

#[derive(Clone, Debug, Default)]
pub struct Raw {
    pub rows: u64,
    pub events: u64,
    pub processes: usize,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Memory {
    pub baseline_kb: u64,
    pub peak_kb: u64,
    pub bytes: u64,
    pub elements: u64,
    pub seconds: f64,
}

/// The cold read of one probe at both scales, measured in alternation: a
/// server on a copy of the stage-A database, then one on the full database,
/// [`SCALE_ROUNDS`] times over. Read in one stretch of time, the two are not
/// apart by whatever the machine did in between (an import of gigabytes).
#[derive(Clone, Debug, Default)]
pub struct ScaleCheck {
    pub what: &'static str,
    pub low: u64,
    pub high: u64,
    /// Medians of every cold sample at each scale.
    pub low_ms: f64,
    pub high_ms: f64,
    pub samples: usize,
}

/// Alternations of the scale check.
pub const SCALE_ROUNDS: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct StoreResult {
    pub backend: String,
    pub import_base: Rate,
    pub import_more: Option<Rate>,
    pub reads: Vec<Read>,
    /// The scale measure, read in alternation.
    pub scale_checks: Vec<ScaleCheck>,
    /// The console's month page beside the History JSON.
    pub console: Option<ConsoleMonth>,
    /// One host's month under wrk, access audit on and off (external tools only).
    pub audit_load: Option<AuditLoad>,
    pub ingest: Ingest,
    pub raw: Option<Raw>,
    pub webhooks: Webhooks,
    /// The webhook step's call rows, one transaction per event.
    pub raw_single: Option<Raw>,
    pub outbound: Outbound,
    pub memory: Memory,
}

#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub meta: Meta,
    pub generate_seconds: f64,
    pub stores: Vec<StoreResult>,
}
