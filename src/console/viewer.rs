//! Who is asking: the signed-in person of a console request, and the
//! cookies that carry a console session.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::api::state::AppState;
use crate::domain::WindowsZone;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sl_console";

/// What a console user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Their own sessions.
    Host,
    /// The whole company (`A` in SystemRoles).
    Administrator,
    /// Every company; comps, uncomps and deactivates.
    Operator,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Administrator => "account administrator",
            Self::Operator => "operator",
        }
    }
}

/// The signed-in person of a console request, in its extensions.
#[derive(Debug, Clone)]
pub struct ConsoleViewer {
    /// `None` for an operator.
    pub company_id: Option<i64>,
    /// `None` for an operator.
    pub user_id: Option<i64>,
    pub role: Role,
    pub full_name: String,
    /// The zone local times are shown in (the user's TimeZoneWindowsId; UTC
    /// for an operator or a user without one).
    pub zone: Option<WindowsZone>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

impl ConsoleViewer {
    /// Whether the viewer may see this company's pages at all.
    pub fn sees_company(&self, company_id: i64) -> bool {
        self.role == Role::Operator || self.company_id == Some(company_id)
    }

    /// Whether the viewer may see a session the user `host_user_id` hosts.
    pub fn sees_host(&self, host_user_id: i64) -> bool {
        self.role != Role::Host || self.user_id == Some(host_user_id)
    }
}

pub fn operator_enabled(state: &AppState) -> bool {
    state
        .settings
        .operator_token
        .as_ref()
        .is_some_and(|token| !token.expose().trim().is_empty())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a console cookie: HttpOnly, SameSite=Lax, for /console
/// only, Secure when the public URL is https; `None` clears it.
pub fn set_cookie(state: &AppState, headers: &mut HeaderMap, name: &str, value: Option<&str>) {
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let text = match value {
        Some(value) => format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{name}=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_str(&text).expect("cookie text is visible ASCII"),
    );
}

pub fn clear_session_cookie(state: &AppState, headers: &mut HeaderMap) {
    set_cookie(state, headers, SESSION_COOKIE, None);
}
