//! One benchmark run: on each store, import the dataset in two stages,
//! read under load beside nginx and the bare SQL, ingest over HTTP beside
//! raw inserts, and watch the server's memory while it streams.
//!
//! Every step that needs a tool outside `cargo test` (wrk, nginx, sqlite3,
//! psql) is behind `Config::external`, so the test suite runs the rest of
//! this very code on a tiny dataset.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::dataset::{self, BUSY_MONTH, INGEST_MONTH, Meta, Outputs, Plan};
use super::http::{self, Client};

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
    pub cold_samples: usize,
    pub warm_samples: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
}

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
    pub ingest: Ingest,
    pub raw: Option<Raw>,
    pub memory: Memory,
}

#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub meta: Meta,
    pub generate_seconds: f64,
    pub stores: Vec<StoreResult>,
}

fn say(config: &Config, message: impl AsRef<str>) {
    if config.verbose {
        eprintln!("[bench] {}", message.as_ref());
    }
}

/// A running session-ledger server, stopped when dropped.
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        signal_then_wait(&mut self.child, "-TERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where one store's database lives, and how to reach it.
struct Store {
    kind: StoreKind,
    url: String,
    /// The PostgreSQL server URL and database name to drop at the end.
    postgres: Option<(String, String)>,
    sqlite_file: Option<PathBuf>,
}

impl Store {
    fn name(&self) -> &'static str {
        match self.kind {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres(_) => "PostgreSQL",
        }
    }
}

fn postgres_database_url(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

fn psql(url: &str) -> Command {
    let mut command = Command::new("psql");
    command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]);
    command
}

fn check(status: io::Result<std::process::ExitStatus>, what: &str) -> io::Result<()> {
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(io::Error::other(format!("{what} failed: {status}"))),
        Err(error) => Err(io::Error::other(format!("{what} failed: {error}"))),
    }
}

impl Config {
    fn ledger(&self, store: &Store) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env("SESSION_LEDGER_DATABASE_URL", &store.url)
            .env("SESSION_LEDGER_RATE_LIMIT_PER_SECOND", "0")
            // The dataset holds its deactivations already; a sweep at every
            // start would scan every session while the reads are measured.
            .env("SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS", "0")
            .env("SESSION_LEDGER_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env_remove("RUST_LOG");
        command
    }

    fn start_server(&self, store: &Store) -> io::Result<Server> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("server.log"))?;
        let child = self
            .ledger(store)
            .arg("serve")
            .env("SESSION_LEDGER_BIND", &address)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut server = Server { child, address };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = Client::new(&server.address).get("/healthz", &[])
                && response.status == 200
            {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(io::Error::other(format!(
                    "the server exited at start ({status}); see {}",
                    self.work.join("server.log").display()
                )));
            }
            if Instant::now() > deadline {
                server.terminate();
                return Err(io::Error::other("the server did not start within 60 s"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn open_store(&self, kind: &StoreKind) -> io::Result<Store> {
        match kind {
            StoreKind::Sqlite => {
                let file = self.work.join("bench-sqlite.db");
                remove_sqlite_files(&file);
                Ok(Store {
                    kind: kind.clone(),
                    url: format!("sqlite://{}", file.display()),
                    postgres: None,
                    sqlite_file: Some(file),
                })
            }
            StoreKind::Postgres(server) => {
                let name = format!("sl_bench_{}", std::process::id());
                check(
                    psql(server)
                        .arg("-c")
                        .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .status(),
                    "dropping the benchmark database",
                )?;
                check(
                    psql(server)
                        .arg("-c")
                        .arg(format!("CREATE DATABASE {name}"))
                        .status(),
                    "creating the benchmark database",
                )?;
                Ok(Store {
                    kind: kind.clone(),
                    url: postgres_database_url(server, &name),
                    postgres: Some((server.clone(), name)),
                    sqlite_file: None,
                })
            }
        }
    }

    fn close_store(&self, store: &Store) {
        if let Some((server, name)) = &store.postgres {
            let _ = psql(server)
                .arg("-c")
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .status();
        }
    }

    fn import(&self, store: &Store, file: &Path, lines: u64, sessions: u64) -> io::Result<Rate> {
        let started = Instant::now();
        let output = self.ledger(store).arg("import").arg(file).output()?;
        let seconds = started.elapsed().as_secs_f64();
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "import of {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let printed = String::from_utf8_lossy(&output.stdout);
        if !printed.contains(&format!("\"ImportedLines\":{lines}")) {
            return Err(io::Error::other(format!(
                "import of {} reported {printed}, expected {lines} lines",
                file.display()
            )));
        }
        Ok(Rate {
            lines,
            sessions,
            seconds,
        })
    }

    fn create_key(&self, store: &Store, company: i64) -> io::Result<String> {
        let output = self
            .ledger(store)
            .args(["key", "create", "--company", &company.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let field = |name: &str| -> Option<String> {
            let start = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
            let end = start + text[start..].find('"')?;
            Some(text[start..end].to_owned())
        };
        match (field("ApiKey"), field("ApiSecret")) {
            (Some(key), Some(secret)) => Ok(http::basic(&key, &secret)),
            _ => Err(io::Error::other(format!(
                "key create for company {company} printed {text}"
            ))),
        }
    }
}

/// Counts occurrences of a pattern in a stream of byte pieces.
pub struct PatternCounter {
    pattern: &'static [u8],
    carry: Vec<u8>,
    pub count: u64,
    pub bytes: u64,
}

impl PatternCounter {
    pub fn new(pattern: &'static [u8]) -> Self {
        Self {
            pattern,
            carry: Vec::new(),
            count: 0,
            bytes: 0,
        }
    }
    pub fn feed(&mut self, piece: &[u8]) {
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
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (values[middle - 1] + values[middle]) / 2.0,
        _ => values[middle],
    }
}

fn month_micros(month: &str) -> (i64, i64) {
    let year: i32 = month[..4].parse().expect("yyyy");
    let number: u32 = month[5..7].parse().expect("mm");
    let start = dataset::days_from_civil(year, number, 1);
    let (next_year, next_month) = if number == 12 {
        (year + 1, 1)
    } else {
        (year, number + 1)
    };
    let end = dataset::days_from_civil(next_year, next_month, 1);
    (start * 86_400_000_000, end * 86_400_000_000)
}

/// The service's own history query (src/store/shared/history.rs) with the
/// values written in.
fn history_sql(company: i64, host: Option<i64>, month: &str) -> String {
    let (start, end) = month_micros(month);
    let host = host.map_or_else(String::new, |h| format!(" AND host_user_id = {h}"));
    format!(
        "SELECT session_id, schedule_ts, billable_ts, duration_minutes, status, host_user_id, host_full_name, \
         guest_names, history_group, history_ts FROM sessions WHERE company_id = {company}{host} \
         AND history_group = 0 AND history_ts >= {start} AND history_ts < {end} AND state <> 'cancelled' \
         ORDER BY history_group, history_ts, session_id"
    )
}

/// Parses wrk's `--latency` report.
pub fn parse_wrk(text: &str) -> Option<Wrk> {
    let millis = |value: &str| -> Option<f64> {
        let value = value.trim();
        let (number, factor) = if let Some(v) = value.strip_suffix("us") {
            (v, 0.001)
        } else if let Some(v) = value.strip_suffix("ms") {
            (v, 1.0)
        } else if let Some(v) = value.strip_suffix("m") {
            (v, 60_000.0)
        } else if let Some(v) = value.strip_suffix('s') {
            (v, 1000.0)
        } else {
            (value, 1.0)
        };
        number.parse::<f64>().ok().map(|n| n * factor)
    };
    let mut wrk = Wrk::default();
    let mut found = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            wrk.requests_per_second = rest.trim().parse().ok()?;
            found = true;
        } else if let Some(rest) = line.strip_prefix("50%") {
            wrk.p50_ms = millis(rest)?;
        } else if let Some(rest) = line.strip_prefix("90%") {
            wrk.p90_ms = millis(rest)?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            wrk.p99_ms = millis(rest)?;
        } else if line.contains("requests in") {
            wrk.requests = line.split_whitespace().next()?.parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            wrk.bad_responses = rest.trim().parse().ok()?;
        }
    }
    found.then_some(wrk)
}

impl Config {
    fn wrk(&self, url: &str, authorization: Option<&str>) -> io::Result<Wrk> {
        let mut command = Command::new("wrk");
        command.args([
            "-t",
            &self.wrk_threads.to_string(),
            "-c",
            &self.wrk_connections.to_string(),
            "-d",
            &format!("{}s", self.wrk_seconds),
            "--timeout",
            "30s",
            "--latency",
        ]);
        if let Some(authorization) = authorization {
            command.args(["-H", &format!("Authorization: {authorization}")]);
        }
        let output = command.arg(url).output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_wrk(&text).ok_or_else(|| {
            io::Error::other(format!(
                "wrk printed no result: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        })
    }

    /// The number of rows the bare query finds, in the store's own
    /// command-line client.
    fn bare_count(&self, store: &Store, sql: &str) -> io::Result<u64> {
        let count_sql = format!("SELECT COUNT(*) FROM ({sql}) AS q;");
        let count = match &store.kind {
            StoreKind::Sqlite => Command::new("sqlite3")
                .arg(store.sqlite_file.as_ref().expect("sqlite"))
                .arg(&count_sql)
                .output()?,
            StoreKind::Postgres(_) => psql(&store.url)
                .args(["-t", "-A", "-c", &count_sql])
                .output()?,
        };
        String::from_utf8_lossy(&count.stdout)
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("{} printed no count", store.name())))
    }

    /// `runs` times of the bare query in the store's own command-line
    /// client (ms). sqlite3: a fresh process each
    /// (the service's connections lose their page cache when the data
    /// changes too), each the larger of wall time (printed to the
    /// millisecond) and CPU time; psql: runs in one session (\timing;
    /// PostgreSQL's shared buffers survive a change, and the service's
    /// connections are warm), after one left out.
    fn bare_sql(&self, store: &Store, sql: &str, runs: usize) -> io::Result<Vec<f64>> {
        match &store.kind {
            StoreKind::Sqlite => {
                let file = store.sqlite_file.as_ref().expect("sqlite");
                // Each run in a fresh process: after a change, the service's
                // connections start with an empty page cache too.
                let mut output = Vec::new();
                for _ in 0..runs {
                    let script = format!(".output /dev/null\n.timer on\n{sql};\n");
                    output.extend(run_with_input(Command::new("sqlite3").arg(file), &script)?);
                }
                let times: Vec<f64> = String::from_utf8_lossy(&output)
                    .lines()
                    .filter_map(|line| {
                        let mut words = line.split_whitespace();
                        let mut value = |name: &str| -> Option<f64> {
                            words
                                .by_ref()
                                .skip_while(|w| *w != name)
                                .nth(1)?
                                .parse()
                                .ok()
                        };
                        let real = value("real")?;
                        let user = value("user")?;
                        let sys = value("sys")?;
                        Some(real.max(user + sys) * 1000.0)
                    })
                    .collect();
                if times.len() != runs {
                    return Err(io::Error::other("sqlite3 printed no timings"));
                }
                Ok(times)
            }
            StoreKind::Postgres(_) => {
                let mut script = String::from("\\o /dev/null\n\\timing on\n");
                // One more than asked: the first runs in a new backend, which
                // loads its catalog caches, and is left out.
                for _ in 0..=runs {
                    script.push_str(&format!("{sql};\n"));
                }
                let output = run_with_input(&mut psql(&store.url), &script)?;
                let times: Vec<f64> = String::from_utf8_lossy(&output)
                    .lines()
                    .filter_map(|line| {
                        line.strip_prefix("Time: ")?
                            .split_whitespace()
                            .next()?
                            .parse()
                            .ok()
                    })
                    .skip(1)
                    .collect();
                if times.len() != runs {
                    return Err(io::Error::other("psql printed no timings"));
                }
                Ok(times)
            }
        }
    }
}

fn run_with_input(command: &mut Command, input: &str) -> io::Result<Vec<u8>> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_owned();
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer.join().expect("writer")?;
    if !output.status.success() {
        return Err(io::Error::other(format!("{command:?} failed")));
    }
    Ok(output.stdout)
}

/// nginx serving files from a directory on a loopback port, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub address: String,
}

impl Nginx {
    fn start(dir: &Path) -> io::Result<Self> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        for sub in ["www", "tmp", "logs"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let d = dir.display();
        let config = format!(
            "{user}worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    types {{ }}
    default_type \"application/json; charset=utf-8\";
    server {{
        listen {address};
        root {d}/www;
    }}
}}
",
            user = if is_root { "user root;\n" } else { "" },
        );
        fs::write(dir.join("nginx.conf"), config)?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut nginx = Nginx { child, address };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if Client::new(&nginx.address).get("/", &[]).is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                return Err(io::Error::other(format!(
                    "nginx exited at start ({status}); see {d}/logs/error.log"
                )));
            }
            if Instant::now() > deadline {
                nginx.stop();
                return Err(io::Error::other("nginx did not start"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        signal_then_wait(&mut self.child, "-QUIT");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Moves a company's data version on without changing its data: its plan,
/// put back as it is.
fn touch_company(client: &mut Client, company: i64) -> io::Result<()> {
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

/// The process's peak resident set (VmHWM) in kB.
pub fn peak_rss_kb(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other("no VmHWM"))
}

struct Probe {
    what: &'static str,
    company: i64,
    path: String,
    authorization: String,
    expected: u64,
    sql: String,
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
    let meta = dataset::generate(
        &config.plan,
        Outputs {
            stage_a: &mut a,
            stage_b: &mut b,
            ingest_batches: &mut batches,
            raw_sql: &mut raw,
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
    let name = store.name();
    let mut result = StoreResult {
        backend: name.to_owned(),
        ..StoreResult::default()
    };
    say(
        config,
        format!("{name}: importing stage A ({} lines)", meta.stage_a_lines),
    );
    result.import_base = config.import(
        store,
        &config.work.join("stage-a.jsonl"),
        meta.stage_a_lines,
        meta.stage_a_sessions,
    )?;
    say(
        config,
        format!(
            "{name}: stage A in {:.1} s ({:.0} lines/s)",
            result.import_base.seconds,
            result.import_base.lines_per_second()
        ),
    );
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
    let base_scale = meta.stage_a_sessions;
    result
        .reads
        .extend(reads(config, store, &probes, base_scale)?);
    let stage_a_copy = if meta.stage_b_lines > 0 {
        Some(Copy {
            config,
            store: keep_copy(config, store)?,
        })
    } else {
        None
    };
    if meta.stage_b_lines > 0 {
        say(
            config,
            format!("{name}: importing stage B ({} lines)", meta.stage_b_lines),
        );
        let rate = config.import(
            store,
            &config.work.join("stage-b.jsonl"),
            meta.stage_b_lines,
            meta.stage_b_sessions,
        )?;
        say(
            config,
            format!(
                "{name}: stage B in {:.1} s ({:.0} lines/s)",
                rate.seconds,
                rate.lines_per_second()
            ),
        );
        result.import_more = Some(rate);
        let full_scale = meta.stage_a_sessions + meta.stage_b_sessions;
        result
            .reads
            .extend(reads(config, store, &probes, full_scale)?);
        if let Some(copy) = stage_a_copy {
            say(
                config,
                format!(
                    "{name}: cold reads at {base_scale} and {full_scale} sessions, alternating"
                ),
            );
            let checks = scale_checks(
                config,
                (&copy.store, store),
                &probes,
                (base_scale, full_scale),
            );
            drop(copy);
            result.scale_checks = checks?;
        }
    }
    if config.external {
        result.raw = Some(raw_inserts(config, store, meta)?);
    }
    result.ingest = ingest(config, store, meta, &largest_key)?;
    result.memory = memory(config, store, meta, &largest_key)?;
    Ok(result)
}

/// `samples` cold reads of a probe (times in ms), the last
/// answer, and its number of sessions, checked against the generator's.
fn cold_reads(
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

/// A copy of the store as it is now (no server has it open), to be served
/// again later: the SQLite files copied, or a PostgreSQL database made from
/// it as a template.
fn keep_copy(config: &Config, store: &Store) -> io::Result<Store> {
    if let Some((server, name)) = &store.postgres {
        let copy = format!("{name}_stage_a");
        check(
            psql(server)
                .arg("-c")
                .arg(format!("DROP DATABASE IF EXISTS {copy} WITH (FORCE)"))
                .status(),
            "dropping the stage-A copy",
        )?;
        check(
            psql(server)
                .arg("-c")
                .arg(format!("CREATE DATABASE {copy} TEMPLATE {name}"))
                .status(),
            "copying the database of stage A",
        )?;
        return Ok(Store {
            kind: store.kind.clone(),
            url: postgres_database_url(server, &copy),
            postgres: Some((server.clone(), copy)),
            sqlite_file: None,
        });
    }
    let file = store
        .sqlite_file
        .as_ref()
        .expect("a SQLite store has its file");
    let copy = config.work.join("bench-sqlite-stage-a.db");
    remove_sqlite_files(&copy);
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", file.display()));
        if from.exists() {
            fs::copy(&from, format!("{}{suffix}", copy.display()))?;
        }
    }
    Ok(Store {
        kind: store.kind.clone(),
        url: format!("sqlite://{}", copy.display()),
        postgres: None,
        sqlite_file: Some(copy),
    })
}

/// A copy made by [`keep_copy`], removed when dropped (also when the run
/// fails before the scale check).
struct Copy<'a> {
    config: &'a Config,
    store: Store,
}

impl Drop for Copy<'_> {
    fn drop(&mut self) {
        self.config.close_store(&self.store);
        if let Some(file) = &self.store.sqlite_file {
            remove_sqlite_files(file);
        }
    }
}

/// A SQLite database's file and the log and index beside it, if any.
fn remove_sqlite_files(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

/// Every probe's cold reads on the (smaller, larger) database, alternating
/// between them [`SCALE_ROUNDS`] times, each round on a new server.
fn scale_checks(
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

fn reads(config: &Config, store: &Store, probes: &[Probe], scale: u64) -> io::Result<Vec<Read>> {
    let name = store.name();
    let mut results = Vec::new();
    for probe in probes {
        say(config, format!("{name} @ {scale} sessions: {}", probe.what));
        let headers = [("Authorization", probe.authorization.as_str())];
        let server = config.start_server(store)?;
        let mut client = Client::new(&server.address);
        client.get("/readyz", &[])?;
        // Cold: the first read after the company's data changed (a plan
        // change to the same values moves its data version on), on a
        // running server: no answer kept from before can serve it. With
        // the external tools, the cold reads alternate with the bare query
        // in rounds, so that a slower stretch of this machine falls on
        // both alike.
        let rounds = if config.external { COMPARE_ROUNDS } else { 1 };
        let mut cold = Vec::new();
        let mut sql = Vec::new();
        let mut answer = None;
        for _ in 0..rounds {
            let (times, body, elements) =
                cold_reads(&mut client, probe, config.cold_samples.div_ceil(rounds))?;
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
            let dir =
                std::env::temp_dir().join(format!("ledger-bench-nginx-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("www"))?;
            fs::write(dir.join("www").join("answer.json"), &body)?;
            {
                let nginx = Nginx::start(&dir)?;
                let mut check_client = Client::new(&nginx.address);
                let served = check_client.get("/answer.json", &[])?;
                if served.body != body {
                    return Err(io::Error::other("nginx served other bytes"));
                }
                // Both stay up; wrk alternates between them, so a slower
                // stretch of this machine falls on both alike.
                let ours_url = format!("http://{}{}", server.address, probe.path);
                let nginx_url = format!("http://{}/answer.json", nginx.address);
                let mut ours = Vec::with_capacity(WRK_ROUNDS);
                let mut theirs = Vec::with_capacity(WRK_ROUNDS);
                for _ in 0..WRK_ROUNDS {
                    ours.push(config.wrk(&ours_url, Some(&probe.authorization))?);
                    theirs.push(config.wrk(&nginx_url, None)?);
                }
                read.ours = Some(Rounds::new(ours));
                read.nginx = Some(Rounds::new(theirs));
                drop(nginx);
            }
            server.stop();
            let _ = fs::remove_dir_all(&dir);
            read.sql_ms = Some(median(sql));
            read.sql_rows = Some(elements);
        } else {
            server.stop();
        }
        say(config, format!("  {read:?}"));
        results.push(read);
    }
    Ok(results)
}

/// The same call rows as the ingest step, inserted by the store's own client
/// with one transaction per batch; then removed again.
fn raw_inserts(config: &Config, store: &Store, meta: &Meta) -> io::Result<Raw> {
    let name = store.name();
    say(
        config,
        format!("{name}: raw inserts of {} call rows", meta.ingest_call_rows),
    );
    let script = fs::read_to_string(config.work.join("raw-calls.sql"))?;
    let (ingest_start, _) = month_micros(INGEST_MONTH);
    let cleanup = format!(
        "DELETE FROM calls WHERE (company_id, session_id) IN \
         (SELECT company_id, session_id FROM sessions WHERE schedule_ts >= {ingest_start});"
    );
    let (processes, seconds) = match &store.kind {
        StoreKind::Sqlite => {
            let file = store.sqlite_file.as_ref().expect("sqlite");
            let input = format!(".timeout 30000\nPRAGMA foreign_keys = ON;\n{script}");
            let started = Instant::now();
            run_with_input(Command::new("sqlite3").arg(file), &input)?;
            let seconds = started.elapsed().as_secs_f64();
            run_with_input(Command::new("sqlite3").arg(file), &cleanup)?;
            (1, seconds)
        }
        StoreKind::Postgres(_) => {
            // As many writers as the ingest step has clients, batches dealt
            // out the same way.
            let n = config.ingest_clients.max(1);
            let mut parts = vec![String::new(); n];
            for (i, transaction) in script.split_inclusive("COMMIT;\n").enumerate() {
                parts[i % n].push_str(transaction);
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
            (n, seconds)
        }
    };
    Ok(Raw {
        rows: meta.ingest_call_rows,
        events: meta.ingest_events,
        processes,
        seconds,
    })
}

fn ingest(config: &Config, store: &Store, meta: &Meta, largest_key: &str) -> io::Result<Ingest> {
    let name = store.name();
    say(
        config,
        format!(
            "{name}: ingesting {} events in {} batches with {} clients",
            meta.ingest_events, meta.ingest_batches, config.ingest_clients
        ),
    );
    let batches: Vec<String> =
        BufReader::new(File::open(config.work.join("ingest-batches.jsonl"))?)
            .lines()
            .collect::<io::Result<_>>()?;
    let server = config.start_server(store)?;
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
            let address = server.address.clone();
            let bearer = bearer.clone();
            thread::spawn(move || -> io::Result<()> {
                let mut client = Client::new(&address);
                for batch in batches.iter().skip(c).step_by(clients) {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let headers = [
                        ("Authorization", bearer.as_str()),
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
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("client thread")?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    if accepted != meta.ingest_events {
        return Err(io::Error::other(format!(
            "{accepted} events accepted of {}",
            meta.ingest_events
        )));
    }
    let mut client = Client::new(&server.address);
    let response = client.get(
        &format!("/history?month={INGEST_MONTH}"),
        &[("Authorization", largest_key)],
    )?;
    let sessions_visible = count_elements(&response.body);
    if sessions_visible != meta.ingest_company_sessions {
        return Err(io::Error::other(format!(
            "{sessions_visible} ingested sessions billable in {INGEST_MONTH}, {} expected",
            meta.ingest_company_sessions
        )));
    }
    server.stop();
    Ok(Ingest {
        events: meta.ingest_events,
        accepted,
        batches: meta.ingest_batches,
        clients,
        seconds,
        sessions_visible,
    })
}

fn memory(config: &Config, store: &Store, meta: &Meta, largest_key: &str) -> io::Result<Memory> {
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
    let expected = meta.largest_sessions + meta.ingest_company_sessions;
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

/// Asks a child process to stop with `signal` (`-TERM`, `-QUIT`), waits up
/// to five seconds for it, then kills it.
fn signal_then_wait(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
}
