//! The console's pages: the month, a session, usage, the operator's
//! companies, and the operator's actions on a session.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::{PageError, check_csrf, form_fields};
use super::view::{
    Badge, BarChart, Clock, Lane, Layout, Timeline, intervals_text, length_text, money,
};
use super::viewer::{ConsoleViewer, Role};
use crate::api::state::AppState;
use crate::domain::calls::{Call, CountedOverlap, Party, duration_minutes};
use crate::domain::status::usage_description;
use crate::domain::{BillableStatus, Month, OperatorReason, Period, Timestamp};
use crate::store::{Company, HistoryQuery, HistoryRow};

pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// `/console`: the viewer's first page, or the sign-in page.
pub async fn home(viewer: Option<ConsoleViewer>) -> Redirect {
    match viewer {
        None => Redirect::to("/console/sign-in"),
        Some(viewer) => match viewer.company_id {
            Some(company_id) => Redirect::to(&format!("/console/companies/{company_id}/month")),
            None => Redirect::to("/console/companies"),
        },
    }
}

/// The company, if the viewer may see its pages; else the same 404 as a
/// company that does not exist.
pub(super) async fn company_for(
    state: &AppState,
    viewer: &ConsoleViewer,
    company_id: i64,
) -> Result<Company, PageError> {
    if !viewer.sees_company(company_id) {
        return Err(PageError::NotFound);
    }
    state
        .store
        .company(company_id)
        .await?
        .ok_or(PageError::NotFound)
}

/// The month a page shows: `?month=yyyy-mm`, else the current UTC month.
#[derive(Debug, Deserialize)]
pub struct MonthParam {
    month: Option<String>,
}

fn month_of(param: &MonthParam) -> Result<Month, PageError> {
    match param
        .month
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        None => Ok(Month::containing(
            Timestamp::now().to_offset_date_time().date(),
        )),
        Some(text) => Month::parse(text)
            .ok_or_else(|| PageError::BadRequest(format!("'{text}' is not a month (yyyy-mm)"))),
    }
}

fn month_value(month: Month) -> String {
    month.to_string()[..7].to_owned()
}

fn month_label(month: Month) -> String {
    let day = month.first_day();
    format!("{} {}", day.month(), day.year())
}

fn shift(month: Month, by: i32) -> Month {
    let day = month.first_day();
    let index = day.year() * 12 + (u8::from(day.month()) as i32 - 1) + by;
    let (year, month_number) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    Month::parse(&format!("{year:04}-{month_number:02}")).unwrap_or(month)
}

/// The sessions billable in the month, as History reads them: the
/// company's, or only the host's own for a host.
async fn month_rows(
    state: &AppState,
    viewer: &ConsoleViewer,
    company_id: i64,
    month: Month,
) -> Result<Vec<HistoryRow>, PageError> {
    let query = HistoryQuery {
        company_id,
        host_user_id: (viewer.role == Role::Host)
            .then_some(viewer.user_id)
            .flatten(),
        period: Period::month(month),
        participant_email: None,
        after: None,
        limit: None,
    };
    let mut reader = state.store.history(query).await?;
    let mut rows = Vec::new();
    while let Some(chunk) = reader.next_chunk().await {
        rows.extend(chunk?);
    }
    Ok(rows)
}

pub struct MonthRow {
    pub href: String,
    pub session_id: i64,
    pub host: String,
    pub schedule: String,
    pub billable: String,
    pub duration: String,
    pub badge: Badge,
    pub invoice_line: String,
}

pub struct PlanSummary {
    pub counted: i64,
    pub included: i64,
    pub remaining: i64,
    pub overage: i64,
    pub overage_amount: String,
    pub support: i64,
    pub duplicate: i64,
    pub comped: i64,
    pub minutes: i64,
    /// 0–100, for the meter.
    pub used_percent: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/month.html")]
pub struct MonthPage {
    pub layout: Layout,
    pub company_name: String,
    pub month_label: String,
    pub month_value: String,
    pub previous_href: String,
    pub next_href: String,
    pub csv_href: String,
    pub zone: String,
    pub plan: Option<PlanSummary>,
    pub own_counted: i64,
    pub is_host: bool,
    pub rows: Vec<MonthRow>,
}

pub async fn month(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path(company_id): Path<i64>,
    Query(param): Query<MonthParam>,
) -> Result<MonthPage, PageError> {
    let company = company_for(&state, &viewer, company_id).await?;
    let month = month_of(&param)?;
    let rows = month_rows(&state, &viewer, company_id, month).await?;
    let clock = Clock::of(viewer.zone.as_ref());
    let platform = &state.settings.platform_name;
    let plan = if viewer.role == Role::Host {
        None
    } else {
        Some(plan_summary(&state, company_id, month).await?)
    };
    let own_counted = rows
        .iter()
        .filter(|row| row.status == Some(BillableStatus::Bill))
        .count() as i64;
    let base = format!("/console/companies/{company_id}");
    let page_rows = rows
        .iter()
        .map(|row| MonthRow {
            href: format!("{base}/sessions/{}", row.session_id),
            session_id: row.session_id,
            host: row.host_full_name.clone(),
            schedule: clock.day_time(row.schedule_ts),
            billable: row
                .billable_ts
                .map_or_else(|| "—".to_owned(), |ts| clock.day_time(ts)),
            duration: row
                .duration_minutes
                .map_or_else(|| "unknown".to_owned(), |m| format!("{m} min")),
            badge: Badge::of(row.status),
            invoice_line: usage_description(
                &row.host_full_name,
                row.session_id,
                &row.guest_names,
                row.status,
                platform,
            ),
        })
        .collect();
    Ok(MonthPage {
        layout: Layout::for_viewer(
            &format!("{} — {}", month_label(month), company.name),
            &viewer,
            Some(company_id),
            "Month",
        ),
        company_name: company.name,
        month_label: month_label(month),
        month_value: month_value(month),
        previous_href: format!("{base}/month?month={}", month_value(shift(month, -1))),
        next_href: format!("{base}/month?month={}", month_value(shift(month, 1))),
        csv_href: format!("{base}/month.csv?month={}", month_value(month)),
        zone: clock.label,
        plan,
        own_counted,
        is_host: viewer.role == Role::Host,
        rows: page_rows,
    })
}

async fn plan_summary(
    state: &AppState,
    company_id: i64,
    month: Month,
) -> Result<PlanSummary, PageError> {
    let counts = state.store.usage(company_id, month).await?;
    let overage = (counts.counted - counts.included_sessions).max(0);
    let used_percent = if counts.included_sessions > 0 {
        (counts.counted * 100 / counts.included_sessions).min(100)
    } else if counts.counted > 0 {
        100
    } else {
        0
    };
    Ok(PlanSummary {
        counted: counts.counted,
        included: counts.included_sessions,
        remaining: (counts.included_sessions - counts.counted).max(0),
        overage,
        overage_amount: money(overage.saturating_mul(counts.overage_price_cents)),
        support: counts.support,
        duplicate: counts.duplicate,
        comped: counts.comped,
        minutes: counts.total_duration_minutes,
        used_percent,
    })
}

/// The month as the History API's CSV (the same encoder).
pub async fn month_csv(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path(company_id): Path<i64>,
    Query(param): Query<MonthParam>,
) -> Result<Response, PageError> {
    company_for(&state, &viewer, company_id).await?;
    let month = month_of(&param)?;
    let rows = month_rows(&state, &viewer, company_id, month).await?;
    let body = crate::api::history::csv_of(&rows, &state.settings.platform_name);
    let disposition = format!(
        "attachment; filename=\"history-{}.csv\"",
        month_value(month)
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `1500000` as `1,500,000`.
fn grouped(number: i64) -> String {
    let digits = number.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if number < 0 { format!("-{out}") } else { out }
}

pub struct ParticipantRow {
    pub name: String,
    pub kind: String,
    pub email: String,
    pub first_connection: String,
}

pub struct AuditRow {
    pub at: String,
    pub change: String,
    pub reason: String,
    pub actor: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/session.html")]
pub struct SessionPage {
    pub layout: Layout,
    pub session_id: i64,
    pub back_href: String,
    pub host: String,
    pub schedule: String,
    pub billable: String,
    pub duration: String,
    pub badge: Badge,
    pub state: String,
    pub zone: String,
    pub participants: Vec<ParticipantRow>,
    pub has_calls: bool,
    pub timeline: Timeline,
    pub arithmetic: String,
    pub rounding: String,
    pub operator: bool,
    pub action_base: String,
    pub can_comp: bool,
    pub can_uncomp: bool,
    pub can_deactivate: bool,
    pub audit: Vec<AuditRow>,
    pub audit_href: String,
}

pub async fn session(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path((company_id, session_id)): Path<(i64, i64)>,
) -> Result<SessionPage, PageError> {
    company_for(&state, &viewer, company_id).await?;
    let session = state
        .store
        .session(company_id, session_id)
        .await?
        .ok_or(PageError::NotFound)?;
    if !viewer.sees_host(session.user_id) {
        return Err(PageError::NotFound);
    }
    let calls = state.store.calls(company_id, session_id).await?;
    let clock = Clock::of(viewer.zone.as_ref());
    let active = session
        .participants
        .first()
        .is_none_or(|host| host.expires_ts.is_none());
    let host_name = session
        .participants
        .first()
        .map(|host| host.participant_full_name.clone())
        .unwrap_or_default();

    // The domain's own calls, and its own computation of what counts.
    let named_calls: Vec<(Call, String)> = calls
        .iter()
        .filter_map(|call| {
            let party = match call.party.as_str() {
                "Host" => Party::Host,
                "Support" => Party::Support(call.support_agent_id?),
                _ => Party::Participation(call.participation_id?),
            };
            let domain_call = Call {
                party,
                connect: call.connect_ts?,
                disconnect: call.disconnect_ts,
            };
            Some((domain_call, call.full_name.clone()))
        })
        .collect();
    let domain_calls: Vec<Call> = named_calls.iter().map(|(call, _)| *call).collect();
    let overlap = CountedOverlap::of(&domain_calls);
    let minutes = duration_minutes(&domain_calls, active);

    // One lane per party, the host's first, then in order of first call.
    let mut lanes: Vec<Lane> = vec![Lane {
        label: format!("{host_name} (host)"),
        is_host: true,
        calls: Vec::new(),
    }];
    let mut lane_of: BTreeMap<Party, usize> = BTreeMap::new();
    lane_of.insert(Party::Host, 0);
    let mut ordered = named_calls;
    ordered.sort_by_key(|(call, _)| call.connect);
    for (call, name) in ordered {
        let index = *lane_of.entry(call.party).or_insert_with(|| {
            let label = match call.party {
                Party::Support(_) => format!("{name} (support)"),
                _ => name.clone(),
            };
            lanes.push(Lane {
                label,
                is_host: false,
                calls: Vec::new(),
            });
            lanes.len() - 1
        });
        lanes[index].calls.push((
            call.connect.as_micros(),
            call.disconnect.map(Timestamp::as_micros),
        ));
    }
    let now = Timestamp::now().as_micros();
    let timeline = Timeline::draw(&lanes, &overlap, &clock, now);
    let counted_millis = overlap.counted_millis();
    let arithmetic = format!(
        "host {} ∩ others {} = {}",
        intervals_text(&overlap.host, &clock),
        intervals_text(&overlap.others, &clock),
        length_text(counted_millis),
    );
    let rounding = match minutes {
        Some(minutes) => format!(
            "{} ms ÷ 60,000, rounded half up = {minutes} min",
            grouped(counted_millis)
        ),
        None if overlap.others.is_empty() => {
            "No other party's call has a known end yet: the duration is unknown.".to_owned()
        }
        None => {
            "The host and another party are still connected: the duration is not final.".to_owned()
        }
    };

    let participants = session
        .participants
        .iter()
        .enumerate()
        .map(|(index, participation)| ParticipantRow {
            name: participation.participant_full_name.clone(),
            kind: if index == 0 {
                "Host".to_owned()
            } else if participation.secure_video_user_id.is_some() {
                "User".to_owned()
            } else {
                "Guest".to_owned()
            },
            email: participation.participant_email_address.clone(),
            first_connection: participation
                .connection_ts
                .map_or_else(|| "never connected".to_owned(), |ts| clock.date_time(ts)),
        })
        .collect();
    let status = session
        .billable_status_cd
        .as_deref()
        .and_then(BillableStatus::from_code);
    let operator = viewer.role == Role::Operator;
    let audit = if operator {
        state
            .store
            .audit(session_id)
            .await?
            .into_iter()
            .map(|entry| AuditRow {
                at: clock.date_time(entry.at),
                change: format!(
                    "{} → {}",
                    entry.old_status.as_deref().unwrap_or("—"),
                    entry.new_status.as_deref().unwrap_or("—")
                ),
                reason: entry.reason,
                actor: entry.actor,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(SessionPage {
        layout: Layout::for_viewer(
            &format!("Session #{session_id}"),
            &viewer,
            Some(company_id),
            "",
        ),
        session_id,
        back_href: format!(
            "/console/companies/{company_id}/month?month={}",
            month_value(Month::containing(
                session
                    .billable_ts
                    .unwrap_or(session.schedule_ts)
                    .to_offset_date_time()
                    .date()
            ))
        ),
        host: host_name,
        schedule: clock.date_time(session.schedule_ts),
        billable: session
            .billable_ts
            .map_or_else(|| "not yet".to_owned(), |ts| clock.date_time(ts)),
        duration: session
            .duration_minutes
            .map_or_else(|| "unknown".to_owned(), |m| format!("{m} min")),
        badge: Badge::of(status),
        state: if active { "Active" } else { "Deactivated" }.to_owned(),
        zone: clock.label,
        participants,
        has_calls: !domain_calls.is_empty(),
        timeline,
        arithmetic,
        rounding,
        operator,
        action_base: format!("/console/companies/{company_id}/sessions/{session_id}"),
        can_comp: operator && status.is_some_and(|s| s != BillableStatus::Comp),
        can_uncomp: operator && status == Some(BillableStatus::Comp),
        can_deactivate: operator && active,
        audit,
        audit_href: format!("/console/companies/{company_id}/audit"),
    })
}

/// The operator's actions on a session: `comp`, `uncomp` and
/// `deactivate`, each with a reason; through the operator API's own code,
/// so each lands in the same audit.
pub async fn session_action(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path((company_id, session_id, action)): Path<(i64, i64, String)>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = form_fields(&body);
    check_csrf(&viewer, &fields)?;
    if viewer.role != Role::Operator {
        return Err(PageError::NotFound);
    }
    company_for(&state, &viewer, company_id).await?;
    state
        .store
        .session(company_id, session_id)
        .await?
        .ok_or(PageError::NotFound)?;
    if !matches!(action.as_str(), "comp" | "uncomp" | "deactivate") {
        return Err(PageError::NotFound);
    }
    // Each action says why, for the audit.
    let reason = OperatorReason::parse(fields.get("reason").map_or("", String::as_str))
        .map_err(|error| PageError::BadRequest(format!("{} — nothing was changed.", error.0)))?;
    match action.as_str() {
        "comp" => {
            crate::api::operator::comp_session(&state, session_id, reason.into_string()).await?;
        }
        "uncomp" => crate::api::operator::uncomp_session(&state, session_id, Some(reason)).await?,
        _ => crate::api::operator::deactivate_session(&state, session_id, Some(reason)).await?,
    }
    Ok(Redirect::to(&format!(
        "/console/companies/{company_id}/sessions/{session_id}"
    ))
    .into_response())
}

pub struct UsageMonthRow {
    pub label: String,
    pub href: String,
    pub counted: i64,
    pub included: i64,
    pub overage: i64,
    pub amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/usage.html")]
pub struct UsagePage {
    pub layout: Layout,
    pub company_name: String,
    pub month_label: String,
    pub previous_href: String,
    pub next_href: String,
    pub plan: PlanSummary,
    pub days: BarChart,
    pub year: BarChart,
    pub months: Vec<UsageMonthRow>,
}

/// Counted sessions per day (running total) against the included sessions,
/// the overage so far, and the last 12 months; administrators and operators.
pub async fn usage(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
    Path(company_id): Path<i64>,
    Query(param): Query<MonthParam>,
) -> Result<UsagePage, PageError> {
    let company = company_for(&state, &viewer, company_id).await?;
    if viewer.role == Role::Host {
        return Err(PageError::NotFound);
    }
    let month = month_of(&param)?;
    let rows = month_rows(&state, &viewer, company_id, month).await?;
    let plan = plan_summary(&state, company_id, month).await?;
    const DAY_MICROS: i64 = 86_400_000_000;
    let days_in_month = (month.end().as_micros() - month.start().as_micros()) / DAY_MICROS;
    let mut per_day = vec![0i64; days_in_month as usize];
    for row in &rows {
        if row.status == Some(BillableStatus::Bill)
            && let Some(ts) = row.billable_ts
        {
            let day = usize::from(ts.to_offset_date_time().day());
            if let Some(slot) = per_day.get_mut(day - 1) {
                *slot += 1;
            }
        }
    }
    let mut running = 0;
    let cumulative: Vec<i64> = per_day
        .iter()
        .map(|count| {
            running += count;
            running
        })
        .collect();
    let day_names: Vec<String> = (1..=days_in_month).map(|day| day.to_string()).collect();
    let included_label = format!("included: {}", plan.included);
    let days = BarChart::draw(&cumulative, &day_names, plan.included, &included_label);

    let mut months = Vec::new();
    let mut counts = Vec::new();
    let mut names = Vec::new();
    for back in (0..12).rev() {
        let shown = shift(month, -back);
        let usage = state.store.usage(company_id, shown).await?;
        let overage = (usage.counted - usage.included_sessions).max(0);
        counts.push(usage.counted);
        let first = shown.first_day();
        names.push(format!(
            "{} {}",
            &first.month().to_string()[..3],
            first.year() % 100
        ));
        months.push(UsageMonthRow {
            label: month_label(shown),
            href: format!(
                "/console/companies/{company_id}/usage?month={}",
                month_value(shown)
            ),
            counted: usage.counted,
            included: usage.included_sessions,
            overage,
            amount: money(overage.saturating_mul(usage.overage_price_cents)),
        });
    }
    let year = BarChart::draw(&counts, &names, plan.included, &included_label);
    months.reverse();
    let base = format!("/console/companies/{company_id}/usage");
    Ok(UsagePage {
        layout: Layout::for_viewer(
            &format!("Usage — {}", company.name),
            &viewer,
            Some(company_id),
            "Usage",
        ),
        company_name: company.name,
        month_label: month_label(month),
        previous_href: format!("{base}?month={}", month_value(shift(month, -1))),
        next_href: format!("{base}?month={}", month_value(shift(month, 1))),
        plan,
        days,
        year,
        months,
    })
}

pub struct CompanyRow {
    pub name: String,
    pub company_id: i64,
    pub href: String,
    pub usage_href: String,
    pub audit_href: String,
    pub plan: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/companies.html")]
pub struct CompaniesPage {
    pub layout: Layout,
    pub companies: Vec<CompanyRow>,
}

/// Every company: the operator's.
pub async fn companies(
    State(state): State<AppState>,
    viewer: ConsoleViewer,
) -> Result<CompaniesPage, PageError> {
    if viewer.role != Role::Operator {
        return Err(PageError::NotFound);
    }
    let companies = state
        .store
        .companies()
        .await?
        .into_iter()
        .map(|company| CompanyRow {
            href: format!("/console/companies/{}/month", company.company_id),
            usage_href: format!("/console/companies/{}/usage", company.company_id),
            audit_href: format!("/console/companies/{}/audit", company.company_id),
            plan: format!(
                "{} included, then {} each",
                company.included_sessions,
                money(company.overage_price_cents)
            ),
            name: company.name,
            company_id: company.company_id,
        })
        .collect();
    Ok(CompaniesPage {
        layout: Layout::for_viewer("Companies", &viewer, None, "Companies"),
        companies,
    })
}
