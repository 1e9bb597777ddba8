//! The session-ledger server and command line under test: started, asked
//! to import or to make keys, watched, and stopped.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{self, Client};
use super::store::Store;
use super::{Config, OPERATOR_TOKEN, Rate};

/// The key of the Daily webhook secret the server is started with (the
/// webhook step signs with it).
pub(super) const DAILY_KEY: &[u8] = b"ledger-bench-daily-webhook-secret";

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

impl Config {
    pub(super) fn ledger(&self, store: &Store) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env("SESSION_LEDGER_DATABASE_URL", &store.url)
            .env("SESSION_LEDGER_RATE_LIMIT_PER_SECOND", "0")
            // The dataset holds its deactivations already; a sweep at every
            // start would scan every session while the reads are measured.
            .env("SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS", "0")
            .env("SESSION_LEDGER_OPERATOR_TOKEN", OPERATOR_TOKEN)
            // Daily hands out its secret in base64.
            .env(
                "SESSION_LEDGER_DAILY_WEBHOOK_SECRET",
                http::base64(DAILY_KEY),
            )
            // The outbound-webhook step's receiver is on 127.0.0.1, over
            // plain HTTP.
            .env("SESSION_LEDGER_WEBHOOK_ALLOW_HTTP", "true")
            .env("SESSION_LEDGER_WEBHOOK_ALLOW_PRIVATE", "true")
            .env_remove("RUST_LOG");
        command
    }

    pub(super) fn start_server(&self, store: &Store) -> io::Result<Server> {
        self.start_server_with(store, &[])
    }

    /// A server with more settings (environment variables) than usual.
    pub(super) fn start_server_with(
        &self,
        store: &Store,
        settings: &[(&str, &str)],
    ) -> io::Result<Server> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("server.log"))?;
        let child = self
            .ledger(store)
            .arg("serve")
            .envs(settings.iter().copied())
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

    pub(super) fn import(
        &self,
        store: &Store,
        file: &Path,
        lines: u64,
        sessions: u64,
    ) -> io::Result<Rate> {
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

    pub(super) fn create_key(&self, store: &Store, company: i64) -> io::Result<String> {
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

/// The process's peak resident set (VmHWM) in kB.
pub fn peak_rss_kb(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other("no VmHWM"))
}

/// Asks a child process to stop with `signal` (`-TERM`, `-QUIT`), waits up
/// to five seconds for it, then kills it.
pub(super) fn signal_then_wait(child: &mut Child, signal: &str) {
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
