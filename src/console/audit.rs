//! The access audit of a company (SPEC §15) as its administrators and the
//! operators see it: the records of `GET /audit` for the same `from` and
//! `to`, read by the same code, with its CSV; for operators also the
//! company's operator actions (`GET /operator/companies/{id}/actions`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::PageError;
use super::pages::company_for;
use super::view::{Clock, Layout};
use super::viewer::{ConsoleViewer, Role};
use crate::api::access::{access_records, audit_range, csv_download};
use crate::api::error::ApiError;
use crate::api::operator::{OperatorAction, company_actions};
use crate::api::state::AppState;
use crate::domain::Timestamp;
use crate::domain::access::AccessRecord;
use crate::store::Company;

/// The most records the page lists (the newest); the CSV has them all.
pub const MOST_SHOWN: usize = 500;

/// The range asked for: days `yyyy-mm-dd` (or timestamps), as `GET /audit`
/// takes them; a missing `to` is today (UTC), a missing `from` six days
/// before today.
#[derive(Debug, Deserialize)]
pub struct RangeParam {
    from: Option<String>,
    to: Option<String>,
}

impl RangeParam {
    /// The range's two ends as written, the defaults filled in.
    fn filled(&self) -> (String, String) {
        let today = Timestamp::now().to_offset_date_time().date();
        let week_ago = today.checked_sub(time::Duration::days(6)).unwrap_or(today);
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        (
            given(&self.from).unwrap_or_else(|| week_ago.to_string()),
            given(&self.to).unwrap_or_else(|| today.to_string()),
        )
    }
}

/// One access record, as the page lists it.
pub struct AccessRow {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub who_kind: String,
    pub method: String,
    /// The route cut after each `/`, so a long one wraps between segments.
    pub route_parts: Vec<String>,
    pub ids: String,
    pub status: i64,
    pub status_class: String,
    pub client: String,
    pub hash_start: String,
    pub hash: String,
}

/// One operator action, as the page lists it.
pub struct ActionRow {
    pub at: String,
    pub action: String,
    pub session_href: Option<String>,
    pub session_id: String,
    pub api_key: String,
    pub reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub company_name: String,
    pub from: String,
    pub to: String,
    pub error: Option<String>,
    pub csv_href: String,
    pub zone: String,
    pub total: usize,
    pub rows: Vec<AccessRow>,
    pub operator: bool,
    pub actions: Vec<ActionRow>,
}

/// The company, if the viewer may read its audit: its administrators and
/// the operators; a host gets the same 404 as a page that does not exist.
async fn audited_company(
    state: &AppState,
    viewer: &ConsoleViewer,
    company_id: i64,
) -> Result<Company, PageError> {
    let company = company_for(state, viewer, company_id).await?;
    if viewer.role == Role::Host {
        return Err(PageError::NotFound);
    }
    Ok(company)
}

/// `/console/companies/{id}/audit?from=&to=`: the newest records of the
/// range first; for operators, the company's operator actions below.
pub async fn audit(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path(company_id): Path<i64>,
    Query(param): Query<RangeParam>,
) -> Result<Response, PageError> {
    let company = audited_company(&state, &viewer, company_id).await?;
    let (from, to) = param.filled();
    let clock = Clock::of(viewer.zone.as_ref());
    let read = match audit_range(Some(&from), Some(&to)) {
        Ok(range) => access_records(&state, company_id, range).await,
        Err(error) => Err(error),
    };
    let (records, error) = match read {
        Ok(records) => (records, None),
        Err(ApiError::BadRequest(message)) => (Vec::new(), Some(message)),
        Err(other) => return Err(other.into()),
    };
    let names = if records.iter().any(|record| record.actor_kind == "Console") {
        state
            .store
            .users(company_id)
            .await?
            .into_iter()
            .map(|user| (user.user_id.to_string(), user.full_name))
            .collect()
    } else {
        HashMap::new()
    };
    let total = records.len();
    let rows = records
        .into_iter()
        .rev()
        .take(MOST_SHOWN)
        .map(|record| access_row(record, &clock, &names))
        .collect();
    let operator = viewer.role == Role::Operator;
    let actions = if operator {
        let base = format!("/console/companies/{company_id}/sessions");
        company_actions(&state, company_id)
            .await?
            .into_iter()
            .rev()
            .map(|action| action_row(action, &clock, &base))
            .collect()
    } else {
        Vec::new()
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &from)
        .append_pair("to", &to)
        .finish();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = AuditPage {
        layout: Layout::for_viewer(
            &format!("Access audit — {}", company.name),
            &viewer,
            Some(company_id),
            "Audit",
        ),
        company_name: company.name,
        from,
        to,
        error,
        csv_href: format!("/console/companies/{company_id}/audit.csv?{query}"),
        zone: clock.label.clone(),
        total,
        rows,
        operator,
        actions,
    };
    Ok((status, page).into_response())
}

/// `/console/companies/{id}/audit.csv?from=&to=`: every record of the
/// range, oldest first, as `GET /audit?Format=csv` answers it.
pub async fn audit_csv(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path(company_id): Path<i64>,
    Query(param): Query<RangeParam>,
) -> Result<Response, PageError> {
    audited_company(&state, &viewer, company_id).await?;
    let (from, to) = param.filled();
    let range = audit_range(Some(&from), Some(&to))?;
    let records = access_records(&state, company_id, range).await?;
    Ok(csv_download(records)?)
}

fn access_row(record: AccessRecord, clock: &Clock, names: &HashMap<String, String>) -> AccessRow {
    let (who, who_kind) = match record.actor_kind.as_str() {
        "Console" => match names.get(&record.actor) {
            Some(name) => (name.clone(), format!("console · user {}", record.actor)),
            None => (format!("User {}", record.actor), "console".to_owned()),
        },
        "ApiKey" => (record.actor.clone(), "API key".to_owned()),
        "Operator" => ("Operator".to_owned(), "platform".to_owned()),
        "Cli" => (record.actor.clone(), "command line".to_owned()),
        other => (record.actor.clone(), other.to_owned()),
    };
    let status_class = match record.status {
        200..=399 => "ok",
        400..=499 => "refused",
        _ => "failed",
    };
    AccessRow {
        seq: record.seq,
        at: clock.moment(record.at),
        who,
        who_kind,
        method: record.method,
        route_parts: record
            .route
            .split_inclusive('/')
            .map(str::to_owned)
            .collect(),
        ids: record.ids.replace('&', " · "),
        status: record.status,
        status_class: status_class.to_owned(),
        client: if record.client.is_empty() {
            "—".to_owned()
        } else {
            record.client
        },
        hash_start: record.hash.chars().take(12).collect(),
        hash: record.hash,
    }
}

fn action_row(action: OperatorAction, clock: &Clock, session_base: &str) -> ActionRow {
    let label = match action.action {
        "ApiKeyCreated" => "API key created",
        "ApiKeyRevoked" => "API key revoked",
        "PlanChanged" => "Plan changed",
        "SessionDeactivated" => "Session deactivated",
        "SessionComped" => "Session comped",
        "CompWithdrawn" => "Comp withdrawn",
        other => other,
    };
    ActionRow {
        at: action
            .at
            .map_or_else(|| "—".to_owned(), |at| clock.moment(at)),
        action: label.to_owned(),
        session_href: action
            .session_id
            .map(|session_id| format!("{session_base}/{session_id}")),
        session_id: action
            .session_id
            .map_or_else(String::new, |session_id| format!("#{session_id}")),
        api_key: action.api_key.unwrap_or_default(),
        reason: action.reason.unwrap_or_default(),
    }
}
