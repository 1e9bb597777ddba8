//! The console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, through `fantoccini`), on
//! this suite's store. Each page is also saved as a PNG, at a laptop's and
//! a phone's width, under target/console-screenshots/.
//!
//! Without chromedriver the tests say so loudly and pass; under `CI=true`
//! they fail (.ci/run installs it).

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::{MONTH, PASSWORD, clinic};
use crate::helpers::{OPERATOR_TOKEN, TestApp, spawn_app};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver of our own, on a free port; stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The driver, or `None` (said loudly) when chromedriver is missing; under
/// CI=true a missing driver fails the test.
fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        eprintln!(
            "\n!!! console browser test NOT RUN: {CHROMEDRIVER} or {CHROMIUM} is missing \
             (apt-get install chromium chromium-driver; .ci/run does) !!!\n"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "under CI=true chromium and chromium-driver must be installed"
        );
        return None;
    }
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// A headless Chromium session through the driver.
async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return client,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("chromedriver at {} did not start a browser", driver.url);
}

/// Where this run's screenshots go, per backend.
fn screenshot_dir() -> PathBuf {
    let backend = if crate::backend::POSTGRES {
        "postgres"
    } else {
        "sqlite"
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/console-screenshots")
        .join(backend);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what a laptop's screen shows first (1280 × 860), for the docs.
async fn first_screen(client: &Client, name: &str) {
    client.set_window_size(1280, 860).await.unwrap();
    let png = client.screenshot().await.unwrap();
    let path = screenshot_dir().join(format!("{name}-screen.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Saves the page at a laptop's width and at a phone's (390 px), whole.
async fn screenshots(client: &Client, name: &str) {
    let dir = screenshot_dir();
    for (label, width) in [("desktop", 1280u32), ("phone", 390u32)] {
        client.set_window_size(width, 900).await.unwrap();
        // The whole page: as tall as its content.
        let height = client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900)
            .clamp(400, 4000) as u32;
        // The window's frame takes some of its height from the page.
        client.set_window_size(width, height + 160).await.unwrap();
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = dir.join(format!("{name}-{label}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
    client.set_window_size(1280, 900).await.unwrap();
}

/// Clicks what submits a form or follows a link, and waits until the
/// browser has left the page and loaded the next (the same URL, maybe).
async fn submit(client: &Client, css: &str) {
    let page = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .click()
        .await
        .unwrap();
    for _ in 0..400 {
        if page.tag_name().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..400 {
        let state = client
            .execute("return document.readyState", vec![])
            .await
            .ok();
        if state.as_ref().and_then(|value| value.as_str()) == Some("complete") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types `text` into the element `css` names.
async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .text()
        .await
        .unwrap()
}

/// How many elements of the page match `css`.
async fn count_of(client: &Client, css: &str) -> usize {
    client.find_all(Locator::Css(css)).await.unwrap().len()
}

async fn path_of(client: &Client) -> String {
    let url = client.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The integrator's own site, where the browser returns when the console
/// session ends.
async fn integrator_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/back",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!DOCTYPE html><title>Integrator</title><h1>Welcome back to the EHR</h1>",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}/back")
}

#[tokio::test]
async fn a_login_link_opens_the_month_the_timeline_the_csv_and_signs_out_to_the_integrator() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let back = integrator_site().await;
    let (status, login) = app
        .send(
            &clinic.tenant,
            Method::POST,
            &format!("/login/{}", clinic.host),
            Some(json!({"RedirectToUriOnExpiry": back})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let client = browser(&driver).await;
    let outcome = async {
        client
            .goto(login["LoginUri"].as_str().unwrap())
            .await
            .unwrap();
        let company = clinic.tenant.company_id;
        assert!(
            path_of(&client)
                .await
                .starts_with(&format!("/console/companies/{company}/month"))
        );
        // The month picker: to November 2026.
        let picker = client.find(Locator::Css("#month")).await.unwrap();
        client
            .execute(
                "arguments[0].value = arguments[1]",
                vec![serde_json::to_value(&picker).unwrap(), json!(MONTH)],
            )
            .await
            .unwrap();
        submit(&client, ".month-picker form button").await;
        assert_eq!(
            path_of(&client).await,
            format!("/console/companies/{company}/month?month={MONTH}")
        );
        assert_eq!(text_of(&client, "#month-title").await, "November 2026");
        let table = text_of(&client, "#sessions").await;
        assert!(table.contains(&format!("#{}", clinic.session)), "{table}");
        assert!(
            !table.contains(&format!("#{}", clinic.other_hosts_session)),
            "{table}"
        );
        assert!(
            table.contains("BILL") && table.contains("25 min"),
            "{table}"
        );
        assert!(
            table.contains("Tue 3 Nov, 02:00"),
            "schedule in Pacific time: {table}"
        );
        screenshots(&client, "month-host").await;

        // The CSV link, fetched with the browser's own session cookie.
        let href = client
            .find(Locator::Css("#csv-download"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let cookie = client.get_named_cookie("sl_console").await.unwrap();
        let csv = app
            .client
            .get(app.url(&href))
            .header("cookie", format!("sl_console={}", cookie.value()))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        let csv = csv.text().await.unwrap();
        assert!(csv.starts_with("SessionId,ScheduleTs,BillableTs"), "{csv}");
        assert!(
            csv.contains(&format!("{},2026-11-03T10:00:00", clinic.session)),
            "{csv}"
        );

        // The session: its timeline and the arithmetic under it.
        submit(&client, ".session-link").await;
        assert_eq!(
            path_of(&client).await,
            format!("/console/companies/{company}/sessions/{}", clinic.session)
        );
        let arithmetic = text_of(&client, "#arithmetic").await;
        assert_eq!(arithmetic, "host 02:01–02:27 ∩ others 02:02–02:29 = 25 min");
        assert_eq!(
            count_of(&client, "#timeline rect.call").await,
            3,
            "host, guest and counted"
        );
        assert_eq!(count_of(&client, "#timeline rect.counted-band").await, 1);
        screenshots(&client, "session-host").await;

        // Sign-out lands on the integrator's page.
        submit(&client, "#sign-out").await;
        assert_eq!(client.current_url().await.unwrap().as_str(), back);
        assert_eq!(text_of(&client, "h1").await, "Welcome back to the EHR");
        // The console no longer knows this browser.
        client
            .goto(&app.url(&format!("/console/companies/{company}/month")))
            .await
            .unwrap();
        assert_eq!(path_of(&client).await, "/console/sign-in");
    }
    .await;
    client.close().await.unwrap();
    outcome
}

#[tokio::test]
async fn password_sign_in_shows_own_sessions_and_no_one_elses() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client = browser(&driver).await;
    let outcome = async {
        client.goto(&app.url("/console")).await.unwrap();
        assert_eq!(path_of(&client).await, "/console/sign-in");
        screenshots(&client, "sign-in").await;
        // A wrong password first: the one answer, on the same page.
        type_into(&client, "#email", "hana@harbor.example").await;
        type_into(&client, "#password", "not it at all").await;
        submit(&client, "#sign-in-button").await;
        assert!(
            text_of(&client, "#sign-in-error")
                .await
                .contains("do not match an account")
        );
        type_into(&client, "#password", PASSWORD).await;
        submit(&client, "#sign-in-button").await;
        let company = clinic.tenant.company_id;
        assert!(
            path_of(&client)
                .await
                .starts_with(&format!("/console/companies/{company}/month"))
        );
        // Another host's session and another company's: not found.
        for path in [
            format!(
                "/console/companies/{company}/sessions/{}",
                clinic.other_hosts_session
            ),
            format!(
                "/console/companies/{}/sessions/{}",
                clinic.other_company.company_id, clinic.other_companys_session
            ),
            format!(
                "/console/companies/{company}/sessions/{}",
                clinic.other_companys_session
            ),
        ] {
            client.goto(&app.url(&path)).await.unwrap();
            assert_eq!(text_of(&client, "h1").await, "Not found", "{path}");
            let status = app
                .client
                .get(app.url(&path))
                .header(
                    "cookie",
                    format!(
                        "sl_console={}",
                        client.get_named_cookie("sl_console").await.unwrap().value()
                    ),
                )
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        screenshots(&client, "not-found").await;
    }
    .await;
    client.close().await.unwrap();
    outcome
}

#[tokio::test]
async fn an_administrator_sees_usage_and_an_operator_comps_a_session() {
    let Some(driver) = driver() else { return };
    let app: TestApp = spawn_app().await;
    let clinic = clinic(&app).await;
    let company = clinic.tenant.company_id;
    let client = browser(&driver).await;
    let outcome = async {
        // The administrator: the whole company, and its usage.
        sign_in_as(&client, &app, "ada@harbor.example").await;
        client
            .goto(&app.url(&format!("/console/companies/{company}/month?month={MONTH}")))
            .await
            .unwrap();
        let table = text_of(&client, "#sessions").await;
        assert!(
            table.contains(&format!("#{}", clinic.other_hosts_session)),
            "{table}"
        );
        assert_eq!(text_of(&client, "#counted").await, "2 of 0 included");
        screenshots(&client, "month-administrator").await;
        client
            .goto(&app.url(&format!("/console/companies/{company}/usage?month={MONTH}")))
            .await
            .unwrap();
        assert_eq!(
            count_of(&client, "#usage-days rect.bar").await,
            30,
            "one bar a day of November"
        );
        assert_eq!(count_of(&client, "#usage-months tbody tr").await, 12);
        screenshots(&client, "usage").await;
        submit(&client, "#sign-out").await;
        assert_eq!(path_of(&client).await, "/console/signed-out");

        // The operator: companies, a session, comp with a reason.
        sign_in_as_operator(&client, &app).await;
        assert_eq!(path_of(&client).await, "/console/companies");
        assert!(
            text_of(&client, "#companies")
                .await
                .contains("Elsewhere Health")
        );
        screenshots(&client, "companies").await;
        client
            .goto(&app.url(&format!(
                "/console/companies/{company}/sessions/{}",
                clinic.session
            )))
            .await
            .unwrap();
        assert_eq!(text_of(&client, "#session-status").await, "BILL");
        type_into(&client, "#comp-reason", "audio trouble").await;
        submit(&client, "#comp-button").await;
        assert_eq!(text_of(&client, "#session-status").await, "COMP");
        assert!(text_of(&client, "#audit").await.contains("audio trouble"));
        screenshots(&client, "session-operator").await;
        client
            .goto(&app.url(&format!("/console/companies/{company}/month?month={MONTH}")))
            .await
            .unwrap();
        let table = text_of(&client, "#sessions").await;
        let row = table
            .lines()
            .find(|line| line.contains(&format!("#{}", clinic.session)))
            .unwrap_or_else(|| panic!("the session's row in {table}"))
            .to_owned();
        assert!(row.contains("COMP"), "{row}");
        assert_eq!(text_of(&client, "#counted").await, "1 of 0 included");
    }
    .await;
    client.close().await.unwrap();
    outcome
}

/// Signs in with e-mail and password on the sign-in page.
async fn sign_in_as(client: &Client, app: &TestApp, email: &str) {
    client.goto(&app.url("/console/sign-in")).await.unwrap();
    type_into(client, "#email", email).await;
    type_into(client, "#password", PASSWORD).await;
    submit(client, "#sign-in-button").await;
}

/// Signs in with the operator token on the operator's sign-in page.
async fn sign_in_as_operator(client: &Client, app: &TestApp) {
    client
        .goto(&app.url("/console/operator/sign-in"))
        .await
        .unwrap();
    type_into(client, "#token", OPERATOR_TOKEN).await;
    submit(client, "#sign-in-button").await;
}

/// The access audit: an administrator finds their own earlier read on the
/// company's audit page; a host gets "Not found"; an operator deactivates a
/// session with a reason and reads it among the company's operator actions.
#[tokio::test]
async fn the_access_audit_shows_reads_and_the_operators_reasons() {
    let Some(driver) = driver() else { return };
    let app: TestApp = spawn_app().await;
    let clinic = clinic(&app).await;
    let company = clinic.tenant.company_id;
    let audit_path = format!("/console/companies/{company}/audit");
    let client = browser(&driver).await;
    let outcome = async {
        sign_in_as(&client, &app, "ada@harbor.example").await;
        client
            .goto(&app.url(&format!("/console/companies/{company}/month?month={MONTH}")))
            .await
            .unwrap();
        submit(&client, "nav a[href$=\"/audit\"]").await;
        assert_eq!(path_of(&client).await, audit_path);
        assert_eq!(text_of(&client, "#audit-title").await, "Access audit");
        let newest = text_of(&client, "#access tbody tr:first-child").await;
        assert!(
            newest.contains("GET /console/companies/{company_id}/month")
                && newest.contains(&format!("console · user {}", clinic.administrator))
                && newest.contains("200"),
            "the administrator's own read of the month: {newest}"
        );
        screenshots(&client, "audit-administrator").await;
        submit(&client, "#sign-out").await;

        // A host: not found.
        sign_in_as(&client, &app, "hana@harbor.example").await;
        client.goto(&app.url(&audit_path)).await.unwrap();
        assert_eq!(text_of(&client, "h1").await, "Not found");
        let cookie = client.get_named_cookie("sl_console").await.unwrap();
        let status = app
            .client
            .get(app.url(&audit_path))
            .header("cookie", format!("sl_console={}", cookie.value()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND);
        client.goto(&app.url("/console")).await.unwrap();
        submit(&client, "#sign-out").await;

        // The operator deactivates a session, saying why.
        sign_in_as_operator(&client, &app).await;
        client
            .goto(&app.url(&format!(
                "/console/companies/{company}/sessions/{}",
                clinic.other_hosts_session
            )))
            .await
            .unwrap();
        type_into(
            &client,
            "#deactivate-reason",
            "Host reported the visit ended early",
        )
        .await;
        submit(&client, "#deactivate-button").await;
        assert!(
            count_of(&client, "#deactivate-button").await == 0,
            "deactivated"
        );
        submit(&client, "nav a[href$=\"/audit\"]").await;
        assert_eq!(path_of(&client).await, audit_path);
        let action = text_of(&client, "#actions tbody tr:first-child").await;
        assert!(
            action.contains("Session deactivated")
                && action.contains(&format!("#{}", clinic.other_hosts_session))
                && action.contains("Host reported the visit ended early"),
            "{action}"
        );
        let newest = text_of(&client, "#access tbody tr:first-child").await;
        assert!(newest.contains("Operator"), "{newest}");
        screenshots(&client, "audit-operator").await;
        // On a phone the actions are far down: the link to them, on screen.
        client.set_window_size(390, 900).await.unwrap();
        client
            .find(Locator::Css("#audit-summary a[href=\"#operator-actions\"]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(path_of(&client).await.ends_with(&audit_path));
        let png = client.screenshot().await.unwrap();
        let path = screenshot_dir().join("audit-operator-actions-phone.png");
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
    .await;
    client.close().await.unwrap();
    outcome
}

/// The demo clinic (`serve --demo`): a real month of sessions, as its
/// account administrator sees it; the README's pictures come from here.
#[tokio::test]
async fn the_demo_clinics_month_and_a_session_read_as_the_apis_say() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let access = session_ledger::demo::ensure_demo(&app.store).await.unwrap();
    let tenant = crate::helpers::Tenant {
        company_id: access.company_id,
        api_key: access.api_key.clone(),
        api_secret: access.api_secret.clone(),
    };
    let (_, users) = app.send(&tenant, Method::GET, "/user", None).await;
    let administrator = users
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["SystemRoles"] == "H,P,A")
        .expect("the demo has an administrator")
        .clone();
    let id: i64 = administrator["SystemUserId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    crate::console::set_password(&app, &tenant, id, PASSWORD).await;
    let month = &access.month[..7];
    let history = app
        .history(&tenant, &format!("/history?month={month}"))
        .await;
    let usage: serde_json::Value = app
        .tenant(&tenant, &format!("/usage?month={month}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = browser(&driver).await;
    let outcome = async {
        sign_in_as(
            &client,
            &app,
            administrator["EmailAddress"].as_str().unwrap(),
        )
        .await;
        let base = format!("/console/companies/{}", access.company_id);
        client
            .goto(&app.url(&format!("{base}/month?month={month}")))
            .await
            .unwrap();
        assert_eq!(
            count_of(&client, "#sessions tbody tr").await,
            history.as_array().unwrap().len(),
            "every session of the month"
        );
        assert_eq!(
            text_of(&client, "#counted").await,
            format!(
                "{} of {} included",
                usage["CountedSessions"], usage["IncludedSessions"]
            )
        );
        screenshots(&client, "demo-month").await;
        first_screen(&client, "demo-month").await;
        // The first session with a duration: its page.
        let first = history
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["DurationMinutes"].is_i64())
            .unwrap();
        client
            .goto(&app.url(&format!("{base}/sessions/{}", first["SessionId"])))
            .await
            .unwrap();
        assert_eq!(
            text_of(&client, "#duration").await,
            format!("{} min", first["DurationMinutes"])
        );
        assert!(
            text_of(&client, "#rounding")
                .await
                .ends_with(&format!("= {} min", first["DurationMinutes"]))
        );
        screenshots(&client, "demo-session").await;
        first_screen(&client, "demo-session").await;
        client
            .goto(&app.url(&format!("{base}/usage?month={month}")))
            .await
            .unwrap();
        screenshots(&client, "demo-usage").await;
    }
    .await;
    client.close().await.unwrap();
    outcome
}
