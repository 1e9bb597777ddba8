//! The operator API (SPEC §7): tenants, keys, support agents, connection
//! events and support actions. Bearer token only.

mod audit;
mod companies;
mod events;
mod providers;
mod sessions;

use utoipa_axum::router::OpenApiRouter;

use super::state::AppState;
pub(crate) use audit::{OperatorAction, company_actions};
pub use events::parse_events;
pub(crate) use sessions::{comp_session, deactivate_session, uncomp_session};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(companies::router())
        .merge(events::router())
        .merge(sessions::router())
        .merge(audit::router())
        .merge(providers::router())
}
