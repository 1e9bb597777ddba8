//! The sessions of the webhook step: created at the end of stage B without
//! calls, their connection events as Daily webhooks (one event per request,
//! SPEC §12, docs/providers.md), and the same call rows as single-row SQL
//! transactions — an insert when a call connects, an update when it ends.
//!
//! Written after everything else, with a generator of its own, so the rest
//! of the dataset is the same with or without this step.

use std::io::{self, Write};

use super::calendar::quarter_hour_in;
use super::session::{CallSpan, Generator, Party, Shape, host_participation};
use super::stages::Company;
use super::{Rng, YEAR};

/// Where the webhook step's files go.
pub(super) struct WebhookOutputs<'a> {
    /// `{SessionId}\t{Daily webhook body}` per line, a session's events
    /// together and in order.
    pub(super) bodies: &'a mut dyn Write,
    /// A session's statements, then an empty line.
    pub(super) raw_sql: &'a mut dyn Write,
}

/// The webhook step's sessions in `WEBHOOK_MONTH`, spread over the companies
/// like the ingest step's; their Session lines go to `stage_b`.
pub(super) fn webhooks(
    g: &mut Generator<'_>,
    companies: &[Company],
    stage_b: &mut dyn Write,
    stage_b_lines: &mut u64,
    out: WebhookOutputs<'_>,
) -> io::Result<()> {
    g.rng = Rng::new(g.plan.seed ^ 0x5eb_400c);
    g.meta.webhook_company = companies[0].id;
    for n in 0..g.plan.webhook_sessions as usize {
        let company = &companies[n % companies.len()];
        let host = company.ingest_host.clone().expect("created with stage A");
        let start = quarter_hour_in(&mut g.rng, YEAR + 1, 2);
        let pool = (company.sessions[0] / 3).max(4);
        let (session_id, line, calls, _) =
            g.session(company.id, &host, start, Shape::OneGuest, pool);
        writeln!(stage_b, "{line}")?;
        *stage_b_lines += 1;
        if company.id == g.meta.webhook_company {
            g.meta.webhook_company_sessions += 1;
        }
        write_session(company.id, session_id, &calls, out.bodies, out.raw_sql)?;
        g.meta.webhook_events += 2 * calls.len() as u64;
    }
    out.bodies.flush()?;
    out.raw_sql.flush()
}

/// One session's webhooks and statements, in the order of the events.
fn write_session(
    company_id: i64,
    session_id: i64,
    calls: &[CallSpan],
    bodies: &mut dyn Write,
    raw_sql: &mut dyn Write,
) -> io::Result<()> {
    let mut events: Vec<(i64, bool, &CallSpan)> = Vec::with_capacity(calls.len() * 2);
    for call in calls {
        events.push((call.connect, true, call));
        events.push((call.disconnect, false, call));
    }
    events.sort_by_key(|(ts, joined, _)| (*ts, *joined));
    for (n, (_, joined, call)) in events.into_iter().enumerate() {
        let connection = format!("{session_id}-{}", call.call_id);
        writeln!(
            bodies,
            "{session_id}\t{}",
            daily_body(session_id, n, joined, call, &connection)
        )?;
        if joined {
            writeln!(
                raw_sql,
                "BEGIN;\nINSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id, connect_ts, disconnect_ts) VALUES ({company_id}, {session_id}, '{connection}', {}, {}, NULL);\nCOMMIT;",
                row_party(call.party),
                call.connect
            )?;
        } else {
            writeln!(
                raw_sql,
                "BEGIN;\nUPDATE calls SET disconnect_ts = {} WHERE company_id = {company_id} AND session_id = {session_id} AND call_id = '{connection}';\nCOMMIT;",
                call.disconnect
            )?;
        }
    }
    writeln!(raw_sql)
}

/// A `participant.joined` or `participant.left` webhook in Daily's shape.
fn daily_body(
    session_id: i64,
    n: usize,
    joined: bool,
    call: &CallSpan,
    connection: &str,
) -> String {
    let identity = identity(session_id, call.party);
    let joined_at = seconds(call.connect);
    if joined {
        format!(
            r#"{{"version":"1.0.0","type":"participant.joined","id":"ptcpt-join-{session_id}-{n}","payload":{{"room":"session-{session_id}","user_id":"{identity}","user_name":"Guest","session_id":"{connection}","joined_at":{joined_at},"owner":false}},"event_ts":{joined_at}}}"#
        )
    } else {
        let duration = seconds(call.disconnect - call.connect);
        let left_at = seconds(call.disconnect);
        format!(
            r#"{{"version":"1.0.0","type":"participant.left","id":"ptcpt-left-{session_id}-{n}","payload":{{"room":"session-{session_id}","user_id":"{identity}","user_name":"Guest","session_id":"{connection}","joined_at":{joined_at},"duration":{duration},"owner":false}},"event_ts":{left_at}}}"#
        )
    }
}

/// Microseconds (whole milliseconds in this dataset) as seconds.
fn seconds(micros: i64) -> String {
    format!(
        "{}.{:03}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000) / 1_000
    )
}

/// The identity the platform gives a connection (SPEC §12): `p` and the
/// participation (the host's own for the host), or `s` and the support agent.
fn identity(session_id: i64, party: Party) -> String {
    match party {
        Party::Host => format!("p{}", host_participation(session_id)),
        Party::Guest(id) => format!("p{id}"),
        Party::Support(id) => format!("s{id}"),
    }
}

/// `party, participation_id, support_agent_id` of a call row, as the ingest
/// step's raw inserts write them.
fn row_party(party: Party) -> String {
    match party {
        Party::Host => "'Host', NULL, NULL".to_owned(),
        Party::Guest(id) => format!("'Participant', {id}, NULL"),
        Party::Support(id) => format!("'Support', NULL, {id}"),
    }
}
