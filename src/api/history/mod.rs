//! The History API (SPEC §4, the seed): JSON or CSV, streamed, with ETags
//! and optional paging. The handlers here; the filters, the validators,
//! the answer's making, its streaming and its encoding each in their file.

mod encode;
mod etag;
mod filters;
mod respond;
mod stream;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::{ApiError, ErrorBody, TenantErrors};
use super::extract::{Params, PathText, path_id};
use super::state::AppState;
use encode::HistoryEntry;
pub use filters::MAX_LIMIT;
use respond::respond;

/// The History CSV of these rows, as `GET /history?Format=csv` writes them
/// (the console's month download).
pub(crate) fn csv_of(rows: &[crate::store::HistoryRow], platform: &str) -> Vec<u8> {
    encode::Encoder {
        format: filters::Format::Csv,
        platform: platform.to_owned(),
    }
    .whole(rows)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(company_history))
        .routes(routes!(user_history))
}

/// The History API's filters (SPEC §4). Names are case-insensitive
/// (`Month`, `month`, `MONTH`); parsed by `filters::parse_filters`, described here.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct HistoryParams {
    /// Only sessions whose BillableTs lies in the UTC month containing this day
    /// (`yyyy-mm-dd`, documented as the first of the month; `yyyy-mm` is accepted
    /// too). Takes precedence over StartDt and EndDt.
    #[param(rename = "Month", example = "2016-11-01")]
    month: Option<String>,
    /// BillableTs at or after 00:00 UTC of this day (`yyyy-mm-dd`).
    #[param(rename = "StartDt", example = "2016-11-01")]
    start_dt: Option<String>,
    /// BillableTs before the midnight that ends this day (`yyyy-mm-dd`, inclusive).
    #[param(rename = "EndDt", example = "2016-11-30")]
    end_dt: Option<String>,
    /// Only sessions with a participation of the person whose current e-mail
    /// this is (case-insensitive).
    #[param(rename = "ParticipantEmail", example = "pat@example.com")]
    participant_email: Option<String>,
    /// At most this many elements; a `Link: <…>; rel="next"` header follows when more remain.
    #[param(rename = "Limit", minimum = 1, maximum = 10000)]
    limit: Option<i64>,
    /// The opaque cursor from a `Link` header, to read the next page.
    #[param(rename = "Cursor")]
    cursor: Option<String>,
    /// `csv` for the CSV activity download (as `Accept: text/csv` does); case-insensitive.
    #[param(rename = "Format", inline)]
    format: Option<FormatParam>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum FormatParam {
    Json,
    Csv,
}

/// The whole company's history.
#[utoipa::path(
    get,
    path = "/history",
    tag = "history",
    params(
        HistoryParams,
        ("If-None-Match" = Option<String>, Header, description = "A tag from an earlier `ETag`: 304 when the answer would be the same"),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The sessions, JSON or CSV (`Accept: text/csv` or `Format=csv`; a CSV cell a spreadsheet would run as a formula starts with a single quote)",
            content(
                (Vec<HistoryEntry<'static>> = "application/json"),
                (String = "text/csv", example = "SessionId,ScheduleTs,BillableTs,DurationMinutes,BillableStatusCd,UserId,UsageDescription\r\n"),
            ),
            headers(
                ("ETag" = String, description = "Strong validator of this answer"),
                ("Link" = String, description = "`<…>; rel=\"next\"` when `Limit` cut the list short"),
                ("Content-Disposition" = String, description = "CSV only: `attachment; filename=\"history-YYYY-MM.csv\"`"),
            )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String))),
        (status = 400, description = "A filter is not valid; the message names it", body = ErrorBody),
        TenantErrors,
    )
)]
async fn company_history(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    respond(&state, tenant, None, &params, &headers, "/history".into()).await
}

/// The history of the sessions one user hosted.
#[utoipa::path(
    get,
    path = "/history/{user_id}",
    tag = "history",
    params(
        ("user_id" = i64, Path, description = "The host's SystemUserId", minimum = 1),
        HistoryParams,
        ("If-None-Match" = Option<String>, Header, description = "A tag from an earlier `ETag`: 304 when the answer would be the same"),
    ),
    security(("tenant_basic" = [])),
    responses(
        (status = 200, description = "The user's sessions, JSON or CSV (`Accept: text/csv` or `Format=csv`; a CSV cell a spreadsheet would run as a formula starts with a single quote)",
            content(
                (Vec<HistoryEntry<'static>> = "application/json"),
                (String = "text/csv"),
            ),
            headers(
                ("ETag" = String, description = "Strong validator of this answer"),
                ("Link" = String, description = "`<…>; rel=\"next\"` when `Limit` cut the list short"),
                ("Content-Disposition" = String, description = "CSV only"),
            )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String))),
        (status = 400, description = "A filter or the user id is not valid", body = ErrorBody),
        (status = 404, description = "No such user in this company", body = ErrorBody),
        TenantErrors,
    )
)]
async fn user_history(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw_user_id): PathText,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user_id = path_id("UserId", &raw_user_id)?;
    let path = format!("/history/{user_id}");
    respond(&state, tenant, Some(user_id), &params, &headers, path).await
}
