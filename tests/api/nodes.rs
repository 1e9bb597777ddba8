//! Several `serve` nodes on one database (SPEC §11): background work runs
//! on one node at a time, and however many nodes sweep, each idle session is
//! deactivated once. (A change told stored by one node and read through
//! another: history.rs, `another_nodes_changes_end_what_this_node_reuses`.)

use std::time::Duration;

use serde_json::{Value, json};
use session_ledger::domain::Timestamp;
use session_ledger::store::{BackgroundTask, Rules, Store};
use tokio::sync::oneshot;

use crate::helpers::{TestDatabase, spawn_app, spawn_on};

/// PostgreSQL: while one node runs a round, another node's round of the
/// same task is skipped, and runs once the first is over. SQLite serves
/// one node, so there it always runs.
#[tokio::test]
async fn a_background_round_runs_on_one_node_at_a_time() {
    let app = spawn_app().await;
    let other = Store::open(&app.database.url, Rules::default())
        .await
        .unwrap();
    let (held, holding) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let store = app.store.clone();
    let first = tokio::spawn(async move {
        store
            .alone(BackgroundTask::Deactivation, async {
                held.send(()).unwrap();
                released.await.unwrap();
                1
            })
            .await
            .unwrap()
    });
    holding.await.unwrap();

    let meanwhile = other
        .alone(BackgroundTask::Deactivation, async { 2 })
        .await
        .unwrap();
    let expected = if crate::backend::POSTGRES {
        None
    } else {
        Some(2)
    };
    assert_eq!(meanwhile, expected, "a round while another node runs one");

    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Some(1));
    let after = other
        .alone(BackgroundTask::Deactivation, async { 3 })
        .await
        .unwrap();
    assert_eq!(after, Some(3), "a round once the other node's is over");
    other.close().await;
}

#[tokio::test]
async fn two_sweeping_nodes_deactivate_each_idle_session_once() {
    // 30 sessions scheduled days ago and idle since, before the nodes start.
    let now = Timestamp::now();
    let days_ago = |days: i64| now.plus_minutes(-24 * 60 * days);
    let three_days_before_today =
        Timestamp::start_of(now.to_offset_date_time().date()).plus_minutes(-3 * 24 * 60);
    let mut lines = vec![
        json!({"Type": "Company", "CompanyId": 1, "Name": "Clinic", "RecordedTs": days_ago(10)}),
        json!({"Type": "User", "CompanyId": 1, "UserId": 4, "FullName": "Aaron Johnson",
               "EmailAddress": "aaron@clinic.example", "RecordedTs": days_ago(10)}),
    ];
    for session_id in 100..130 {
        lines.push(
            json!({"Type": "Session", "CompanyId": 1, "SessionId": session_id, "UserId": 4,
                          "ScheduleTs": three_days_before_today, "RecordedTs": days_ago(5)}),
        );
    }
    let log: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let database = TestDatabase::new().await;
    let store = Store::open(&database.url, Rules::default()).await.unwrap();
    store
        .import(std::io::Cursor::new(log.into_bytes()))
        .await
        .unwrap();
    store.close().await;

    let sweeping = |settings: &mut session_ledger::config::Settings| {
        settings.auto_deactivate_interval_seconds = 1;
        settings.auto_deactivate_after_hours = 24;
    };
    let app = spawn_on(database, sweeping).await;
    let other = app.another_node_with(sweeping).await;

    let deactivations = || async {
        let mut out = Vec::new();
        app.store.export(&mut out).await.unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| line["Type"] == "Deactivate")
            .map(|line| line["SessionId"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while deactivations().await.len() < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "not every idle session was deactivated within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more rounds of each node: nothing is deactivated twice.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut seen = deactivations().await;
    seen.sort_unstable();
    assert_eq!(seen, (100..130).collect::<Vec<i64>>());
    other.stop().await;
}

/// Each node keeps its own rate-limit buckets (docs/decisions.md, "Rate
/// limits with several nodes"): a key's budget is per node, so across N
/// nodes it may spend up to N times the configured rate, and each node
/// alone still holds it to that rate.
#[tokio::test]
async fn a_keys_rate_limit_is_kept_by_each_node() {
    let one_a_second = |settings: &mut session_ledger::config::Settings| {
        settings.rate_limit_per_second = 1;
    };
    let app = crate::helpers::spawn_app_with(one_a_second).await;
    let other = app.another_node_with(one_a_second).await;
    let tenant = app.new_tenant("Clinic").await;
    let mut statuses = Vec::new();
    for node in [&app, &other] {
        for _ in 0..3 {
            let response = node.tenant(&tenant, "/session").send().await.unwrap();
            statuses.push(response.status().as_u16());
        }
    }
    // Bursts of twice the rate: two answers on each node, then 429.
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    other.stop().await;
}
