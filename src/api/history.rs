//! The History API (SPEC §4, the seed): JSON or CSV, streamed, with ETags
//! and optional paging.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::answer_cache::AnswerCache;
use super::auth::Tenant;
use super::error::TenantErrors;
use super::error::{ApiError, ErrorBody};
use super::extract::{Params, PathText, path_id};
use super::state::AppState;
use crate::domain::status::usage_description;
use crate::domain::timestamp::parse_date;
use crate::domain::{Month, Period, Timestamp, normalize_email};
use crate::store::{HistoryCursor, HistoryQuery, HistoryReader, HistoryRow, StoreError};

pub const MAX_LIMIT: i64 = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(company_history))
        .routes(routes!(user_history))
}

/// The History API's filters (SPEC §4). Names are case-insensitive
/// (`Month`, `month`, `MONTH`); parsed by [`parse_filters`], described here.
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
        (status = 200, description = "The sessions, JSON or CSV (`Accept: text/csv` or `Format=csv`)",
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
        (status = 200, description = "The user's sessions, JSON or CSV (`Accept: text/csv` or `Format=csv`)",
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The request's filters, parsed.
struct Filters {
    period: Period,
    month: Option<Month>,
    participant_email: Option<String>,
    limit: Option<i64>,
    after: Option<HistoryCursor>,
    format: Format,
}

fn day(params: &Params, name: &str) -> Result<Option<time::Date>, ApiError> {
    params
        .get(name)
        .map(|raw| {
            parse_date(raw.trim()).ok_or_else(|| {
                ApiError::BadRequest(format!("{name} '{raw}' is not a valid date (yyyy-mm-dd)"))
            })
        })
        .transpose()
}

fn parse_filters(params: &Params, headers: &HeaderMap) -> Result<Filters, ApiError> {
    let month = params
        .get("Month")
        .map(|raw| {
            Month::parse(raw).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Month '{raw}' is not a valid month (yyyy-mm-01 or yyyy-mm)"
                ))
            })
        })
        .transpose()?;
    let start = day(params, "StartDt")?;
    let end = day(params, "EndDt")?;
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(ApiError::BadRequest(
            "StartDt must not be after EndDt".into(),
        ));
    }
    let period = match month {
        Some(month) => Period::month(month),
        None => Period::days(start, end),
    };
    let participant_email = params
        .get("ParticipantEmail")
        .map(|raw| {
            let email = normalize_email(raw);
            if email.is_empty() {
                Err(ApiError::BadRequest(
                    "ParticipantEmail must not be empty".into(),
                ))
            } else {
                Ok(email)
            }
        })
        .transpose()?;
    let limit = params
        .get("Limit")
        .map(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "Limit '{raw}' must be an integer from 1 to {MAX_LIMIT}"
                    ))
                })
        })
        .transpose()?;
    let after = params
        .get("Cursor")
        .map(|raw| {
            HistoryCursor::decode(raw)
                .ok_or_else(|| ApiError::BadRequest(format!("Cursor '{raw}' is not valid")))
        })
        .transpose()?;
    let accepts_csv = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/csv"));
    let format = match params.get("Format").map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Format '{other}' must be json or csv"
            )));
        }
        None if accepts_csv => Format::Csv,
        None => Format::Json,
    };
    Ok(Filters {
        period,
        month,
        participant_email,
        limit,
        after,
        format,
    })
}

/// What makes the bytes of an answer, besides the company's data version:
/// the company, the query, the format and the platform name. The key of a
/// kept answer, and the second half of its ETag.
fn request_digest(
    company_id: i64,
    path: &str,
    params: &Params,
    format: Format,
    platform: &str,
) -> String {
    // Written into the hasher as they are formatted, with no string between.
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    write!(hasher, "\0{company_id}\0{path}\0{format:?}\0{platform}").expect("hashing cannot fail");
    let mut pairs: Vec<(String, &str)> = params
        .pairs
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();
    pairs.sort();
    for (name, value) in pairs {
        write!(hasher, "\0{name}={value}").expect("hashing cannot fail");
    }
    hex::encode(&hasher.finalize()[..12])
}

/// A strong validator for the exact bytes this request would get.
fn entity_tag(data_version: i64, digest: &str) -> String {
    format!("\"{data_version}-{digest}\"")
}

fn matches_tag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == tag || candidate == "*")
}

/// When a company's data version is not known unchanged since it was read
/// (some commit came since, maybe another company's), a kept answer larger
/// than this is checked against a fresh read of the version first: a row
/// read that can spare a range scan and its encoding. A smaller one is read
/// again outright, which costs about as much as reading the version would.
const CHECK_VERSION_ABOVE: usize = 16 * 1024;

/// The store reads below are boxed where they are awaited: inline, their
/// state made this future several KB, which the router's layers copy on
/// every request, kept answers included (bench/README.md, "Ninth session").
async fn respond(
    state: &AppState,
    tenant: Tenant,
    host_user_id: Option<i64>,
    params: &Params,
    headers: &HeaderMap,
    path: String,
) -> Result<Response, ApiError> {
    let filters = parse_filters(params, headers)?;
    let query = HistoryQuery {
        company_id: tenant.company_id,
        host_user_id,
        period: filters.period,
        participant_email: filters.participant_email.clone(),
        after: filters.after,
        // One more than asked, to learn whether another page follows.
        limit: filters.limit.map(|limit| limit + 1),
    };
    let platform = state.settings.platform_name.clone();
    let digest = request_digest(tenant.company_id, &path, params, filters.format, &platform);
    // Whole answers (not pages) are kept while the company's data is unchanged.
    let answers = state.answers.clone().filter(|_| filters.limit.is_none());
    let mut known_version = tenant.data_version;
    if known_version.is_none()
        && let Some(answers) = &answers
        && answers
            .kept_size(tenant.company_id, &digest)
            .is_some_and(|size| size > CHECK_VERSION_ABOVE)
    {
        // Some commit came since the version was read, maybe another
        // company's: one row read may spare reading the whole answer again.
        let generation = state.store.changes().generation();
        let company = Box::pin(state.store.company(tenant.company_id))
            .await?
            .ok_or_else(|| ApiError::NotFound("Company not found".into()))?;
        state
            .keys
            .note_version(tenant.company_id, generation, company.data_version);
        known_version = Some(company.data_version);
    }
    let mut kept = None;
    if let Some(answers) = &answers
        && let Some(data_version) = known_version
        && let Some(body) = answers.get(tenant.company_id, &digest, data_version)
    {
        kept = Some((data_version, body));
    }
    let (data_version, source) = match kept {
        Some((data_version, body)) => (data_version, Source::Kept(body)),
        None => {
            // Taken before the read, like the key cache's own.
            let generation = state.store.changes().generation();
            let reader = Box::pin(state.store.history(query)).await?;
            state
                .keys
                .note_version(tenant.company_id, generation, reader.data_version);
            (reader.data_version, Source::Read(reader))
        }
    };
    let tag = entity_tag(data_version, &digest);
    if matches_tag(headers, &tag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert(header::ETAG, header_value(&tag));
        return Ok(response);
    }

    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::ETAG, header_value(&tag));
    let encoder = Encoder {
        format: filters.format,
        platform,
    };
    let body = match (source, filters.limit) {
        (Source::Kept(body), _) => Body::from(body),
        (Source::Read(mut reader), Some(limit)) => {
            let mut rows = Box::pin(collect(&mut reader)).await?;
            if rows.len() as i64 > limit {
                rows.truncate(limit as usize);
                let last = rows.last().expect("limit is at least 1").cursor;
                response_headers
                    .insert(header::LINK, header_value(&next_link(&path, params, last)));
            }
            Body::from(encoder.whole(&rows))
        }
        (Source::Read(reader), None) => {
            let keep = answers.map(|answers| Keep {
                answers,
                company_id: tenant.company_id,
                key: digest,
                data_version,
            });
            Box::pin(streamed(reader, encoder, keep)).await?
        }
    };
    match filters.format {
        Format::Json => {
            response_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        Format::Csv => {
            let file = match filters.month {
                Some(month) => format!("history-{}.csv", &month.to_string()[..7]),
                None => "history.csv".to_owned(),
            };
            response_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            response_headers.insert(
                header::CONTENT_DISPOSITION,
                header_value(&format!("attachment; filename=\"{file}\"")),
            );
        }
    }
    Ok((StatusCode::OK, response_headers, body).into_response())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("built from visible ASCII")
}

fn next_link(path: &str, params: &Params, last: HistoryCursor) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params.pairs {
        if !name.eq_ignore_ascii_case("cursor") {
            query.append_pair(name, value);
        }
    }
    query.append_pair("Cursor", &last.encode());
    format!("<{path}?{}>; rel=\"next\"", query.finish())
}

/// Where an answer comes from.
enum Source {
    Kept(Bytes),
    Read(HistoryReader),
}

/// Where a streamed answer is kept once it is complete.
struct Keep {
    answers: Arc<AnswerCache>,
    company_id: i64,
    key: String,
    data_version: i64,
}

/// The pieces of a streamed answer, gathered while they go out for keeping
/// (each piece is shared with the response, not copied); given up
/// (`pieces = None`) once larger than a kept answer may be.
struct Gathering {
    keep: Keep,
    pieces: Option<Vec<Bytes>>,
    size: usize,
}

impl Gathering {
    fn add(&mut self, piece: &Bytes) {
        if let Some(pieces) = &mut self.pieces {
            self.size += piece.len();
            if self.size > self.keep.answers.max_entry() {
                self.pieces = None;
            } else {
                pieces.push(piece.clone());
            }
        }
    }

    /// Keeps the answer, joined into one piece.
    fn finish(self) {
        if let Some(pieces) = self.pieces {
            let Keep {
                answers,
                company_id,
                key,
                data_version,
            } = self.keep;
            answers.put(company_id, key, data_version, Bytes::from(pieces.concat()));
        }
    }
}

async fn collect(reader: &mut HistoryReader) -> Result<Vec<HistoryRow>, StoreError> {
    let mut rows = Vec::new();
    while let Some(chunk) = reader.next_chunk().await {
        rows.extend(chunk?);
    }
    Ok(rows)
}

/// Streams the rows as they are read. The first chunk is awaited here, so a
/// failing query is still an error response rather than a cut-off body.
/// With `keep`, the complete answer is also kept for the next same read.
async fn streamed(
    mut reader: HistoryReader,
    encoder: Encoder,
    keep: Option<Keep>,
) -> Result<Body, StoreError> {
    let first = reader.next_chunk().await.transpose()?.unwrap_or_default();
    let opening = encoder.open(&first);
    let gathering = keep.map(|keep| Gathering {
        keep,
        pieces: Some(Vec::new()),
        size: 0,
    });
    let stream = async_stream(reader, encoder, opening, gathering);
    // Fused: a body may be polled again after its end (compression does).
    Ok(Body::from_stream(futures_util::StreamExt::fuse(stream)))
}

fn async_stream(
    reader: HistoryReader,
    encoder: Encoder,
    opening: (Vec<u8>, bool),
    gathering: Option<Gathering>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    // The body is sent after the handler returned, outside the request's
    // span: its lines name the request through this copy.
    let request = tracing::Span::current();
    let (first_bytes, wrote_any) = opening;
    let state = (
        Some(reader),
        encoder,
        wrote_any,
        Some(first_bytes),
        gathering,
    );
    futures_util::stream::unfold(
        state,
        move |(reader, encoder, mut wrote_any, pending, mut gathering)| {
            let request = request.clone();
            async move {
                if let Some(bytes) = pending {
                    let bytes = Bytes::from(bytes);
                    if let Some(gathering) = &mut gathering {
                        gathering.add(&bytes);
                    }
                    return Some((Ok(bytes), (reader, encoder, wrote_any, None, gathering)));
                }
                let mut reader = reader?;
                match reader.next_chunk().await {
                    Some(Ok(rows)) => {
                        let bytes = Bytes::from(encoder.rows(&rows, &mut wrote_any));
                        if let Some(gathering) = &mut gathering {
                            gathering.add(&bytes);
                        }
                        Some((
                            Ok(bytes),
                            (Some(reader), encoder, wrote_any, None, gathering),
                        ))
                    }
                    Some(Err(error)) => {
                        tracing::error!(parent: &request, %error, "history stream failed");
                        Some((
                            Err(std::io::Error::other("history stream failed")),
                            (None, encoder, wrote_any, None, None),
                        ))
                    }
                    None => {
                        let closing = Bytes::from(encoder.close());
                        if let Some(mut gathering) = gathering {
                            gathering.add(&closing);
                            gathering.finish();
                        }
                        Some((Ok(closing), (None, encoder, wrote_any, None, None)))
                    }
                }
            }
        },
    )
}

// The schema of a History element. `write_json_entry` writes the
// elements, byte for byte as serde_json would serialize this (tested).
/// History JSON: exactly these keys, in this order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct HistoryEntry<'a> {
    session_id: i64,
    schedule_ts: Timestamp,
    #[schema(required = true)]
    billable_ts: Option<Timestamp>,
    #[schema(required = true)]
    duration_minutes: Option<i64>,
    /// `BILL`, `SVCO`, `DUPL` or `COMP`; null until billable.
    #[schema(required = true)]
    billable_status_cd: Option<&'static str>,
    user_id: i64,
    usage_description: &'a str,
}

/// Writes a row as its History JSON element: byte for byte what serde_json
/// writes for [`HistoryEntry`] (a test compares the two). The keys, numbers
/// and timestamps need no escaping; only the invoice line is escaped.
/// serde_json escaped every byte of every key and timestamp, one at a time:
/// a sixth of the server's instructions for a busy month (bench/README.md,
/// "Tenth session").
fn write_json_entry(bytes: &mut Vec<u8>, row: &HistoryRow, usage_description: &str) {
    let mut number = itoa::Buffer::new();
    let mut optional = |bytes: &mut Vec<u8>, value: Option<i64>| match value {
        Some(value) => bytes.extend_from_slice(number.format(value).as_bytes()),
        None => bytes.extend_from_slice(b"null"),
    };
    let timestamp = |bytes: &mut Vec<u8>, value: Option<Timestamp>| match value {
        Some(value) => write!(bytes, "\"{value}\"").expect("writing to memory cannot fail"),
        None => bytes.extend_from_slice(b"null"),
    };
    bytes.extend_from_slice(b"{\"SessionId\":");
    optional(bytes, Some(row.session_id));
    bytes.extend_from_slice(b",\"ScheduleTs\":");
    timestamp(bytes, Some(row.schedule_ts));
    bytes.extend_from_slice(b",\"BillableTs\":");
    timestamp(bytes, row.billable_ts);
    bytes.extend_from_slice(b",\"DurationMinutes\":");
    optional(bytes, row.duration_minutes);
    bytes.extend_from_slice(b",\"BillableStatusCd\":");
    match row.status {
        Some(status) => {
            bytes.push(b'"');
            bytes.extend_from_slice(status.code().as_bytes());
            bytes.push(b'"');
        }
        None => bytes.extend_from_slice(b"null"),
    }
    bytes.extend_from_slice(b",\"UserId\":");
    optional(bytes, Some(row.user_id));
    bytes.extend_from_slice(b",\"UsageDescription\":\"");
    escape_json_into(bytes, usage_description);
    bytes.extend_from_slice(b"\"}");
}

/// Writes `text` escaped as the inside of a JSON string, as serde_json
/// escapes it: `"` and `\` with a backslash, control characters as `\n`
/// and the like or `\u00xx`, everything else as it is. Text with nothing to
/// escape (nearly all) is found so in one pass and copied whole.
fn escape_json_into(bytes: &mut Vec<u8>, text: &str) {
    let plain = |byte: u8| byte >= 0x20 && byte != b'"' && byte != b'\\';
    // A fold, not `all`: without an early exit the compiler checks many
    // bytes at a time.
    if text.bytes().fold(true, |all, byte| all & plain(byte)) {
        bytes.extend_from_slice(text.as_bytes());
        return;
    }
    for byte in text.bytes() {
        match byte {
            b'"' => bytes.extend_from_slice(b"\\\""),
            b'\\' => bytes.extend_from_slice(b"\\\\"),
            b'\n' => bytes.extend_from_slice(b"\\n"),
            b'\r' => bytes.extend_from_slice(b"\\r"),
            b'\t' => bytes.extend_from_slice(b"\\t"),
            0x08 => bytes.extend_from_slice(b"\\b"),
            0x0c => bytes.extend_from_slice(b"\\f"),
            0x00..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                bytes.extend_from_slice(b"\\u00");
                bytes.push(HEX[usize::from(byte >> 4)]);
                bytes.push(HEX[usize::from(byte & 0x0f)]);
            }
            _ => bytes.push(byte),
        }
    }
}

const CSV_HEADER: &str =
    "SessionId,ScheduleTs,BillableTs,DurationMinutes,BillableStatusCd,UserId,UsageDescription\r\n";

struct Encoder {
    format: Format,
    platform: String,
}

impl Encoder {
    fn description(&self, row: &HistoryRow) -> String {
        usage_description(
            &row.host_full_name,
            row.session_id,
            &row.guest_names,
            row.status,
            &self.platform,
        )
    }

    /// The opening of the document and its first rows; the flag says whether
    /// any row has been written.
    fn open(&self, rows: &[HistoryRow]) -> (Vec<u8>, bool) {
        let mut bytes = match self.format {
            Format::Json => b"[".to_vec(),
            Format::Csv => CSV_HEADER.as_bytes().to_vec(),
        };
        let mut wrote_any = false;
        bytes.extend(self.rows(rows, &mut wrote_any));
        (bytes, wrote_any)
    }

    fn rows(&self, rows: &[HistoryRow], wrote_any: &mut bool) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(rows.len() * 220);
        match self.format {
            Format::Json => {
                for row in rows {
                    if *wrote_any {
                        bytes.push(b',');
                    }
                    *wrote_any = true;
                    write_json_entry(&mut bytes, row, &self.description(row));
                }
            }
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(&mut bytes);
                for row in rows {
                    *wrote_any = true;
                    let optional = |value: Option<String>| value.unwrap_or_default();
                    writer
                        .write_record([
                            row.session_id.to_string(),
                            row.schedule_ts.to_string(),
                            optional(row.billable_ts.map(|ts| ts.to_string())),
                            optional(row.duration_minutes.map(|minutes| minutes.to_string())),
                            optional(row.status.map(|status| status.code().to_owned())),
                            row.user_id.to_string(),
                            self.description(row),
                        ])
                        .expect("writing to memory cannot fail");
                }
                writer.flush().expect("writing to memory cannot fail");
            }
        }
        bytes
    }

    fn close(&self) -> Vec<u8> {
        match self.format {
            Format::Json => b"]".to_vec(),
            Format::Csv => Vec::new(),
        }
    }

    fn whole(&self, rows: &[HistoryRow]) -> Vec<u8> {
        let (mut bytes, _) = self.open(rows);
        bytes.extend(self.close());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;

    use super::*;
    use crate::domain::BillableStatus;

    /// `text` as a JSON string, escaped by `escape_json_into`.
    fn quoted(text: &str) -> String {
        let mut ours = b"\"".to_vec();
        escape_json_into(&mut ours, text);
        ours.push(b'"');
        String::from_utf8(ours).expect("UTF-8")
    }

    #[test]
    fn every_ascii_character_is_escaped_as_serde_json_escapes_it() {
        // Arbitrary text rarely holds a quote or a control character.
        let text: String = (0u8..0x80).map(char::from).chain("é “✓”".chars()).collect();
        assert_eq!(
            quoted(&text),
            serde_json::to_string(&text).expect("a string serializes")
        );
    }

    proptest::proptest! {
        #[test]
        fn text_is_escaped_as_serde_json_escapes_it(text in "(?s).{0,40}") {
            proptest::prop_assert_eq!(
                quoted(&text),
                serde_json::to_string(&text).expect("a string serializes")
            );
        }

        #[test]
        fn a_row_is_written_as_serde_json_writes_its_entry(
            session_id in proptest::num::i64::ANY,
            schedule in -62_167_219_200_000_000i64..253_402_300_800_000_000,
            billable in proptest::option::of(-62_167_219_200_000_000i64..253_402_300_800_000_000),
            duration_minutes in proptest::option::of(proptest::num::i64::ANY),
            status in proptest::option::of(0usize..4),
            user_id in proptest::num::i64::ANY,
            description in "(?s).{0,60}",
        ) {
            let statuses = [
                BillableStatus::Bill,
                BillableStatus::Svco,
                BillableStatus::Dupl,
                BillableStatus::Comp,
            ];
            let row = HistoryRow {
                session_id,
                schedule_ts: Timestamp::from_micros(schedule),
                billable_ts: billable.map(Timestamp::from_micros),
                duration_minutes,
                status: status.map(|index| statuses[index]),
                user_id,
                host_full_name: String::new(),
                guest_names: String::new(),
                cursor: HistoryCursor { group: 0, ts: 0, session_id },
            };
            let entry = HistoryEntry {
                session_id,
                schedule_ts: row.schedule_ts,
                billable_ts: row.billable_ts,
                duration_minutes,
                billable_status_cd: row.status.map(|status| status.code()),
                user_id,
                usage_description: &description,
            };
            let mut ours = Vec::new();
            write_json_entry(&mut ours, &row, &description);
            proptest::prop_assert_eq!(
                String::from_utf8(ours).expect("UTF-8"),
                serde_json::to_string(&entry).expect("an entry serializes")
            );
        }
    }

    #[tokio::test]
    async fn an_answers_digest_is_stable_for_the_same_request() {
        // Clients hold ETags made of this digest: the same request must keep
        // its digest within a version (it changes with the crate's version,
        // by design). Parameter names are compared in lower case and order.
        let digest = |uri: &'static str| async move {
            let (mut parts, ()) = axum::http::Request::builder()
                .uri(uri)
                .body(())
                .expect("request")
                .into_parts();
            let params = Params::from_request_parts(&mut parts, &())
                .await
                .expect("params");
            request_digest(7, "/history/9", &params, Format::Json, "SecureVideo")
        };
        assert_eq!(
            digest("/history/9?month=2025-06-01&format=json").await,
            "d52363195c312e678cf0518b"
        );
        assert_eq!(
            digest("/history/9?Format=json&Month=2025-06-01").await,
            "d52363195c312e678cf0518b"
        );
        assert_ne!(
            digest("/history/9?month=2025-07-01&format=json").await,
            "d52363195c312e678cf0518b"
        );
    }
}
