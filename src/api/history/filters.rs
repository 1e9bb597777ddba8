//! The History API's filters (SPEC §4), parsed from the query and the
//! `Accept` header, each error naming its parameter.

use axum::http::{HeaderMap, header};

use crate::api::error::ApiError;
use crate::api::extract::{Params, participant_email};
use crate::domain::timestamp::parse_date;
use crate::domain::{Month, Period};
use crate::store::HistoryCursor;

/// Most elements one page (`Limit`) may hold.
pub const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Csv,
}

/// The request's filters, parsed.
pub(super) struct Filters {
    pub(super) period: Period,
    pub(super) month: Option<Month>,
    pub(super) participant_email: Option<String>,
    pub(super) limit: Option<i64>,
    pub(super) after: Option<HistoryCursor>,
    pub(super) format: Format,
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

pub(super) fn parse_filters(params: &Params, headers: &HeaderMap) -> Result<Filters, ApiError> {
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
    let participant_email = participant_email(params)?;
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

/// The `Link` header's value for the page after `last`: the same request
/// with the cursor moved on.
pub(super) fn next_link(path: &str, params: &Params, last: HistoryCursor) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params.pairs {
        if !name.eq_ignore_ascii_case("cursor") {
            query.append_pair(name, value);
        }
    }
    query.append_pair("Cursor", &last.encode());
    format!("<{path}?{}>; rel=\"next\"", query.finish())
}
