//! What the access audit costs a request (issue 30): one host's month
//! under wrk on a server with the audit on (as deployed) and on one with
//! `--access-audit off`, both on the same database, in turns.

use std::fs;
use std::io;
use std::thread;
use std::time::Duration;

use super::http::Client;
use super::reads::{Probe, count_elements};
use super::store::Store;
use super::{AuditLoad, Config, Rounds, WRK_ROUNDS, say};

/// What the server logs at start with the audit off.
const OFF_WARNING: &str = "THE ACCESS AUDIT IS OFF";

/// After each wrk run: the audited server's last group commit (records
/// wait up to half a second) is written before the next run starts.
const PAUSE: Duration = Duration::from_secs(2);

/// `probe` is one host's month.
pub(super) fn audit_under_load(
    config: &Config,
    store: &Store,
    probe: &Probe,
) -> io::Result<AuditLoad> {
    say(
        config,
        format!(
            "{}: {} under wrk, access audit on and off, alternating",
            store.name(),
            probe.what
        ),
    );
    let log = config.work.join("server.log");
    let logged_before = fs::metadata(&log).map_or(0, |meta| meta.len() as usize);
    let on = config.start_server(store)?;
    let off = config.start_server_with(store, &[("SESSION_LEDGER_ACCESS_AUDIT", "off")])?;
    // Both serve the same answer, with the generated number of sessions.
    let mut bodies = Vec::new();
    for server in [&on, &off] {
        let mut client = Client::new(&server.address);
        let response = client.get(&probe.path, &[("Authorization", &probe.authorization)])?;
        if response.status != 200 || count_elements(&response.body) != probe.expected {
            return Err(io::Error::other(format!(
                "{} answered {} with {} sessions, {} generated",
                probe.path,
                response.status,
                count_elements(&response.body),
                probe.expected
            )));
        }
        bodies.push(response.body);
    }
    if bodies[0] != bodies[1] {
        return Err(io::Error::other(
            "the servers with the audit on and off answered differently",
        ));
    }
    let on_url = format!("http://{}{}", on.address, probe.path);
    let off_url = format!("http://{}{}", off.address, probe.path);
    let mut with_audit = Vec::with_capacity(WRK_ROUNDS);
    let mut without = Vec::with_capacity(WRK_ROUNDS);
    for _ in 0..WRK_ROUNDS {
        with_audit.push(config.wrk(&on_url, Some(&probe.authorization))?);
        thread::sleep(PAUSE);
        without.push(config.wrk(&off_url, Some(&probe.authorization))?);
        thread::sleep(PAUSE);
    }
    on.stop();
    off.stop();
    let logged = fs::read(&log)?;
    let warned = logged
        .get(logged_before..)
        .unwrap_or_default()
        .windows(OFF_WARNING.len())
        .any(|window| window == OFF_WARNING.as_bytes());
    if !warned {
        return Err(io::Error::other(format!(
            "the server with --access-audit off logged no \"{OFF_WARNING}\" warning"
        )));
    }
    let load = AuditLoad {
        what: probe.what,
        bytes: bodies[0].len() as u64,
        on: Rounds::new(with_audit),
        off: Rounds::new(without),
    };
    say(
        config,
        format!(
            "  on {:.0} req/s, off {:.0} req/s",
            load.on.median.requests_per_second, load.off.median.requests_per_second
        ),
    );
    Ok(load)
}
