//! What the templates show, made ready: local times, the session's
//! timeline and the usage bars as SVG geometry, the frame of every page.

use askama::Template;
use jiff::tz::TimeZone;

use super::{ConsoleViewer, Role};
use crate::domain::calls::CountedOverlap;
use crate::domain::{BillableStatus, Timestamp, WindowsZone};

/// Times in the viewer's own zone.
pub struct Clock {
    zone: TimeZone,
    /// The zone as the viewer knows it ("Pacific Standard Time", or "UTC").
    pub label: String,
}

impl Clock {
    pub fn of(zone: Option<&WindowsZone>) -> Self {
        match zone {
            Some(zone) => Self {
                zone: zone.rules(),
                label: zone.windows_id().to_owned(),
            },
            None => Self {
                zone: TimeZone::UTC,
                label: "UTC".to_owned(),
            },
        }
    }

    fn format(&self, micros: i64, pattern: &str) -> String {
        match jiff::Timestamp::from_microsecond(micros) {
            Ok(ts) => ts
                .to_zoned_datetime(self.zone.clone())
                .strftime(pattern)
                .to_string(),
            Err(_) => "—".to_owned(),
        }
    }

    /// `Tue 3 Nov 2026, 14:05`
    pub fn date_time(&self, ts: Timestamp) -> String {
        self.format(ts.as_micros(), "%a %-d %b %Y, %H:%M")
    }

    /// `3 Nov 2026, 14:05:09`: an audit's moment, to the second.
    pub fn moment(&self, ts: Timestamp) -> String {
        self.format(ts.as_micros(), "%-d %b %Y, %H:%M:%S")
    }

    /// `Tue 3 Nov, 14:05`: in a month's table, whose heading names the year.
    pub fn day_time(&self, ts: Timestamp) -> String {
        self.format(ts.as_micros(), "%a %-d %b, %H:%M")
    }

    /// `14:05`
    pub fn time(&self, micros: i64) -> String {
        self.format(micros, "%H:%M")
    }

    /// `14:05:09`
    pub fn time_seconds(&self, micros: i64) -> String {
        self.format(micros, "%H:%M:%S")
    }
}

/// One link of the navigation bar.
pub struct NavLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// The frame of every page: title, who is signed in, navigation, and the
/// CSRF token of the sign-out form.
pub struct Layout {
    pub title: String,
    pub signed_in: bool,
    pub viewer_name: String,
    pub role: String,
    pub csrf: String,
    pub nav: Vec<NavLink>,
}

impl Layout {
    pub fn signed_out(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            signed_in: false,
            viewer_name: String::new(),
            role: String::new(),
            csrf: String::new(),
            nav: Vec::new(),
        }
    }

    /// The frame for a signed-in viewer; `company_id` is the company whose
    /// pages the viewer is on, `current` the label of this page.
    pub fn for_viewer(
        title: &str,
        viewer: &ConsoleViewer,
        company_id: Option<i64>,
        current: &str,
    ) -> Self {
        let mut nav = Vec::new();
        if viewer.role == Role::Operator {
            nav.push(("Companies", "/console/companies".to_owned()));
        }
        if let Some(company_id) = company_id.or(viewer.company_id) {
            nav.push(("Month", format!("/console/companies/{company_id}/month")));
            if viewer.role != Role::Host {
                nav.push(("Usage", format!("/console/companies/{company_id}/usage")));
                nav.push(("Audit", format!("/console/companies/{company_id}/audit")));
            }
        }
        Self {
            title: title.to_owned(),
            signed_in: true,
            viewer_name: viewer.full_name.clone(),
            role: viewer.role.name().to_owned(),
            csrf: viewer.csrf.clone(),
            nav: nav
                .into_iter()
                .map(|(label, href)| NavLink {
                    current: label == current,
                    label: label.to_owned(),
                    href,
                })
                .collect(),
        }
    }
}

/// A status as a badge: its code, a class for its colour, and a word.
pub struct Badge {
    pub code: String,
    pub class: String,
    pub title: String,
}

impl Badge {
    pub fn of(status: Option<BillableStatus>) -> Self {
        let (code, class, title) = match status {
            Some(BillableStatus::Bill) => ("BILL", "bill", "Counted"),
            Some(BillableStatus::Svco) => ("SVCO", "svco", "Support took part: not counted"),
            Some(BillableStatus::Dupl) => ("DUPL", "dupl", "Likely duplicate: not counted"),
            Some(BillableStatus::Comp) => ("COMP", "comp", "Comped: not counted"),
            None => ("—", "none", "Not connected"),
        };
        Self {
            code: code.to_owned(),
            class: class.to_owned(),
            title: title.to_owned(),
        }
    }
}

/// A rectangle of a chart, in the SVG's own units.
pub struct Rect {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub class: String,
    pub title: String,
}

/// A label placed on a chart.
pub struct Label {
    pub x: String,
    pub y: String,
    pub text: String,
    pub class: String,
}

/// A horizontal or vertical line of a chart.
pub struct Line {
    pub x1: String,
    pub y1: String,
    pub x2: String,
    pub y2: String,
    pub class: String,
}

fn n(value: f64) -> String {
    format!("{value:.1}")
}

/// One party's calls on the timeline.
pub struct Lane {
    pub label: String,
    pub is_host: bool,
    /// Each call as microseconds [connect, disconnect); `None` = still open.
    pub calls: Vec<(i64, Option<i64>)>,
}

/// The SVG of a session's calls: one lane per party, the host's first, and
/// the counted overlap (H ∩ K) shaded across them and drawn in its own lane.
pub struct Timeline {
    pub view_box: String,
    pub rects: Vec<Rect>,
    pub labels: Vec<Label>,
    pub lines: Vec<Line>,
}

const LEFT: f64 = 150.0;
const RIGHT: f64 = 16.0;
const WIDTH: f64 = 860.0;
const LANE: f64 = 34.0;
const TOP: f64 = 12.0;

impl Timeline {
    /// `now` closes calls still open (drawn to it).
    pub fn draw(lanes: &[Lane], overlap: &CountedOverlap, clock: &Clock, now: i64) -> Self {
        let ends = |end: Option<i64>| end.unwrap_or(now);
        let start = lanes
            .iter()
            .flat_map(|lane| lane.calls.iter().map(|call| call.0))
            .min()
            .unwrap_or(now);
        let mut end = lanes
            .iter()
            .flat_map(|lane| lane.calls.iter().map(|call| ends(call.1)))
            .max()
            .unwrap_or(now);
        if end <= start {
            end = start + 60_000_000;
        }
        let span = (end - start) as f64;
        let plot = WIDTH - LEFT - RIGHT;
        let x_of = |micros: i64| LEFT + plot * ((micros.clamp(start, end) - start) as f64 / span);
        let rows = lanes.len() + 1;
        let height = TOP + LANE * rows as f64 + 28.0;
        let bottom = TOP + LANE * rows as f64;
        let mut rects = Vec::new();
        let mut labels = Vec::new();
        let mut lines = Vec::new();
        // The counted overlap, shaded behind every lane.
        for &(from, to) in &overlap.counted {
            let to = if to == i64::MAX { now } else { to };
            rects.push(Rect {
                x: n(x_of(from)),
                y: n(TOP - 4.0),
                width: n((x_of(to) - x_of(from)).max(1.0)),
                height: n(bottom - TOP + 4.0),
                class: "counted-band".into(),
                title: format!("counted {}–{}", clock.time(from), clock.time(to)),
            });
        }
        for (index, lane) in lanes.iter().enumerate() {
            let y = TOP + LANE * index as f64;
            labels.push(Label {
                x: n(LEFT - 10.0),
                y: n(y + LANE / 2.0 + 4.0),
                text: lane.label.clone(),
                class: "lane-label".into(),
            });
            lines.push(Line {
                x1: n(LEFT),
                y1: n(y + LANE - 2.0),
                x2: n(WIDTH - RIGHT),
                y2: n(y + LANE - 2.0),
                class: "lane-rule".into(),
            });
            for &(from, to) in &lane.calls {
                let shown_to = ends(to);
                rects.push(Rect {
                    x: n(x_of(from)),
                    y: n(y + 6.0),
                    width: n((x_of(shown_to) - x_of(from)).max(2.0)),
                    height: n(LANE - 14.0),
                    class: if lane.is_host {
                        "call host"
                    } else {
                        "call guest"
                    }
                    .into(),
                    title: match to {
                        Some(to) => format!(
                            "{} {}–{}",
                            lane.label,
                            clock.time_seconds(from),
                            clock.time_seconds(to)
                        ),
                        None => format!(
                            "{} from {}, still open",
                            lane.label,
                            clock.time_seconds(from)
                        ),
                    },
                });
            }
        }
        // The counted lane, last.
        let y = TOP + LANE * lanes.len() as f64;
        labels.push(Label {
            x: n(LEFT - 10.0),
            y: n(y + LANE / 2.0 + 4.0),
            text: "Counted".into(),
            class: "lane-label counted-label".into(),
        });
        for &(from, to) in &overlap.counted {
            let to = if to == i64::MAX { now } else { to };
            rects.push(Rect {
                x: n(x_of(from)),
                y: n(y + 6.0),
                width: n((x_of(to) - x_of(from)).max(2.0)),
                height: n(LANE - 14.0),
                class: "call counted".into(),
                title: format!(
                    "counted {}–{}",
                    clock.time_seconds(from),
                    clock.time_seconds(to)
                ),
            });
        }
        // The time axis: five ticks.
        for step in 0..=4 {
            let at = start + (end - start) * step / 4;
            let x = x_of(at);
            lines.push(Line {
                x1: n(x),
                y1: n(TOP - 4.0),
                x2: n(x),
                y2: n(bottom),
                class: "tick".into(),
            });
            labels.push(Label {
                x: n(x),
                y: n(bottom + 18.0),
                text: clock.time(at),
                class: "tick-label".into(),
            });
        }
        Self {
            view_box: format!("0 0 {} {}", n(WIDTH), n(height)),
            rects,
            labels,
            lines,
        }
    }
}

/// The intervals as `10:01–10:27, 10:40–10:45`; an open end is "now".
pub fn intervals_text(intervals: &[(i64, i64)], clock: &Clock) -> String {
    if intervals.is_empty() {
        return "nothing".to_owned();
    }
    intervals
        .iter()
        .map(|&(from, to)| {
            let to = if to == i64::MAX {
                "still connected".to_owned()
            } else {
                clock.time(to)
            };
            format!("{}–{to}", clock.time(from))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `25 min` or `25 min 30 s`.
pub fn length_text(millis: i64) -> String {
    let seconds = millis / 1_000;
    match seconds % 60 {
        0 => format!("{} min", seconds / 60),
        rest => format!("{} min {rest} s", seconds / 60),
    }
}

/// Bars of a count per day (cumulative) against a horizontal limit line.
pub struct BarChart {
    pub view_box: String,
    pub rects: Vec<Rect>,
    pub labels: Vec<Label>,
    pub lines: Vec<Line>,
}

impl BarChart {
    /// `values[i]` for the i-th bar, labelled `names[i]`; `limit` is drawn as
    /// a line, and bars above it are marked as overage.
    pub fn draw(values: &[i64], names: &[String], limit: i64, limit_label: &str) -> Self {
        const W: f64 = 860.0;
        const H: f64 = 260.0;
        const L: f64 = 44.0;
        const B: f64 = 30.0;
        const T: f64 = 16.0;
        let top_value = values.iter().copied().max().unwrap_or(0).max(limit).max(1) as f64;
        let plot_h = H - B - T;
        let plot_w = W - L - 10.0;
        let slot = plot_w / values.len().max(1) as f64;
        let y_of = |value: i64| T + plot_h * (1.0 - value as f64 / top_value);
        let mut rects = Vec::new();
        let mut labels = Vec::new();
        let mut lines = vec![Line {
            x1: n(L),
            y1: n(H - B),
            x2: n(W - 10.0),
            y2: n(H - B),
            class: "axis".into(),
        }];
        let every = if values.len() > 16 { 5 } else { 1 };
        for (index, (&value, name)) in values.iter().zip(names).enumerate() {
            let x = L + slot * index as f64 + slot * 0.15;
            let y = y_of(value);
            rects.push(Rect {
                x: n(x),
                y: n(y),
                width: n(slot * 0.7),
                height: n(H - B - y),
                class: if value > limit { "bar over" } else { "bar" }.into(),
                title: format!("{name}: {value}"),
            });
            if index % every == 0 || index + 1 == values.len() {
                labels.push(Label {
                    x: n(x + slot * 0.35),
                    y: n(H - B + 16.0),
                    text: name.clone(),
                    class: "tick-label".into(),
                });
            }
        }
        for value in [0, top_value as i64] {
            labels.push(Label {
                x: n(L - 6.0),
                y: n(y_of(value) + 4.0),
                text: value.to_string(),
                class: "axis-label".into(),
            });
        }
        if limit > 0 {
            let y = y_of(limit);
            lines.push(Line {
                x1: n(L),
                y1: n(y),
                x2: n(W - 10.0),
                y2: n(y),
                class: "limit".into(),
            });
            labels.push(Label {
                x: n(W - 12.0),
                y: n(y - 5.0),
                text: limit_label.to_owned(),
                class: "limit-label".into(),
            });
        }
        Self {
            view_box: format!("0 0 {} {}", n(W), n(H)),
            rects,
            labels,
            lines,
        }
    }
}

/// Cents as dollars: `$12.50`.
pub fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A page that says what went wrong, and nothing more.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub text: String,
    pub link_label: String,
    pub link_href: String,
}
