//! The dataset: a deterministic JSON Lines log for `session-ledger import`
//! (docs/log-format.md), written as it is generated, in two stages so that
//! the same reads can be measured with the base and with the full size in
//! the database; and the connection events that the ingest step posts, with
//! the same call rows as plain SQL inserts; and the connection events that
//! the webhook step posts one by one as Daily webhooks, with the same call
//! rows as single-row SQL transactions; and a second set of ingest batches
//! of the same shape, posted with outbound webhook endpoints subscribed.
//!
//! Every id (companies, users, sessions, participations — the host's
//! participation included) is given explicitly, so ids assigned by the
//! service (batches, audit entries) never collide with the ones of a later
//! line.

mod calendar;
mod ingest;
mod names;
mod rng;
mod session;
mod stages;
mod webhooks;

use std::io::{self, Write};

pub use calendar::{days_from_civil, format_ts};
pub use rng::Rng;

use ingest::{IngestOutputs, ingest};
use session::Generator;
use stages::Tally;
use webhooks::{WebhookOutputs, webhooks};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Regular companies; their sizes fall off with rank (Zipf, s = 0.6).
    pub companies: u32,
    /// Sessions of the regular companies in stage A (the first import).
    pub base_sessions: u64,
    /// Sessions of the regular companies after stage B (the second import).
    pub total_sessions: u64,
    /// The busy company's billable sessions, all in `BUSY_MONTH`.
    pub busy_sessions: u32,
    /// Sessions created (without calls) in stage A whose events the ingest
    /// step posts over HTTP.
    pub ingest_sessions: u32,
    /// Events per posted batch (at most 1,000).
    pub ingest_batch: usize,
    /// Sessions created (without calls) at the end of stage B whose events
    /// the webhook step posts, one Daily webhook per event.
    pub webhook_sessions: u32,
    pub seed: u64,
}

impl Plan {
    /// The full-size dataset of issue 5.
    pub fn full() -> Self {
        Self {
            companies: 200,
            base_sessions: 100_000,
            total_sessions: 1_000_000,
            busy_sessions: 5_000,
            ingest_sessions: 25_000,
            ingest_batch: 1_000,
            webhook_sessions: 2_500,
            seed: 5,
        }
    }

    /// A medium run: the same shape at a tenth of the size.
    pub fn medium() -> Self {
        Self {
            base_sessions: 10_000,
            total_sessions: 100_000,
            ingest_sessions: 5_000,
            webhook_sessions: 1_000,
            ..Self::full()
        }
    }

    /// A small run, for PostgreSQL, whose import is far slower: the busy
    /// company as always, 10,000 other sessions.
    pub fn small() -> Self {
        Self {
            base_sessions: 1_000,
            total_sessions: 10_000,
            ingest_sessions: 500,
            webhook_sessions: 250,
            ..Self::full()
        }
    }

    /// A tiny run for the test suite.
    pub fn smoke() -> Self {
        Self {
            companies: 5,
            base_sessions: 300,
            total_sessions: 900,
            busy_sessions: 150,
            ingest_sessions: 250,
            ingest_batch: 1_000,
            webhook_sessions: 25,
            seed: 5,
        }
    }
}

/// The months of the dataset: 2025-01 … 2025-12; the busy month is June.
pub const YEAR: i32 = 2025;
pub const BUSY_MONTH: &str = "2025-06-01";
const BUSY_MONTH_NUMBER: u32 = 6;
/// The ingested sessions are held in the month after the dataset's year.
pub const INGEST_MONTH: &str = "2026-01-01";
/// The webhook step's sessions are held in the month after that.
pub const WEBHOOK_MONTH: &str = "2026-02-01";
/// The outbound-webhook step's sessions (a second ingest set) in the next.
pub const HOOKED_MONTH: &str = "2026-03-01";

/// What was generated, for the measurements and their checks.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub busy_company: i64,
    /// Billable sessions of the busy company in `BUSY_MONTH`.
    pub busy_count: u64,
    pub probe_company: i64,
    pub probe_host: i64,
    /// Billable sessions of the probe host in `BUSY_MONTH`.
    pub probe_count: u64,
    /// The company with the most sessions once both stages are imported.
    pub largest_company: i64,
    /// Its sessions (all of them, billable or not) after both stages.
    pub largest_sessions: u64,
    /// Its sessions after stage A alone.
    pub largest_sessions_base: u64,
    pub stage_a_lines: u64,
    pub stage_a_sessions: u64,
    pub stage_b_lines: u64,
    pub stage_b_sessions: u64,
    pub ingest_events: u64,
    pub ingest_batches: u64,
    pub ingest_call_rows: u64,
    /// One ingest company and how many of the ingested sessions it holds.
    pub ingest_company: i64,
    pub ingest_company_sessions: u64,
    /// Events of the webhook step (one request each).
    pub webhook_events: u64,
    /// One webhook company and how many of the webhook sessions it holds.
    pub webhook_company: i64,
    pub webhook_company_sessions: u64,
    /// The second ingest set, posted with outbound webhook endpoints
    /// subscribed: its events, batches, and sessions of `ingest_company`.
    pub hooked_events: u64,
    pub hooked_batches: u64,
    pub hooked_company_sessions: u64,
    /// The companies whose sessions that set touches.
    pub hooked_companies: Vec<i64>,
}

impl Meta {
    pub fn to_text(&self) -> String {
        format!(
            "busy_company={}\nbusy_count={}\nprobe_company={}\nprobe_host={}\nprobe_count={}\n\
             largest_company={}\nlargest_sessions={}\nlargest_sessions_base={}\n\
             stage_a_lines={}\nstage_a_sessions={}\nstage_b_lines={}\nstage_b_sessions={}\n\
             ingest_events={}\ningest_batches={}\ningest_call_rows={}\n\
             ingest_company={}\ningest_company_sessions={}\n\
             webhook_events={}\nwebhook_company={}\nwebhook_company_sessions={}\n\
             hooked_events={}\nhooked_batches={}\nhooked_company_sessions={}\nhooked_companies={}\n",
            self.busy_company,
            self.busy_count,
            self.probe_company,
            self.probe_host,
            self.probe_count,
            self.largest_company,
            self.largest_sessions,
            self.largest_sessions_base,
            self.stage_a_lines,
            self.stage_a_sessions,
            self.stage_b_lines,
            self.stage_b_sessions,
            self.ingest_events,
            self.ingest_batches,
            self.ingest_call_rows,
            self.ingest_company,
            self.ingest_company_sessions,
            self.webhook_events,
            self.webhook_company,
            self.webhook_company_sessions,
            self.hooked_events,
            self.hooked_batches,
            self.hooked_company_sessions,
            self.hooked_companies.len(),
        )
    }
}

/// Where the generated files go.
pub struct Outputs<'a> {
    pub stage_a: &'a mut dyn Write,
    pub stage_b: &'a mut dyn Write,
    /// One JSON array of events (a POST /operator/events body) per line.
    pub ingest_batches: &'a mut dyn Write,
    /// The same call rows as SQL, one transaction per batch.
    pub raw_sql: &'a mut dyn Write,
    /// The webhook step's bodies, a line each (`{SessionId}\t{body}`).
    pub webhooks: &'a mut dyn Write,
    /// Their call rows as SQL, one transaction per event.
    pub raw_single_sql: &'a mut dyn Write,
    /// The second ingest set's batches (as `ingest_batches`).
    pub hooked_batches: &'a mut dyn Write,
}

/// Writes the dataset; returns what the checks and reads need to know.
pub fn generate(plan: &Plan, out: Outputs<'_>) -> io::Result<Meta> {
    assert!(plan.companies >= 1 && plan.total_sessions >= plan.base_sessions);
    assert!(plan.ingest_batch >= 8 && plan.ingest_batch <= 1_000);
    let mut g = Generator {
        plan,
        rng: Rng::new(plan.seed),
        next_id: 0,
        support_agent: 0,
        meta: Meta::default(),
    };
    // Stage A: the platform, every company, its first hosts, the busy
    // company, and the sessions waiting for the ingest step.
    let a = out.stage_a;
    let mut tallies = [Tally::default(); 2];
    let (mut companies, busy) = stages::platform(&mut g, a, &mut tallies[0])?;
    for (stage, tally) in tallies.iter_mut().enumerate() {
        let w: &mut dyn Write = if stage == 0 {
            &mut *a
        } else {
            &mut *out.stage_b
        };
        if stage == 1 {
            stages::more_hosts(&mut g, &mut companies, w, tally)?;
        }
        for month in 1..=12u32 {
            if stage == 0 && month == BUSY_MONTH_NUMBER {
                stages::busy_month(&mut g, &busy, w, tally)?;
            }
            stages::month(&mut g, &companies, (stage, month), w, tally)?;
        }
        if stage == 0 && plan.ingest_sessions > 0 {
            g.meta.ingest_company = companies[0].id;
            let set = ingest(
                &mut g,
                &companies,
                (YEAR + 1, 1),
                None,
                IngestOutputs {
                    stage: w,
                    stage_lines: &mut tally.lines,
                    batches: out.ingest_batches,
                    raw_sql: out.raw_sql,
                },
            )?;
            g.meta.ingest_events = set.events;
            g.meta.ingest_batches = set.batches;
            g.meta.ingest_call_rows = set.call_rows;
            g.meta.ingest_company_sessions = set.company_sessions;
        }
        if stage == 1 && plan.webhook_sessions > 0 {
            let out = WebhookOutputs {
                bodies: &mut *out.webhooks,
                raw_sql: &mut *out.raw_single_sql,
            };
            webhooks(&mut g, &companies, w, &mut tally.lines, out)?;
        }
        if stage == 1 && plan.ingest_sessions > 0 {
            // Last, with a generator of its own: nothing else changes.
            let set = ingest(
                &mut g,
                &companies,
                (YEAR + 1, 3),
                Some(plan.seed ^ 0x0040_0ced),
                IngestOutputs {
                    stage: w,
                    stage_lines: &mut tally.lines,
                    batches: out.hooked_batches,
                    raw_sql: &mut io::sink(),
                },
            )?;
            g.meta.hooked_events = set.events;
            g.meta.hooked_batches = set.batches;
            g.meta.hooked_company_sessions = set.company_sessions;
            let touched = (plan.ingest_sessions as usize).min(companies.len());
            g.meta.hooked_companies = companies[..touched].iter().map(|c| c.id).collect();
        }
        w.flush()?;
    }
    out.ingest_batches.flush()?;
    out.raw_sql.flush()?;
    out.hooked_batches.flush()?;
    g.meta.stage_a_lines = tallies[0].lines;
    g.meta.stage_b_lines = tallies[1].lines;
    g.meta.stage_a_sessions = tallies[0].sessions;
    g.meta.stage_b_sessions = tallies[1].sessions;
    Ok(g.meta)
}
