//! The whole integration suite again, against PostgreSQL: the same modules as
//! tests/api, each test in a fresh database on the server named by
//! `SESSION_LEDGER_TEST_POSTGRES_URL` (e.g. postgres://postgres@127.0.0.1:5432/test).
//! Without that variable the suite is not compiled in, and the one test below
//! says so loudly; under `CI=true` it fails instead.

#[cfg(postgres_tests)]
mod backend {
    pub const POSTGRES: bool = true;
}

#[cfg(postgres_tests)]
#[path = "../api/bad_input.rs"]
mod bad_input;
#[cfg(postgres_tests)]
#[path = "../api/cli.rs"]
mod cli;
#[cfg(postgres_tests)]
#[path = "../api/concurrency.rs"]
mod concurrency;
#[cfg(postgres_tests)]
#[path = "../api/crash.rs"]
mod crash;
#[cfg(postgres_tests)]
#[path = "../api/events.rs"]
mod events;
#[cfg(postgres_tests)]
#[path = "../api/history.rs"]
mod history;
#[cfg(postgres_tests)]
#[path = "../api/import_export.rs"]
mod import_export;
#[cfg(postgres_tests)]
#[path = "../api/operator.rs"]
mod operator;
#[cfg(postgres_tests)]
#[path = "../api/ops.rs"]
mod ops;
#[cfg(postgres_tests)]
#[path = "../api/process.rs"]
mod process;
#[cfg(postgres_tests)]
#[path = "../api/seed.rs"]
mod seed;

#[cfg(postgres_tests)]
#[path = "../api/deactivation.rs"]
mod deactivation;
#[cfg(postgres_tests)]
#[path = "../api/demo.rs"]
mod demo;
#[cfg(postgres_tests)]
#[path = "../api/participants.rs"]
mod participants;
#[cfg(postgres_tests)]
#[path = "../api/sessions.rs"]
mod sessions;
#[cfg(postgres_tests)]
#[path = "../api/tenant_isolation.rs"]
mod tenant_isolation;
#[cfg(postgres_tests)]
#[path = "../api/users.rs"]
mod users;

#[cfg(postgres_tests)]
#[path = "../api/helpers.rs"]
mod helpers;

#[cfg(postgres_tests)]
#[tokio::test]
async fn the_test_server_is_reachable() {
    use sqlx::Connection;
    let url = std::env::var(helpers::POSTGRES_URL_VARIABLE).unwrap();
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL named by {} is unreachable: {error}",
                helpers::POSTGRES_URL_VARIABLE
            )
        });
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[cfg(not(postgres_tests))]
#[test]
fn the_postgresql_suite_did_not_run() {
    use std::io::Write;
    let message = "\n*** The PostgreSQL integration suite was NOT run: set \
        SESSION_LEDGER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
        (a server the tests may create databases on) and run cargo test again. ***\n\n";
    // Straight to the terminal: the test harness would swallow eprintln!.
    let _ = std::io::stderr().write_all(message.as_bytes());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "under CI=true the PostgreSQL suite must run: SESSION_LEDGER_TEST_POSTGRES_URL is not set"
    );
}
