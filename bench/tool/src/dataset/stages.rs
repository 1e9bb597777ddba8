//! The log's two stages: the platform, the companies and their hosts, then
//! each month's sessions, the busy company's month among them.

use std::io::{self, Write};

use super::calendar::quarter_hour_in;
use super::session::{Generator, Host, Shape, write_session};
use super::{BUSY_MONTH_NUMBER, YEAR};

/// A host holds about this many sessions a month.
const SESSIONS_PER_HOST_MONTH: u64 = 20;

pub(super) struct Company {
    pub(super) id: i64,
    /// Sessions in stage A and in stage B.
    pub(super) sessions: [u64; 2],
    /// Hosts created in stage A and in stage B.
    pub(super) hosts: [Vec<Host>; 2],
    pub(super) ingest_host: Option<Host>,
}

/// The company with 5,000 billable sessions in the busy month, and its hosts.
pub(super) struct Busy {
    pub(super) company: i64,
    pub(super) hosts: Vec<Host>,
}

/// Lines and sessions written into one stage's file.
#[derive(Clone, Copy, Default)]
pub(super) struct Tally {
    pub(super) lines: u64,
    pub(super) sessions: u64,
}

/// Sessions split over companies by Zipf weight (s = 0.6), largest first.
fn split_by_weight(total: u64, companies: usize) -> Vec<u64> {
    let weights: Vec<f64> = (1..=companies)
        .map(|rank| 1.0 / (rank as f64).powf(0.6))
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| (total as f64 * w / sum).floor() as u64)
        .collect();
    let mut rest = total - counts.iter().sum::<u64>();
    let mut i = 0;
    while rest > 0 {
        counts[i % companies] += 1;
        rest -= 1;
        i += 1;
    }
    counts
}

fn hosts_for(sessions: u64) -> u64 {
    sessions.div_ceil(12 * SESSIONS_PER_HOST_MONTH).max(1)
}

/// The head of stage A: the support agent, every company, the busy company,
/// and the hosts of stage A (and each company's host of the ingest
/// sessions). Notes the probe host and the largest company in `g.meta`.
pub(super) fn platform(
    g: &mut Generator<'_>,
    a: &mut dyn Write,
    tally: &mut Tally,
) -> io::Result<(Vec<Company>, Busy)> {
    let count = g.plan.companies as usize;
    let base = split_by_weight(g.plan.base_sessions, count);
    let more = split_by_weight(g.plan.total_sessions - g.plan.base_sessions, count);
    g.support_agent = g.id();
    writeln!(
        a,
        r#"{{"Type":"SupportAgent","SupportAgentId":{},"FullName":"Marisa Zendejas","EmailAddress":"marisa@platform.example"}}"#,
        g.support_agent
    )?;
    tally.lines += 1;
    let mut companies: Vec<Company> = Vec::with_capacity(count);
    for rank in 0..count {
        let id = g.id();
        writeln!(
            a,
            r#"{{"Type":"Company","CompanyId":{id},"Name":"Clinic {}","IncludedSessionsPerMonth":{},"OveragePriceCents":1500}}"#,
            rank + 1,
            (base[rank] + more[rank]) / 12
        )?;
        tally.lines += 1;
        companies.push(Company {
            id,
            sessions: [base[rank], more[rank]],
            hosts: [Vec::new(), Vec::new()],
            ingest_host: None,
        });
    }
    let busy_company = g.id();
    writeln!(
        a,
        r#"{{"Type":"Company","CompanyId":{busy_company},"Name":"Busy Telehealth Network","IncludedSessionsPerMonth":4000,"OveragePriceCents":900}}"#
    )?;
    tally.lines += 1;
    for company in &mut companies {
        for _ in 0..hosts_for(company.sessions[0]) {
            let (id, name, email, line) = g.user_line(company.id);
            writeln!(a, "{line}")?;
            tally.lines += 1;
            company.hosts[0].push((id, name, email));
        }
        if g.plan.ingest_sessions > 0 {
            let (id, name, email, line) = g.user_line(company.id);
            writeln!(a, "{line}")?;
            tally.lines += 1;
            company.ingest_host = Some((id, name, email));
        }
    }
    let mut busy_hosts = Vec::new();
    for _ in 0..(g.plan.busy_sessions as u64).div_ceil(50).max(1) {
        let (id, name, email, line) = g.user_line(busy_company);
        writeln!(a, "{line}")?;
        tally.lines += 1;
        busy_hosts.push((id, name, email));
    }
    let probe_rank = (count - 1).min(9);
    let probe = companies[probe_rank].hosts[0][0].clone();
    g.meta.busy_company = busy_company;
    g.meta.probe_company = companies[probe_rank].id;
    g.meta.probe_host = probe.0;
    g.meta.largest_company = companies[0].id;
    g.meta.largest_sessions_base = companies[0].sessions[0];
    g.meta.largest_sessions = companies[0].sessions[0] + companies[0].sessions[1];
    let busy = Busy {
        company: busy_company,
        hosts: busy_hosts,
    };
    Ok((companies, busy))
}

/// The hosts of stage B, new ones in the same companies.
pub(super) fn more_hosts(
    g: &mut Generator<'_>,
    companies: &mut [Company],
    w: &mut dyn Write,
    tally: &mut Tally,
) -> io::Result<()> {
    for company in companies {
        if company.sessions[1] > 0 {
            for _ in 0..hosts_for(company.sessions[1]) {
                let (id, name, email, line) = g.user_line(company.id);
                writeln!(w, "{line}")?;
                tally.lines += 1;
                company.hosts[1].push((id, name, email));
            }
        }
    }
    Ok(())
}

/// The busy company's month: every session billable.
pub(super) fn busy_month(
    g: &mut Generator<'_>,
    busy: &Busy,
    w: &mut dyn Write,
    tally: &mut Tally,
) -> io::Result<()> {
    for n in 0..g.plan.busy_sessions as usize {
        let host = busy.hosts[n % busy.hosts.len()].clone();
        let start = quarter_hour_in(&mut g.rng, YEAR, BUSY_MONTH_NUMBER);
        let shape = if g.rng.percent(20) {
            Shape::TwoGuests
        } else {
            Shape::OneGuest
        };
        let pool = (g.plan.busy_sessions as u64 / 3).max(4);
        let (session_id, line, calls, billable) =
            g.session(busy.company, &host, start, shape, pool);
        assert!(billable.is_some());
        g.meta.busy_count += 1;
        write_session(w, session_id, &line, &calls)?;
        tally.lines += 2 + calls.len() as u64 * 2;
        tally.sessions += 1;
    }
    Ok(())
}

/// One month of the regular companies' sessions in one stage.
pub(super) fn month(
    g: &mut Generator<'_>,
    companies: &[Company],
    (stage, month): (usize, u32),
    w: &mut dyn Write,
    tally: &mut Tally,
) -> io::Result<()> {
    for company in companies {
        let total = company.sessions[stage];
        let in_month = total / 12 + u64::from(u64::from(month) <= total % 12);
        // Patients seen so far in this company: about one per three sessions.
        let pool = ((company.sessions[0] + if stage == 1 { total } else { 0 }) / 3).max(4);
        for _ in 0..in_month {
            let hosts = &company.hosts[stage];
            let host = hosts[g.rng.range(0, hosts.len() as u64) as usize].clone();
            let start = quarter_hour_in(&mut g.rng, YEAR, month);
            let roll = g.rng.range(0, 100);
            let shape = match roll {
                0..5 => Shape::NoShow,
                5..7 => Shape::Support,
                7..27 => Shape::TwoGuests,
                _ => Shape::OneGuest,
            };
            let (session_id, line, calls, billable) =
                g.session(company.id, &host, start, shape, pool);
            if host.0 == g.meta.probe_host && month == BUSY_MONTH_NUMBER && billable.is_some() {
                g.meta.probe_count += 1;
            }
            write_session(w, session_id, &line, &calls)?;
            tally.lines += 2 + calls.len() as u64 * 2;
            tally.sessions += 1;
        }
    }
    Ok(())
}
