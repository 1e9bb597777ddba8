//! History elements on the wire: JSON written by hand, byte for byte as
//! serde_json would write them, and RFC 4180 CSV.

use std::io::Write as _;

use serde::Serialize;
use utoipa::ToSchema;

use super::filters::Format;
use crate::domain::Timestamp;
use crate::domain::status::usage_description;
use crate::store::HistoryRow;

// The schema of a History element. `write_json_entry` writes the
// elements, byte for byte as serde_json would serialize this (tested).
/// History JSON: exactly these keys, in this order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HistoryEntry<'a> {
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
/// "Reading History").
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

/// Text for a CSV cell that a spreadsheet will not run as a formula: a
/// cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// gets a single quote in front, as OWASP's CSV-injection advice says
/// (docs/decisions.md, "History API"). Only text cells: numbers (a
/// negative one included) and timestamps are written as they are.
fn neutralized(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

const CSV_HEADER: &str =
    "SessionId,ScheduleTs,BillableTs,DurationMinutes,BillableStatusCd,UserId,UsageDescription\r\n";

pub(super) struct Encoder {
    pub(super) format: Format,
    pub(super) platform: String,
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
    pub(super) fn open(&self, rows: &[HistoryRow]) -> (Vec<u8>, bool) {
        let mut bytes = match self.format {
            Format::Json => b"[".to_vec(),
            Format::Csv => CSV_HEADER.as_bytes().to_vec(),
        };
        let mut wrote_any = false;
        bytes.extend(self.rows(rows, &mut wrote_any));
        (bytes, wrote_any)
    }

    pub(super) fn rows(&self, rows: &[HistoryRow], wrote_any: &mut bool) -> Vec<u8> {
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
                            neutralized(self.description(row)),
                        ])
                        .expect("writing to memory cannot fail");
                }
                writer.flush().expect("writing to memory cannot fail");
            }
        }
        bytes
    }

    pub(super) fn close(&self) -> Vec<u8> {
        match self.format {
            Format::Json => b"]".to_vec(),
            Format::Csv => Vec::new(),
        }
    }

    pub(super) fn whole(&self, rows: &[HistoryRow]) -> Vec<u8> {
        let (mut bytes, _) = self.open(rows);
        bytes.extend(self.close());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BillableStatus;
    use crate::store::HistoryCursor;

    /// `text` as a JSON string, escaped by `escape_json_into`.
    fn quoted(text: &str) -> String {
        let mut ours = b"\"".to_vec();
        escape_json_into(&mut ours, text);
        ours.push(b'"');
        String::from_utf8(ours).expect("UTF-8")
    }

    #[test]
    fn csv_text_that_a_spreadsheet_would_run_is_neutralized() {
        for (text, written) in [
            (
                "=HYPERLINK(\"http://x.example\")",
                "'=HYPERLINK(\"http://x.example\")",
            ),
            ("+1+2", "'+1+2"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            (
                "Ann Host Session #11 - Counted Session",
                "Ann Host Session #11 - Counted Session",
            ),
            ("Ann =1+1", "Ann =1+1"),
            ("", ""),
        ] {
            assert_eq!(neutralized(text.to_owned()), written, "{text:?}");
        }
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
}
