//! The SQLite writer after SQLite ended a transaction itself (a full disk).

use super::*;
use crate::domain::{ConnectionEvent, EventKind, PartyKind};

/// What a full disk does to a statement with no statement journal:
/// SQLite rolls the whole transaction back by itself. The one writing
/// connection must not stay stuck in sqlx's count of open transactions:
/// the next write begins and commits. (sqlx before 0.9.1 failed the
/// `ROLLBACK` that follows and kept counting the transaction open; the
/// writer's pool closes such a connection, `connect`.)
#[tokio::test]
async fn the_writer_writes_again_after_sqlite_ended_a_transaction_itself() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = Store::open(&url, Rules::default()).await.unwrap();
    let Backend::Sqlite { writer, .. } = &store.backend else {
        unreachable!("a sqlite: URL");
    };
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
    // Fails or not, by sqlx's version; what follows must work either way.
    let _ = tx.rollback().await;

    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("the writer begins again");
    sqlx::query("UPDATE id_counters SET last_value = last_value + 1 WHERE counter_name = 'entity'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The multi-row writes of a batch of events keep no statement journal
/// (`OR FAIL`), so a full disk in one of them makes SQLite roll the
/// whole transaction back itself. The batch must keep nothing, a group of
/// batches must fail with that error too (not with its failed
/// `ROLLBACK`'s), and once there is room again the same batch must be
/// applied whole.
#[tokio::test]
async fn a_batch_that_finds_the_disk_full_keeps_nothing_and_applies_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = Store::open(&url, Rules::default()).await.unwrap();
    store.migrate().await.unwrap();
    let setup = concat!(
        r#"{"Type":"Company","CompanyId":1,"Name":"Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0}"#,
        "\n",
        r#"{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Host","EmailAddress":"host@clinic.example"}"#,
        "\n",
        r#"{"Type":"Session","CompanyId":1,"SessionId":105236,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09","ScheduleType":"MeetNow","Participants":[]}"#,
        "\n",
    );
    store.import(setup.as_bytes()).await.unwrap();
    // 500 calls of the host, each connected and disconnected; long event
    // ids make the journal's rows and index need many pages.
    let events: Vec<(EventKind, ConnectionEvent)> = (0..500)
        .flat_map(|call| {
            [(EventKind::Connect, 0), (EventKind::Disconnect, 30)].map(|(kind, second)| {
                let event = ConnectionEvent {
                    event_id: format!("{call:04}-{second:02}-{}", "x".repeat(100)),
                    session_id: 105236,
                    party: PartyKind::Host,
                    participation_id: None,
                    support_agent_id: None,
                    call_id: format!("c{call}"),
                    ts: Timestamp::parse(&format!("2016-11-03T22:{:02}:{second:02}", call % 60))
                        .unwrap(),
                };
                (kind, event)
            })
        })
        .collect();
    let Backend::Sqlite { writer, pool } = &store.backend else {
        unreachable!("a sqlite: URL");
    };
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(writer)
        .await
        .unwrap();
    // On the one writing connection, which the pool replaces after a
    // transaction SQLite ended itself: set again before each write.
    let cap = |most: i64| async move {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {most}"
        )))
        .execute(writer)
        .await
        .unwrap();
    };
    cap(pages + 20).await;
    let journaled = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM journal WHERE event_id IS NOT NULL")
            .fetch_one(pool)
            .await
            .unwrap()
    };

    let now = Timestamp::parse("2016-11-03T23:00:00").unwrap();
    let error = store
        .apply_events(EventBatch::parse(events.clone()).unwrap(), now)
        .await
        .expect_err("20 more pages do not hold the batch");
    assert!(
        error.to_string().contains("full"),
        "a full database, not: {error}"
    );
    assert_eq!(journaled().await, 0, "no event of the batch is journaled");
    assert!(
        store.calls(1, 105236).await.unwrap().is_empty(),
        "no call is kept"
    );

    // The same events as a group of two batches in one transaction: each
    // fails with the error that ended it, not with the failed ROLLBACK's.
    let (first, second) = events.split_at(500);
    let group = [
        (EventBatch::parse(first.to_vec()).unwrap(), now),
        (EventBatch::parse(second.to_vec()).unwrap(), now),
    ];
    cap(pages + 20).await;
    let outcomes = sqlite::sql::apply_event_batches(writer, &group, &store.rules).await;
    assert_eq!(outcomes.len(), 2);
    for outcome in outcomes {
        let error = outcome.expect_err("the group does not fit either");
        assert!(
            error.to_string().contains("full"),
            "a full database, not: {error}"
        );
    }
    assert_eq!(journaled().await, 0, "no event of the group is journaled");

    cap(1_073_741_823).await;
    let outcome = store
        .apply_events(EventBatch::parse(events).unwrap(), now)
        .await
        .unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (1000, 0));
    assert_eq!(journaled().await, 1000);
    assert_eq!(store.calls(1, 105236).await.unwrap().len(), 500);
}
