//! The limits, measured by tools outside the service: wrk, nginx serving the
//! same bytes, and the service's own SQL in `sqlite3` or `psql`.

use std::fs;
use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::dataset;
use super::http::Client;
use super::server::signal_then_wait;
use super::store::{Store, psql, run_with_input};
use super::{Config, StoreKind, Wrk, free_port};

pub(super) fn month_micros(month: &str) -> (i64, i64) {
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

/// The service's own History query (the store's `history_sql`) with the
/// values written in.
pub(super) fn history_sql(company: i64, host: Option<i64>, month: &str) -> String {
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
    pub(super) fn wrk(&self, url: &str, authorization: Option<&str>) -> io::Result<Wrk> {
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
    pub(super) fn bare_count(&self, store: &Store, sql: &str) -> io::Result<u64> {
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
    pub(super) fn bare_sql(&self, store: &Store, sql: &str, runs: usize) -> io::Result<Vec<f64>> {
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

/// nginx serving files from a directory on a loopback port, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub address: String,
}

impl Nginx {
    pub(super) fn start(dir: &Path) -> io::Result<Self> {
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
