//! The access audit (SPEC §15): every read route, walked from the OpenAPI
//! document, leaves exactly one record; `verify` names the first record
//! edited, deleted, inserted or reordered directly in the database; pruning
//! leaves a checkpoint that verifies; export and import carry the chain;
//! reads fail with 503 while records cannot be written; kill -9 loses at
//! most the last second; no e-mail, name or secret reaches a record;
//! `--access-audit off` records nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_ledger::audit::{Verdict, verify};
use session_ledger::config::AccessAudit;
use session_ledger::domain::Timestamp;
use session_ledger::domain::access::Tampering;

use session_ledger::store::{Rules, Store};

use crate::helpers::{OPERATOR_TOKEN, Tenant, TestApp, TestDatabase, spawn_app, spawn_app_with};
use crate::process::{Server, cli};

const KEY: &str = "test-audit-key";
const EMAIL: &str = "pat.scanned@example.com";
const NAME: &str = "Patricia Scannedname";

/// A company with a user and a session.
async fn clinic(app: &TestApp) -> (Tenant, i64, i64) {
    let tenant = app.new_tenant("Audit Clinic").await;
    let user_id = app.create_user(&tenant, NAME, EMAIL).await;
    let session = app
        .create_session(
            &tenant,
            user_id,
            json!({"ScheduleTs": "2016-11-03T22:00:00", "Participants": [
                {"ParticipantFullName": "Guest Hiddenname", "ParticipantEmailAddress": "guest.hidden@example.com"}]}),
        )
        .await;
    let session_id = session["SessionId"].as_i64().expect("a SessionId");
    (tenant, user_id, session_id)
}

/// Every record of every chain, after writing what waits.
async fn all_records(app: &TestApp) -> Vec<Value> {
    app.audit.flush().await.expect("records written");
    let mut records = Vec::new();
    for chain in app.store.access_chains(None).await.unwrap() {
        for record in app
            .store
            .access_page(chain.company_id, 0, 1_000_000)
            .await
            .unwrap()
        {
            records.push(serde_json::to_value(&record).unwrap());
        }
    }
    records
}

async fn verdict(app: &TestApp, company: Option<i64>) -> Verdict {
    let key = session_ledger::domain::access::ChainKey::new(KEY.as_bytes().to_vec());
    verify(&app.store, &key, company).await.unwrap()
}

/// Runs statements on the test's database directly, as someone with
/// access to it would.
async fn tamper(url: &str, statements: &[String]) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    }
}

fn concrete(path: &str, user_id: i64, session_id: i64, company_id: i64) -> String {
    path.replace("{user_id}", &user_id.to_string())
        .replace("{session_id}", &session_id.to_string())
        .replace("{id}", &session_id.to_string())
        .replace("{company_id}", &company_id.to_string())
}

#[tokio::test]
async fn every_read_route_of_the_openapi_document_leaves_exactly_one_record() {
    let app = spawn_app().await;
    let (tenant, user_id, session_id) = clinic(&app).await;
    let setup = all_records(&app).await;
    let routes: Vec<&str> = setup
        .iter()
        .map(|record| record["Route"].as_str().unwrap())
        .collect();
    assert!(routes.contains(&"/user"), "the user's creation: {routes:?}");
    assert!(routes.contains(&"/session/{id}"), "{routes:?}");
    assert!(routes.contains(&"/operator/companies"), "{routes:?}");

    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut walked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some(operation) = item.get("get") else {
            continue;
        };
        let schemes = operation["security"].to_string();
        let url = format!(
            "{}?Month=2016-11-01&From=2000-01-01&To=2100-01-01",
            concrete(path, user_id, session_id, tenant.company_id)
        );
        let before = all_records(&app).await;
        let response = if schemes.contains("tenant_basic") {
            app.call(&tenant, Method::GET, &url).send().await.unwrap()
        } else if schemes.contains("operator_bearer") {
            app.operator(Method::GET, &url).send().await.unwrap()
        } else {
            // Open routes (health, metrics, this document) read no company's data.
            let response = app.client.get(app.url(&url)).send().await.unwrap();
            assert!(response.status().is_success(), "{path}");
            assert_eq!(all_records(&app).await, before, "{path}");
            continue;
        };
        let status = response.status().as_u16();
        assert!(status < 500, "GET {path}: {status}");
        let new: Vec<Value> = all_records(&app)
            .await
            .into_iter()
            .filter(|record| !before.contains(record))
            .collect();
        assert_eq!(new.len(), 1, "GET {path} leaves one record: {new:?}");
        let record = &new[0];
        assert_eq!(record["Route"], path.as_str(), "{record}");
        assert_eq!(record["Method"], "GET");
        assert_eq!(record["Status"], status);
        assert_eq!(record["Client"], "127.0.0.1");
        if schemes.contains("tenant_basic") {
            assert_eq!(record["CompanyId"], tenant.company_id);
            assert_eq!(record["ActorKind"], "ApiKey");
            assert_eq!(record["Actor"], tenant.api_key.as_str());
        } else {
            assert_eq!(record["ActorKind"], "Operator");
        }
        if path.contains("{session_id}") || path.contains("{id}") {
            assert!(
                record["Ids"]
                    .as_str()
                    .unwrap()
                    .contains(&session_id.to_string()),
                "{record}"
            );
            assert_eq!(record["CompanyId"], tenant.company_id, "{record}");
        }
        walked += 1;
    }
    assert!(walked >= 10, "only {walked} read routes walked");
    assert!(matches!(verdict(&app, None).await, Verdict::Verified(_)));
}

/// A company whose chain holds 7 records: its key's creation, then six reads.
async fn audited_app() -> (TestApp, Tenant) {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Chained").await;
    for _ in 0..6 {
        app.history(&tenant, "/history").await;
    }
    all_records(&app).await;
    match verdict(&app, Some(tenant.company_id)).await {
        Verdict::Verified(chains) => assert_eq!(chains, [(tenant.company_id, 7)]),
        Verdict::Broken(broken) => panic!("{broken}"),
    }
    (app, tenant)
}

async fn broken(app: &TestApp, company: i64) -> (i64, Tampering, String) {
    match verdict(app, Some(company)).await {
        Verdict::Broken(broken) => (broken.seq, broken.tampering, broken.to_string()),
        Verdict::Verified(chains) => panic!("verified after tampering: {chains:?}"),
    }
}

#[tokio::test]
async fn verify_names_a_record_edited_in_the_database() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id;
    tamper(
        &app.database.url,
        &[format!(
            "UPDATE access_audit SET status = 404 WHERE company_id = {company} AND seq = 3"
        )],
    )
    .await;
    let (seq, tampering, message) = broken(&app, company).await;
    assert_eq!((seq, tampering), (3, Tampering::Edited));
    assert!(
        message.contains("record 3") && message.contains("edited"),
        "{message}"
    );
}

#[tokio::test]
async fn verify_names_a_record_deleted_from_the_database() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id;
    tamper(
        &app.database.url,
        &[format!(
            "DELETE FROM access_audit WHERE company_id = {company} AND seq = 4"
        )],
    )
    .await;
    let (seq, tampering, message) = broken(&app, company).await;
    assert_eq!((seq, tampering), (4, Tampering::Deleted));
    assert!(message.contains("record 4 was deleted"), "{message}");
}

#[tokio::test]
async fn verify_names_a_record_inserted_into_the_database() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id;
    tamper(
        &app.database.url,
        &[format!(
            "INSERT INTO access_audit (company_id, seq, at_us, actor_kind, actor, method, route, ids, status, client, hash)
             SELECT company_id, 8, at_us + 1, actor_kind, actor, method, route, ids, status, client, hash
             FROM access_audit WHERE company_id = {company} AND seq = 7"
        )],
    )
    .await;
    let (seq, tampering, _) = broken(&app, company).await;
    assert_eq!((seq, tampering), (8, Tampering::Inserted));
}

#[tokio::test]
async fn verify_names_records_swapped_in_the_database() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id;
    let at = |seq: i64| {
        format!("UPDATE access_audit SET seq = {seq} WHERE company_id = {company} AND seq = ")
    };
    tamper(
        &app.database.url,
        &[
            format!("{}2", at(-2)),
            format!("{}3", at(2)),
            format!("{}-2", at(3)),
        ],
    )
    .await;
    let (seq, tampering, message) = broken(&app, company).await;
    assert_eq!((seq, tampering), (2, Tampering::Reordered), "{message}");
}

#[tokio::test]
async fn the_cli_verifies_and_exits_non_zero_naming_the_record() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id.to_string();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_session-ledger"))
            .args(args)
            .env("SESSION_LEDGER_DATABASE_URL", &app.database.url)
            .env("SESSION_LEDGER_AUDIT_KEY", KEY)
            .output()
            .unwrap()
    };
    let good = run(&["audit", "verify", "--company", &company]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let line: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(line["Verified"], true);
    assert!(line["Records"].as_u64().unwrap() >= 7, "{line}");
    tamper(
        &app.database.url,
        &[format!(
            "UPDATE access_audit SET client = '10.9.9.9' WHERE company_id = {company} AND seq = 5"
        )],
    )
    .await;
    let bad = run(&["audit", "verify"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("record 5") && stderr.contains("edited"),
        "{stderr}"
    );
}

#[tokio::test]
async fn pruning_leaves_a_sealed_checkpoint_and_the_rest_verifies() {
    let (app, tenant) = audited_app().await;
    let company = tenant.company_id;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for _ in 0..3 {
        app.history(&tenant, "/history").await;
    }
    all_records(&app).await;
    let key = session_ledger::domain::access::ChainKey::new(KEY.as_bytes().to_vec());
    let pruned = app.store.prune_access(&key, cutoff).await.unwrap();
    assert!(pruned >= 7, "{pruned}");
    assert_eq!(
        app.store.prune_access(&key, cutoff).await.unwrap(),
        0,
        "pruned once"
    );
    match verdict(&app, Some(company)).await {
        Verdict::Verified(chains) => assert_eq!(chains, [(company, 3)]),
        Verdict::Broken(broken) => panic!("{broken}"),
    }
    let chain = &app.store.access_chains(Some(company)).await.unwrap()[0];
    assert_eq!(chain.base_seq, 7);
    // A checkpoint moved on by hand (hiding a record) does not verify.
    tamper(
        &app.database.url,
        &[
            format!("DELETE FROM access_audit WHERE company_id = {company} AND seq = 8"),
            format!("UPDATE access_audit_chains SET base_seq = 8 WHERE company_id = {company}"),
        ],
    )
    .await;
    let (_, tampering, _) = broken(&app, company).await;
    assert_eq!(tampering, Tampering::Checkpoint);
}

#[tokio::test]
async fn export_and_import_carry_the_records_and_their_chain() {
    let (app, tenant) = audited_app().await;
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let exported = String::from_utf8(exported).unwrap();
    assert!(exported.contains(r#"{"Type":"AccessChain""#), "{exported}");
    assert!(exported.contains(r#"{"Type":"Access","#), "{exported}");

    let copy = spawn_app().await;
    copy.import(&exported).await;
    let original = all_records(&app).await;
    let copied = all_records(&copy).await;
    assert_eq!(copied, original);
    match verdict(&copy, None).await {
        Verdict::Verified(chains) => assert!(chains.contains(&(tenant.company_id, 7))),
        Verdict::Broken(broken) => panic!("{broken}"),
    }
    // The copy's own reads go on from the imported chain.
    let key = copy.key_for(tenant.company_id).await;
    copy.history(&key, "/history").await;
    all_records(&copy).await;
    assert!(matches!(verdict(&copy, None).await, Verdict::Verified(_)));
    // Importing the same chain again is refused, naming the line.
    let again = copy
        .store
        .import(std::io::Cursor::new(exported.into_bytes()))
        .await
        .unwrap_err()
        .to_string();
    assert!(again.starts_with("line "), "{again}");
}

#[tokio::test]
async fn the_audit_answers_json_and_csv_to_its_own_company_only() {
    let app = spawn_app().await;
    let (tenant, user_id, _) = clinic(&app).await;
    let other = app.new_tenant("Other Clinic").await;
    app.call(&other, Method::GET, "/usage?month=2016-11-01")
        .send()
        .await
        .unwrap();
    app.call(&tenant, Method::GET, &format!("/user/{user_id}"))
        .send()
        .await
        .unwrap();
    app.audit.flush().await.unwrap();

    let range = "from=2000-01-01&to=2100-12-31";
    let (status, mine) = app
        .send(&tenant, Method::GET, &format!("/audit?{range}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let mine = mine.as_array().unwrap();
    assert!(
        mine.iter()
            .all(|record| record["CompanyId"] == tenant.company_id)
    );
    assert!(
        mine.iter()
            .any(|record| record["Route"] == "/user/{user_id}"
                && record["Ids"] == format!("user_id={user_id}"))
    );
    let (_, theirs) = app
        .send(&other, Method::GET, &format!("/audit?{range}"), None)
        .await;
    let theirs = theirs.as_array().unwrap();
    assert!(!theirs.is_empty());
    assert!(
        theirs
            .iter()
            .all(|record| record["CompanyId"] == other.company_id)
    );
    assert!(
        theirs
            .iter()
            .all(|record| record["Actor"] != tenant.api_key.as_str())
    );

    // The operator's view of the company is the same records.
    let operators: Value = app
        .operator(
            Method::GET,
            &format!("/operator/companies/{}/audit?{range}", tenant.company_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&operators.as_array().unwrap()[..mine.len()], mine);

    let csv = app
        .call(&tenant, Method::GET, &format!("/audit?{range}&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with(
            "CompanyId,Seq,At,ActorKind,Actor,Method,Route,Ids,Status,Client,Hash\r\n"
        ),
        "{text}"
    );
    assert!(text.contains("/user/{user_id}"), "{text}");

    for (query, needle) in [
        ("to=2100-01-01", "From"),
        ("from=2000-01-01", "To"),
        ("from=yesterday&to=2100-01-01", "From"),
        ("from=2000-01-01&to=2000-13-01", "To"),
        ("from=2010-01-01&to=2000-01-01", "after"),
        ("from=2000-01-01&to=2100-01-01&format=xml", "Format"),
    ] {
        let response = app
            .call(&tenant, Method::GET, &format!("/audit?{query}"))
            .send()
            .await
            .unwrap();
        crate::helpers::assert_error(response, StatusCode::BAD_REQUEST, needle).await;
    }
    let unknown = app
        .operator(
            Method::GET,
            &format!("/operator/companies/999999/audit?{range}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_email_name_or_secret_reaches_a_record() {
    let app = spawn_app().await;
    let (tenant, user_id, session_id) = clinic(&app).await;
    for path in [
        format!("/history?participantEmail={EMAIL}"),
        format!("/session?participantEmail={EMAIL}"),
        format!("/user/{EMAIL}"),
        "/user/Patricia%20Scannedname".to_owned(),
        format!("/user?externalId={EMAIL}"),
        format!("/history/{user_id}?ParticipantEmail={EMAIL}"),
        format!("/session/{session_id}"),
    ] {
        app.call(&tenant, Method::GET, &path).send().await.unwrap();
    }
    app.send(
        &tenant,
        Method::PUT,
        &format!("/user/{user_id}"),
        Some(
            json!({"EmailAddress": "pat.changed@example.com", "FullName": "Patricia Renamedname"}),
        ),
    )
    .await;
    let records = all_records(&app).await;
    assert!(records.len() >= 12, "{records:?}");
    let mut exported = Vec::new();
    app.store.export(&mut exported).await.unwrap();
    let audit_lines: Vec<String> = String::from_utf8(exported)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with(r#"{"Type":"Access"#))
        .map(str::to_owned)
        .collect();
    let text = format!("{records:?}\n{}", audit_lines.join("\n")).to_lowercase();
    for secret in [
        EMAIL,
        "pat.changed@example.com",
        "guest.hidden@example.com",
        "scannedname",
        "renamedname",
        "hiddenname",
        "@",
        &tenant.api_secret,
        OPERATOR_TOKEN,
        KEY,
    ] {
        assert!(
            !text.contains(&secret.to_lowercase()),
            "{secret} appears in the audit"
        );
    }
    assert!(
        text.contains("user_id=?"),
        "an e-mail in a path is replaced"
    );
}

#[tokio::test]
async fn reads_fail_with_503_while_records_cannot_be_written_and_none_is_lost() {
    let app = spawn_app().await;
    let tenant = app.new_tenant("Refusing").await;
    app.history(&tenant, "/history").await;
    all_records(&app).await;
    let (block, unblock) = if app.database.url.starts_with("sqlite:") {
        (
            vec![
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON access_audit BEGIN SELECT RAISE(ABORT, 'refused'); END".to_owned(),
            ],
            vec!["DROP TRIGGER refuse_audit".to_owned()],
        )
    } else {
        (
            vec![
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql".to_owned(),
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON access_audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()".to_owned(),
            ],
            vec!["DROP TRIGGER refuse_audit ON access_audit".to_owned()],
        )
    };
    tamper(&app.database.url, &block).await;
    // Admitted before the failure: answered, and its record waits.
    let (status, _) = app
        .send(&tenant, Method::GET, "/usage?month=2016-11-01", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.audit.flush().await.is_err());
    let refused = app
        .call(&tenant, Method::GET, "/history")
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "audit").await;
    let operator = app
        .operator(Method::GET, "/operator/companies/1")
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), StatusCode::SERVICE_UNAVAILABLE);

    tamper(&app.database.url, &unblock).await;
    let (status, _) = app
        .send(&tenant, Method::GET, "/usage?month=2016-11-01", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "served again once records are written"
    );
    let routes: Vec<Value> = all_records(&app)
        .await
        .into_iter()
        .filter(|record| record["Actor"] == tenant.api_key.as_str())
        .map(|record| record["Route"].clone())
        .collect();
    assert_eq!(
        routes,
        [json!("/history"), json!("/usage"), json!("/usage")],
        "the waiting record was kept; the refused ones were not served"
    );
    assert!(matches!(verdict(&app, None).await, Verdict::Verified(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_at_most_the_last_second_and_the_chain_still_verifies() {
    let database = TestDatabase::new().await;
    let (created, company, stderr) = cli(
        &database.url,
        &["company", "create", "--name", "Crash"],
        None,
    );
    assert!(created, "{stderr}");
    let company_id = serde_json::from_str::<Value>(&company).unwrap()["CompanyId"]
        .as_i64()
        .unwrap();
    let (created, key, stderr) = cli(
        &database.url,
        &["key", "create", "--company", &company_id.to_string()],
        None,
    );
    assert!(created, "{stderr}");
    let key: Value = serde_json::from_str(&key).unwrap();
    let (api_key, api_secret) = (key["ApiKey"].as_str().unwrap(), key["ApiSecret"].as_str());

    // As fast as it answers, for three seconds: no rate limit.
    let mut server = Server::start_with(
        &database.url,
        &[("SESSION_LEDGER_RATE_LIMIT_PER_SECOND", "0")],
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut answered = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let response = client
            .get(server.url("/usage?month=2016-11-01"))
            .basic_auth(api_key, api_secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        answered.push(Instant::now());
    }
    server.signal("KILL");
    let killed = Instant::now();
    assert_eq!(server.wait_exit(), None, "killed by a signal");
    let older = answered
        .iter()
        .filter(|at| killed.duration_since(**at) > Duration::from_secs(1))
        .count();
    assert!(
        older > 10,
        "{older} reads answered over a second before the kill"
    );

    let (verified, out, stderr) = cli(&database.url, &["audit", "verify"], None);
    assert!(verified, "{stderr}");
    assert!(out.contains(r#""Verified":true"#), "{out}");
    let store = Store::open(&database.url, Rules::default()).await.unwrap();
    let kept = store
        .access_page(company_id, 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|record| record.route == "/usage")
        .count();
    store.close().await;
    assert!(
        kept >= older && kept <= answered.len(),
        "{kept} of {} reads recorded; {older} were answered over a second before the kill",
        answered.len()
    );
    // After the restart, the chain goes on and still verifies.
    let mut server = Server::start(&database.url);
    let response = client
        .get(server.url("/usage?month=2016-11-01"))
        .basic_auth(api_key, api_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // As process.rs does: the signal handler is in place once serving settles.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("TERM");
    let exit = server.wait_exit();
    assert_eq!(exit, Some(0), "{:?}", server.logs.lock().unwrap());
    let (verified, out, stderr) = cli(&database.url, &["audit", "verify"], None);
    assert!(verified, "{stderr}");
    assert!(out.contains(r#""Verified":true"#), "{out}");
}

#[tokio::test]
async fn without_a_configured_key_an_export_carries_the_generated_one_and_verifies_after_import() {
    let (first, second) = (TestDatabase::new().await, TestDatabase::new().await);
    let (created, _, stderr) = cli(
        &first.url,
        &["company", "create", "--name", "Keyless"],
        None,
    );
    assert!(created, "{stderr}");
    let (exported, log, stderr) = cli(&first.url, &["export", "-"], None);
    assert!(exported, "{stderr}");
    assert!(
        log.contains(r#"{"Type":"AccessKey","GeneratedKey":""#),
        "{log}"
    );
    let (imported, _, stderr) = cli(&second.url, &["import", "-"], Some(&log));
    assert!(imported, "{stderr}");
    let (verified, out, stderr) = cli(&second.url, &["audit", "verify"], None);
    assert!(verified, "{stderr}");
    let out: Value = serde_json::from_str(&out).unwrap();
    // company create, export, and the import recorded on the copy.
    assert_eq!(out["Records"], 3, "{out}");
    // A database already chained under its own key refuses another's.
    let other = format!(
        r#"{{"Type":"AccessKey","GeneratedKey":"{}"}}"#,
        "0".repeat(64)
    );
    let (again, _, stderr) = cli(&first.url, &["import", "-"], Some(&other));
    assert!(!again, "{stderr}");
    assert!(stderr.contains("another generated key"), "{stderr}");
}

/// `--access-audit off` (for measuring the audit's cost) records nothing
/// and still answers `GET /audit`; the same read on a node with it on (the
/// default) leaves exactly one record.
#[tokio::test]
async fn with_the_access_audit_off_no_record_is_written_and_with_it_on_one_is() {
    let off = spawn_app_with(|settings| settings.access_audit = AccessAudit::Off).await;
    let tenant = off.new_tenant("Unaudited Clinic").await;
    let path = "/history?month=2016-11-01";
    off.history(&tenant, path).await;
    let records = all_records(&off).await;
    assert!(
        records.is_empty(),
        "recorded with the audit off: {records:?}"
    );

    let on = off.another_node().await;
    on.history(&tenant, path).await;
    let records = all_records(&on).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["CompanyId"], tenant.company_id);
    assert_eq!(record["Route"], "/history");
    assert_eq!(record["ActorKind"], "ApiKey");
    assert_eq!(record["Actor"], tenant.api_key.as_str());
    assert_eq!(record["Status"], 200);

    // Read with the audit off, the audit shows that record, and the read
    // itself leaves none.
    let (status, listed) = off
        .send(
            &tenant,
            Method::GET,
            "/audit?from=2000-01-01&to=2100-12-31",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["Route"], "/history");
    assert_eq!(all_records(&off).await.len(), 1);
    assert!(matches!(
        verdict(&off, Some(tenant.company_id)).await,
        Verdict::Verified(_)
    ));
    on.stop().await;
}
