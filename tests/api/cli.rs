//! The command line against a real database file: one JSON line per created
//! object, import and export through files and pipes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::TestDatabase;

fn ledger(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_session-ledger"))
        .args(args)
        .env("SESSION_LEDGER_DATABASE_URL", database_url)
        .env_remove("SESSION_LEDGER_OPERATOR_TOKEN")
        .output()
        .expect("the binary runs")
}

fn json_line(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn creating_commands_print_one_line_of_json() {
    let database = TestDatabase::new().await;
    let url = database.url.clone();

    assert!(ledger(&url, &["migrate"]).status.success());
    let company = json_line(&ledger(
        &url,
        &[
            "company",
            "create",
            "--name",
            "Clinic",
            "--included-sessions",
            "5",
            "--overage-cents",
            "700",
        ],
    ));
    assert_eq!(company["Name"], "Clinic");
    assert_eq!(company["IncludedSessionsPerMonth"], 5);
    assert_eq!(company["OveragePriceCents"], 700);
    let company_id = company["CompanyId"].as_i64().unwrap().to_string();

    let key = json_line(&ledger(&url, &["key", "create", "--company", &company_id]));
    let api_key = key["ApiKey"].as_str().unwrap();
    assert_eq!(key["ApiSecret"].as_str().unwrap().len(), 64);
    let revoked = json_line(&ledger(&url, &["key", "revoke", api_key]));
    assert_eq!(revoked["Revoked"], true);
    let again = ledger(&url, &["key", "revoke", api_key]);
    assert!(
        !again.status.success(),
        "a revoked key cannot be revoked again"
    );

    let agent = json_line(&ledger(
        &url,
        &[
            "support-agent",
            "create",
            "--name",
            "Marisa Zendejas",
            "--email",
            "mz@platform.example",
        ],
    ));
    assert!(agent["SupportAgentId"].as_i64().unwrap() > 0);

    let bad = ledger(
        &url,
        &["support-agent", "create", "--name", "X", "--email", "nope"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FullName"));
}

#[tokio::test]
async fn export_to_stdout_and_import_from_stdin() {
    let (first_database, second_database) = (TestDatabase::new().await, TestDatabase::new().await);
    let (first, second) = (first_database.url.clone(), second_database.url.clone());
    let dir = tempfile::tempdir().unwrap();
    json_line(&ledger(&first, &["company", "create", "--name", "Clinic"]));
    let exported = ledger(&first, &["export", "-"]);
    assert!(exported.status.success());
    let log = String::from_utf8(exported.stdout).unwrap();
    assert_eq!(journal(&log).len(), 1, "{log}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_session-ledger"))
        .args(["import", "-"])
        .env("SESSION_LEDGER_DATABASE_URL", &second)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.as_bytes())
        .unwrap();
    let imported = child.wait_with_output().unwrap();
    assert_eq!(json_line(&imported)["ImportedLines"], log.lines().count());
    let reexported = ledger(&second, &["export", "-"]);
    let reexported = String::from_utf8(reexported.stdout).unwrap();
    assert_eq!(journal(&reexported), journal(&log));
    let records: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("{\"Type\":\"Access\","))
        .collect();
    assert_eq!(records.len(), 2, "company create, export: {log}");
    for record in records {
        assert!(
            reexported.contains(record),
            "the audit came along: {reexported}"
        );
    }

    let file = dir.path().join("broken.jsonl");
    std::fs::write(
        &file,
        "{\"Type\":\"Company\",\"CompanyId\":77,\"Name\":\"Ok\"}\n{broken\n",
    )
    .unwrap();
    let broken = ledger(&second, &["import", file.to_str().unwrap()]);
    assert!(!broken.status.success());
    assert!(String::from_utf8_lossy(&broken.stderr).contains("line 2"));
    let unchanged = ledger(&second, &["export", "-"]);
    assert_eq!(
        journal(&String::from_utf8(unchanged.stdout).unwrap()),
        journal(&log),
        "nothing of the broken import was kept"
    );
}

/// The server reuses what it read (keys, data versions, History answers)
/// while the database is unchanged; a change made by another process — here
/// the command line — must end that, or a revoked key would keep working.
#[tokio::test]
async fn a_running_server_sees_a_key_revoked_by_the_command_line() {
    let app = crate::helpers::spawn_app().await;
    let company_id = app.create_company("Clinic").await;
    let tenant = app.create_key(company_id).await;
    let history = || async {
        app.tenant(&tenant, "/history")
            .send()
            .await
            .unwrap()
            .status()
    };
    // Read twice, so that the key is kept by the server.
    assert_eq!(history().await, reqwest::StatusCode::OK);
    assert_eq!(history().await, reqwest::StatusCode::OK);

    let revoked = json_line(&ledger(
        &app.database.url,
        &["key", "revoke", &tenant.api_key],
    ));
    assert_eq!(revoked["Revoked"], true);

    // Another process's commit is seen within one poll (SQLite, 50 ms) or
    // one notification (PostgreSQL); ten seconds is only a guard.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = history().await;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key still works 10 s after the command line revoked it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The journal's lines of an export, without the access audit's (which
/// every export adds to: an export is recorded as a read).
fn journal(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| !line.starts_with("{\"Type\":\"Access"))
        .collect()
}
