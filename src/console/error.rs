//! What a console page answers when it is not shown, and the checks every
//! form passes first.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::view::{Layout, MessagePage};
use super::viewer::ConsoleViewer;
use crate::api::error::ApiError;
use crate::store::StoreError;

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: to the sign-in page.
    SignIn,
    /// No such page for this viewer (another company's, another host's,
    /// or none at all): the same answer for each.
    NotFound,
    /// A form without its session's CSRF token.
    Forbidden,
    BadRequest(String),
    Conflict(String),
    TooManyAttempts(u64),
    Failed(String),
    Unavailable,
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Invalid(message) => Self::BadRequest(message),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::Unavailable(_) => Self::Unavailable,
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(_) => Self::NotFound,
            ApiError::BadRequest(message) => Self::BadRequest(message),
            ApiError::Conflict(message) => Self::Conflict(message),
            ApiError::Unavailable(_) => Self::Unavailable,
            other => Self::Failed(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            Self::SignIn => return Redirect::to("/console/sign-in").into_response(),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page here.".to_owned(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Go back, reload the page and try again.".to_owned(),
            ),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "Not done", message),
            Self::Conflict(message) => (StatusCode::CONFLICT, "Not done", message),
            Self::TooManyAttempts(seconds) => {
                let mut response = message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    &format!("Too many sign-in attempts. Try again in {seconds} seconds."),
                );
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return response;
            }
            Self::Failed(detail) => {
                tracing::error!(%detail, "a console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page could not be made. Please try again.".to_owned(),
                )
            }
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database cannot be reached just now. Please try again shortly.".to_owned(),
            ),
        };
        message(status, heading, &text)
    }
}

/// A page with a heading and a sentence, and a way back.
pub fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    let page = MessagePage {
        layout: Layout::signed_out(heading),
        heading: heading.to_owned(),
        text: text.to_owned(),
        link_label: "Back to the console".to_owned(),
        link_href: "/console".to_owned(),
    };
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(_) => status.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConsoleViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ConsoleViewer>()
            .cloned()
            .ok_or(PageError::SignIn)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ConsoleViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<ConsoleViewer>().cloned())
    }
}

/// A form's fields (`application/x-www-form-urlencoded`).
pub fn form_fields(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Refuses a form whose `csrf` field is not the session's token.
pub fn check_csrf(
    viewer: &ConsoleViewer,
    fields: &HashMap<String, String>,
) -> Result<(), PageError> {
    let given = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(viewer.csrf.as_bytes())) && !given.is_empty() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}
