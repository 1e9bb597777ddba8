//! A person's current e-mail (SPEC §3): only an invitation carrying a
//! different non-empty address, or a user update that changes the user's
//! EmailAddress, moves it. Hosting, an invitation without an address (by
//! SecureVideoUserId, external id or name) and a rename keep it, through the
//! APIs and through import alike (SPEC §3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, spawn_app, spawn_on};

/// The sessions `?ParticipantEmail=` finds, in history order.
async fn found(app: &TestApp, tenant: &Tenant, email: &str) -> Vec<i64> {
    let history = app
        .history(tenant, &format!("/history?ParticipantEmail={email}"))
        .await;
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["SessionId"].as_i64().unwrap())
        .collect()
}

/// A clinic with a host (Wes) and Xia, a user whose User record says
/// xia4@clinic.example; Wes's first session invites Xia by user id with
/// xia9@patients.example, which becomes her current address. Answers the
/// app, the tenant, Wes's and Xia's ids and the first session's id.
async fn xia_moved_to_a_newer_address() -> (TestApp, Tenant, i64, i64, i64) {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Repro").await;
    let wes = app
        .create_user(&tenant, "Wes Brook", "wes3@mail.example")
        .await;
    let (status, xia) = app
        .send(
            &tenant,
            Method::POST,
            "/user",
            Some(json!({"FullName": "Xia Jones", "EmailAddress": "xia4@clinic.example", "ExternalId": "emr-102"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{xia}");
    let xia: i64 = xia["SystemUserId"].as_str().unwrap().parse().unwrap();
    let first = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-01T00:15:00", "Participants": [
                {"SecureVideoUserId": xia, "ParticipantEmailAddress": "xia9@patients.example"}]}),
        )
        .await;
    let first = first["SessionId"].as_i64().unwrap();
    assert_eq!(found(&app, &tenant, "xia9@patients.example").await, [first]);
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [] as [i64; 0]
    );
    (app, tenant, wes, xia, first)
}

/// Xia's current address is still xia9@patients.example: it finds every
/// session she took part in, and her User record's address finds none.
async fn assert_still_xia9(app: &TestApp, tenant: &Tenant, sessions: &[i64]) {
    assert_eq!(
        found(app, tenant, "xia9@patients.example").await,
        sessions,
        "the newer address finds every session of Xia's"
    );
    assert_eq!(
        found(app, tenant, "xia4@clinic.example").await,
        [] as [i64; 0],
        "the User record's address is not Xia's current one"
    );
}

#[tokio::test]
async fn hosting_a_session_keeps_the_hosts_current_email() {
    let (app, tenant, _, xia, first) = xia_moved_to_a_newer_address().await;
    let hosted = app
        .create_session(&tenant, xia, json!({"ScheduleTs": "2030-03-02T00:15:00"}))
        .await;
    let hosted_id = hosted["SessionId"].as_i64().unwrap();
    // The host's own participation still shows the User record's address.
    assert_eq!(
        hosted["Participants"][0]["ParticipantEmailAddress"],
        "xia4@clinic.example"
    );
    assert_still_xia9(&app, &tenant, &[first, hosted_id]).await;
}

#[tokio::test]
async fn an_invitation_by_user_id_without_email_keeps_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"SecureVideoUserId": xia}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    // Display only: the participation shows the user's address.
    assert_eq!(
        second["Participants"][1]["ParticipantEmailAddress"],
        "xia4@clinic.example"
    );
    // The same through the Participant API.
    let third = app
        .create_session(&tenant, wes, json!({"ScheduleTs": "2030-03-03T00:15:00"}))
        .await;
    let third_id = third["SessionId"].as_i64().unwrap();
    let (status, added) = app
        .send(
            &tenant,
            Method::POST,
            &format!("/participant/{third_id}"),
            Some(json!({"SecureVideoUserId": xia})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["ParticipantEmailAddress"], "xia4@clinic.example");
    assert_still_xia9(&app, &tenant, &[first, second_id, third_id]).await;
}

#[tokio::test]
async fn an_invitation_by_name_without_email_keeps_the_current_email() {
    let (app, tenant, wes, _, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"ParticipantFullName": " xia JONES "}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_eq!(second["Participants"][1]["ParticipantEmailAddress"], "");
    assert_still_xia9(&app, &tenant, &[first, second_id]).await;
}

#[tokio::test]
async fn an_invitation_by_external_id_without_email_keeps_the_current_email() {
    let (app, tenant, wes, _, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [
                {"ParticipantFullName": "X. Jones", "ParticipantExternalId": "emr-102"}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_still_xia9(&app, &tenant, &[first, second_id]).await;
}

#[tokio::test]
async fn a_rename_through_put_user_keeps_the_current_email() {
    let (app, tenant, _, xia, first) = xia_moved_to_a_newer_address().await;
    // EmailAddress left out, then given unchanged (in another case).
    for body in [
        json!({"FullName": "Cara Stamp"}),
        json!({"FullName": "Cara Stamp-Jones", "EmailAddress": "XIA4@clinic.example"}),
    ] {
        let (status, user) = app
            .send(&tenant, Method::PUT, &format!("/user/{xia}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{user}");
        assert_still_xia9(&app, &tenant, &[first]).await;
    }
    // A PUT that changes the address does move it, and the earlier ones
    // still find her sessions through the new one.
    let (status, _) = app
        .send(
            &tenant,
            Method::PUT,
            &format!("/user/{xia}"),
            Some(json!({"EmailAddress": "cara@clinic.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found(&app, &tenant, "cara@clinic.example").await, [first]);
    assert_eq!(
        found(&app, &tenant, "xia9@patients.example").await,
        [] as [i64; 0]
    );
}

/// An invitation that carries a different address does move it, by user id
/// or by name (the rule's other half, unchanged).
#[tokio::test]
async fn an_invitation_with_a_different_email_moves_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [
                {"SecureVideoUserId": xia, "ParticipantEmailAddress": "xia4@clinic.example"}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [first, second_id]
    );
    let third = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-03T00:15:00", "Participants": [
                {"ParticipantFullName": "Xia Jones", "ParticipantEmailAddress": "xia@home.example"}]}),
        )
        .await;
    let third_id = third["SessionId"].as_i64().unwrap();
    assert_eq!(
        found(&app, &tenant, "xia@home.example").await,
        [first, second_id, third_id]
    );
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [] as [i64; 0]
    );
}

/// The issue's reproduction, as import lines, before its trigger.
const REPRO: &str = r#"{"Type":"Company","CompanyId":100,"Name":"Repro","IncludedSessionsPerMonth":0,"OveragePriceCents":0}
{"Type":"User","CompanyId":100,"UserId":101,"FullName":"Wes Brook","EmailAddress":"wes3@mail.example"}
{"Type":"User","CompanyId":100,"UserId":102,"FullName":"Xia Jones","EmailAddress":"xia4@clinic.example","ExternalId":"emr-102"}
{"Type":"Session","CompanyId":100,"SessionId":103,"UserId":101,"ScheduleTs":"2024-03-01T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":104,"ParticipantFullName":"Wes Brook","ParticipantEmailAddress":"","SecureVideoUserId":101},{"ParticipantFullName":"Xia Jones","ParticipantEmailAddress":"xia9@patients.example","SecureVideoUserId":102,"ParticipationId":105}]}
"#;

/// Imports the reproduction and then `trigger`; answers what
/// `?ParticipantEmail=` finds for Xia's newer and older address.
async fn import_repro_then(trigger: &str) -> (Vec<i64>, Vec<i64>) {
    let app = spawn_app().await;
    app.import(&format!("{REPRO}{trigger}\n")).await;
    let tenant = app.key_for(100).await;
    (
        found(&app, &tenant, "xia9@patients.example").await,
        found(&app, &tenant, "xia4@clinic.example").await,
    )
}

#[tokio::test]
async fn importing_the_issues_reproduction_keeps_the_current_email() {
    let rename = r#"{"Type":"UserUpdate","CompanyId":100,"UserId":102,"FullName":"Cara Stamp","EmailAddress":"xia4@clinic.example","SmsNumber":"","DefaultResolution":"","TimeZoneWindowsId":"","HelpNumber":"","ExternalId":""}"#;
    assert_eq!(import_repro_then(rename).await, (vec![103], vec![]));
}

#[tokio::test]
async fn imported_hosting_and_invitations_without_email_keep_the_current_email() {
    let triggers = [
        // Xia hosts, her own participation listed without an address…
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":102,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"SecureVideoUserId":102,"ParticipantEmailAddress":""}]}"#,
        // …or not listed at all.
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":102,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[]}"#,
        // Invited by user id, by name, by external id, without an address.
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"SecureVideoUserId":102}]}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"ParticipantFullName":"XIA JONES"}]}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":101,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":107,"ParticipantFullName":"X. Jones","ParticipantExternalId":"emr-102"}]}"#,
        r#"{"Type":"AddParticipant","CompanyId":100,"SessionId":103,"ParticipationId":107,"ParticipantFullName":"Xia J.","ParticipantExternalId":"emr-102"}"#,
    ];
    let mut wrong = Vec::new();
    for trigger in triggers {
        let expected = if trigger.contains("AddParticipant") {
            vec![103]
        } else {
            vec![103, 106]
        };
        let got = import_repro_then(trigger).await;
        if got != (expected.clone(), vec![]) {
            wrong.push(format!("{trigger}: found {got:?}, not ({expected:?}, [])"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// An export of a ledger in which the current address and the User record's
/// differ replays to the same answers: the journal keeps an invitation's own
/// address, not the user's address shown beside it.
#[tokio::test]
async fn an_export_replays_the_current_email() {
    let (app, tenant, wes, xia, first) = xia_moved_to_a_newer_address().await;
    let second = app
        .create_session(
            &tenant,
            wes,
            json!({"ScheduleTs": "2030-03-02T00:15:00", "Participants": [{"SecureVideoUserId": xia}]}),
        )
        .await;
    let second_id = second["SessionId"].as_i64().unwrap();
    let hosted = app
        .create_session(&tenant, xia, json!({"ScheduleTs": "2030-03-03T00:15:00"}))
        .await;
    let hosted_id = hosted["SessionId"].as_i64().unwrap();
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let copy = spawn_app().await;
    copy.import(std::str::from_utf8(&exported).unwrap()).await;
    let copied_tenant = copy.key_for(tenant.company_id).await;
    for (app, tenant) in [(&app, &tenant), (&copy, &copied_tenant)] {
        assert_still_xia9(app, tenant, &[first, second_id, hosted_id]).await;
        let (_, session) = app
            .send(tenant, Method::GET, &format!("/session/{xia}"), None)
            .await;
        assert_eq!(
            session[0]["Participants"][0]["ParticipantEmailAddress"],
            "xia4@clinic.example"
        );
    }
}

/// Turns the ledger into what earlier versions left: the
/// journal records the user's address on invitations of a user that gave
/// none, Xia's current e-mail is her User record's, the company has no
/// window of its own, and neither one-time step has run.
async fn make_legacy(url: &str) {
    use sqlx::Connection;
    macro_rules! legacy {
        ($conn:expr) => {{
            let mut conn = $conn;
            let lines: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT company_id, seq, record FROM journal WHERE event_id IS NULL",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for (company_id, seq, record) in lines {
                let legacy = record
                    .replace(
                        r#""SecureVideoUserId":101,"ParticipantEmailAddress":"""#,
                        r#""SecureVideoUserId":101,"ParticipantEmailAddress":"wes3@mail.example""#,
                    )
                    .replace(
                        r#""SecureVideoUserId":102,"ParticipantEmailAddress":"""#,
                        r#""SecureVideoUserId":102,"ParticipantEmailAddress":"xia4@clinic.example""#,
                    )
                    .replace(r#","DuplicateWindowMinutes":60"#, "");
                sqlx::query("UPDATE journal SET record = $3 WHERE company_id = $1 AND seq = $2")
                    .bind(company_id)
                    .bind(seq)
                    .bind(legacy)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            for statement in [
                "UPDATE persons SET email_address = 'xia4@clinic.example', email_key = 'xia4@clinic.example'
                 WHERE person_id = (SELECT person_id FROM users WHERE user_id = 102)",
                "UPDATE companies SET duplicate_window_minutes = NULL",
                "DELETE FROM one_time_steps",
            ] {
                sqlx::query(statement).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }};
    }
    if crate::backend::POSTGRES {
        legacy!(sqlx::PgConnection::connect(url).await.unwrap());
    } else {
        legacy!(sqlx::SqliteConnection::connect(url).await.unwrap());
    }
}

/// The one-time steps as recorded: (name, rows changed).
async fn steps(url: &str) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let query = "SELECT step_name, rows_changed FROM one_time_steps ORDER BY step_name";
    if crate::backend::POSTGRES {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
    }
}

/// The migration's repair: a database the earlier code wrote is
/// given back every person's current e-mail under the corrected rule, and
/// its journal the invitations' own addresses where they matter, so an
/// export replays the repaired ledger. Companies get the migrating
/// process's window.
#[tokio::test]
async fn the_one_time_steps_repair_a_ledger_the_earlier_code_wrote() {
    let triggers = [
        r#"{"Type":"Session","CompanyId":100,"SessionId":106,"UserId":102,"ScheduleTs":"2024-03-02T00:15:00","ScheduleType":"Scheduled","Participants":[]}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":108,"UserId":101,"ScheduleTs":"2024-03-03T00:15:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":109,"SecureVideoUserId":102}]}"#,
        r#"{"Type":"UserUpdate","CompanyId":100,"UserId":102,"FullName":"Cara Stamp","EmailAddress":"xia4@clinic.example","SmsNumber":"","DefaultResolution":"","TimeZoneWindowsId":"","HelpNumber":"","ExternalId":""}"#,
    ];
    let app = spawn_app().await;
    app.import(&format!("{REPRO}{}\n", triggers.join("\n")))
        .await;
    let url = app.database.url.clone();
    assert_eq!(
        steps(&url).await,
        [
            ("fill_company_duplicate_windows".to_owned(), 0),
            ("repair_person_current_emails".to_owned(), 0)
        ],
        "a new database has nothing to repair"
    );
    let database = app.stop().await;
    make_legacy(&url).await;
    // Opened by this code (with another flag): the steps run.
    let app = spawn_on(database, |settings| settings.duplicate_window_minutes = 45).await;
    assert_eq!(
        steps(&url).await,
        [
            ("fill_company_duplicate_windows".to_owned(), 1),
            ("repair_person_current_emails".to_owned(), 1)
        ]
    );
    let tenant = app.key_for(100).await;
    assert_eq!(
        found(&app, &tenant, "xia9@patients.example").await,
        [103, 106, 108]
    );
    assert_eq!(
        found(&app, &tenant, "xia4@clinic.example").await,
        [] as [i64; 0]
    );
    assert_eq!(found(&app, &tenant, "wes3@mail.example").await, [103, 108]);
    let company: Value = app
        .operator(Method::GET, "/operator/companies/100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        company["DuplicateWindowMinutes"], 45,
        "the migrating process's"
    );
    // The participations still show the users' addresses.
    let (_, sessions) = app.send(&tenant, Method::GET, "/session/101", None).await;
    let shown: Vec<&Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Participants"].as_array().unwrap())
        .map(|p| &p["ParticipantEmailAddress"])
        .collect();
    assert_eq!(
        shown,
        [
            "wes3@mail.example",
            "xia9@patients.example",
            "wes3@mail.example",
            "xia4@clinic.example"
        ]
    );

    // The journal now replays the repaired ledger.
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();
    assert!(
        exported.contains(r#""DuplicateWindowMinutes":45"#),
        "{exported}"
    );
    let copy = spawn_app().await;
    copy.import(&exported).await;
    let copied = copy.key_for(100).await;
    for address in [
        "xia9@patients.example",
        "xia4@clinic.example",
        "wes3@mail.example",
    ] {
        assert_eq!(
            found(&copy, &copied, address).await,
            found(&app, &tenant, address).await,
            "{address}"
        );
    }
    let (_, copied_sessions) = copy.send(&copied, Method::GET, "/session/101", None).await;
    assert_eq!(copied_sessions, sessions);

    // Recorded: a restart runs neither step again.
    let database = app.stop().await;
    let again = spawn_on(database, |_| {}).await;
    assert_eq!(
        steps(&url).await,
        [
            ("fill_company_duplicate_windows".to_owned(), 1),
            ("repair_person_current_emails".to_owned(), 1)
        ]
    );
    drop(again);
}

/// The property: random sequences of user operations and invitations, as
/// import lines, leave every person with the current e-mail that a small
/// model of SPEC §3's rule gives; `?ParticipantEmail=` shows it.
mod model {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicI64, Ordering};

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use serde_json::json;

    use crate::helpers::{TestApp, spawn_app};

    const NAMES: [&str; 5] = ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Eke", "Ed Fox"];
    const GUEST_ADDRESSES: [&str; 4] = [
        "a@mail.example",
        "b@mail.example",
        "c@mail.example",
        "d@mail.example",
    ];
    const GUEST_EXTERNAL_IDS: [&str; 2] = ["gx-0", "gx-1"];
    /// Addresses of their own each user can be given (unique among users).
    const OWN_ADDRESSES: usize = 3;
    const MAX_USERS: usize = 4;

    /// An address to pick: a guest address, or one of some user's own; in
    /// capitals or not. Taken modulo what exists when the case is built.
    #[derive(Debug, Clone, Copy)]
    struct Address {
        index: usize,
        upper: bool,
    }

    #[derive(Debug, Clone)]
    enum Op {
        NewUser {
            name: usize,
        },
        /// `email`: `None` keeps the user's address (a rename).
        UpdateUser {
            user: usize,
            email: Option<(usize, bool)>,
            name: Option<usize>,
        },
        /// A session of its own; the host's participation listed with this
        /// address, or not listed at all (`listed` false).
        Host {
            user: usize,
            listed: bool,
            email: Option<Address>,
        },
        ById {
            host: usize,
            user: usize,
            email: Option<Address>,
        },
        ByName {
            host: usize,
            name: usize,
            email: Option<Address>,
        },
        ByExternalId {
            host: usize,
            external: usize,
            name: usize,
            email: Option<Address>,
        },
    }

    fn address() -> impl Strategy<Value = Option<Address>> {
        prop::option::of(
            (0..64usize, any::<bool>()).prop_map(|(index, upper)| Address { index, upper }),
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..NAMES.len()).prop_map(|name| Op::NewUser { name }),
            (
                0..MAX_USERS,
                prop::option::of((0..OWN_ADDRESSES, any::<bool>())),
                prop::option::of(0..NAMES.len())
            )
                .prop_map(|(user, email, name)| Op::UpdateUser { user, email, name }),
            (0..MAX_USERS, any::<bool>(), address()).prop_map(|(user, listed, email)| Op::Host {
                user,
                listed,
                email
            }),
            (0..MAX_USERS, 0..MAX_USERS, address()).prop_map(|(host, user, email)| Op::ById {
                host,
                user,
                email
            }),
            (0..MAX_USERS, 0..NAMES.len(), address()).prop_map(|(host, name, email)| Op::ByName {
                host,
                name,
                email
            }),
            (
                0..MAX_USERS,
                0..MAX_USERS + GUEST_EXTERNAL_IDS.len(),
                0..NAMES.len(),
                address()
            )
                .prop_map(|(host, external, name, email)| Op::ByExternalId {
                    host,
                    external,
                    name,
                    email
                }),
        ]
    }

    #[derive(Debug)]
    struct Person {
        name_key: String,
        external_id: String,
        /// The current address, compared as the service does (lower case).
        current: String,
    }

    #[derive(Debug)]
    struct User {
        user_id: i64,
        person: usize,
        name: String,
        email: String,
        external_id: String,
    }

    /// The rule's model, and the log lines that tell the service the same.
    #[derive(Debug, Default)]
    struct Case {
        company_id: i64,
        persons: Vec<Person>,
        users: Vec<User>,
        /// (session, person) of every participation.
        took_part: Vec<(i64, usize)>,
        lines: Vec<String>,
        next_session: i64,
    }

    fn key(address: &str) -> String {
        address.trim().to_lowercase()
    }

    impl Case {
        fn own_address(&self, user: usize, which: usize) -> String {
            format!("u{user}-{which}@clinic.example")
        }

        fn all_addresses(&self) -> Vec<String> {
            let mut all: Vec<String> = GUEST_ADDRESSES.iter().map(|a| a.to_string()).collect();
            for user in 0..MAX_USERS {
                for which in 0..OWN_ADDRESSES {
                    all.push(self.own_address(user, which));
                }
            }
            all
        }

        fn pick(&self, address: Option<Address>) -> String {
            let Some(Address { index, upper }) = address else {
                return String::new();
            };
            let all = self.all_addresses();
            let picked = &all[index % all.len()];
            if upper {
                picked.to_uppercase()
            } else {
                picked.clone()
            }
        }

        /// SPEC §3: a different non-empty address moves the current one.
        fn offer(&mut self, person: usize, email: &str) {
            if !key(email).is_empty() && key(email) != self.persons[person].current {
                self.persons[person].current = key(email);
            }
        }

        fn new_person(&mut self, name: &str, external_id: &str, email: &str) -> usize {
            self.persons.push(Person {
                name_key: key(name),
                external_id: external_id.to_owned(),
                current: key(email),
            });
            self.persons.len() - 1
        }

        /// The invitation's person: external id, else name, else new.
        fn resolve(&mut self, name: &str, external_id: &str, email: &str) -> usize {
            let found = self
                .persons
                .iter()
                .position(|p| !external_id.is_empty() && p.external_id == external_id)
                .or_else(|| self.persons.iter().position(|p| p.name_key == key(name)));
            match found {
                Some(person) => {
                    self.offer(person, email);
                    person
                }
                None => self.new_person(name, external_id, email),
            }
        }

        fn line(&mut self, value: serde_json::Value) {
            self.lines.push(value.to_string());
        }

        /// A session of `host` with one invitation (unless it would be
        /// refused: the host again, or a name already in the session).
        fn session(
            &mut self,
            host: usize,
            invitation: Option<serde_json::Value>,
            invitee: impl FnOnce(&mut Self) -> usize,
        ) {
            let session_id = self.company_id + 1000 + self.next_session;
            self.next_session += 1;
            let host_user = &self.users[host];
            let mut participants = Vec::new();
            if let Some(invitation) = invitation {
                participants.push(invitation);
            }
            self.took_part.push((session_id, host_user.person));
            let (company_id, user_id) = (self.company_id, host_user.user_id);
            if !participants.is_empty() {
                let person = invitee(self);
                self.took_part.push((session_id, person));
            }
            self.line(
                json!({"Type": "Session", "CompanyId": company_id, "SessionId": session_id,
                "UserId": user_id, "ScheduleTs": "2024-03-01T00:15:00", "ScheduleType": "Scheduled",
                "Participants": participants}),
            );
        }

        fn apply(&mut self, op: &Op) {
            if self.users.is_empty() && !matches!(op, Op::NewUser { .. }) {
                return;
            }
            let user_of = |case: &Self, index: usize| index % case.users.len();
            match *op {
                Op::NewUser { name } => {
                    if self.users.len() == MAX_USERS {
                        return;
                    }
                    let index = self.users.len();
                    let email = self.own_address(index, 0);
                    let external_id = format!("ux-{index}");
                    let person = self.new_person(NAMES[name], &external_id, &email);
                    let user_id = self.company_id + 10 + index as i64;
                    self.line(
                        json!({"Type": "User", "CompanyId": self.company_id, "UserId": user_id,
                        "FullName": NAMES[name], "EmailAddress": email, "ExternalId": external_id}),
                    );
                    self.users.push(User {
                        user_id,
                        person,
                        name: NAMES[name].to_owned(),
                        email,
                        external_id,
                    });
                }
                Op::UpdateUser { user, email, name } => {
                    let user = user_of(self, user);
                    let email = match email {
                        Some((which, upper)) => {
                            let own = self.own_address(user, which);
                            if upper { own.to_uppercase() } else { own }
                        }
                        None => self.users[user].email.clone(),
                    };
                    let name = name.map_or(self.users[user].name.clone(), |n| NAMES[n].to_owned());
                    let person = self.users[user].person;
                    if key(&email) != key(&self.users[user].email) {
                        self.offer(person, &email);
                    }
                    self.persons[person].name_key = key(&name);
                    let u = &mut self.users[user];
                    u.email = email.clone();
                    u.name = name.clone();
                    let (user_id, external_id) = (u.user_id, u.external_id.clone());
                    self.line(json!({"Type": "UserUpdate", "CompanyId": self.company_id, "UserId": user_id,
                        "FullName": name, "EmailAddress": email, "SmsNumber": "", "DefaultResolution": "",
                        "TimeZoneWindowsId": "", "HelpNumber": "", "ExternalId": external_id}));
                }
                Op::Host {
                    user,
                    listed,
                    email,
                } => {
                    let user = user_of(self, user);
                    let session_id = self.company_id + 1000 + self.next_session;
                    self.next_session += 1;
                    let email = if listed {
                        self.pick(email)
                    } else {
                        String::new()
                    };
                    let person = self.users[user].person;
                    self.offer(person, &email);
                    self.took_part.push((session_id, person));
                    let participants = if listed {
                        json!([{"SecureVideoUserId": self.users[user].user_id, "ParticipantEmailAddress": email}])
                    } else {
                        json!([])
                    };
                    self.line(json!({"Type": "Session", "CompanyId": self.company_id, "SessionId": session_id,
                        "UserId": self.users[user].user_id, "ScheduleTs": "2024-03-01T00:15:00",
                        "ScheduleType": "Scheduled", "Participants": participants}));
                }
                Op::ById { host, user, email } => {
                    let (host, user) = (user_of(self, host), user_of(self, user));
                    let clash = key(&self.users[user].name) == key(&self.users[host].name);
                    if host == user || clash {
                        return self.session(host, None, |_| unreachable!());
                    }
                    let email = self.pick(email);
                    let invitation = json!({"SecureVideoUserId": self.users[user].user_id, "ParticipantEmailAddress": email});
                    self.session(host, Some(invitation), |case| {
                        let person = case.users[user].person;
                        case.offer(person, &email);
                        person
                    });
                }
                Op::ByName { host, name, email } => {
                    let host = user_of(self, host);
                    if key(NAMES[name]) == key(&self.users[host].name) {
                        return self.session(host, None, |_| unreachable!());
                    }
                    let email = self.pick(email);
                    let invitation = json!({"ParticipantFullName": NAMES[name], "ParticipantEmailAddress": email});
                    self.session(host, Some(invitation), |case| {
                        case.resolve(NAMES[name], "", &email)
                    });
                }
                Op::ByExternalId {
                    host,
                    external,
                    name,
                    email,
                } => {
                    let host = user_of(self, host);
                    if key(NAMES[name]) == key(&self.users[host].name) {
                        return self.session(host, None, |_| unreachable!());
                    }
                    let external_id = if external < MAX_USERS {
                        format!("ux-{external}")
                    } else {
                        GUEST_EXTERNAL_IDS[external - MAX_USERS].to_owned()
                    };
                    let email = self.pick(email);
                    let invitation = json!({"ParticipantFullName": NAMES[name], "ParticipantExternalId": external_id,
                        "ParticipantEmailAddress": email});
                    self.session(host, Some(invitation), |case| {
                        case.resolve(NAMES[name], &external_id, &email)
                    });
                }
            }
        }

        /// What `?ParticipantEmail=` should find for each address.
        fn expected(&self) -> BTreeMap<String, BTreeSet<i64>> {
            let mut found: BTreeMap<String, BTreeSet<i64>> = self
                .all_addresses()
                .into_iter()
                .map(|address| (address, BTreeSet::new()))
                .collect();
            for &(session_id, person) in &self.took_part {
                if let Some(sessions) = found.get_mut(&self.persons[person].current) {
                    sessions.insert(session_id);
                }
            }
            found
        }
    }

    async fn check(app: &TestApp, ops: &[Op], company_id: i64) -> Result<(), TestCaseError> {
        let mut case = Case {
            company_id,
            ..Case::default()
        };
        case.line(json!({"Type": "Company", "CompanyId": company_id, "Name": "Model Clinic"}));
        for op in ops {
            case.apply(op);
        }
        app.import(&case.lines.join("\n")).await;
        let tenant = app.key_for(company_id).await;
        for (address, expected) in case.expected() {
            let history = app
                .history(&tenant, &format!("/history?ParticipantEmail={address}"))
                .await;
            let found: BTreeSet<i64> = history
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["SessionId"].as_i64().unwrap())
                .collect();
            prop_assert_eq!(
                &found,
                &expected,
                "address {}, lines:\n{}",
                address,
                case.lines.join("\n")
            );
        }
        Ok(())
    }

    /// 48 random cases (PROPTEST_CASES) of up to 14 operations, each a company of its own
    /// in one database, then shrunk on failure.
    #[test]
    fn current_email_follows_the_model_of_the_rule() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(spawn_app());
        let next_company = AtomicI64::new(1);
        // PROPTEST_CASES asks for more (or fewer) cases.
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(48);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let ops = prop::collection::vec(op(), 1..14).prop_map(|mut ops| {
            // Every case starts with a user, so the rest can act.
            ops.insert(0, Op::NewUser { name: 0 });
            ops
        });
        let outcome = runner.run(&ops, |ops| {
            let company_id = next_company.fetch_add(1, Ordering::Relaxed) * 1_000_000;
            runtime.block_on(check(&app, &ops, company_id))
        });
        runtime.block_on(async move { drop(app) });
        if let Err(error) = outcome {
            panic!("{error}");
        }
    }
}
