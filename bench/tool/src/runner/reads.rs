//! The reads of History: cold (the first after a change) beside the bare
//! query, warm, under load beside nginx, at both sizes for the scale check,
//! and the whole history of the largest company for the memory probe.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use super::dataset::{BUSY_MONTH, Meta};
use super::http::Client;
use super::store::Store;
use super::{
    COMPARE_ROUNDS, Config, Memory, Nginx, OPERATOR_TOKEN, Read, Rounds, SCALE_ROUNDS,
    SQL_RUNS_PER_ROUND, ScaleCheck, Server, WRK_ROUNDS, peak_rss_kb, say,
};

/// One read measured: its path and key, the sessions its answer must hold,
/// and the bare query for the same rows.
pub(super) struct Probe {
    pub(super) what: &'static str,
    pub(super) company: i64,
    pub(super) path: String,
    pub(super) authorization: String,
    pub(super) expected: u64,
    pub(super) sql: String,
}

/// Counts occurrences of a pattern in a stream of byte pieces.
pub(super) struct PatternCounter {
    pattern: &'static [u8],
    carry: Vec<u8>,
    pub(super) count: u64,
    pub(super) bytes: u64,
}

impl PatternCounter {
    pub(super) fn new(pattern: &'static [u8]) -> Self {
        Self {
            pattern,
            carry: Vec::new(),
            count: 0,
            bytes: 0,
        }
    }
    pub(super) fn feed(&mut self, piece: &[u8]) {
        self.bytes += piece.len() as u64;
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(piece);
        let n = self.pattern.len();
        let mut i = 0;
        while i + n <= joined.len() {
            if &joined[i..i + n] == self.pattern {
                self.count += 1;
                i += n;
            } else {
                i += 1;
            }
        }
        let keep = (n - 1).min(joined.len());
        self.carry = joined[joined.len() - keep..].to_vec();
    }
}

pub fn count_elements(body: &[u8]) -> u64 {
    let mut counter = PatternCounter::new(b"\"SessionId\":");
    counter.feed(body);
    counter.count
}

/// The middle value; of an even count, the mean of the two middle ones.
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (values[middle - 1] + values[middle]) / 2.0,
        _ => values[middle],
    }
}

/// Moves a company's data version on without changing its data: its plan,
/// put back as it is.
pub(super) fn touch_company(client: &mut Client, company: i64) -> io::Result<()> {
    let bearer = format!("Bearer {OPERATOR_TOKEN}");
    let path = format!("/operator/companies/{company}");
    let headers = [("Authorization", bearer.as_str())];
    let shown = client.get(&path, &headers)?;
    let text = shown.text();
    let included = text
        .split("\"IncludedSessionsPerMonth\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|digits| !digits.is_empty())
        .ok_or_else(|| io::Error::other(format!("{path} answered {text}")))?
        .to_owned();
    let body = format!("{{\"IncludedSessionsPerMonth\":{included}}}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let changed = client.send("PUT", &path, &headers, body.as_bytes(), true, &mut |_| {})?;
    if changed.status != 200 {
        return Err(io::Error::other(format!(
            "PUT {path} answered {}: {}",
            changed.status,
            changed.text()
        )));
    }
    Ok(())
}

/// `samples` cold reads of a probe (times in ms), the last
/// answer, and its number of sessions, checked against the generator's.
pub(super) fn cold_reads(
    client: &mut Client,
    probe: &Probe,
    samples: usize,
) -> io::Result<(Vec<f64>, Vec<u8>, u64)> {
    let headers = [("Authorization", probe.authorization.as_str())];
    let mut cold = Vec::new();
    let mut body = Vec::new();
    for _ in 0..samples.max(1) {
        touch_company(client, probe.company)?;
        let started = Instant::now();
        let response = client.get(&probe.path, &headers)?;
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
        if response.status != 200 {
            return Err(io::Error::other(format!(
                "{} answered {}: {}",
                probe.path,
                response.status,
                response.text()
            )));
        }
        body = response.body;
    }
    let elements = count_elements(&body);
    if elements != probe.expected {
        return Err(io::Error::other(format!(
            "{}: {elements} sessions in the answer, {} generated",
            probe.what, probe.expected
        )));
    }
    Ok((cold, body, elements))
}

/// Every probe's cold reads on the (smaller, larger) database, alternating
/// between them [`SCALE_ROUNDS`] times, each round on a new server.
pub(super) fn scale_checks(
    config: &Config,
    (small, large): (&Store, &Store),
    probes: &[Probe],
    (low, high): (u64, u64),
) -> io::Result<Vec<ScaleCheck>> {
    // samples[probe][0 = small, 1 = large]
    let mut samples: Vec<[Vec<f64>; 2]> = probes.iter().map(|_| Default::default()).collect();
    for _ in 0..SCALE_ROUNDS {
        for (side, store) in [small, large].into_iter().enumerate() {
            let server = config.start_server(store)?;
            let mut client = Client::new(&server.address);
            client.get("/readyz", &[])?;
            for (probe, taken) in probes.iter().zip(samples.iter_mut()) {
                let (cold, ..) = cold_reads(&mut client, probe, config.cold_samples)?;
                taken[side].extend(cold);
            }
            server.stop();
        }
    }
    Ok(probes
        .iter()
        .zip(samples)
        .map(|(probe, [small, large])| ScaleCheck {
            what: probe.what,
            low,
            high,
            samples: small.len(),
            low_ms: median(small),
            high_ms: median(large),
        })
        .collect())
}

pub(super) fn reads(
    config: &Config,
    store: &Store,
    probes: &[Probe],
    scale: u64,
) -> io::Result<Vec<Read>> {
    let name = store.name();
    let mut results = Vec::new();
    for probe in probes {
        say(config, format!("{name} @ {scale} sessions: {}", probe.what));
        let read = read_probe(config, store, probe, scale)?;
        say(config, format!("  {read:?}"));
        results.push(read);
    }
    Ok(results)
}

/// One probe on a server of its own: cold reads (beside the bare query),
/// warm reads, and, with the external tools, wrk beside nginx.
fn read_probe(config: &Config, store: &Store, probe: &Probe, scale: u64) -> io::Result<Read> {
    let server = config.start_server(store)?;
    let mut client = Client::new(&server.address);
    client.get("/readyz", &[])?;
    let Cold {
        times: cold,
        sql,
        body,
        elements,
    } = cold_beside_bare(config, store, &mut client, probe)?;
    let warm = warm_reads(config, &mut client, probe, &body)?;
    let mut read = Read {
        what: probe.what,
        scale,
        elements,
        bytes: body.len() as u64,
        cold_ms: median(cold),
        warm_ms: median(warm),
        ..Read::default()
    };
    if config.external {
        let (ours, nginx, dir) = under_load(config, &server, probe, &body)?;
        read.ours = Some(ours);
        read.nginx = Some(nginx);
        server.stop();
        let _ = fs::remove_dir_all(&dir);
        read.sql_ms = Some(median(sql));
        read.sql_rows = Some(elements);
    } else {
        server.stop();
    }
    Ok(read)
}

/// A probe's cold reads beside the bare query.
struct Cold {
    /// The cold reads (ms).
    times: Vec<f64>,
    /// The bare query's runs (ms); none without the external tools.
    sql: Vec<f64>,
    /// The last answer, and its number of sessions.
    body: Vec<u8>,
    elements: u64,
}

/// Cold: the first read after the company's data changed (a plan change to
/// the same values moves its data version on), on a running server: no
/// answer kept from before can serve it. With the external tools, the cold
/// reads alternate with the bare query in rounds, so that a slower stretch
/// of this machine falls on both alike.
fn cold_beside_bare(
    config: &Config,
    store: &Store,
    client: &mut Client,
    probe: &Probe,
) -> io::Result<Cold> {
    let rounds = if config.external { COMPARE_ROUNDS } else { 1 };
    let mut cold = Vec::new();
    let mut sql = Vec::new();
    let mut answer = None;
    for _ in 0..rounds {
        let (times, body, elements) =
            cold_reads(client, probe, config.cold_samples.div_ceil(rounds))?;
        cold.extend(times);
        if config.external {
            sql.extend(config.bare_sql(store, &probe.sql, SQL_RUNS_PER_ROUND)?);
        }
        answer = Some((body, elements));
    }
    let (body, elements) = answer.expect("at least one round");
    if config.external {
        let rows = config.bare_count(store, &probe.sql)?;
        if rows != elements {
            return Err(io::Error::other(format!(
                "the bare query found {rows} rows, the API {elements}"
            )));
        }
    }
    Ok(Cold {
        times: cold,
        sql,
        body,
        elements,
    })
}

/// Sequential reads of a kept answer (ms), the first left out; each must
/// be `body`.
fn warm_reads(
    config: &Config,
    client: &mut Client,
    probe: &Probe,
    body: &[u8],
) -> io::Result<Vec<f64>> {
    let headers = [("Authorization", probe.authorization.as_str())];
    let mut warm = Vec::new();
    for _ in 0..config.warm_samples.max(1) + 1 {
        let started = Instant::now();
        let response = client.get(&probe.path, &headers)?;
        warm.push(started.elapsed().as_secs_f64() * 1000.0);
        if response.body != body {
            return Err(io::Error::other(format!(
                "{}: the answer changed between reads",
                probe.what
            )));
        }
    }
    warm.remove(0);
    Ok(warm)
}

/// wrk on our server and on nginx serving `body` as a static file, in
/// turns; returns both rounds and nginx's directory, to be removed.
fn under_load(
    config: &Config,
    server: &Server,
    probe: &Probe,
    body: &[u8],
) -> io::Result<(Rounds, Rounds, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("ledger-bench-nginx-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("www"))?;
    fs::write(dir.join("www").join("answer.json"), body)?;
    let nginx = Nginx::start(&dir)?;
    let mut check_client = Client::new(&nginx.address);
    let served = check_client.get("/answer.json", &[])?;
    if served.body != body {
        return Err(io::Error::other("nginx served other bytes"));
    }
    // Both stay up; wrk alternates between them, so a slower stretch of
    // this machine falls on both alike.
    let ours_url = format!("http://{}{}", server.address, probe.path);
    let nginx_url = format!("http://{}/answer.json", nginx.address);
    let mut ours = Vec::with_capacity(WRK_ROUNDS);
    let mut theirs = Vec::with_capacity(WRK_ROUNDS);
    for _ in 0..WRK_ROUNDS {
        ours.push(config.wrk(&ours_url, Some(&probe.authorization))?);
        theirs.push(config.wrk(&nginx_url, None)?);
    }
    drop(nginx);
    Ok((Rounds::new(ours), Rounds::new(theirs), dir))
}

/// The memory probe: the server's peak resident set while it streams the
/// largest company's whole history, every piece counted and dropped.
pub(super) fn memory(
    config: &Config,
    store: &Store,
    meta: &Meta,
    largest_key: &str,
) -> io::Result<Memory> {
    let name = store.name();
    say(
        config,
        format!("{name}: streaming the largest company's whole history"),
    );
    let server = config.start_server(store)?;
    let mut client = Client::new(&server.address);
    // A small read first, so the baseline includes a warmed pool.
    client.get(
        &format!("/history?month={BUSY_MONTH}&limit=1"),
        &[("Authorization", largest_key)],
    )?;
    let baseline_kb = peak_rss_kb(server.pid())?;
    let mut counter = PatternCounter::new(b"\"SessionId\":");
    let started = Instant::now();
    let response = client.send(
        "GET",
        "/history",
        &[("Authorization", largest_key)],
        &[],
        false,
        &mut |piece| counter.feed(piece),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_kb = peak_rss_kb(server.pid())?;
    server.stop();
    if response.status != 200 {
        return Err(io::Error::other(format!(
            "/history answered {}",
            response.status
        )));
    }
    let expected = meta.largest_sessions
        + meta.ingest_company_sessions
        + meta.webhook_company_sessions
        + meta.hooked_company_sessions;
    if counter.count != expected {
        return Err(io::Error::other(format!(
            "the whole history held {} sessions, {expected} expected",
            counter.count
        )));
    }
    Ok(Memory {
        baseline_kb,
        peak_kb,
        bytes: counter.bytes,
        elements: counter.count,
        seconds,
    })
}
