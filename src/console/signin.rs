//! Signing in and out: e-mail and password, the operator token, a Login API
//! link; and the CSRF checks of every form.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::error::{PageError, check_csrf, form_fields, message};
use super::view::Layout;
use super::viewer::{ConsoleViewer, SESSION_COOKIE, cookie, operator_enabled, set_cookie};
use crate::api::BODY_LIMIT;
use crate::api::limits::client_address;
use crate::api::state::AppState;
use crate::domain::Timestamp;
use crate::secrets::console as tokens;

/// The cookie that carries a sign-in form's CSRF token before there is a
/// session (a double-submit token: the form's field must match it).
const SIGN_IN_COOKIE: &str = "sl_sign_in";

/// The one answer to a failed sign-in, whatever failed.
const WRONG: &str = "That e-mail and password do not match an account.";

#[derive(Template, WebTemplate)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    pub layout: Layout,
    pub csrf: String,
    pub email: String,
    pub error: String,
    pub operator: bool,
    pub operator_available: bool,
}

/// A sign-in page with a fresh form token in its cookie.
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    operator: bool,
    email: &str,
    error: &str,
) -> Response {
    let csrf = tokens::new_session_token();
    let page = SignInPage {
        layout: Layout::signed_out(if operator {
            "Operator sign-in"
        } else {
            "Sign in"
        }),
        csrf: csrf.clone(),
        email: email.to_owned(),
        error: error.to_owned(),
        operator,
        operator_available: operator_enabled(state),
    };
    let mut response = (status, page).into_response();
    set_cookie(state, response.headers_mut(), SIGN_IN_COOKIE, Some(&csrf));
    response
}

pub async fn form(State(state): State<AppState>, viewer: Option<ConsoleViewer>) -> Response {
    if viewer.is_some() {
        return Redirect::to("/console").into_response();
    }
    sign_in_page(&state, StatusCode::OK, false, "", "")
}

pub async fn operator_form(State(state): State<AppState>) -> Response {
    if !operator_enabled(&state) {
        return PageError::NotFound.into_response();
    }
    sign_in_page(&state, StatusCode::OK, true, "", "")
}

/// The posted form, after its double-submit token and the attempt limits.
async fn checked_form(
    state: &AppState,
    request: Request,
    account: impl FnOnce(&HashMap<String, String>) -> String,
) -> Result<HashMap<String, String>, PageError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| PageError::BadRequest("The form is too large.".into()))?;
    let fields = form_fields(&body);
    let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    let given = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(PageError::Forbidden);
    }
    state
        .sign_in
        .attempt(client_address(&parts), &account(&fields))
        .map_err(PageError::TooManyAttempts)?;
    Ok(fields)
}

/// Signs a browser in: a new session, its cookie, the form token forgotten.
async fn signed_in(
    state: &AppState,
    company_and_user: Option<(i64, i64)>,
) -> Result<Response, PageError> {
    let token = tokens::new_session_token();
    let now = Timestamp::now().as_micros();
    state
        .store
        .start_console_session(&tokens::digest(&token), company_and_user, now)
        .await?;
    Ok(with_session_cookie(state, &token))
}

fn with_session_cookie(state: &AppState, token: &str) -> Response {
    let mut response = Redirect::to("/console").into_response();
    set_cookie(state, response.headers_mut(), SESSION_COOKIE, Some(token));
    set_cookie(state, response.headers_mut(), SIGN_IN_COOKIE, None);
    response
}

/// E-mail and password. An unknown e-mail costs the same work and gets the
/// same answer as a wrong password.
pub async fn password(State(state): State<AppState>, request: Request) -> Response {
    let fields = match checked_form(&state, request, |fields| {
        let email = fields.get("email").map(String::as_str).unwrap_or_default();
        email.trim().to_lowercase()
    })
    .await
    {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let email = fields.get("email").cloned().unwrap_or_default();
    let password = fields.get("password").cloned().unwrap_or_default();
    let outcome = async {
        let candidates =
            if email.trim().is_empty() || password.len() > 4 * tokens::MAX_PASSWORD_CHARS {
                Vec::new()
            } else {
                state.store.password_candidates(email.trim()).await?
            };
        let matched = tokio::task::spawn_blocking(move || {
            if candidates.is_empty() {
                tokens::verify_nothing(&password);
                return None;
            }
            candidates
                .into_iter()
                .find(|candidate| tokens::verify_password(&password, &candidate.password_hash))
                .map(|candidate| (candidate.company_id, candidate.user_id))
        })
        .await
        .map_err(|error| PageError::Failed(error.to_string()))?;
        match matched {
            Some(company_and_user) => signed_in(&state, Some(company_and_user)).await,
            None => Ok(sign_in_page(
                &state,
                StatusCode::UNAUTHORIZED,
                false,
                email.trim(),
                WRONG,
            )),
        }
    }
    .await;
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// The operator token, compared in constant time.
pub async fn operator(State(state): State<AppState>, request: Request) -> Response {
    let Some(token) = state
        .settings
        .operator_token
        .clone()
        .filter(|token| !token.expose().trim().is_empty())
    else {
        return PageError::NotFound.into_response();
    };
    let fields = match checked_form(&state, request, |_| "operator".to_owned()).await {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let given = fields.get("token").map(String::as_str).unwrap_or_default();
    if !given.is_empty() && bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        signed_in(&state, None)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    } else {
        sign_in_page(
            &state,
            StatusCode::UNAUTHORIZED,
            true,
            "",
            "That is not the operator token.",
        )
    }
}

/// A Login API link: signs in once, within its 5 minutes.
pub async fn auto_login(State(state): State<AppState>, Path(guid): Path<String>) -> Response {
    if !tokens::looks_like_login_guid(&guid) {
        return PageError::NotFound.into_response();
    }
    let token = tokens::new_session_token();
    let now = Timestamp::now().as_micros();
    match state
        .store
        .redeem_console_link(&tokens::digest(&guid), &tokens::digest(&token), now)
        .await
    {
        Ok(Some(_)) => with_session_cookie(&state, &token),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "This sign-in link cannot be used",
            "It has been used already, has expired (links last 5 minutes), or was withdrawn. Ask for a new one.",
        ),
        Err(error) => PageError::from(error).into_response(),
    }
}

/// Ends the session (CSRF-checked); the browser goes to the session's
/// RedirectToUriOnExpiry, or to the signed-out page.
pub async fn sign_out(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    check_csrf(&viewer, &form_fields(&body))?;
    let token = cookie(&headers, SESSION_COOKIE).ok_or(PageError::SignIn)?;
    let token_hash = tokens::digest(&token);
    let session = state.store.console_session(&token_hash).await?;
    state
        .store
        .end_console_session(&token_hash, Timestamp::now().as_micros())
        .await?;
    let target = session
        .and_then(|session| session.redirect_uri)
        .unwrap_or_else(|| "/console/signed-out".to_owned());
    let mut response = Redirect::to(&target).into_response();
    set_cookie(&state, response.headers_mut(), SESSION_COOKIE, None);
    Ok(response)
}

pub async fn signed_out() -> Response {
    message(
        StatusCode::OK,
        "Signed out",
        "You have signed out of the console.",
    )
}
