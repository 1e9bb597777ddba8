//! `--read-database-url` against a real streaming replica (SPEC §11): a
//! private primary (initdb) and a standby made from it with
//! `pg_basebackup -R`, each on a port of its own under a temporary folder.
//! Reads go to the replica once it has replayed the company's latest
//! change; while its replay is paused they go to the primary and show what
//! was just written; with the replica stopped they still answer, from the
//! primary, without an error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::{TestApp, TestDatabase, spawn_on};

/// PostgreSQL's server programs, newest version first.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_basebackup").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// A command run as the `postgres` user when the test runs as root
/// (PostgreSQL refuses to run as root).
fn as_postgres(program: PathBuf) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout == b"0\n");
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private cluster; stopped (immediately) when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    port: u16,
}

impl Cluster {
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = as_postgres(self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.with_extension("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.socket.display()
            ))
            .args(args);
        run(command, &format!("pg_ctl {args:?}"));
    }

    fn primary(bin: &Path, root: &Path) -> Self {
        let cluster = Cluster {
            bin: bin.to_owned(),
            data: root.join("primary"),
            socket: root.to_owned(),
            port: free_port(),
        };
        let mut initdb = as_postgres(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "--auth=trust"]);
        run(initdb, "initdb");
        cluster.pg_ctl(&["start", "-w"]);
        cluster
    }

    fn standby_of(primary: &Cluster, root: &Path) -> Self {
        let cluster = Cluster {
            bin: primary.bin.clone(),
            data: root.join("standby"),
            socket: root.to_owned(),
            port: free_port(),
        };
        let mut backup = as_postgres(primary.bin.join("pg_basebackup"));
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-p",
            ])
            .arg(primary.port.to_string())
            .arg("-D")
            .arg(&cluster.data);
        run(backup, "pg_basebackup");
        cluster.pg_ctl(&["start", "-w"]);
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut command = as_postgres(self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate"]);
        let _ = command.output();
    }
}

async fn replica_reads(app: &TestApp) -> [u64; 3] {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| {
        text.lines()
            .find(|line| {
                line.starts_with("session_ledger_replica_reads_total")
                    && line.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    [
        count("replica"),
        count("primary_replica_behind"),
        count("primary_replica_unreachable"),
    ]
}

async fn session_ids(app: &TestApp, tenant: &crate::helpers::Tenant) -> Vec<i64> {
    let (status, sessions) = app.send(tenant, Method::GET, "/session", None).await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    let mut ids: Vec<i64> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["SessionId"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn reads_go_to_a_caught_up_replica_and_never_show_less_than_was_stored() {
    let Some(bin) = postgres_bin() else {
        let message = "initdb and pg_basebackup are missing (/usr/lib/postgresql/*/bin): \
                       the read-replica test did not run";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("SKIPPED LOUDLY: {message}");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    run(
        {
            let mut chown = Command::new("chown");
            chown.arg("postgres").arg(root.path());
            chown
        },
        "chown the cluster folder",
    );
    let primary = Cluster::primary(&bin, root.path());
    let standby = Cluster::standby_of(&primary, root.path());
    let replica_url = standby.url();
    let app = spawn_on(TestDatabase::managed_elsewhere(primary.url()), |settings| {
        settings.read_database_url = Some(replica_url.into());
    })
    .await;

    let tenant = app.new_tenant("Clinic").await;
    let host = app
        .create_user(&tenant, "Aaron Johnson", "aaron@clinic.example")
        .await;
    let first = app.create_session(&tenant, host, json!({})).await;
    let first = first["SessionId"].as_i64().unwrap();

    // Caught up: the replica serves the list (after at most a moment of replay).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = replica_reads(&app).await;
        assert_eq!(session_ids(&app, &tenant).await, [first]);
        if replica_reads(&app).await[0] > before[0] {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never served a read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Replay paused: what was just stored is read from the primary.
    let mut standby_sql = PgConnection::connect(&standby.url()).await.unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut standby_sql)
        .await
        .unwrap();
    let second = app.create_session(&tenant, host, json!({})).await;
    let second = second["SessionId"].as_i64().unwrap();
    let before = replica_reads(&app).await;
    assert_eq!(session_ids(&app, &tenant).await, [first, second]);
    let (status, history) = app.send(&tenant, Method::GET, "/history", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(history.is_array(), "{history}");
    let after = replica_reads(&app).await;
    assert!(
        after[1] >= before[1] + 2,
        "reads while behind: {before:?} → {after:?}"
    );
    assert_eq!(after[0], before[0], "no read went to the lagging replica");
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut standby_sql)
        .await
        .unwrap();
    standby_sql.close().await.ok();

    // The replica gone: every read still answers, from the primary.
    drop(standby);
    let before = replica_reads(&app).await;
    for _ in 0..3 {
        assert_eq!(session_ids(&app, &tenant).await, [first, second]);
        let (status, _): (StatusCode, Value) = app.send(&tenant, Method::GET, "/user", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let after = replica_reads(&app).await;
    assert!(
        after[2] > before[2],
        "reads with the replica down: {before:?} → {after:?}"
    );
    app.stop().await;
}
