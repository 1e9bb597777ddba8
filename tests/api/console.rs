//! The console's HTTP surface (SPEC §14), over real HTTP: the Password and
//! Login APIs as SecureVideo's Ruby client calls them, sign-in, cookies,
//! CSRF, the content security policy, the sign-in limits, and that no
//! page of one company or host is reachable from another's session.
//! The pages themselves are driven in a real browser by `console_browser`.

use reqwest::redirect::Policy;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Tenant, TestApp, assert_error, event, participant_event, spawn_app, spawn_app_with,
};

pub const PASSWORD: &str = "correct horse battery";

/// A form posted as a browser posts it (`application/x-www-form-urlencoded`).
trait Form {
    fn form(self, fields: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}
pub const MONTH: &str = "2026-11";

/// Two companies: in the first an administrator and two hosts, each host
/// with a session of November 2026; in the second one host and a session.
pub struct Clinic {
    pub tenant: Tenant,
    pub administrator: i64,
    pub host: i64,
    pub other_host: i64,
    /// The host's session: host 10:01–10:27, guest 10:02–10:29 UTC = 25 min.
    pub session: i64,
    pub other_hosts_session: i64,
    pub other_company: Tenant,
    pub other_companys_session: i64,
}

pub async fn user(app: &TestApp, tenant: &Tenant, name: &str, email: &str, extra: Value) -> i64 {
    let mut body = json!({
        "FullName": name,
        "EmailAddress": email,
        "TimeZoneWindowsId": "Pacific Standard Time",
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let (status, user) = app.send(tenant, Method::POST, "/user", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user["SystemUserId"].as_str().unwrap().parse().unwrap()
}

/// A session of the host on that day, with a guest, connected at those
/// minutes past `hour` (host from–to, guest from–to).
pub async fn held_session(
    app: &TestApp,
    tenant: &Tenant,
    host: i64,
    day: u32,
    hour: u32,
    minutes: [u32; 4],
) -> i64 {
    let session = app
        .create_session(
            tenant,
            host,
            json!({
                "ScheduleTs": format!("{MONTH}-{day:02}T{hour:02}:00:00"),
                "Participants": [{"ParticipantFullName": "Pat Guest", "ParticipantEmailAddress": "pat@example.com", "ShouldAutoDeliverCode": "E"}],
            }),
        )
        .await;
    let id = session["SessionId"].as_i64().unwrap();
    let guest = session["Participants"][1]["ParticipationId"]
        .as_i64()
        .unwrap();
    let at = |minute: u32| format!("{MONTH}-{day:02}T{hour:02}:{minute:02}:00");
    let events = json!([
        event(
            &format!("{id}-1"),
            id,
            "Connect",
            "Host",
            "h",
            &at(minutes[0])
        ),
        participant_event(
            &format!("{id}-2"),
            id,
            "Connect",
            guest,
            "g",
            &at(minutes[2])
        ),
        event(
            &format!("{id}-3"),
            id,
            "Disconnect",
            "Host",
            "h",
            &at(minutes[1])
        ),
        participant_event(
            &format!("{id}-4"),
            id,
            "Disconnect",
            guest,
            "g",
            &at(minutes[3])
        ),
    ]);
    let response = app.post_events(events).await;
    assert_eq!(response.status(), StatusCode::OK);
    id
}

pub async fn clinic(app: &TestApp) -> Clinic {
    let tenant = app.new_tenant("Harbor Clinic").await;
    let administrator = user(
        app,
        &tenant,
        "Ada Admin",
        "ada@harbor.example",
        json!({"SystemRoles": "H,P,A", "ExternalId": "ehr-ada"}),
    )
    .await;
    let host = user(
        app,
        &tenant,
        "Hana Host",
        "hana@harbor.example",
        json!({"ExternalId": "ehr-hana"}),
    )
    .await;
    let other_host = user(app, &tenant, "Omar Other", "omar@harbor.example", json!({})).await;
    let session = held_session(app, &tenant, host, 3, 10, [1, 27, 2, 29]).await;
    let other_hosts_session = held_session(app, &tenant, other_host, 4, 15, [0, 20, 5, 20]).await;
    let other_company = app.new_tenant("Elsewhere Health").await;
    let stranger = user(
        app,
        &other_company,
        "Sam Stranger",
        "sam@elsewhere.example",
        json!({}),
    )
    .await;
    let other_companys_session =
        held_session(app, &other_company, stranger, 5, 9, [0, 30, 1, 31]).await;
    for id in [administrator, host, other_host] {
        set_password(app, &tenant, id, PASSWORD).await;
    }
    set_password(app, &other_company, stranger, PASSWORD).await;
    Clinic {
        tenant,
        administrator,
        host,
        other_host,
        session,
        other_hosts_session,
        other_company,
        other_companys_session,
    }
}

pub async fn set_password(app: &TestApp, tenant: &Tenant, user_id: i64, password: &str) {
    let (status, body) = app
        .send(
            tenant,
            Method::PUT,
            &format!("/password/{user_id}"),
            Some(json!({ "NewPassword": password })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A browser-like client that does not follow redirects.
pub fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The `Set-Cookie` line that sets this cookie.
fn set_cookie_line(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|line| line.starts_with(&format!("{name}=")))
}

fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The hidden CSRF field of the first form on the page.
fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Signs in with e-mail and password as a browser would; the session cookie.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<String, Response> {
    let client = browser();
    let page = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    let form_cookie = cookie_value(&set_cookie_line(&page, "sl_sign_in").expect("a form cookie"));
    let csrf = csrf_field(&page.text().await.unwrap());
    let response = client
        .post(app.url("/console/sign-in"))
        .header("cookie", format!("sl_sign_in={form_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response);
    }
    Ok(cookie_value(
        &set_cookie_line(&response, "sl_console").expect("a session cookie"),
    ))
}

pub async fn page(app: &TestApp, session: &str, path: &str) -> Response {
    browser()
        .get(app.url(path))
        .header("cookie", format!("sl_console={session}"))
        .send()
        .await
        .unwrap()
}

/// Sends a session page's action form (`comp`, `uncomp`, `deactivate`) as
/// the signed-in `session` would: the page's CSRF token and the reason.
async fn session_action(
    app: &TestApp,
    session: &str,
    session_path: &str,
    action: &str,
    reason: Option<&str>,
) -> Response {
    let html = page(app, session, session_path).await.text().await.unwrap();
    let csrf = csrf_field(&html);
    let mut fields = vec![("csrf", csrf.as_str())];
    if let Some(reason) = reason {
        fields.push(("reason", reason));
    }
    browser()
        .post(app.url(&format!("{session_path}/{action}")))
        .header("cookie", format!("sl_console={session}"))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn login_api(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> (StatusCode, Value) {
    app.send(tenant, Method::POST, path, Some(body)).await
}

#[tokio::test]
async fn the_password_api_takes_ten_characters_or_more_for_the_companys_users_only() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let path = format!("/password/{}", clinic.host);
    let short = app
        .call(&clinic.tenant, Method::PUT, &path)
        .json(&json!({"NewPassword": "nine char"}))
        .send()
        .await
        .unwrap();
    assert_error(short, StatusCode::BAD_REQUEST, "at least 10 characters").await;
    let missing = app
        .call(&clinic.tenant, Method::PUT, &path)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::BAD_REQUEST, "NewPassword").await;
    // Another company's user is not found, exactly as no user at all.
    for path in [
        format!("/password/{}", clinic.host),
        "/password/999999".to_owned(),
    ] {
        let response = app
            .call(&clinic.other_company, Method::PUT, &path)
            .json(&json!({"NewPassword": "long enough password"}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "User not found").await;
    }
    let anonymous = app
        .client
        .put(app.url(&path))
        .json(&json!({"NewPassword": "long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // The short attempt changed nothing: the old password still signs in.
    assert!(sign_in(&app, "hana@harbor.example", PASSWORD).await.is_ok());
    set_password(&app, &clinic.tenant, clinic.host, "a brand new passphrase").await;
    assert!(
        sign_in(&app, "hana@harbor.example", PASSWORD)
            .await
            .is_err()
    );
    assert!(
        sign_in(&app, "HANA@harbor.example", "a brand new passphrase")
            .await
            .is_ok()
    );
}

/// The calls of SecureVideo's Ruby client (`update_password`, `login`), as
/// it sends them: JSON bodies, Basic auth, `Accept: application/json`.
#[tokio::test]
async fn the_ruby_clients_password_and_login_calls_succeed() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let (status, body) = app
        .send(
            &clinic.tenant,
            Method::PUT,
            &format!("/password/{}", clinic.administrator),
            Some(json!({"NewPassword": "4e#@w19X4-long"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, login) = login_api(
        &app,
        &clinic.tenant,
        &format!("/login/{}", clinic.administrator),
        json!({"RedirectToUriOnExpiry": "https://www.mywebsite.com/HandleSecureVideoLoginExpiration"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let guid = login["LoginGuid"].as_str().unwrap();
    assert_eq!(guid.len(), 32);
    assert!(guid.bytes().all(|b| b.is_ascii_hexdigit()), "{guid}");
    assert_eq!(
        login["RedirectToUriOnExpiry"],
        "https://www.mywebsite.com/HandleSecureVideoLoginExpiration"
    );
    assert_eq!(
        login["LoginUri"].as_str().unwrap(),
        format!("{}/console/auto-login/{guid}", app.address)
    );
    // By ExternalId, as `login/0?externalId=X`.
    let (status, by_external) = login_api(
        &app,
        &clinic.tenant,
        "/login/0?externalId=ehr-hana",
        json!({"RedirectToUriOnExpiry": "https://www.mywebsite.com/back"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{by_external}");
    assert_ne!(by_external["LoginGuid"], login["LoginGuid"]);
    // Ending it: DELETE /session/{LoginGuid}.
    let (status, _) = app
        .send(
            &clinic.tenant,
            Method::DELETE,
            &format!("/session/{guid}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_login_api_refuses_what_it_cannot_use_and_changes_nothing() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let host = format!("/login/{}", clinic.host);
    for (path, body, status, needle) in [
        (
            host.as_str(),
            json!({"RedirectToUriOnExpiry": "javascript:alert(1)"}),
            StatusCode::BAD_REQUEST,
            "RedirectToUriOnExpiry",
        ),
        (
            host.as_str(),
            json!({"RedirectToUriOnExpiry": 7}),
            StatusCode::BAD_REQUEST,
            "RedirectToUriOnExpiry",
        ),
        ("/login/0", json!({}), StatusCode::BAD_REQUEST, "ExternalId"),
        (
            "/login/0?externalId=nobody",
            json!({}),
            StatusCode::NOT_FOUND,
            "User not found",
        ),
        (
            "/login/999999",
            json!({}),
            StatusCode::NOT_FOUND,
            "User not found",
        ),
        ("/login/abc", json!({}), StatusCode::BAD_REQUEST, "UserId"),
        ("/login/-3", json!({}), StatusCode::BAD_REQUEST, "UserId"),
    ] {
        let response = app
            .call(&clinic.tenant, Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, status, needle).await;
    }
    // Another company's user, and another company's LoginGuid: 404.
    let (status, _) = login_api(&app, &clinic.other_company, &host, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, login) = login_api(&app, &clinic.tenant, &host, json!({})).await;
    let guid = login["LoginGuid"].as_str().unwrap().to_owned();
    assert_eq!(login["RedirectToUriOnExpiry"], Value::Null);
    let foreign = app
        .call(
            &clinic.other_company,
            Method::DELETE,
            &format!("/session/{guid}"),
        )
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::NOT_FOUND, "Login not found").await;
    // The link still works after those refusals: nothing was changed.
    let used = browser()
        .get(login["LoginUri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_login_link_signs_in_once_and_its_end_sends_the_browser_back() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let back = "https://integrator.example/back";
    let (_, login) = login_api(
        &app,
        &clinic.tenant,
        &format!("/login/{}", clinic.host),
        json!({"RedirectToUriOnExpiry": back}),
    )
    .await;
    let uri = login["LoginUri"].as_str().unwrap();
    let first = browser().get(uri).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let line = set_cookie_line(&first, "sl_console").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(line.contains(flag), "{line} lacks {flag}");
    }
    assert!(!line.contains("Secure"), "plain http: {line}");
    let session = cookie_value(&line);
    // Once only.
    let second = browser().get(uri).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::NOT_FOUND);
    assert!(set_cookie_line(&second, "sl_console").is_none_or(|line| line.contains("Max-Age=0")));
    let month = format!(
        "/console/companies/{}/month?month={MONTH}",
        clinic.tenant.company_id
    );
    let shown = page(&app, &session, &month).await;
    assert_eq!(shown.status(), StatusCode::OK);
    assert!(
        shown
            .text()
            .await
            .unwrap()
            .contains(&format!("#{}", clinic.session))
    );
    // The integrator ends it: the next page sends the browser back.
    let (status, _) = app
        .send(
            &clinic.tenant,
            Method::DELETE,
            &format!("/session/{}", login["LoginGuid"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ended = page(&app, &session, &month).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()["location"], back);
    // And after that, the sign-in page: the session is gone.
    let after = page(&app, &session, &month).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()["location"], back);
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = spawn_app_with(|settings| {
        settings.public_url = Some("https://ledger.example.com/".to_owned())
    })
    .await;
    let clinic = clinic(&app).await;
    let (_, login) = login_api(
        &app,
        &clinic.tenant,
        &format!("/login/{}", clinic.host),
        json!({}),
    )
    .await;
    let uri = login["LoginUri"].as_str().unwrap();
    let path = uri
        .strip_prefix("https://ledger.example.com")
        .unwrap_or_else(|| panic!("{uri} is built from the public URL"));
    let response = browser().get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let line = set_cookie_line(&response, "sl_console").unwrap();
    assert!(line.contains("; Secure"), "{line}");
}

#[tokio::test]
async fn every_console_answer_forbids_inline_script_and_style() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let session = sign_in(&app, "ada@harbor.example", PASSWORD).await.unwrap();
    let company = clinic.tenant.company_id;
    for path in [
        "/console/operator/sign-in".to_owned(),
        format!("/console/companies/{company}/month?month={MONTH}"),
        format!("/console/companies/{company}/sessions/{}", clinic.session),
        format!("/console/companies/{company}/usage?month={MONTH}"),
        "/console/no-such-page".to_owned(),
    ] {
        let response = page(&app, &session, &path).await;
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.starts_with("default-src 'self'"), "{path}: {policy}");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let html = response.text().await.unwrap();
        assert!(html.contains("/console/static/console.css"), "{path}");
        assert!(!html.contains(" style="), "{path} has an inline style");
        assert!(!html.contains("<script"), "{path} has a script");
        assert!(!html.contains("<style"), "{path} has a style element");
    }
    let css = browser()
        .get(app.url("/console/static/console.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    // Sign-in without the form's token (as a cross-site form would post it).
    let refused = browser()
        .post(app.url("/console/sign-in"))
        .form(&[("email", "hana@harbor.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie_line(&refused, "sl_console").is_none());
    // Sign-out and an operator action without the session's token.
    let session = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let month = format!("/console/companies/{}/month", clinic.tenant.company_id);
    for (path, form) in [
        ("/console/sign-out".to_owned(), vec![("csrf", "wrong")]),
        ("/console/sign-out".to_owned(), vec![]),
        (
            format!(
                "/console/companies/{}/sessions/{}/comp",
                clinic.tenant.company_id, clinic.session
            ),
            vec![("reason", "no token")],
        ),
    ] {
        let response = browser()
            .post(app.url(&path))
            .header("cookie", format!("sl_console={session}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Still signed in: nothing was done.
    assert_eq!(page(&app, &session, &month).await.status(), StatusCode::OK);
    // With the token, sign-out works and ends the session.
    let html = page(&app, &session, &month).await.text().await.unwrap();
    let out = browser()
        .post(app.url("/console/sign-out"))
        .header("cookie", format!("sl_console={session}"))
        .form(&[("csrf", csrf_field(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/console/signed-out");
    let after = page(&app, &session, &month).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()["location"], "/console/sign-in");
}

/// The page's text without the parts that differ on every load.
fn comparable(html: &str, email: &str) -> String {
    let csrf = csrf_field(html);
    html.replace(&csrf, "").replace(email, "")
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    clinic(&app).await;
    let wrong = sign_in(&app, "hana@harbor.example", "not the password")
        .await
        .unwrap_err();
    let unknown = sign_in(&app, "nobody@harbor.example", "not the password")
        .await
        .unwrap_err();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), wrong.status());
    let wrong = comparable(&wrong.text().await.unwrap(), "hana@harbor.example");
    let unknown = comparable(&unknown.text().await.unwrap(), "nobody@harbor.example");
    assert!(wrong.contains("do not match an account"));
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_account_and_per_address() {
    let app = spawn_app().await;
    clinic(&app).await;
    for _ in 0..5 {
        let refused = sign_in(&app, "hana@harbor.example", "guess guess guess")
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    // The account's attempts are spent: even the right password waits.
    let limited = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another account from the same address still may, until the
    // address's own attempts (20) are spent.
    assert!(sign_in(&app, "ada@harbor.example", PASSWORD).await.is_ok());
    let mut limited_by_address = false;
    for n in 0..20 {
        let outcome = sign_in(&app, &format!("nobody{n}@harbor.example"), "guess guess").await;
        if outcome
            .as_ref()
            .is_err_and(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        {
            limited_by_address = true;
            break;
        }
    }
    assert!(limited_by_address, "the address's attempts are limited too");
}

#[tokio::test]
async fn no_page_of_another_host_or_company_is_reachable() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let ours = clinic.tenant.company_id;
    let theirs = clinic.other_company.company_id;
    let host = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let administrator = sign_in(&app, "ada@harbor.example", PASSWORD).await.unwrap();
    let not_found = [
        format!(
            "/console/companies/{ours}/sessions/{}",
            clinic.other_hosts_session
        ),
        format!(
            "/console/companies/{ours}/sessions/{}",
            clinic.other_companys_session
        ),
        format!(
            "/console/companies/{theirs}/sessions/{}",
            clinic.other_companys_session
        ),
        format!("/console/companies/{theirs}/month?month={MONTH}"),
        format!("/console/companies/{theirs}/month.csv?month={MONTH}"),
        format!("/console/companies/{ours}/usage"),
        "/console/companies".to_owned(),
    ];
    for path in &not_found {
        let response = page(&app, &host, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "host: {path}");
    }
    // The host's month lists only the host's own sessions.
    let month = page(
        &app,
        &host,
        &format!("/console/companies/{ours}/month?month={MONTH}"),
    )
    .await;
    let html = month.text().await.unwrap();
    assert!(html.contains(&format!("#{}", clinic.session)));
    assert!(!html.contains(&format!("#{}", clinic.other_hosts_session)));
    // The administrator sees the whole company, and still nothing of the other.
    let session = page(
        &app,
        &administrator,
        &format!(
            "/console/companies/{ours}/sessions/{}",
            clinic.other_hosts_session
        ),
    )
    .await;
    assert_eq!(session.status(), StatusCode::OK);
    for path in &not_found[1..5] {
        let response = page(&app, &administrator, path).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "administrator: {path}"
        );
    }
    assert_eq!(
        page(
            &app,
            &administrator,
            &format!("/console/companies/{ours}/usage?month={MONTH}")
        )
        .await
        .status(),
        StatusCode::OK
    );
    let _ = clinic.other_host;
}

#[tokio::test]
async fn the_month_csv_is_the_history_apis_csv() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let administrator = sign_in(&app, "ada@harbor.example", PASSWORD).await.unwrap();
    let host = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let company = clinic.tenant.company_id;
    let path = format!("/console/companies/{company}/month.csv?month={MONTH}");
    for (session, history) in [
        (
            &administrator,
            format!("/history?Month={MONTH}-01&Format=csv"),
        ),
        (
            &host,
            format!("/history/{}?Month={MONTH}-01&Format=csv", clinic.host),
        ),
    ] {
        let csv = page(&app, session, &path).await;
        assert_eq!(csv.status(), StatusCode::OK);
        assert_eq!(
            csv.headers()["content-disposition"],
            format!("attachment; filename=\"history-{MONTH}.csv\"")
        );
        let ours = csv.text().await.unwrap();
        let theirs = app
            .tenant(&clinic.tenant, &history)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(ours, theirs);
        assert!(ours.contains(&clinic.session.to_string()));
    }
}

#[tokio::test]
async fn the_session_page_writes_the_domains_arithmetic_in_the_viewers_zone() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let host = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let html = page(
        &app,
        &host,
        &format!(
            "/console/companies/{}/sessions/{}",
            clinic.tenant.company_id, clinic.session
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    // 10:01 UTC on 3 November 2026 is 02:01 in Pacific Standard Time.
    assert!(
        html.contains("host 02:01–02:27 ∩ others 02:02–02:29 = 25 min"),
        "{html}"
    );
    assert!(html.contains("1,500,000 ms ÷ 60,000, rounded half up = 25 min"));
    assert!(html.contains("<svg id=\"timeline\""));
    assert!(html.contains("Pat Guest"));
}

#[tokio::test]
async fn an_operator_signs_in_with_the_token_and_comps_through_the_audit() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let client = browser();
    let form = client
        .get(app.url("/console/operator/sign-in"))
        .send()
        .await
        .unwrap();
    let form_cookie = cookie_value(&set_cookie_line(&form, "sl_sign_in").unwrap());
    let csrf = csrf_field(&form.text().await.unwrap());
    let wrong = client
        .post(app.url("/console/operator/sign-in"))
        .header("cookie", format!("sl_sign_in={form_cookie}"))
        .form(&[("csrf", csrf.as_str()), ("token", "not the token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let signed_in = client
        .post(app.url("/console/operator/sign-in"))
        .header("cookie", format!("sl_sign_in={form_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", crate::helpers::OPERATOR_TOKEN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let operator = cookie_value(&set_cookie_line(&signed_in, "sl_console").unwrap());
    let companies = page(&app, &operator, "/console/companies")
        .await
        .text()
        .await
        .unwrap();
    assert!(companies.contains("Harbor Clinic") && companies.contains("Elsewhere Health"));
    let session_path = format!(
        "/console/companies/{}/sessions/{}",
        clinic.tenant.company_id, clinic.session
    );
    let comp = session_action(
        &app,
        &operator,
        &session_path,
        "comp",
        Some("audio trouble"),
    )
    .await;
    assert_eq!(comp.status(), StatusCode::SEE_OTHER);
    // The operator API's audit has it, with the reason.
    let audit: Value = app
        .operator(
            Method::GET,
            &format!("/operator/sessions/{}/audit", clinic.session),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = audit.as_array().unwrap().last().unwrap();
    assert_eq!(last["NewStatus"], "COMP", "{audit}");
    assert_eq!(last["Reason"], "audio trouble");
    let month = page(
        &app,
        &operator,
        &format!(
            "/console/companies/{}/month?month={MONTH}",
            clinic.tenant.company_id
        ),
    )
    .await;
    assert!(month.text().await.unwrap().contains(">COMP</span>"));
    // A comp without a reason is refused and changes nothing.
    let uncomp = session_action(
        &app,
        &operator,
        &session_path,
        "uncomp",
        Some("comped the wrong session"),
    )
    .await;
    assert_eq!(uncomp.status(), StatusCode::SEE_OTHER);
    let blank = session_action(&app, &operator, &session_path, "comp", Some("  ")).await;
    assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
    // A host cannot act as the operator, with its own valid token.
    let host = sign_in(&app, "ada@harbor.example", PASSWORD).await.unwrap();
    let refused = session_action(&app, &host, &session_path, "comp", Some("mine")).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

/// Moves every console session's last request `minutes` into the past,
/// straight in the database (as if the browser had been idle so long).
async fn idle_for(app: &TestApp, minutes: i64) {
    use sqlx::Connection;
    let sql = format!(
        "UPDATE console_sessions SET seen_us = seen_us - {}",
        minutes * 60_000_000
    );
    if app.database.url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(&app.database.url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap();
    } else {
        let mut connection = sqlx::PgConnection::connect(&app.database.url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn thirty_idle_minutes_end_a_console_session_and_send_the_browser_back() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let back = "https://integrator.example/after-idle";
    let (_, login) = login_api(
        &app,
        &clinic.tenant,
        &format!("/login/{}", clinic.host),
        json!({"RedirectToUriOnExpiry": back}),
    )
    .await;
    let first = browser()
        .get(login["LoginUri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let session = cookie_value(&set_cookie_line(&first, "sl_console").unwrap());
    let month = format!("/console/companies/{}/month", clinic.tenant.company_id);
    // 29 minutes idle: still signed in (and the request counts as activity).
    idle_for(&app, 29).await;
    assert_eq!(page(&app, &session, &month).await.status(), StatusCode::OK);
    idle_for(&app, 29).await;
    assert_eq!(page(&app, &session, &month).await.status(), StatusCode::OK);
    // 31 minutes: over; the browser goes back to the integrator.
    idle_for(&app, 31).await;
    let ended = page(&app, &session, &month).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()["location"], back);
    assert!(
        set_cookie_line(&ended, "sl_console")
            .unwrap()
            .contains("Max-Age=0")
    );
}

/// Every console page a signed-in person reads leaves exactly one access
/// record in the company's chain, naming the person, the route template and
/// its ids (SPEC §15); an operator's page of a company goes to that
/// company's chain.
#[tokio::test]
async fn every_signed_in_console_read_leaves_one_access_record() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let company = clinic.tenant.company_id;
    let host = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let records = || async {
        app.audit.flush().await.expect("records written");
        app.store
            .access_page(company, 0, 1_000_000)
            .await
            .unwrap()
            .into_iter()
            .map(|record| serde_json::to_value(record).unwrap())
            .collect::<Vec<Value>>()
    };
    let before = records().await.len();
    let path = format!("/console/companies/{company}/sessions/{}", clinic.session);
    assert_eq!(page(&app, &host, &path).await.status(), StatusCode::OK);
    let after = records().await;
    let new = &after[before..];
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["ActorKind"], "Console");
    assert_eq!(new[0]["Actor"], clinic.host.to_string());
    assert_eq!(
        new[0]["Route"],
        "/console/companies/{company_id}/sessions/{session_id}"
    );
    assert_eq!(
        new[0]["Ids"],
        format!("company_id={company}&session_id={}", clinic.session)
    );
    assert_eq!(new[0]["Status"], 200);
}

/// Signs in with the operator token as a browser would; the session cookie.
pub async fn operator_sign_in(app: &TestApp) -> String {
    let client = browser();
    let form = client
        .get(app.url("/console/operator/sign-in"))
        .send()
        .await
        .unwrap();
    let form_cookie = cookie_value(&set_cookie_line(&form, "sl_sign_in").unwrap());
    let csrf = csrf_field(&form.text().await.unwrap());
    let signed_in = client
        .post(app.url("/console/operator/sign-in"))
        .header("cookie", format!("sl_sign_in={form_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", crate::helpers::OPERATOR_TOKEN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    cookie_value(&set_cookie_line(&signed_in, "sl_console").unwrap())
}

/// The rows of the page's table `id`, each as its cells' text.
fn table_rows(html: &str, id: &str) -> Vec<String> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("a table #{id} in {html}"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in row.replace("<wbr>", "").chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        text.push(' ');
                    }
                    _ if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// An account administrator reads the company's access audit in the
/// console: the records `GET /audit` answers for the same days, newest
/// first, their own earlier reads among them, and the same CSV. A host,
/// and the administrator of another company, get 404.
#[tokio::test]
async fn an_administrator_reads_the_access_audit_and_a_host_cannot() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let company = clinic.tenant.company_id;
    let administrator = sign_in(&app, "ada@harbor.example", PASSWORD).await.unwrap();
    let month = format!("/console/companies/{company}/month?month={MONTH}");
    assert_eq!(
        page(&app, &administrator, &month).await.status(),
        StatusCode::OK
    );

    // Today's audit, by default: the month just read is its newest record
    // but the page's own.
    let audit = format!("/console/companies/{company}/audit");
    let response = page(&app, &administrator, &audit).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let rows = table_rows(&html, "access");
    assert!(
        rows[0].contains(&format!("console · user {}", clinic.administrator))
            && rows[0].contains(&format!(
                "GET /console/companies/{{company_id}}/month company_id={company}"
            ))
            && rows[0].contains("200"),
        "{rows:#?}"
    );
    assert!(html.contains("Ada Admin"));
    // The next look shows that one too.
    let html = page(&app, &administrator, &audit)
        .await
        .text()
        .await
        .unwrap();
    let rows = table_rows(&html, "access");
    assert!(
        rows[0].contains("GET /console/companies/{company_id}/audit"),
        "{rows:#?}"
    );
    assert!(rows[1].contains("/month"), "{rows:#?}");

    // The same records as the API's, for the same days; the CSV is its CSV.
    let (from, to) = ("2000-01-01", "2100-12-31");
    let range = format!("from={from}&to={to}");
    let api: Value = app
        .tenant(&clinic.tenant, &format!("/audit?From={from}&To={to}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let html = page(&app, &administrator, &format!("{audit}?{range}"))
        .await
        .text()
        .await
        .unwrap();
    let rows = table_rows(&html, "access");
    // The API's answer, then its own record: every record but the page's.
    assert_eq!(rows.len(), api.as_array().unwrap().len() + 1);
    for (row, record) in rows
        .iter()
        .skip(1)
        .zip(api.as_array().unwrap().iter().rev())
    {
        assert!(
            row.starts_with(&format!("{} ", record["Seq"])),
            "{row} is {record}"
        );
    }
    let csv = page(&app, &administrator, &format!("{audit}.csv?{range}")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let api_csv = app
        .tenant(
            &clinic.tenant,
            &format!("/audit?From={from}&To={to}&Format=csv"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("CompanyId,Seq,At,ActorKind,Actor,"),
        "{csv}"
    );
    assert!(
        api_csv.starts_with(&csv) && api_csv.len() > csv.len(),
        "the API's CSV, read later, begins with the console's"
    );

    // Bad days: a 400 page naming the field, with the form to correct them.
    for (query, message) in [
        (
            "from=2026-13-01&to=2026-12-01",
            "From &#39;2026-13-01&#39; is not a day",
        ),
        ("from=2026-12-02&to=2026-12-01", "must be after From"),
    ] {
        let response = page(&app, &administrator, &format!("{audit}?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let html = response.text().await.unwrap();
        assert!(html.contains("id=\"audit-error\""), "{html}");
        assert!(html.contains(message), "{query}: {html}");
        assert!(html.contains("id=\"audit-range\""));
        let csv = page(&app, &administrator, &format!("{audit}.csv?{query}")).await;
        assert_eq!(csv.status(), StatusCode::BAD_REQUEST, "{query}");
    }

    // A host: not found, like another company's audit for the administrator.
    let host = sign_in(&app, "hana@harbor.example", PASSWORD)
        .await
        .unwrap();
    let theirs = format!(
        "/console/companies/{}/audit",
        clinic.other_company.company_id
    );
    for (who, session, path) in [
        ("host", &host, audit.clone()),
        ("host", &host, format!("{audit}.csv?{range}")),
        ("administrator", &administrator, theirs.clone()),
        (
            "administrator",
            &administrator,
            format!("{theirs}.csv?{range}"),
        ),
    ] {
        let response = page(&app, session, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{who}: {path}");
    }
    let month = page(&app, &host, &month).await.text().await.unwrap();
    assert!(!month.contains("/audit\""), "no Audit link for a host");
}

/// An operator's uncomp and deactivate need a reason, as comp does; it
/// goes to the company's operator actions, which the operator reads on
/// the company's audit page with its access records.
#[tokio::test]
async fn an_operator_deactivates_with_a_reason_and_reads_it_on_the_companys_audit() {
    let app = spawn_app().await;
    let clinic = clinic(&app).await;
    let company = clinic.tenant.company_id;
    let operator = operator_sign_in(&app).await;
    let session_path = format!("/console/companies/{company}/sessions/{}", clinic.session);
    let post = async |action: &str, reason: Option<&str>| {
        session_action(&app, &operator, &session_path, action, reason).await
    };
    let too_long = "y".repeat(501);
    for reason in [None, Some("   "), Some(too_long.as_str())] {
        let refused = post("deactivate", reason).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{reason:?}");
        let text = refused.text().await.unwrap();
        assert!(text.contains("Reason"), "names the field: {text}");
        assert!(text.contains("nothing was changed"), "{text}");
    }
    let html = page(&app, &operator, &session_path)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"deactivate-button\""), "still active");
    let done = post("deactivate", Some("The visit ran over; host left")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &operator, &session_path)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("id=\"deactivate-button\""), "deactivated");

    // The company's audit page: the action with its reason, and the reads.
    let audit = page(
        &app,
        &operator,
        &format!("/console/companies/{company}/audit"),
    )
    .await
    .text()
    .await
    .unwrap();
    let actions = table_rows(&audit, "actions");
    assert!(
        actions[0].contains("Session deactivated")
            && actions[0].contains(&format!("#{}", clinic.session))
            && actions[0].contains("The visit ran over; host left"),
        "{actions:#?}"
    );
    let access = table_rows(&audit, "access");
    assert!(
        access.iter().any(|row| row.contains(
            "Operator platform POST /console/companies/{company_id}/sessions/{session_id}/{action}"
        ) && row.contains("303")),
        "{access:#?}"
    );
    // The operator API says the same.
    let api: Value = app
        .operator(
            Method::GET,
            &format!("/operator/companies/{company}/actions"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = api.as_array().unwrap().last().unwrap();
    assert_eq!(last["Action"], "SessionDeactivated");
    assert_eq!(last["Reason"], "The visit ran over; host left");
    // Any company's audit is the operator's to read; a host's session is not.
    let theirs = page(
        &app,
        &operator,
        &format!(
            "/console/companies/{}/audit",
            clinic.other_company.company_id
        ),
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::OK);
    let companies = page(&app, &operator, "/console/companies")
        .await
        .text()
        .await
        .unwrap();
    assert!(companies.contains(&format!("/console/companies/{company}/audit")));
}
