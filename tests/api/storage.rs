//! SQLite as the service keeps it (this module is not in the PostgreSQL
//! suite): committed writes are copied from the write-ahead log into the
//! database file in the background, not only when the log grows long.

use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::helpers::spawn_app;

/// The companies with this name in a copy of the database file alone,
/// without its write-ahead log; `None` while the copy cannot be read (a
/// checkpoint may be writing the file as it is copied).
async fn companies_in_file_alone(database: &str, name: &str) -> Option<i64> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let alone = dir.path().join("alone.db");
    std::fs::copy(database, &alone).expect("copy the database file");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", alone.display()))
        .await
        .ok()?;
    sqlx::query_scalar("SELECT count(*) FROM companies WHERE name = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .ok()
}

#[tokio::test]
async fn a_committed_write_reaches_the_database_file_without_a_long_log() {
    let app = spawn_app().await;
    let database = app
        .database
        .url
        .strip_prefix("sqlite://")
        .expect("a SQLite test database")
        .to_owned();
    let name = "Checkpointed Clinic";
    app.create_company(name).await;
    // A handful of pages is far below the writer's automatic checkpoint
    // (16,384 pages): only the background checkpoints copy them this soon.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = companies_in_file_alone(&database, name).await;
        if found == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new company is still only in the write-ahead log after 10 s (last read: {found:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
