//! Where a store's database lives: made for the run, copied at stage A for
//! the scale check, and dropped at the end; and the store's own command-line
//! client.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use super::{Config, StoreKind};

/// Where one store's database lives, and how to reach it.
pub(super) struct Store {
    pub(super) kind: StoreKind,
    pub(super) url: String,
    /// The PostgreSQL server URL and database name to drop at the end.
    pub(super) postgres: Option<(String, String)>,
    pub(super) sqlite_file: Option<PathBuf>,
}

impl Store {
    pub(super) fn name(&self) -> &'static str {
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

pub(super) fn psql(url: &str) -> Command {
    let mut command = Command::new("psql");
    command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]);
    command
}

pub(super) fn check(status: io::Result<std::process::ExitStatus>, what: &str) -> io::Result<()> {
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(io::Error::other(format!("{what} failed: {status}"))),
        Err(error) => Err(io::Error::other(format!("{what} failed: {error}"))),
    }
}

impl Config {
    pub(super) fn open_store(&self, kind: &StoreKind) -> io::Result<Store> {
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

    pub(super) fn close_store(&self, store: &Store) {
        if let Some((server, name)) = &store.postgres {
            let _ = psql(server)
                .arg("-c")
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .status();
        }
    }
}

pub(super) fn run_with_input(command: &mut Command, input: &str) -> io::Result<Vec<u8>> {
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

/// A copy of the store as it is now (no server has it open), to be served
/// again later: the SQLite files copied, or a PostgreSQL database made from
/// it as a template.
pub(super) fn keep_copy(config: &Config, store: &Store) -> io::Result<Store> {
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
pub(super) struct Copy<'a> {
    pub(super) config: &'a Config,
    pub(super) store: Store,
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
pub(super) fn remove_sqlite_files(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", file.display()));
    }
}
