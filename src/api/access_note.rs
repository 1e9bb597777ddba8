//! Who is acting in a request, as its authentication says: the one value
//! every door (tenant key, operator token, console sign-in) fills, and the
//! access audit's layer (`access::record_access`) reads.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::MatchedPath;
use axum::http::request::Parts;

use super::error::ApiError;
use super::limits::client_address;
use super::state::AppState;
use crate::domain::access::Actor;

/// Lets an authenticated request in, as every door must: refused (503)
/// while the access audit cannot be written, else noted for it.
pub async fn let_in(
    state: &AppState,
    parts: &Parts,
    actor: Actor,
    company_id: Option<i64>,
) -> Result<(), ApiError> {
    state.audit.admit().await.map_err(ApiError::Unavailable)?;
    AccessNote::note(parts, actor, company_id);
    Ok(())
}

/// Who is acting in a request, and on which company's data: left empty by
/// `access::record_access` in the request's extensions, filled by whichever
/// authentication lets the request in (tenant key, operator token, console
/// sign-in), read when the answer is ready. The one place a door says who
/// acts: a route behind any of them cannot go unrecorded.
#[derive(Clone, Default)]
pub struct AccessNote(Arc<Mutex<Option<Noted>>>);

pub(super) struct Noted {
    pub(super) actor: Actor,
    pub(super) company_id: Option<i64>,
    pub(super) route: String,
    pub(super) ids: Vec<(String, String)>,
    pub(super) client: String,
}

impl AccessNote {
    /// Notes who acts in the request of `parts`, and for which company when
    /// the door knows it (an operator's is found from the route's ids).
    pub fn note(parts: &Parts, actor: Actor, company_id: Option<i64>) {
        let Some(note) = parts.extensions.get::<AccessNote>() else {
            return;
        };
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let noted = Noted {
            actor,
            company_id,
            ids: path_ids(route, parts.uri.path()),
            route: route.to_owned(),
            client: client_address(parts)
                .map(|address| address.to_string())
                .unwrap_or_default(),
        };
        *note.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(noted);
    }

    /// What was noted, once.
    pub(super) fn take(&self) -> Option<Noted> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The route's path ids (`{id}` in the template and its value in the
/// path). A value that is not an id's plain characters (letters, digits,
/// `-`, `_`, `.`; at most 64) is recorded as `?`: a path must not carry an
/// e-mail address or a name into the audit.
fn path_ids(template: &str, path: &str) -> Vec<(String, String)> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(pattern, value)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            let plain = !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
            Some((
                name.to_owned(),
                if plain { value.to_owned() } else { "?".into() },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_keep_plain_ids_only() {
        let ids = |template, path| {
            path_ids(template, path)
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids("/session/{id}/calls", "/session/105236/calls"),
            ["id=105236"]
        );
        assert_eq!(
            ids("/user/{user_id}", "/user/pat@example.com"),
            ["user_id=?"]
        );
        assert_eq!(ids("/user/{user_id}", "/user/Pat%20Smith"), ["user_id=?"]);
        assert!(ids("/history", "/history").is_empty());
    }
}
