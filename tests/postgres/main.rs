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
#[path = "../api/access_audit.rs"]
mod access_audit;

#[cfg(postgres_tests)]
#[path = "../api/authentication.rs"]
mod authentication;
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
#[path = "../api/console.rs"]
mod console;
#[cfg(postgres_tests)]
#[path = "../api/console_browser.rs"]
mod console_browser;
#[cfg(postgres_tests)]
#[path = "../api/crash.rs"]
mod crash;
#[cfg(postgres_tests)]
#[path = "../api/current_email.rs"]
mod current_email;
#[cfg(postgres_tests)]
#[path = "../api/duplicate_window.rs"]
mod duplicate_window;
#[cfg(postgres_tests)]
#[path = "../api/events/mod.rs"]
mod events;
#[cfg(postgres_tests)]
#[path = "../api/history.rs"]
mod history;
#[cfg(postgres_tests)]
#[path = "../api/import_export.rs"]
mod import_export;
#[cfg(postgres_tests)]
#[path = "../api/limits.rs"]
mod limits;
#[cfg(postgres_tests)]
#[path = "../api/nodes.rs"]
mod nodes;
#[cfg(postgres_tests)]
#[path = "../api/operator.rs"]
mod operator;
#[cfg(postgres_tests)]
#[path = "../api/ops.rs"]
mod ops;
#[cfg(postgres_tests)]
#[path = "../api/outage.rs"]
mod outage;
#[cfg(postgres_tests)]
#[path = "../api/process.rs"]
mod process;
#[cfg(postgres_tests)]
#[path = "../api/providers.rs"]
mod providers;
#[cfg(postgres_tests)]
#[path = "../api/securevideo_migration.rs"]
mod securevideo_migration;
#[cfg(postgres_tests)]
#[path = "../api/securevideo_replay.rs"]
mod securevideo_replay;
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
#[path = "../api/spec_3_1.rs"]
mod spec_3_1;
#[cfg(postgres_tests)]
#[path = "../api/tenant_isolation.rs"]
mod tenant_isolation;
#[cfg(postgres_tests)]
#[path = "../api/users.rs"]
mod users;
#[cfg(postgres_tests)]
#[path = "../api/webhook_crash.rs"]
mod webhook_crash;
#[cfg(postgres_tests)]
#[path = "../api/webhook_failing.rs"]
mod webhook_failing;
#[cfg(postgres_tests)]
#[path = "../api/webhook_tls.rs"]
mod webhook_tls;
#[cfg(postgres_tests)]
#[path = "../api/webhooks.rs"]
mod webhooks;

#[cfg(postgres_tests)]
mod distribution;
#[cfg(postgres_tests)]
mod replica;

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

/// An import into an empty database copies frozen rows (nothing left to
/// vacuum) and analyzes; one into a database with data rewrites session
/// rows as it replays their changes, and vacuums once it has committed. So
/// no dead row versions are left for reads to step over either way.
#[cfg(postgres_tests)]
#[tokio::test]
async fn an_import_leaves_no_dead_rows_behind() {
    use sqlx::Connection;
    let app = helpers::spawn_app().await;
    // The seed's sessions and two calls, then the calls' ends: each event
    // line rewrites its session.
    let events = [
        r#"{"Type":"Connect","EventId":"h","SessionId":105236,"Party":"Host","CallId":"h","Ts":"2016-11-03T21:46:00"}"#,
        r#"{"Type":"Connect","EventId":"g","SessionId":105236,"Party":"Participant","ParticipationId":9,"CallId":"g","Ts":"2016-11-03T21:46:16.1"}"#,
        r#"{"Type":"Disconnect","EventId":"g2","SessionId":105236,"Party":"Participant","ParticipationId":9,"CallId":"g","Ts":"2016-11-03T22:11:00"}"#,
        r#"{"Type":"Disconnect","EventId":"h2","SessionId":105236,"Party":"Host","CallId":"h","Ts":"2016-11-03T22:12:00"}"#,
    ];
    let mut connection = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    // Dead row versions counted in the table itself (pgstattuple): the
    // statistics views count them too, but a writing session may report
    // its share after a vacuum has reset the count.
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .execute(&mut connection)
        .await
        .unwrap();
    let mut sessions_table = async || -> (i64, bool, bool) {
        // A vacuum's and an analyze's own reports reach the view at once.
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut connection)
            .await
            .unwrap();
        sqlx::query_as(
            "SELECT (SELECT dead_tuple_count FROM pgstattuple('sessions')),
                    last_vacuum IS NOT NULL, last_analyze IS NOT NULL
             FROM pg_stat_user_tables WHERE relname = 'sessions'",
        )
        .fetch_one(&mut connection)
        .await
        .unwrap()
    };

    app.import(&format!("{}{}\n", seed::SEED_SETUP, events[..2].join("\n")))
        .await;
    let (dead, vacuumed, analyzed) = sessions_table().await;
    assert_eq!(dead, 0, "dead row versions of sessions after a bulk import");
    assert!(
        analyzed,
        "the sessions table was analyzed after the bulk import"
    );
    assert!(!vacuumed, "a bulk import's frozen rows need no vacuum");

    app.import(&format!("{}\n", events[2..].join("\n"))).await;
    let (dead, vacuumed, _) = sessions_table().await;
    assert!(vacuumed, "the sessions table was vacuumed after the replay");
    assert_eq!(dead, 0, "dead row versions of sessions after the replay");
}

/// A bulk import takes the secondary indexes and foreign keys off for its
/// copy and puts them back: after it, the schema has every one of them as
/// the migrations made them, and they hold (a duplicate journal event id or
/// an orphan call is refused by the server).
#[cfg(postgres_tests)]
#[tokio::test]
async fn a_bulk_import_puts_back_every_index_and_foreign_key() {
    use sqlx::Connection;
    let app = helpers::spawn_app().await;
    let mut connection = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    // Each index's and each foreign key's name and definition.
    type Definitions = Vec<(String, String)>;
    let mut schema = async || -> (Definitions, Definitions) {
        let indexes = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes
             WHERE schemaname = current_schema() ORDER BY 1",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        let foreign_keys = sqlx::query_as(
            "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
             FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
             ORDER BY 1",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        (indexes, foreign_keys)
    };
    let (indexes, foreign_keys) = schema().await;
    assert!(
        indexes.iter().any(|(name, _)| name == "sessions_history"),
        "a secondary index to take off: {indexes:?}"
    );
    assert!(!foreign_keys.is_empty(), "foreign keys to take off");

    app.import(&format!(
        "{}{}\n",
        seed::SEED_SETUP,
        r#"{"Type":"Connect","EventId":"h","SessionId":105236,"Party":"Host","CallId":"h","Ts":"2016-11-03T21:46:00"}"#
    ))
    .await;
    assert_eq!(schema().await, (indexes, foreign_keys));

    let session_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sessions WHERE session_id = 105236)")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(session_exists, "the import's rows were copied");
    // The put-back unique index and foreign keys are enforced.
    let duplicate = sqlx::query(
        "INSERT INTO journal (company_id, seq, event_id, record)
         SELECT company_id, seq + 1000000, event_id, record FROM journal WHERE event_id = 'h'",
    )
    .execute(&mut connection)
    .await;
    assert!(
        duplicate.is_err(),
        "a second journal row of event h was accepted: {duplicate:?}"
    );
    let orphan = sqlx::query("UPDATE sessions SET host_user_id = -1 WHERE session_id = 105236")
        .execute(&mut connection)
        .await;
    assert!(orphan.is_err(), "a session of no host was accepted");
}

/// Pooled connections are not pinged before every use (a round trip each);
/// one that sat idle for more than a second is, so a server that dropped
/// the service's connections meanwhile (a restart, a failover) costs no
/// request an error.
#[cfg(postgres_tests)]
#[tokio::test]
async fn connections_dropped_while_idle_are_replaced_unnoticed() {
    use sqlx::Connection;
    let app = helpers::spawn_app().await;
    let tenant = app.new_tenant("Idle Clinic").await;
    app.history(&tenant, "/history?month=2016-11-01").await;
    let mut connection = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert!(!dropped.is_empty(), "the service had connections to drop");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for _ in 0..3 {
        let body = app.history(&tenant, "/history?month=2016-11-01").await;
        assert_eq!(body, serde_json::json!([]));
    }
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
