//! The dataset: a deterministic JSON Lines log for `session-ledger import`
//! (docs/log-format.md), written as it is generated, in two stages so that
//! the same reads can be measured with the base and with the full size in
//! the database; and the connection events that the ingest step posts, with
//! the same call rows as plain SQL inserts.
//!
//! Every id (companies, users, sessions, participations — the host's
//! participation included) is given explicitly, so ids assigned by the
//! service (batches, audit entries) never collide with the ones of a later
//! line.

use std::io::{self, Write};

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
            seed: 5,
        }
    }

    /// A medium run: the same shape at a tenth of the size.
    pub fn medium() -> Self {
        Self {
            base_sessions: 10_000,
            total_sessions: 100_000,
            ingest_sessions: 5_000,
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
/// A host holds about this many sessions a month.
const SESSIONS_PER_HOST_MONTH: u64 = 20;

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
}

impl Meta {
    pub fn to_text(&self) -> String {
        format!(
            "busy_company={}\nbusy_count={}\nprobe_company={}\nprobe_host={}\nprobe_count={}\n\
             largest_company={}\nlargest_sessions={}\nlargest_sessions_base={}\n\
             stage_a_lines={}\nstage_a_sessions={}\nstage_b_lines={}\nstage_b_sessions={}\n\
             ingest_events={}\ningest_batches={}\ningest_call_rows={}\n\
             ingest_company={}\ningest_company_sessions={}\n",
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
}

/// splitmix64: small, fast, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `low..high` (`high > low`).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low)
    }
    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }
}

const FIRST: [&str; 50] = [
    "Aaron", "Abigail", "Adam", "Alice", "Amir", "Ana", "Andre", "Beatriz", "Ben", "Carla", "Chen",
    "Chloe", "Daniel", "Dara", "David", "Elena", "Emil", "Emma", "Farah", "Felix", "Grace", "Hana",
    "Hugo", "Ines", "Isaac", "Jada", "James", "Julia", "Kai", "Kenji", "Laura", "Leo", "Lina",
    "Lucas", "Maya", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sam",
    "Sara", "Tariq", "Uma", "Victor", "Yara", "Zoe",
];
const PATIENT_LAST: [&str; 50] = [
    "Abbott",
    "Alvarez",
    "Baker",
    "Banerjee",
    "Brooks",
    "Castillo",
    "Chowdhury",
    "Cohen",
    "Dalton",
    "Diaz",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Flores",
    "Garcia",
    "Grant",
    "Haddad",
    "Hansen",
    "Ibrahim",
    "Ivanova",
    "Jensen",
    "Kaur",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Mbeki",
    "Moreau",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Stamp",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
];
/// Hosts' family names never meet patients', so an invitation never resolves
/// to a host's person by name.
const HOST_LAST: [&str; 20] = [
    "Ashford",
    "Blackwell",
    "Carrington",
    "Drummond",
    "Ellsworth",
    "Fairbanks",
    "Greenhalgh",
    "Hollister",
    "Ingram",
    "Johansson",
    "Kensington",
    "Lockhart",
    "Montague",
    "Northcott",
    "Oakley",
    "Pemberton",
    "Quimby",
    "Radcliffe",
    "Stanhope",
    "Thornbury",
];

/// A patient's name, unique per index within a company.
fn patient_name(index: u64) -> String {
    let per_round = (FIRST.len() * PATIENT_LAST.len()) as u64;
    let first = FIRST[(index % FIRST.len() as u64) as usize];
    let last = PATIENT_LAST[((index / FIRST.len() as u64) % PATIENT_LAST.len() as u64) as usize];
    match index / per_round {
        0 => format!("{first} {last}"),
        round => {
            let mut middle = String::new();
            let mut k = round - 1;
            loop {
                middle.insert(0, (b'A' + (k % 26) as u8) as char);
                if k < 26 {
                    break;
                }
                k = k / 26 - 1;
            }
            format!("{first} {middle}. {last}")
        }
    }
}

fn host_name(user_id: i64) -> String {
    let i = user_id as usize;
    format!(
        "{} {}",
        FIRST[i % FIRST.len()],
        HOST_LAST[(i / FIRST.len()) % HOST_LAST.len()]
    )
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds since the epoch as the log's timestamp (milliseconds kept).
pub fn format_ts(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let millis = micros.rem_euclid(1_000_000) / 1_000;
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let rest = seconds.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if millis == 0 {
        base
    } else {
        let fraction = format!("{millis:03}");
        format!("{base}.{}", fraction.trim_end_matches('0'))
    }
}

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Party {
    Host,
    Guest(i64),
    Support(i64),
}

struct CallSpan {
    call_id: &'static str,
    party: Party,
    connect: i64,
    disconnect: i64,
}

/// How a session went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Host and one guest; each drops once and rejoins: 4 calls.
    OneGuest,
    /// Host and two guests, one of whom drops and rejoins: 4 calls.
    TwoGuests,
    /// One guest, and a support agent joins for a while: 5 calls (SVCO).
    Support,
    /// The host waited alone: 1 call, never billable.
    NoShow,
}

struct Company {
    id: i64,
    /// Sessions in stage A and in stage B.
    sessions: [u64; 2],
    /// Hosts created in stage A and in stage B.
    hosts: [Vec<(i64, String, String)>; 2],
    ingest_host: Option<(i64, String, String)>,
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

struct Generator<'a> {
    plan: &'a Plan,
    rng: Rng,
    next_id: i64,
    support_agent: i64,
    meta: Meta,
}

impl Generator<'_> {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn user_line(&mut self, company: i64) -> (i64, String, String, String) {
        let user_id = self.id();
        let name = host_name(user_id);
        let email = format!("u{user_id}@clinic{company}.example");
        let line = format!(
            r#"{{"Type":"User","CompanyId":{company},"UserId":{user_id},"FullName":"{name}","EmailAddress":"{email}","TimeZoneWindowsId":"UTC"}}"#
        );
        (user_id, name, email, line)
    }

    /// One session's Session line and its calls. `start` is the scheduled
    /// instant (a quarter hour).
    #[allow(clippy::too_many_arguments)]
    fn session(
        &mut self,
        company: i64,
        host: &(i64, String, String),
        start: i64,
        shape: Shape,
        patient_pool: u64,
    ) -> (i64, String, Vec<CallSpan>, Option<i64>) {
        let session_id = self.id();
        let host_participation = self.id();
        let (host_id, host_name, host_email) = host;
        let mut participants = format!(
            r#"{{"ParticipationId":{host_participation},"SecureVideoUserId":{host_id},"ParticipantFullName":"{host_name}","ParticipantEmailAddress":"{host_email}"}}"#
        );
        let guests = match shape {
            Shape::TwoGuests => 2,
            _ => 1,
        };
        let mut guest_ids = Vec::new();
        let first_patient = self.rng.range(0, patient_pool);
        for g in 0..guests {
            let patient = (first_patient + g * (patient_pool / 2).max(1)) % patient_pool;
            let participation = self.id();
            guest_ids.push(participation);
            participants.push_str(&format!(
                r#",{{"ParticipationId":{participation},"ParticipantFullName":"{}","ParticipantEmailAddress":"p{patient}.c{company}@patients.example","ShouldAutoDeliverCode":"E"}}"#,
                patient_name(patient)
            ));
        }
        let line = format!(
            r#"{{"Type":"Session","CompanyId":{company},"SessionId":{session_id},"UserId":{host_id},"ScheduleTs":"{}","ScheduleType":"Scheduled","Participants":[{participants}]}}"#,
            format_ts(start)
        );

        let ms = |rng: &mut Rng| rng.range(0, 1000) as i64 * 1000;
        let rng = &mut self.rng;
        let host_in = start + rng.range(0, 7 * 60) as i64 * SECOND - 2 * MINUTE + ms(rng);
        let mut calls = Vec::with_capacity(5);
        let mut billable = None;
        match shape {
            Shape::NoShow => calls.push(CallSpan {
                call_id: "h1",
                party: Party::Host,
                connect: host_in,
                disconnect: host_in + rng.range(5, 15) as i64 * MINUTE + ms(rng),
            }),
            Shape::OneGuest | Shape::Support | Shape::TwoGuests => {
                let guest_in = host_in + rng.range(5, 180) as i64 * SECOND + ms(rng);
                billable = Some(guest_in);
                let guest_drop = guest_in + rng.range(6, 20) as i64 * MINUTE + ms(rng);
                let guest_back = guest_drop + rng.range(10, 60) as i64 * SECOND + ms(rng);
                let end = guest_back + rng.range(5, 25) as i64 * MINUTE + ms(rng);
                calls.push(CallSpan {
                    call_id: "g1",
                    party: Party::Guest(guest_ids[0]),
                    connect: guest_in,
                    disconnect: guest_drop,
                });
                calls.push(CallSpan {
                    call_id: "g2",
                    party: Party::Guest(guest_ids[0]),
                    connect: guest_back,
                    disconnect: end,
                });
                let host_out = end + rng.range(5, 60) as i64 * SECOND + ms(rng);
                match shape {
                    Shape::TwoGuests => {
                        calls.push(CallSpan {
                            call_id: "h1",
                            party: Party::Host,
                            connect: host_in,
                            disconnect: host_out,
                        });
                        let second_in = guest_in + rng.range(1, 5) as i64 * MINUTE + ms(rng);
                        calls.push(CallSpan {
                            call_id: "g3",
                            party: Party::Guest(guest_ids[1]),
                            connect: second_in,
                            disconnect: end - rng.range(1, 4) as i64 * MINUTE,
                        });
                    }
                    _ => {
                        // The host's connection drops once, after the guest arrived.
                        let host_drop = guest_in + rng.range(2, 5) as i64 * MINUTE + ms(rng);
                        let host_back = host_drop + rng.range(10, 50) as i64 * SECOND + ms(rng);
                        calls.push(CallSpan {
                            call_id: "h1",
                            party: Party::Host,
                            connect: host_in,
                            disconnect: host_drop,
                        });
                        calls.push(CallSpan {
                            call_id: "h2",
                            party: Party::Host,
                            connect: host_back,
                            disconnect: host_out,
                        });
                        if shape == Shape::Support {
                            let agent_in = host_back + rng.range(1, 3) as i64 * MINUTE;
                            calls.push(CallSpan {
                                call_id: "s1",
                                party: Party::Support(self.support_agent),
                                connect: agent_in,
                                disconnect: agent_in + rng.range(2, 5) as i64 * MINUTE,
                            });
                        }
                    }
                }
            }
        }
        (session_id, line, calls, billable)
    }
}

/// The events of a session's calls in the order they happened.
fn events(session_id: i64, calls: &[CallSpan]) -> Vec<(i64, String)> {
    let mut events: Vec<(i64, &'static str, &CallSpan)> = Vec::with_capacity(calls.len() * 2);
    for call in calls {
        events.push((call.connect, "Connect", call));
        events.push((call.disconnect, "Disconnect", call));
    }
    events.sort_by_key(|(ts, kind, _)| (*ts, *kind == "Connect"));
    events
        .into_iter()
        .enumerate()
        .map(|(n, (ts, kind, call))| {
            let party = match call.party {
                Party::Host => r#""Party":"Host""#.to_owned(),
                Party::Guest(id) => format!(r#""Party":"Participant","ParticipationId":{id}"#),
                Party::Support(id) => format!(r#""Party":"Support","SupportAgentId":{id}"#),
            };
            let body = format!(
                r#""Type":"{kind}","EventId":"s{session_id}-{n}","SessionId":{session_id},{party},"CallId":"{}","Ts":"{}""#,
                call.call_id,
                format_ts(ts)
            );
            (ts, body)
        })
        .collect()
}

/// A past session as the log holds it: created, its calls' events in one
/// batch, and its automatic deactivation a day after it ended (SPEC §3.2),
/// so a server started on the dataset finds nothing left to deactivate.
fn write_session(
    w: &mut dyn Write,
    session_id: i64,
    line: &str,
    calls: &[CallSpan],
) -> io::Result<()> {
    writeln!(w, "{line}")?;
    for (_, event) in events(session_id, calls) {
        writeln!(w, "{{{event},\"Batch\":{session_id}}}")?;
    }
    let ended = calls.iter().map(|call| call.disconnect).max().unwrap_or(0);
    writeln!(
        w,
        r#"{{"Type":"Deactivate","SessionId":{session_id},"Ts":"{}","Automatic":true}}"#,
        format_ts(ended + 25 * 60 * MINUTE)
    )
}

fn quarter_hour_in(rng: &mut Rng, year: i32, month: u32) -> i64 {
    let day = rng.range(1, 29) as u32;
    let hour = rng.range(8, 18) as i64;
    let quarter = rng.range(0, 4) as i64;
    let days = days_from_civil(year, month, day);
    (days * 86_400 + hour * 3600 + quarter * 900) * SECOND
}

fn sql_id(id: Option<i64>) -> String {
    id.map_or_else(|| "NULL".to_owned(), |id| id.to_string())
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
    let count = plan.companies as usize;
    let base = split_by_weight(plan.base_sessions, count);
    let more = split_by_weight(plan.total_sessions - plan.base_sessions, count);

    // Stage A: the platform, every company, its first hosts, the busy
    // company, and the sessions waiting for the ingest step.
    let a = out.stage_a;
    let mut a_lines = 0u64;
    g.support_agent = g.id();
    writeln!(
        a,
        r#"{{"Type":"SupportAgent","SupportAgentId":{},"FullName":"Marisa Zendejas","EmailAddress":"marisa@platform.example"}}"#,
        g.support_agent
    )?;
    a_lines += 1;
    let mut companies: Vec<Company> = Vec::with_capacity(count);
    for rank in 0..count {
        let id = g.id();
        writeln!(
            a,
            r#"{{"Type":"Company","CompanyId":{id},"Name":"Clinic {}","IncludedSessionsPerMonth":{},"OveragePriceCents":1500}}"#,
            rank + 1,
            (base[rank] + more[rank]) / 12
        )?;
        a_lines += 1;
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
    a_lines += 1;
    let hosts_for = |sessions: u64| sessions.div_ceil(12 * SESSIONS_PER_HOST_MONTH).max(1);
    for company in &mut companies {
        for _ in 0..hosts_for(company.sessions[0]) {
            let (id, name, email, line) = g.user_line(company.id);
            writeln!(a, "{line}")?;
            a_lines += 1;
            company.hosts[0].push((id, name, email));
        }
        if plan.ingest_sessions > 0 {
            let (id, name, email, line) = g.user_line(company.id);
            writeln!(a, "{line}")?;
            a_lines += 1;
            company.ingest_host = Some((id, name, email));
        }
    }
    let mut busy_hosts = Vec::new();
    for _ in 0..(plan.busy_sessions as u64).div_ceil(50).max(1) {
        let (id, name, email, line) = g.user_line(busy_company);
        writeln!(a, "{line}")?;
        a_lines += 1;
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

    let mut stage_sessions = [0u64; 2];
    let mut stage_lines = [a_lines, 0];
    for stage in 0..2 {
        let w: &mut dyn Write = if stage == 0 {
            &mut *a
        } else {
            &mut *out.stage_b
        };
        if stage == 1 {
            for company in &mut companies {
                if company.sessions[1] > 0 {
                    for _ in 0..hosts_for(company.sessions[1]) {
                        let (id, name, email, line) = g.user_line(company.id);
                        writeln!(w, "{line}")?;
                        stage_lines[1] += 1;
                        company.hosts[1].push((id, name, email));
                    }
                }
            }
        }
        for month in 1..=12u32 {
            if stage == 0 && month == BUSY_MONTH_NUMBER {
                for n in 0..plan.busy_sessions as usize {
                    let host = busy_hosts[n % busy_hosts.len()].clone();
                    let start = quarter_hour_in(&mut g.rng, YEAR, month);
                    let shape = if g.rng.percent(20) {
                        Shape::TwoGuests
                    } else {
                        Shape::OneGuest
                    };
                    let pool = (plan.busy_sessions as u64 / 3).max(4);
                    let (session_id, line, calls, billable) =
                        g.session(busy_company, &host, start, shape, pool);
                    assert!(billable.is_some());
                    g.meta.busy_count += 1;
                    write_session(w, session_id, &line, &calls)?;
                    stage_lines[stage] += 2 + calls.len() as u64 * 2;
                    stage_sessions[stage] += 1;
                }
            }
            for company in &companies {
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
                    if host.0 == g.meta.probe_host
                        && month == BUSY_MONTH_NUMBER
                        && billable.is_some()
                    {
                        g.meta.probe_count += 1;
                    }
                    write_session(w, session_id, &line, &calls)?;
                    stage_lines[stage] += 2 + calls.len() as u64 * 2;
                    stage_sessions[stage] += 1;
                }
            }
        }
        if stage == 0 && plan.ingest_sessions > 0 {
            ingest(
                &mut g,
                &companies,
                w,
                &mut stage_lines[0],
                out.ingest_batches,
                out.raw_sql,
            )?;
        }
        w.flush()?;
    }
    out.ingest_batches.flush()?;
    out.raw_sql.flush()?;
    g.meta.stage_a_lines = stage_lines[0];
    g.meta.stage_b_lines = stage_lines[1];
    g.meta.stage_a_sessions = stage_sessions[0];
    g.meta.stage_b_sessions = stage_sessions[1];
    Ok(g.meta)
}

/// The sessions of the ingest step (created in stage A, no calls yet, in
/// `INGEST_MONTH`, spread over the companies), their events in batches, and
/// the same call rows as SQL.
fn ingest(
    g: &mut Generator<'_>,
    companies: &[Company],
    stage_a: &mut dyn Write,
    stage_a_lines: &mut u64,
    batches: &mut dyn Write,
    raw_sql: &mut dyn Write,
) -> io::Result<()> {
    let sessions_per_batch = g.plan.ingest_batch / 8;
    let mut batch_events: Vec<String> = Vec::with_capacity(g.plan.ingest_batch);
    let mut batch_rows: Vec<String> = Vec::new();
    let (year, month) = (YEAR + 1, 1);
    g.meta.ingest_company = companies[0].id;
    let mut in_batch = 0;
    let flush = |batch_events: &mut Vec<String>,
                 batch_rows: &mut Vec<String>,
                 meta: &mut Meta,
                 batches: &mut dyn Write,
                 raw_sql: &mut dyn Write|
     -> io::Result<()> {
        if batch_events.is_empty() {
            return Ok(());
        }
        writeln!(batches, "[{}]", batch_events.join(","))?;
        writeln!(raw_sql, "BEGIN;")?;
        for row in batch_rows.iter() {
            writeln!(
                raw_sql,
                "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id, connect_ts, disconnect_ts) VALUES ({row});"
            )?;
        }
        writeln!(raw_sql, "COMMIT;")?;
        meta.ingest_events += batch_events.len() as u64;
        meta.ingest_call_rows += batch_rows.len() as u64;
        meta.ingest_batches += 1;
        batch_events.clear();
        batch_rows.clear();
        Ok(())
    };
    for n in 0..g.plan.ingest_sessions as usize {
        let company = &companies[n % companies.len()];
        let host = company.ingest_host.clone().expect("created with stage A");
        let start = quarter_hour_in(&mut g.rng, year, month);
        let pool = (company.sessions[0] / 3).max(4);
        let (session_id, line, calls, _) =
            g.session(company.id, &host, start, Shape::OneGuest, pool);
        if company.id == g.meta.ingest_company {
            g.meta.ingest_company_sessions += 1;
        }
        writeln!(stage_a, "{line}")?;
        *stage_a_lines += 1;
        for (_, event) in events(session_id, &calls) {
            batch_events.push(format!("{{{event}}}"));
        }
        for call in &calls {
            let (party, participation, agent) = match call.party {
                Party::Host => ("Host", None, None),
                Party::Guest(id) => ("Participant", Some(id), None),
                Party::Support(id) => ("Support", None, Some(id)),
            };
            batch_rows.push(format!(
                "{}, {session_id}, '{}', '{party}', {}, {}, {}, {}",
                company.id,
                call.call_id,
                sql_id(participation),
                sql_id(agent),
                call.connect,
                call.disconnect
            ));
        }
        in_batch += 1;
        if in_batch == sessions_per_batch {
            flush(
                &mut batch_events,
                &mut batch_rows,
                &mut g.meta,
                batches,
                raw_sql,
            )?;
            in_batch = 0;
        }
    }
    flush(
        &mut batch_events,
        &mut batch_rows,
        &mut g.meta,
        batches,
        raw_sql,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2025, 6, 30)), (2025, 6, 30));
        let micros = (days_from_civil(2016, 11, 3) * 86_400 + 21 * 3600 + 45 * 60 + 9) * SECOND;
        assert_eq!(format_ts(micros + 467_000), "2016-11-03T21:45:09.467");
        assert_eq!(format_ts(micros + 100_000), "2016-11-03T21:45:09.1");
        assert_eq!(format_ts(micros), "2016-11-03T21:45:09");
    }

    #[test]
    fn patient_names_are_unique() {
        let names: std::collections::HashSet<String> = (0..10_000).map(patient_name).collect();
        assert_eq!(names.len(), 10_000);
    }
}
