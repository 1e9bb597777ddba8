//! The access audit at the HTTP door (SPEC §15, docs/audit.md): every
//! request whose authentication names who is acting (`AccessNote::note`)
//! leaves one access record when it is answered ([`record_access`], around
//! the whole router), and the audit is read back by `GET /audit` (the
//! company's administrators) and `GET /operator/companies/{id}/audit`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access_note::{AccessNote, Noted};
use super::auth::{Operator, Tenant};
use super::error::{ApiError, ErrorBody, OperatorErrors, TenantErrors};
use super::extract::{Params, PathText, path_id};
use super::state::AppState;
use crate::config::AccessAudit;
use crate::domain::Timestamp;
use crate::domain::access::{AccessRecord, PLATFORM_CHAIN};
use crate::domain::timestamp::parse_date;
use crate::secrets::company_of_key;

/// Most records one answer holds; a wider range is refused (400).
pub const MOST_RECORDS: i64 = 100_000;

/// Around every request: when its authentication noted who acts, records
/// the access with the answer's status. A handler that panics is recorded
/// as a 500, a request its client abandoned as a 499 (`Unfinished`). With
/// `--access-audit off` the request gets no note, so nothing is recorded.
pub async fn record_access(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.settings.access_audit == AccessAudit::Off {
        return next.run(request).await;
    }
    let note = AccessNote::default();
    request.extensions_mut().insert(note.clone());
    let method = request.method().as_str().to_owned();
    // Records the request if it ends before its answer does.
    let _unfinished = Unfinished {
        state: &state,
        note: &note,
        method: &method,
    };
    let response = next.run(request).await;
    if let Some(noted) = note.take() {
        let status = response.status().as_u16();
        let company_id = match noted.company_id {
            Some(company_id) => company_id,
            None => operator_company(&state, &noted, status).await,
        };
        state
            .audit
            .record(access_record(noted, company_id, &method, status));
    }
    response
}

/// Records a request that ends without an answer: what it noted is still
/// there when it is dropped (an answered request's note was taken).
struct Unfinished<'a> {
    state: &'a AppState,
    note: &'a AccessNote,
    method: &'a str,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(noted) = self.note.take() {
            let status = if std::thread::panicking() { 500 } else { 499 };
            let company_id = noted.company_id.unwrap_or(PLATFORM_CHAIN);
            self.state
                .audit
                .record(access_record(noted, company_id, self.method, status));
        }
    }
}

fn access_record(noted: Noted, company_id: i64, method: &str, status: u16) -> AccessRecord {
    let mut record = AccessRecord::new(company_id, Timestamp::now(), &noted.actor);
    record.method = method.to_owned();
    record.route = noted.route;
    record.ids = noted
        .ids
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    record.status = i64::from(status);
    record.client = noted.client;
    record
}

/// The company an operator's request concerns, from the route's ids: the
/// platform's chain when it names none, or none that exists.
async fn operator_company(state: &AppState, noted: &Noted, status: u16) -> i64 {
    if status == 400 || status == 404 {
        return PLATFORM_CHAIN;
    }
    for (name, value) in &noted.ids {
        match name.as_str() {
            "company_id" => {
                if let Ok(company_id) = value.parse() {
                    return company_id;
                }
            }
            "session_id" => {
                if let Ok(session_id) = value.parse()
                    && let Ok(Some(company_id)) = state.store.session_company(session_id).await
                {
                    return company_id;
                }
            }
            "api_key" => {
                if let Some(company_id) = company_of_key(value) {
                    return company_id;
                }
            }
            _ => {}
        }
    }
    PLATFORM_CHAIN
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(company_audit))
        .routes(routes!(operator_company_audit))
}

/// One access record (SPEC §15).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AccessJson {
    company_id: i64,
    /// The record's place in its company's chain.
    seq: i64,
    at: Timestamp,
    /// `ApiKey`, `Operator`, `Console` or `Cli`.
    actor_kind: String,
    /// The API key id, `operator`, the console user's id, or the command.
    actor: String,
    method: String,
    /// The route template (`/session/{id}`) or the CLI command.
    route: String,
    /// The route's path ids, `name=value` joined by `&`.
    ids: String,
    /// The HTTP status answered.
    status: i64,
    /// The client's IP address (empty for the CLI).
    client: String,
    /// HMAC-SHA256 over the previous record's hash and this record.
    hash: String,
}

impl From<AccessRecord> for AccessJson {
    fn from(record: AccessRecord) -> Self {
        Self {
            company_id: record.company_id,
            seq: record.seq,
            at: record.at,
            actor_kind: record.actor_kind,
            actor: record.actor,
            method: record.method,
            route: record.route,
            ids: record.ids,
            status: record.status,
            client: record.client,
            hash: record.hash,
        }
    }
}

/// The company's access records, oldest first (`from` and `to`: a day
/// `yyyy-mm-dd`, `to` inclusive, or a timestamp, `to` exclusive).
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(
        ("From" = String, Query, description = "The first day (`yyyy-mm-dd`) or instant (SPEC §1) of the range", example = "2026-12-01"),
        ("To" = String, Query, description = "The last day (`yyyy-mm-dd`, inclusive) or the instant the range ends before", example = "2026-12-31"),
        ("Format" = Option<String>, Query, description = "`csv` for CSV (as `Accept: text/csv` does) or `json`"),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The access records in the range, JSON or CSV",
            content((Vec<AccessJson> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "From, To or Format missing or not valid, or the range holds too many records", body = ErrorBody),
        TenantErrors,
    )
)]
async fn company_audit(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    audit_answer(&state, tenant.company_id, &params, &headers).await
}

/// A company's access records, oldest first, as its administrators see them.
#[utoipa::path(
    get,
    path = "/operator/companies/{company_id}/audit",
    tag = "operator",
    params(
        ("company_id" = i64, Path, description = "The CompanyId", minimum = 1),
        ("From" = String, Query, description = "The first day (`yyyy-mm-dd`) or instant of the range", example = "2026-12-01"),
        ("To" = String, Query, description = "The last day (`yyyy-mm-dd`, inclusive) or the instant the range ends before", example = "2026-12-31"),
        ("Format" = Option<String>, Query, description = "`csv` or `json`"),
    ),
    security(("operator_bearer" = [])),
    responses(
        (status = 200, description = "The company's access records in the range, JSON or CSV",
            content((Vec<AccessJson> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "The company id, From, To or Format is not valid", body = ErrorBody),
        OperatorErrors,
    )
)]
async fn operator_company_audit(
    State(state): State<AppState>,
    _: Operator,
    PathText(raw): PathText,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let company_id = path_id("CompanyId", &raw)?;
    if state.store.company(company_id).await?.is_none() {
        return Err(ApiError::NotFound("Company not found".into()));
    }
    audit_answer(&state, company_id, &params, &headers).await
}

/// The range of an audit read from its `From` and `To`: each a day
/// (`yyyy-mm-dd`; `To`'s is included) or a timestamp (`To`'s is excluded).
/// Both required; `To` after `From`. The API's and the console's one reading.
pub(crate) fn audit_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let from = range_end(from, "From", false)?;
    let to = range_end(to, "To", true)?;
    if to <= from {
        return Err(ApiError::BadRequest(format!(
            "To ({to}) must be after From ({from})"
        )));
    }
    Ok((from, to))
}

/// `From` or `To` as an instant: a timestamp as given, or a day's start
/// (for `To`, the next day's: the day is included).
fn range_end(raw: Option<&str>, name: &str, day_included: bool) -> Result<Timestamp, ApiError> {
    let raw = raw
        .map(str::trim)
        .filter(|raw| !raw.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("{name} is required (yyyy-mm-dd)")))?;
    if let Some(day) = parse_date(raw) {
        let day = if day_included {
            day.next_day().ok_or_else(|| {
                ApiError::BadRequest(format!("{name} '{raw}' is past the last day"))
            })?
        } else {
            day
        };
        return Ok(Timestamp::start_of(day));
    }
    Timestamp::parse(raw).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name} '{raw}' is not a day (yyyy-mm-dd) or a timestamp (yyyy-MM-ddTHH:mm:ss)"
        ))
    })
}

/// A company's access records from `from` to before `to`, oldest first:
/// the API's and the console's one reading. The records this node is
/// still holding are written first, so the answer holds every request
/// answered before it. More than [`MOST_RECORDS`] → 400.
pub(crate) async fn access_records(
    state: &AppState,
    company_id: i64,
    (from, to): (Timestamp, Timestamp),
) -> Result<Vec<AccessRecord>, ApiError> {
    if state.audit.flush().await.is_err() {
        // The audit is failing: refused as every request then is (503),
        // unless the write the refusal tries first goes through.
        state.audit.admit().await.map_err(ApiError::Unavailable)?;
    }
    let records = state
        .store
        .access_between(company_id, from, to, MOST_RECORDS + 1)
        .await?;
    if records.len() as i64 > MOST_RECORDS {
        return Err(ApiError::BadRequest(format!(
            "From and To hold more than {MOST_RECORDS} access records; narrow the range"
        )));
    }
    Ok(records)
}

/// Access records as the CSV download: one row a record, the JSON's
/// fields as columns.
pub(crate) fn csv_download(records: Vec<AccessRecord>) -> Result<Response, ApiError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        writer
            .serialize(AccessJson::from(record))
            .map_err(|error| ApiError::Internal(error.to_string()))?;
    }
    let body = writer
        .into_inner()
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.csv\""),
    );
    Ok(response)
}

async fn audit_answer(
    state: &AppState,
    company_id: i64,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let range = audit_range(params.get("From"), params.get("To"))?;
    let csv = match params.get("Format").map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Format '{other}' must be json or csv"
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/csv")),
    };
    let records = access_records(state, company_id, range).await?;
    if csv {
        return csv_download(records);
    }
    let records: Vec<AccessJson> = records.into_iter().map(AccessJson::from).collect();
    Ok(axum::Json(records).into_response())
}
