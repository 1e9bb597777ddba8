//! The sessions of the ingest step: created in stage A without calls, their
//! connection events posted over HTTP in batches, and the same call rows as
//! SQL for the raw inserts. The outbound-webhook step's sessions are made
//! the same way, a second set of the same shape in another month.

use std::io::{self, Write};

use super::Rng;
use super::calendar::quarter_hour_in;
use super::session::{CallSpan, Generator, Party, Shape, events};
use super::stages::Company;

/// What one set of ingest batches holds.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IngestTally {
    pub(super) events: u64,
    pub(super) batches: u64,
    pub(super) call_rows: u64,
    /// Sessions of the first company (the one the step checks).
    pub(super) company_sessions: u64,
}

/// Where one set of ingest sessions goes.
pub(super) struct IngestOutputs<'a> {
    /// The sessions' lines (stage A or B) and their count.
    pub(super) stage: &'a mut dyn Write,
    pub(super) stage_lines: &'a mut u64,
    pub(super) batches: &'a mut dyn Write,
    pub(super) raw_sql: &'a mut dyn Write,
}

/// The events and call rows of the batch being filled.
struct Batch {
    events: Vec<String>,
    rows: Vec<String>,
}

impl Batch {
    /// Writes the batch, as a POST body and as one SQL transaction, and
    /// empties it; an empty batch writes nothing.
    fn flush(
        &mut self,
        tally: &mut IngestTally,
        batches: &mut dyn Write,
        raw_sql: &mut dyn Write,
    ) -> io::Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        writeln!(batches, "[{}]", self.events.join(","))?;
        writeln!(raw_sql, "BEGIN;")?;
        for row in self.rows.iter() {
            writeln!(
                raw_sql,
                "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id, connect_ts, disconnect_ts) VALUES ({row});"
            )?;
        }
        writeln!(raw_sql, "COMMIT;")?;
        tally.events += self.events.len() as u64;
        tally.call_rows += self.rows.len() as u64;
        tally.batches += 1;
        self.events.clear();
        self.rows.clear();
        Ok(())
    }
}

/// The sessions of an ingest step (created without calls, in `month`,
/// spread over the companies), their events in batches, and the same call
/// rows as SQL. With `seed`, the set draws from a generator of its own, so
/// the rest of the dataset is the same with or without it.
pub(super) fn ingest(
    g: &mut Generator<'_>,
    companies: &[Company],
    (year, month): (i32, u32),
    seed: Option<u64>,
    out: IngestOutputs<'_>,
) -> io::Result<IngestTally> {
    if let Some(seed) = seed {
        g.rng = Rng::new(seed);
    }
    let sessions_per_batch = g.plan.ingest_batch / 8;
    let mut batch = Batch {
        events: Vec::with_capacity(g.plan.ingest_batch),
        rows: Vec::new(),
    };
    let mut tally = IngestTally::default();
    let mut in_batch = 0;
    for n in 0..g.plan.ingest_sessions as usize {
        let company = &companies[n % companies.len()];
        let host = company.ingest_host.clone().expect("created with stage A");
        let start = quarter_hour_in(&mut g.rng, year, month);
        let pool = (company.sessions[0] / 3).max(4);
        let (session_id, line, calls, _) =
            g.session(company.id, &host, start, Shape::OneGuest, pool);
        if company.id == companies[0].id {
            tally.company_sessions += 1;
        }
        writeln!(out.stage, "{line}")?;
        *out.stage_lines += 1;
        for (_, event) in events(session_id, &calls) {
            batch.events.push(format!("{{{event}}}"));
        }
        for call in &calls {
            batch.rows.push(call_row(company.id, session_id, call));
        }
        in_batch += 1;
        if in_batch == sessions_per_batch {
            batch.flush(&mut tally, out.batches, out.raw_sql)?;
            in_batch = 0;
        }
    }
    batch.flush(&mut tally, out.batches, out.raw_sql)?;
    Ok(tally)
}

/// A call's values for the raw inserts' `INSERT INTO calls`.
fn call_row(company_id: i64, session_id: i64, call: &CallSpan) -> String {
    let (party, participation, agent) = match call.party {
        Party::Host => ("Host", None, None),
        Party::Guest(id) => ("Participant", Some(id), None),
        Party::Support(id) => ("Support", None, Some(id)),
    };
    format!(
        "{company_id}, {session_id}, '{}', '{party}', {}, {}, {}, {}",
        call.call_id,
        sql_id(participation),
        sql_id(agent),
        call.connect,
        call.disconnect
    )
}

fn sql_id(id: Option<i64>) -> String {
    id.map_or_else(|| "NULL".to_owned(), |id| id.to_string())
}
