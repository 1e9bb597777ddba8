//! Many writers and readers at once give exactly the result of applying the
//! batches one after the other, with no server error.

use serde_json::{Value, json};
use session_ledger::domain::Timestamp;

use crate::helpers::{TestApp, event, participant_event, spawn_app};

const SESSIONS: i64 = 12;

async fn setup(app: &TestApp) {
    let mut lines = vec![
        r#"{"Type":"Company","CompanyId":1,"Name":"Busy Clinic"}"#.to_owned(),
        r#"{"Type":"User","CompanyId":1,"UserId":2,"FullName":"Ann Host","EmailAddress":"ann@clinic.example"}"#.to_owned(),
    ];
    for n in 0..SESSIONS {
        lines.push(
            json!({"Type": "Session", "CompanyId": 1, "SessionId": 100 + n, "UserId": 2,
                   "ScheduleTs": format!("2016-11-{:02}T10:00:00", n + 1),
                   "Participants": [{"ParticipationId": 1000 + 2 * n, "SecureVideoUserId": 2},
                                    {"ParticipationId": 1001 + 2 * n, "ParticipantFullName": format!("Guest {n}"),
                                     "ParticipantEmailAddress": format!("guest{n}@x.example")}]})
            .to_string(),
        );
    }
    app.import(&lines.join("\n")).await;
}

/// Two batches per session: the host's call, and the guest's call.
fn batches() -> Vec<Value> {
    let mut batches = Vec::new();
    for n in 0..SESSIONS {
        let session = 100 + n;
        let day = format!("2016-11-{:02}", n + 1);
        batches.push(json!([
            event(
                &format!("{session}-h1"),
                session,
                "Connect",
                "Host",
                "h",
                &format!("{day}T10:00:00")
            ),
            event(
                &format!("{session}-h2"),
                session,
                "Disconnect",
                "Host",
                "h",
                &format!("{day}T10:40:00")
            ),
        ]));
        batches.push(json!([
            participant_event(
                &format!("{session}-g1"),
                session,
                "Connect",
                1001 + 2 * n,
                "g",
                &format!("{day}T10:05:00.25")
            ),
            participant_event(
                &format!("{session}-g2"),
                session,
                "Disconnect",
                1001 + 2 * n,
                "g",
                &format!("{day}T10:30:00")
            ),
        ]));
    }
    batches
}

/// The company's history after the batches were posted one by one.
async fn sequential_history() -> Value {
    let app = spawn_app().await;
    setup(&app).await;
    for batch in batches() {
        assert_eq!(app.post_events(batch).await.status(), 200);
    }
    let tenant = app.key_for(1).await;
    app.history(&tenant, "/history").await
}

/// Posts a batch from a task of its own; gives back its status and body.
fn post_soon(app: &TestApp, batch: Value) -> tokio::task::JoinHandle<(u16, Value)> {
    let request = app
        .client
        .post(app.url("/operator/events"))
        .bearer_auth(crate::helpers::OPERATOR_TOKEN)
        .json(&batch);
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_and_reads_equal_sequential_application() {
    let expected = sequential_history().await;

    // Everything at once, each batch posted twice, with readers in between.
    let app = spawn_app().await;
    setup(&app).await;
    let tenant = app.key_for(1).await;
    let mut tasks = Vec::new();
    for batch in batches().into_iter().chain(batches()) {
        tasks.push(post_soon(&app, batch));
        let reader = app.tenant(&tenant, "/history?month=2016-11-01");
        tasks.push(tokio::spawn(async move {
            let response = reader.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }));
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        if let Some(count) = body.get("Accepted") {
            accepted += count.as_i64().unwrap();
            duplicates += body["Duplicates"].as_i64().unwrap();
        }
    }
    assert_eq!((accepted, duplicates), (4 * SESSIONS, 4 * SESSIONS));
    let history = app.history(&tenant, "/history").await;
    assert_eq!(history, expected);
    assert_eq!(history[0]["DurationMinutes"], 25);
    assert_eq!(history[0]["BillableTs"], "2016-11-01T10:05:00.25");
}

/// A guest call that would change the session's duration if it were kept.
fn late_guest_call(n: i64, id: &str) -> Value {
    let day = format!("2016-11-{:02}", n + 1);
    participant_event(
        id,
        100 + n,
        "Connect",
        1001 + 2 * n,
        "late",
        &format!("{day}T10:35:00"),
    )
}

/// On SQLite, batches that arrive together are written in one transaction
/// (group commit). A batch that fails there, posted at once with good ones,
/// fails alone: it answers its own error and keeps nothing, and the good
/// ones land as if posted one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_batch_posted_with_good_ones_fails_alone() {
    let expected = sequential_history().await;

    let app = spawn_app().await;
    setup(&app).await;
    let tenant = app.key_for(1).await;
    let mut good = Vec::new();
    let mut failing = Vec::new();
    for (n, batch) in (0..SESSIONS).flat_map(|n| [n, n]).zip(batches()) {
        good.push(post_soon(&app, batch));
        // A real session's event beside an unknown session's: 400, and
        // the first event must not be kept either.
        let poisoned = json!([
            late_guest_call(n, &format!("poisoned-{n}")),
            event(
                &format!("unknown-{n}"),
                999_999,
                "Connect",
                "Host",
                "h",
                "2016-11-01T10:00:00"
            ),
        ]);
        failing.push(post_soon(&app, poisoned));
    }
    let mut accepted = 0;
    for task in good {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Duplicates"], 0, "{body}");
        accepted += body["Accepted"].as_i64().unwrap();
    }
    assert_eq!(accepted, 4 * SESSIONS);
    for task in failing {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .contains("session 999999 does not exist"),
            "{body}"
        );
    }
    assert_eq!(app.history(&tenant, "/history").await, expected);
    // Nothing of a failed batch was journaled: its good event is new.
    let response = app
        .post_events(json!([late_guest_call(0, "poisoned-0")]))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["Accepted"].clone(), body["Duplicates"].clone()),
        (json!(1), json!(0))
    );
}

/// Three batches that reach the store together, the middle one failing
/// after it has written (its session's last activity). On SQLite they are
/// one group (each call queues its batch before any group is taken, as this
/// runtime has one thread), applied in one transaction with no savepoint per
/// batch: the failure rolls the group back and each batch is applied again
/// alone. The good ones land, the later one seeing the earlier one's events;
/// nothing of the failing one is kept. PostgreSQL applies each batch in a
/// transaction of its own, side by side, so there they are applied in turn
/// (together, their order would be the order they lock the company in).
#[tokio::test]
async fn a_failing_batch_in_a_group_leaves_the_others_applied_in_order() {
    let app = spawn_app().await;
    setup(&app).await;
    let parse = |batch: Value| {
        let events =
            session_ledger::api::operator::parse_events(&serde_json::to_vec(&batch).unwrap())
                .unwrap();
        session_ledger::domain::EventBatch::parse(events).unwrap()
    };
    let all = batches();
    let first = all[0].clone();
    // Session 100's host connects again at another time: refused once the
    // session's activity is marked.
    let failing = json!([
        late_guest_call(0, "poisoned-0"),
        event(
            "poisoned-h",
            100,
            "Connect",
            "Host",
            "h",
            "2016-11-01T10:01:00"
        ),
    ]);
    // One event of the first batch again, beside two new ones.
    let mut last = all[2].clone();
    last.as_array_mut().unwrap().push(first[0].clone());
    let now = Timestamp::now();
    let a_day_later = now.plus_minutes(24 * 60);

    let apply_first = app.store.apply_events(parse(first.clone()), now);
    let apply_failing = app.store.apply_events(parse(failing), a_day_later);
    let apply_last = app.store.apply_events(parse(last), now);
    let (first_outcome, failing_outcome, last_outcome) = if crate::backend::POSTGRES {
        (apply_first.await, apply_failing.await, apply_last.await)
    } else {
        tokio::join!(apply_first, apply_failing, apply_last)
    };

    let first_outcome = first_outcome.unwrap();
    assert_eq!((first_outcome.accepted, first_outcome.duplicates), (2, 0));
    let error = failing_outcome.unwrap_err().to_string();
    assert!(error.contains("call 'h' already connected"), "{error}");
    let last_outcome = last_outcome.unwrap();
    assert_eq!((last_outcome.accepted, last_outcome.duplicates), (2, 1));
    // The good batches were kept: the first one again is all duplicates.
    let body: Value = app.post_events(first).await.json().await.unwrap();
    assert_eq!(
        (body["Accepted"].clone(), body["Duplicates"].clone()),
        (json!(0), json!(2))
    );
    // Session 100's last activity is the first batch's, not the failing
    // one's a day later: idle for a minute then, it is due for deactivation.
    let due = app
        .store
        .sessions_due_for_deactivation(a_day_later.plus_minutes(24 * 60), now.plus_minutes(1))
        .await
        .unwrap();
    assert!(due.contains(&100), "{due:?}");
    // Nothing of the failing batch was journaled: its good event is new.
    let body: Value = app
        .post_events(json!([late_guest_call(0, "poisoned-0")]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["Accepted"].clone(), body["Duplicates"].clone()),
        (json!(1), json!(0))
    );
}

/// 64 clients at once, each with its own key, mixing event batches and
/// history reads: every answer is a 2xx, none a database-busy error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_mixing_writes_and_reads_get_no_server_error() {
    let app = spawn_app().await;
    setup(&app).await;
    let mut keys = Vec::new();
    for _ in 0..64 {
        keys.push(app.key_for(1).await);
    }
    let all_batches = batches();
    let mut clients = Vec::new();
    for (client_number, key) in keys.into_iter().enumerate() {
        let client = app.client.clone();
        let events_url = app.url("/operator/events");
        let history_url = app.url("/history?month=2016-11-01");
        let mine: Vec<Value> = all_batches
            .iter()
            .cycle()
            .skip(client_number)
            .take(4)
            .cloned()
            .collect();
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for batch in mine {
                let posted = client
                    .post(&events_url)
                    .bearer_auth(crate::helpers::OPERATOR_TOKEN)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                statuses.push((posted.status().as_u16(), posted.text().await.unwrap()));
                let read = client
                    .get(&history_url)
                    .basic_auth(&key.api_key, Some(&key.api_secret))
                    .send()
                    .await
                    .unwrap();
                statuses.push((read.status().as_u16(), read.text().await.unwrap()));
            }
            statuses
        }));
    }
    let mut answers = 0;
    for client in clients {
        for (status, body) in client.await.unwrap() {
            assert!((200..300).contains(&status), "{status}: {body}");
            assert!(
                !body.to_lowercase().contains("locked") && !body.to_lowercase().contains("busy"),
                "{body}"
            );
            answers += 1;
        }
    }
    assert_eq!(answers, 64 * 8);
    // Every batch went in (each several times); the result is the sequential one.
    let tenant = app.key_for(1).await;
    let history = app.history(&tenant, "/history").await;
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["DurationMinutes"] == 25)
    );
}
