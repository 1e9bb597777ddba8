//! Making one History answer: from the kept answers when the company's
//! data is unchanged, else read and streamed; 304 when the client's tag
//! still holds.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::encode::Encoder;
use super::etag::{entity_tag, matches_tag, request_digest};
use super::filters::{Filters, Format, next_link, parse_filters};
use super::stream::{Keep, Source, collect, streamed};
use crate::api::answer_cache::AnswerCache;
use crate::api::auth::Tenant;
use crate::api::error::ApiError;
use crate::api::extract::Params;
use crate::api::state::AppState;
use crate::store::HistoryQuery;

/// When a company's data version is not known unchanged since it was read
/// (some commit came since, maybe another company's), a kept answer larger
/// than this is checked against a fresh read of the version first: a row
/// read that can spare a range scan and its encoding. A smaller one is read
/// again outright, which costs about as much as reading the version would.
const CHECK_VERSION_ABOVE: usize = 16 * 1024;

/// The store reads below are boxed where they are awaited: inline, their
/// state made this future several KB, which the router's layers copy on
/// every request, kept answers included (bench/README.md, "The request path").
pub(super) async fn respond(
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
    let known_version = known_version(state, tenant, answers.as_deref(), &digest).await?;
    let (data_version, source) = find_source(
        state,
        tenant,
        answers.as_deref(),
        &digest,
        known_version,
        query,
    )
    .await?;
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
    describe_content(&filters, &mut response_headers);
    Ok((StatusCode::OK, response_headers, body).into_response())
}

/// The company's data version, when known unchanged since it was read; or,
/// when a large answer is kept, read again (one row may spare reading the
/// whole answer).
async fn known_version(
    state: &AppState,
    tenant: Tenant,
    answers: Option<&AnswerCache>,
    digest: &str,
) -> Result<Option<i64>, ApiError> {
    if tenant.data_version.is_some()
        || !answers.is_some_and(|answers| {
            answers
                .kept_size(tenant.company_id, digest)
                .is_some_and(|size| size > CHECK_VERSION_ABOVE)
        })
    {
        return Ok(tenant.data_version);
    }
    // Some commit came since the version was read, maybe another
    // company's: one row read may spare reading the whole answer again.
    let generation = state.store.changes().generation();
    let company = Box::pin(state.store.company(tenant.company_id))
        .await?
        .ok_or_else(|| ApiError::NotFound("Company not found".into()))?;
    state
        .keys
        .note_version(tenant.company_id, generation, company.data_version);
    Ok(Some(company.data_version))
}

/// The kept answer for this version, or a reader of the rows, with the
/// data version the answer is of.
async fn find_source(
    state: &AppState,
    tenant: Tenant,
    answers: Option<&AnswerCache>,
    digest: &str,
    known_version: Option<i64>,
    query: HistoryQuery,
) -> Result<(i64, Source), ApiError> {
    if let Some(answers) = answers
        && let Some(data_version) = known_version
        && let Some(body) = answers.get(tenant.company_id, digest, data_version)
    {
        return Ok((data_version, Source::Kept(body)));
    }
    // Taken before the read, like the key cache's own.
    let generation = state.store.changes().generation();
    let reader = Box::pin(state.store.history_at(query, known_version)).await?;
    state
        .keys
        .note_version(tenant.company_id, generation, reader.data_version);
    Ok((reader.data_version, Source::Read(reader)))
}

/// The content type, and for CSV the file name to save it as.
fn describe_content(filters: &Filters, headers: &mut HeaderMap) {
    match filters.format {
        Format::Json => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        Format::Csv => {
            let file = match filters.month {
                Some(month) => format!("history-{}.csv", &month.to_string()[..7]),
                None => "history.csv".to_owned(),
            };
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                header_value(&format!("attachment; filename=\"{file}\"")),
            );
        }
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("built from visible ASCII")
}
