//! The web console (SPEC §14): server-rendered pages for hosts, account
//! administrators and the platform's operators, at `/console`.
//!
//! Every console route is in the one router [`router`] builds. Each request
//! first passes [`resolve_viewer`], which turns the session cookie into a
//! [`ConsoleViewer`] in the request's extensions (or ends an expired
//! session), so a layer around the router can see who asked for what.

mod audit;
mod error;
mod pages;
mod signin;
mod view;
mod viewer;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::access_note::let_in;
use crate::api::state::AppState;
use crate::domain::access::Actor;
use crate::domain::{Timestamp, WindowsZone};
use crate::secrets::console as tokens;
use crate::store::StoreError;
pub use viewer::{ConsoleViewer, Role};
use viewer::{SESSION_COOKIE, clear_session_cookie, cookie, operator_enabled};

/// A console session ends after this long without a request.
pub const IDLE_MICROS: i64 = 30 * 60 * 1_000_000;
/// A session's last-seen time is written at most this often.
const TOUCH_EVERY_MICROS: i64 = 60 * 1_000_000;

/// Every console route, with the layers only the console has.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/sign-in", get(signin::form).post(signin::password))
        .route(
            "/console/operator/sign-in",
            get(signin::operator_form).post(signin::operator),
        )
        .route("/console/auto-login/{guid}", get(signin::auto_login))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/signed-out", get(signin::signed_out))
        .route("/console/companies", get(pages::companies))
        .route("/console/companies/{company_id}/month", get(pages::month))
        .route(
            "/console/companies/{company_id}/month.csv",
            get(pages::month_csv),
        )
        .route("/console/companies/{company_id}/usage", get(pages::usage))
        .route("/console/companies/{company_id}/audit", get(audit::audit))
        .route(
            "/console/companies/{company_id}/audit.csv",
            get(audit::audit_csv),
        )
        .route(
            "/console/companies/{company_id}/sessions/{session_id}",
            get(pages::session),
        )
        .route(
            "/console/companies/{company_id}/sessions/{session_id}/{action}",
            post(pages::session_action),
        )
        // Any other console path: the console's own "Not found" page.
        .route(
            "/console/{*rest}",
            get(pages::not_found).post(pages::not_found),
        )
        .layer(axum::middleware::from_fn_with_state(state, resolve_viewer))
        .layer(axum::middleware::map_response(security_headers))
}

/// The company an operator's console page concerns:
/// `/console/companies/{company_id}/…`.
fn company_in_path(path: &str) -> Option<i64> {
    path.strip_prefix("/console/companies/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Turns the session cookie into a [`ConsoleViewer`]. A session that has
/// ended (idle, signed out, or its Login API link deleted) sends the
/// browser to its RedirectToUriOnExpiry, once, and forgets the cookie.
async fn resolve_viewer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open_path = path.starts_with("/console/static/")
        || path.starts_with("/console/auto-login/")
        || path == "/console/signed-out";
    let Some(token) = cookie(request.headers(), SESSION_COOKIE) else {
        return next.run(request).await;
    };
    if path.starts_with("/console/static/") {
        return next.run(request).await;
    }
    match viewer_of(&state, &token).await {
        Ok(Resolved::Viewer(viewer)) => {
            // Every signed-in request leaves an access record (SPEC §15).
            let (parts, body) = request.into_parts();
            let (actor, company_id) = match (viewer.user_id, viewer.company_id) {
                (Some(user_id), company_id) => (Actor::console(user_id), company_id),
                _ => (Actor::operator(), company_in_path(parts.uri.path())),
            };
            if let Err(error) = let_in(&state, &parts, actor, company_id).await {
                return error.into_response();
            }
            let mut request = Request::from_parts(parts, body);
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Ok(Resolved::Ended(Some(redirect))) if !open_path && request.method() == "GET" => {
            let mut response = Redirect::to(&redirect).into_response();
            clear_session_cookie(&state, response.headers_mut());
            response
        }
        Ok(Resolved::Ended(_) | Resolved::Unknown) => {
            let mut response = next.run(request).await;
            if !response.headers().contains_key(header::SET_COOKIE) {
                clear_session_cookie(&state, response.headers_mut());
            }
            response
        }
        Err(error) => error::PageError::from(error).into_response(),
    }
}

enum Resolved {
    Viewer(ConsoleViewer),
    /// Ended, with where the browser goes then.
    Ended(Option<String>),
    Unknown,
}

async fn viewer_of(state: &AppState, token: &str) -> Result<Resolved, StoreError> {
    let token_hash = tokens::digest(token);
    let Some(session) = state.store.console_session(&token_hash).await? else {
        return Ok(Resolved::Unknown);
    };
    if session.ended_us.is_some() {
        return Ok(Resolved::Ended(session.redirect_uri));
    }
    let now = Timestamp::now().as_micros();
    if now - session.seen_us > IDLE_MICROS {
        state.store.end_console_session(&token_hash, now).await?;
        return Ok(Resolved::Ended(session.redirect_uri));
    }
    let viewer = match (session.company_id, session.user_id) {
        (Some(company_id), Some(user_id)) => {
            let Some(user) = state.store.user(company_id, user_id).await? else {
                // Deleted since: the session is over.
                state.store.end_console_session(&token_hash, now).await?;
                return Ok(Resolved::Ended(session.redirect_uri));
            };
            let administrator = user
                .system_roles
                .split(',')
                .any(|role| role.trim().eq_ignore_ascii_case("A"));
            ConsoleViewer {
                company_id: Some(company_id),
                user_id: Some(user_id),
                role: if administrator {
                    Role::Administrator
                } else {
                    Role::Host
                },
                full_name: user.full_name,
                zone: WindowsZone::parse(&user.time_zone_windows_id).ok(),
                csrf: tokens::csrf_of(token),
            }
        }
        _ => {
            // An operator's session lasts only while an operator token is configured.
            if !operator_enabled(state) {
                state.store.end_console_session(&token_hash, now).await?;
                return Ok(Resolved::Ended(None));
            }
            ConsoleViewer {
                company_id: None,
                user_id: None,
                role: Role::Operator,
                full_name: "Operator".into(),
                zone: None,
                csrf: tokens::csrf_of(token),
            }
        }
    };
    if now - session.seen_us > TOUCH_EVERY_MICROS {
        state.store.touch_console_session(&token_hash, now).await?;
    }
    Ok(Resolved::Viewer(viewer))
}

/// What every console answer carries: no script or style from anywhere but
/// here (and none inline), no framing, no caching, no sniffing.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The console's one stylesheet (no inline style: the CSP forbids it).
async fn stylesheet() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/console/console.css"),
    )
        .into_response()
}
