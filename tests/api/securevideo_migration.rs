//! Migration 0008 on a ledger the earlier code wrote (issue 26): string
//! connect codes become numbers (a leading zero gets a new code), users get
//! their VideoId and SecureVideo's default resolution, the host's own
//! participation delivers by e-mail; and the export of that ledger, whose
//! journal still holds the old lines, imports to the same answers.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, spawn_app, spawn_on};

/// 2024-03-02T15:00:00 and a day before, in microseconds.
const SCHEDULE_US: i64 = 1_709_391_600_000_000;
const CREATED_US: i64 = 1_709_305_200_000_000;

/// The rows and journal lines the code before migration 0008 wrote for a
/// user hosting one session with one guest.
fn legacy_statements() -> Vec<String> {
    let journal = [
        r#"{"Type":"Company","CompanyId":100,"Name":"Legacy Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0,"DuplicateWindowMinutes":60,"RecordedTs":"2024-03-01T15:00:00"}"#,
        r#"{"Type":"User","CompanyId":100,"UserId":101,"FullName":"Test User","EmailAddress":"test@test.com","SmsNumber":"","DefaultResolution":"","TimeZoneWindowsId":"Pacific Standard Time","HelpNumber":"4084062331","ExternalId":"","RecordedTs":"2024-03-01T15:00:00"}"#,
        r#"{"Type":"Session","CompanyId":100,"SessionId":102,"UserId":101,"ScheduleTs":"2024-03-02T15:00:00","ScheduleType":"Scheduled","ConnectCode":"012345678","Participants":[{"ParticipationId":103,"ParticipantFullName":"Test User","SecureVideoUserId":101,"ParticipantEmailAddress":"","ParticipantSmsNumber":"","ParticipantDefaultResolution":"","ParticipantTimeZoneWindowsId":"","ParticipantExternalId":"","ConnectCode":"204848645","ShouldAutoDeliverCode":"N"},{"ParticipationId":104,"ParticipantFullName":"Trevor","SecureVideoUserId":null,"ParticipantEmailAddress":"trevor@geemail.com","ParticipantSmsNumber":"3124455566","ParticipantDefaultResolution":"default","ParticipantTimeZoneWindowsId":"Hawaiian Standard Time","ParticipantExternalId":"","ConnectCode":"007464714","ShouldAutoDeliverCode":"S"}],"RecordedTs":"2024-03-01T15:00:00"}"#,
    ];
    let mut statements: Vec<String> = [
        "INSERT INTO companies (company_id, name, included_sessions, overage_price_cents, data_version, created_us, duplicate_window_minutes)
         VALUES (100, 'Legacy Clinic', 0, 0, 3, 0, 60)",
        "INSERT INTO persons (company_id, person_id, full_name, name_key, external_id, email_address, email_key)
         VALUES (100, 105, 'Test User', 'test user', '', 'test@test.com', 'test@test.com'),
                (100, 106, 'Trevor', 'trevor', '', 'trevor@geemail.com', 'trevor@geemail.com')",
        "INSERT INTO person_emails (company_id, person_id, email_key, first_seen_us)
         VALUES (100, 105, 'test@test.com', 0), (100, 106, 'trevor@geemail.com', 0)",
        "INSERT INTO users (company_id, user_id, person_id, full_name, email_address, sms_number,
             default_resolution, time_zone_windows_id, help_number, external_id, system_roles)
         VALUES (100, 101, 105, 'Test User', 'test@test.com', '', '', 'Pacific Standard Time', '4084062331', '', 'H,P')",
        "INSERT INTO session_directory (session_id, company_id) VALUES (102, 100)",
    ]
    .map(str::to_owned)
    .to_vec();
    statements.push(format!(
        "INSERT INTO sessions (company_id, session_id, host_user_id, schedule_ts, schedule_type, connect_code,
             created_us, last_activity_us, state, comped, host_full_name, guest_names, history_group, history_ts)
         VALUES (100, 102, 101, {SCHEDULE_US}, 'Scheduled', '012345678', {CREATED_US}, {CREATED_US}, 'active', FALSE,
             'Test User', '', 1, {SCHEDULE_US})"
    ));
    statements.push(
        "INSERT INTO participations (company_id, participation_id, session_id, person_id, position, is_host,
             secure_video_user_id, full_name, email_address, sms_number, default_resolution,
             time_zone_windows_id, external_id, connect_code, should_auto_deliver_code)
         VALUES (100, 103, 102, 105, 0, TRUE, 101, 'Test User', 'test@test.com', '', '', '', '', '204848645', 'N'),
                (100, 104, 102, 106, 1, FALSE, NULL, 'Trevor', 'trevor@geemail.com', '3124455566', 'default',
                 'Hawaiian Standard Time', '', '007464714', 'S')"
            .to_owned(),
    );
    // Ids and journal numbers continue above these (sequences on PostgreSQL).
    if crate::backend::POSTGRES {
        statements.push("SELECT setval('entity_ids', 106)".to_owned());
        statements.push("SELECT setval('journal_seq', 3)".to_owned());
    } else {
        statements.push(
            "UPDATE id_counters SET last_value = 106 WHERE counter_name = 'entity'".to_owned(),
        );
        statements.push(
            "UPDATE id_counters SET last_value = 3 WHERE counter_name = 'journal'".to_owned(),
        );
    }
    for (seq, line) in journal.iter().enumerate() {
        statements.push(format!(
            "INSERT INTO journal (company_id, seq, event_id, record) VALUES (100, {}, NULL, '{}')",
            seq + 1,
            line.replace('\'', "''")
        ));
    }
    statements
}

/// A database at migration 0007 holding what the earlier code wrote.
async fn legacy_database() -> TestDatabase {
    use sqlx::Connection;
    let database = TestDatabase::new().await;
    let folder = if crate::backend::POSTGRES {
        "postgres"
    } else {
        "sqlite"
    };
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    macro_rules! fill {
        ($conn:expr) => {{
            let mut conn = $conn;
            migrator.run_to(7, &mut conn).await.unwrap();
            for statement in legacy_statements() {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
            conn.close().await.unwrap();
        }};
    }
    if crate::backend::POSTGRES {
        fill!(sqlx::PgConnection::connect(&database.url).await.unwrap());
    } else {
        let options: sqlx::sqlite::SqliteConnectOptions = database.url.parse().unwrap();
        fill!(
            sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
                .await
                .unwrap()
        );
    }
    database
}

/// What a tenant of company 100 reads.
async fn observable(app: &TestApp) -> Vec<Value> {
    let tenant = app.key_for(100).await;
    let mut seen = Vec::new();
    for path in ["/user", "/user/101", "/session", "/session/101", "/history"] {
        let (status, body) = app.send(&tenant, Method::GET, path, None).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        seen.push(body);
    }
    seen
}

async fn export_text(app: &TestApp) -> String {
    let mut out = Vec::new();
    app.store.export(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn migration_0008_converts_what_the_earlier_code_stored() {
    let migrated = spawn_on(legacy_database().await, |_| {}).await;
    let seen = observable(&migrated).await;

    let user = &seen[1];
    assert_eq!(user["VideoId"], "sv0000000101", "{user}");
    assert_eq!(user["DefaultResolution"], "high", "{user}");
    let session = &seen[2][0];
    assert_eq!(
        session["ConnectCode"],
        json!(912_345_678),
        "a leading zero gets a new code"
    );
    let host = &session["Participants"][0];
    assert_eq!(
        host["ConnectCode"],
        json!(204_848_645),
        "a number that fits is kept"
    );
    assert_eq!(host["ShouldAutoDeliverCode"], "E");
    assert_eq!(host["ParticipantDefaultResolution"], "high");
    assert_eq!(
        host["ParticipantTimeZoneWindowsId"],
        "Pacific Standard Time"
    );
    let guest = &session["Participants"][1];
    assert_eq!(guest["ConnectCode"], json!(907_464_714));
    assert_eq!(guest["ParticipantDefaultResolution"], "default");
    assert_eq!(guest["ExpiresTs"], Value::Null);

    // Its export still holds the old lines; imported, they give the same answers.
    let log = export_text(&migrated).await;
    assert!(log.contains(r#""ConnectCode":"012345678""#), "{log}");
    let copy = spawn_app().await;
    copy.import(&log).await;
    assert_eq!(observable(&copy).await, seen);

    // And the copy's export, in the new form, imports to the same again.
    let new_log = export_text(&copy).await;
    assert!(new_log.contains(r#""ConnectCode":912345678"#), "{new_log}");
    assert!(new_log.contains(r#""VideoId":"sv0000000101""#), "{new_log}");
    let again = spawn_app().await;
    again.import(&new_log).await;
    assert_eq!(observable(&again).await, seen);
}
