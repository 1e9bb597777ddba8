//! The seed page's two History JSON objects, reproduced from a log of the
//! connections that produced them.

use crate::helpers::{event, participant_event, spawn_app, support_event};
use serde_json::json;

/// A company with the seed's two hosts, their guests and a support agent.
pub const SEED_SETUP: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Seed Clinic","IncludedSessionsPerMonth":10,"OveragePriceCents":500}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aaron@seed.example"}
{"Type":"User","CompanyId":1,"UserId":1,"FullName":"Jonathan Vernon","EmailAddress":"jonathan@seed.example"}
{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"marisa@platform.example"}
{"Type":"Session","CompanyId":1,"SessionId":105236,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09.467","ScheduleType":"MeetNow","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"trevor@patients.example"}]}
{"Type":"Session","CompanyId":1,"SessionId":105022,"UserId":1,"ScheduleTs":"2016-11-03T22:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":11,"ParticipantFullName":"Dewey Gladstone","ParticipantEmailAddress":"dewey@patients.example"},{"ParticipationId":12,"ParticipantFullName":"Xiao Chu","ParticipantEmailAddress":"xiao@patients.example"}]}
"#;

/// The seed's example, as one JSON array with the seed's key order.
pub const SEED_HISTORY: &str = concat!(
    r#"[{"SessionId":105236,"ScheduleTs":"2016-11-03T21:45:09.467","BillableTs":"2016-11-03T21:46:16.1","#,
    r#""DurationMinutes":25,"BillableStatusCd":"BILL","UserId":4,"#,
    r#""UsageDescription":"Aaron Johnson Session #105236 with Trevor Stamp - Counted Session"},"#,
    r#"{"SessionId":105022,"ScheduleTs":"2016-11-03T22:00:00","BillableTs":"2016-11-03T21:56:30.72","#,
    r#""DurationMinutes":31,"BillableStatusCd":"SVCO","UserId":1,"#,
    r#""UsageDescription":"Jonathan Vernon Session #105022 with Dewey Gladstone, Xiao Chu, Marisa Zendejas - "#,
    r#"Session with SecureVideo.com - does not count towards billable limits"}]"#
);

pub fn seed_events() -> serde_json::Value {
    json!([
        // Aaron Johnson meets Trevor Stamp for exactly 25 minutes.
        event(
            "a-h-in",
            105236,
            "Connect",
            "Host",
            "h1",
            "2016-11-03T21:45:30"
        ),
        participant_event(
            "a-t-in",
            105236,
            "Connect",
            9,
            "t1",
            "2016-11-03T21:46:16.1"
        ),
        participant_event(
            "a-t-out",
            105236,
            "Disconnect",
            9,
            "t1",
            "2016-11-03T22:11:16.1"
        ),
        event(
            "a-h-out",
            105236,
            "Disconnect",
            "Host",
            "h1",
            "2016-11-03T22:12:00"
        ),
        // Jonathan Vernon, early for his 22:00 session, with two patients and support.
        event(
            "j-h-in",
            105022,
            "Connect",
            "Host",
            "h1",
            "2016-11-03T21:56:00"
        ),
        participant_event(
            "j-d-in",
            105022,
            "Connect",
            11,
            "d1",
            "2016-11-03T21:56:30.72"
        ),
        participant_event("j-x-in", 105022, "Connect", 12, "x1", "2016-11-03T21:58:00"),
        support_event("j-m-in", 105022, "Connect", 7, "m1", "2016-11-03T22:05:00"),
        support_event(
            "j-m-out",
            105022,
            "Disconnect",
            7,
            "m1",
            "2016-11-03T22:15:00"
        ),
        participant_event(
            "j-x-out",
            105022,
            "Disconnect",
            12,
            "x1",
            "2016-11-03T22:20:00"
        ),
        participant_event(
            "j-d-out",
            105022,
            "Disconnect",
            11,
            "d1",
            "2016-11-03T22:27:30.72"
        ),
        event(
            "j-h-out",
            105022,
            "Disconnect",
            "Host",
            "h1",
            "2016-11-03T22:30:00"
        ),
    ])
}

#[tokio::test]
async fn a_log_of_the_seed_sessions_yields_the_seed_history_exactly() {
    // Arrange
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    let reported = app.post_events(seed_events()).await;
    assert_eq!(reported.status(), 200);
    assert_eq!(
        reported.json::<serde_json::Value>().await.unwrap(),
        json!({"Accepted": 12, "Duplicates": 0})
    );

    // Act
    let response = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .send()
        .await
        .unwrap();

    // Assert: byte for byte, key order included.
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    assert_eq!(body, SEED_HISTORY);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expected: serde_json::Value = serde_json::from_str(SEED_HISTORY).unwrap();
    assert_eq!(parsed, expected);
}

#[tokio::test]
async fn the_seed_history_does_not_depend_on_event_order_or_batching() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    let events = seed_events().as_array().unwrap().clone();
    // Disconnects first, one event per batch, then the connects: every
    // Disconnect waits for its Connect. BillableTs is first observed once the
    // connects arrive, so it is still the true first overlap.
    let (disconnects, connects): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e["Type"] == "Disconnect");
    for single in disconnects.iter().rev() {
        assert_eq!(app.post_events(json!([single])).await.status(), 200);
    }
    assert_eq!(app.post_events(json!(connects)).await.status(), 200);

    let body = app
        .tenant(&tenant, "/history?Month=2016-11-01")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, SEED_HISTORY);
}

#[tokio::test]
async fn the_seed_urls_work_as_documented() {
    let app = spawn_app().await;
    app.import(SEED_SETUP).await;
    let tenant = app.key_for(1).await;
    app.post_events(seed_events()).await;

    let by_email = app
        .history(
            &tenant,
            "/history?month=2016-11-01&participantEmail=TREVOR@patients.example",
        )
        .await;
    assert_eq!(by_email.as_array().unwrap().len(), 1);
    assert_eq!(by_email[0]["SessionId"], 105236);

    let by_host = app
        .history(
            &tenant,
            "/history/1?month=2016-11-01&participantEmail=xiao@patients.example",
        )
        .await;
    assert_eq!(by_host.as_array().unwrap().len(), 1);
    assert_eq!(by_host[0]["SessionId"], 105022);

    let other_host = app
        .history(
            &tenant,
            "/history/4?month=2016-11-01&participantEmail=xiao@patients.example",
        )
        .await;
    assert_eq!(other_host, json!([]));

    let other_month = app.history(&tenant, "/history?month=2016-12-01").await;
    assert_eq!(other_month, json!([]));
}
