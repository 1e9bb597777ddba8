//! The console's month page of the busy company beside the History JSON of
//! the same month (issue 29): an account administrator is made and signed
//! in as a person would be (a password set through the Password API, then
//! the console's sign-in form, its cookie kept), and both reads are timed
//! cold, alternating.

use std::io;
use std::time::Instant;

use super::dataset::BUSY_MONTH;
use super::http::{Client, Response};
use super::reads::{PatternCounter, Probe, count_elements, median, touch_company};
use super::store::Store;
use super::{Config, ConsoleMonth, say};

/// The administrator the step makes in the busy company.
const EMAIL: &str = "ledger-bench-administrator@example.com";
const PASSWORD: &str = "ledger-bench-console-password";

/// A row of the month page: each session's link.
const ROW: &[u8] = b"class=\"session-link\"";

/// `probe` is the busy company's month.
pub(super) fn console_month(
    config: &Config,
    store: &Store,
    probe: &Probe,
) -> io::Result<ConsoleMonth> {
    say(
        config,
        format!(
            "{}: the console's month page beside the History JSON, cold, alternating",
            store.name()
        ),
    );
    let server = config.start_server(store)?;
    let mut client = Client::new(&server.address);
    client.get("/readyz", &[])?;
    let cookie = sign_in_administrator(&mut client, probe)?;
    let page_path = format!(
        "/console/companies/{}/month?month={}",
        probe.company,
        &BUSY_MONTH[..7]
    );
    let page_headers = [("Cookie", cookie.as_str())];
    let json_headers = [("Authorization", probe.authorization.as_str())];
    let mut page_ms = Vec::new();
    let mut json_ms = Vec::new();
    let mut page = Vec::new();
    let mut json = Vec::new();
    for _ in 0..config.cold_samples.max(1) {
        for (path, headers, times, body) in [
            (&page_path, &page_headers, &mut page_ms, &mut page),
            (&probe.path, &json_headers, &mut json_ms, &mut json),
        ] {
            touch_company(&mut client, probe.company)?;
            let started = Instant::now();
            let response = client.get(path, headers)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            *body = ok(response, path)?.body;
        }
    }
    server.stop();
    let mut rows = PatternCounter::new(ROW);
    rows.feed(&page);
    let elements = count_elements(&json);
    if rows.count != probe.expected || elements != probe.expected {
        return Err(io::Error::other(format!(
            "the month page listed {} sessions and the History JSON {elements}, {} generated",
            rows.count, probe.expected
        )));
    }
    let month = ConsoleMonth {
        elements,
        page_bytes: page.len() as u64,
        json_bytes: json.len() as u64,
        samples: page_ms.len(),
        page_ms: median(page_ms),
        json_ms: median(json_ms),
    };
    say(config, format!("  {month:?}"));
    Ok(month)
}

fn ok(response: Response, path: &str) -> io::Result<Response> {
    if response.status == 200 {
        Ok(response)
    } else {
        Err(io::Error::other(format!(
            "{path} answered {}: {}",
            response.status,
            response.text()
        )))
    }
}

/// Makes an account administrator of the probe's company, sets its
/// password and signs in with the console's form; answers the `Cookie`
/// header of the console session.
fn sign_in_administrator(client: &mut Client, probe: &Probe) -> io::Result<String> {
    let json = [
        ("Authorization", probe.authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    let body = format!(
        "{{\"FullName\":\"Bench Administrator\",\"EmailAddress\":\"{EMAIL}\",\"SystemRoles\":\"H,P,A\",\
         \"TimeZoneWindowsId\":\"Eastern Standard Time\"}}"
    );
    let created = client.send("POST", "/user", &json, body.as_bytes(), true, &mut |_| {})?;
    if created.status != 201 {
        return Err(io::Error::other(format!(
            "POST /user answered {}: {}",
            created.status,
            created.text()
        )));
    }
    let user_id = string_field(&created.text(), "SystemUserId")
        .ok_or_else(|| io::Error::other(format!("POST /user answered {}", created.text())))?;
    let path = format!("/password/{user_id}");
    let body = format!("{{\"NewPassword\":\"{PASSWORD}\"}}");
    let changed = client.send("PUT", &path, &json, body.as_bytes(), true, &mut |_| {})?;
    ok(changed, &path)?;

    // The form, its double-submit token in a hidden field and a cookie.
    let form = ok(client.get("/console/sign-in", &[])?, "/console/sign-in")?;
    let form_cookie = set_cookie(&form, "sl_sign_in")
        .ok_or_else(|| io::Error::other("the sign-in form set no sl_sign_in cookie"))?;
    let csrf = hidden_field(&form.text(), "csrf")
        .ok_or_else(|| io::Error::other("the sign-in form has no csrf field"))?;
    let body = format!(
        "csrf={}&email={}&password={}",
        form_encode(&csrf),
        form_encode(EMAIL),
        form_encode(PASSWORD)
    );
    let cookie = format!("sl_sign_in={form_cookie}");
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let signed_in = client.post("/console/sign-in", &headers, body.as_bytes())?;
    match set_cookie(&signed_in, "sl_console") {
        Some(token) if signed_in.status == 303 && !token.is_empty() => {
            Ok(format!("sl_console={token}"))
        }
        _ => Err(io::Error::other(format!(
            "signing in answered {}: {}",
            signed_in.status,
            signed_in.text()
        ))),
    }
}

/// The value a `Set-Cookie` header of the response gives cookie `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| {
            let pair = value.split(';').next()?.trim();
            pair.strip_prefix(&prefix).map(str::to_owned)
        })
}

/// The value of `<input type="hidden" name="NAME" value="…">`.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// A JSON string field's value (`"Name":"value"`).
fn string_field(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let end = start + text[start..].find('"')?;
    Some(text[start..end].to_owned())
}

/// `application/x-www-form-urlencoded`, for the few characters the form's
/// values can hold.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_token_and_the_cookies() {
        let html =
            r#"<form><input type="hidden" name="csrf" value="abc-123"><input name="email"></form>"#;
        assert_eq!(hidden_field(html, "csrf").as_deref(), Some("abc-123"));
        assert_eq!(hidden_field(html, "token"), None);
        let response = Response {
            status: 303,
            headers: vec![
                (
                    "set-cookie".into(),
                    "sl_console=t0k3n; Path=/console; HttpOnly".into(),
                ),
                (
                    "Set-Cookie".into(),
                    "sl_sign_in=; Path=/console; Max-Age=0".into(),
                ),
            ],
            body: Vec::new(),
        };
        assert_eq!(
            set_cookie(&response, "sl_console").as_deref(),
            Some("t0k3n")
        );
        assert_eq!(set_cookie(&response, "sl_sign_in").as_deref(), Some(""));
        assert_eq!(set_cookie(&response, "other"), None);
        assert_eq!(form_encode("a b@c.d"), "a%20b%40c.d");
        assert_eq!(
            string_field(r#"{"SystemUserId":"42","X":1}"#, "SystemUserId").as_deref(),
            Some("42")
        );
    }
}
