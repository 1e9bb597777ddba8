//! The log format (SPEC §9): one JSON object per line, each a change to the
//! ledger. `import` replays lines, `export` writes them, and every API write is
//! recorded as the completed line that replays it (ids, codes and times filled
//! in), so a replay reproduces the same ledger.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::events::{ConnectionEvent, EventKind, PartyKind};
use crate::domain::{ConnectCode, InvalidText, Text, Timestamp, check_text};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(flatten)]
    pub record: Record,
    /// When the service applied the change; replays use it as their clock.
    #[serde(
        rename = "RecordedTs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recorded_ts: Option<Timestamp>,
    /// Connection events delivered in one batch share a number, so a replay
    /// applies them together, exactly as they were first applied.
    #[serde(rename = "Batch", default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<i64>,
}

impl LogLine {
    /// A change to apply now; the store fills in the time and any ids.
    pub fn new(record: Record) -> Self {
        Self {
            record,
            recorded_ts: None,
            batch: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum Record {
    Company(CompanyRecord),
    CompanyPlan(CompanyPlanRecord),
    ApiKey(ApiKeyRecord),
    RevokeApiKey(RevokeApiKeyRecord),
    SupportAgent(SupportAgentRecord),
    User(UserRecord),
    UserUpdate(UserUpdateRecord),
    UserDelete(UserDeleteRecord),
    Session(SessionRecord),
    Reschedule(RescheduleRecord),
    Cancel(CancelRecord),
    AddParticipant(AddParticipantRecord),
    RemoveParticipant(RemoveParticipantRecord),
    Connect(ConnectionEvent),
    Disconnect(ConnectionEvent),
    Deactivate(SessionActionRecord),
    Comp(CompRecord),
    Uncomp(SessionActionRecord),
    Room(RoomRecord),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyRecord {
    #[serde(default)]
    pub company_id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub included_sessions_per_month: i64,
    #[serde(default)]
    pub overage_price_cents: i64,
    /// The DUPL window (SPEC §3); absent: the importing or serving process's
    /// `--duplicate-window-minutes`. Journaled filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_window_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyPlanRecord {
    pub company_id: i64,
    pub included_sessions_per_month: i64,
    pub overage_price_cents: i64,
    /// A new DUPL window: the company's statuses are derived again under it.
    /// Absent (lines written before it was stored): unchanged. Journaled
    /// filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_window_minutes: Option<i64>,
}

/// An API key as stored: only the hash of its secret ever leaves the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKeyRecord {
    pub company_id: i64,
    pub api_key: String,
    pub secret_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeApiKeyRecord {
    pub api_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SupportAgentRecord {
    #[serde(default)]
    pub support_agent_id: Option<i64>,
    pub full_name: String,
    pub email_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRecord {
    pub company_id: i64,
    #[serde(default)]
    pub user_id: Option<i64>,
    pub full_name: String,
    #[serde(default)]
    pub email_address: String,
    #[serde(default)]
    pub sms_number: String,
    #[serde(default)]
    pub default_resolution: String,
    #[serde(default)]
    pub time_zone_windows_id: String,
    #[serde(default)]
    pub help_number: String,
    #[serde(default)]
    pub external_id: String,
    /// Absent: derived from the user id (SPEC §5). Journaled filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// Normalized (`H,P`, `H,P,A`); absent: `H,P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_roles: Option<String>,
}

/// A user's new details, complete: the line replays without the old ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserUpdateRecord {
    pub company_id: i64,
    pub user_id: i64,
    pub full_name: String,
    pub email_address: String,
    #[serde(default)]
    pub sms_number: String,
    #[serde(default)]
    pub default_resolution: String,
    #[serde(default)]
    pub time_zone_windows_id: String,
    #[serde(default)]
    pub help_number: String,
    #[serde(default)]
    pub external_id: String,
    /// Normalized; absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_roles: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserDeleteRecord {
    pub company_id: i64,
    pub user_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RescheduleRecord {
    pub company_id: i64,
    pub session_id: i64,
    pub schedule_ts: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelRecord {
    pub company_id: i64,
    pub session_id: i64,
}

/// One more participant of an existing session; the participant's fields
/// sit beside the session's, as in a `Session` line's `Participants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddParticipantRecord {
    pub company_id: i64,
    pub session_id: i64,
    #[serde(flatten)]
    pub participant: ParticipantRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveParticipantRecord {
    pub company_id: i64,
    pub participation_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRecord {
    pub company_id: i64,
    #[serde(default)]
    pub session_id: Option<i64>,
    pub user_id: i64,
    /// Absent for a Meet Now session: the creation time is used.
    #[serde(default)]
    pub schedule_ts: Option<Timestamp>,
    #[serde(default)]
    pub schedule_type: Option<ScheduleType>,
    /// A number of 9 digits; a string of digits in logs written before
    /// codes were numbers (see [`ConnectCode::from_digits`]).
    #[serde(default)]
    pub connect_code: Option<ConnectCode>,
    #[serde(default)]
    pub participants: Vec<ParticipantRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleType {
    Scheduled,
    MeetNow,
    Rescheduled,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantRecord {
    #[serde(default)]
    pub participation_id: Option<i64>,
    #[serde(default)]
    pub participant_full_name: String,
    #[serde(default, rename = "SecureVideoUserId")]
    pub secure_video_user_id: Option<i64>,
    #[serde(default)]
    pub participant_email_address: String,
    #[serde(default)]
    pub participant_sms_number: String,
    #[serde(default)]
    pub participant_default_resolution: String,
    #[serde(default)]
    pub participant_time_zone_windows_id: String,
    #[serde(default)]
    pub participant_external_id: String,
    #[serde(default)]
    pub connect_code: Option<ConnectCode>,
    #[serde(default)]
    pub should_auto_deliver_code: Option<String>,
}

/// A video provider's room bound to a session (SPEC §12), for providers
/// that name their rooms themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoomRecord {
    pub company_id: i64,
    pub session_id: i64,
    /// `livekit`, `daily`, `zoom`, `vonage` or `whereby`.
    pub provider: String,
    pub room_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionActionRecord {
    pub session_id: i64,
    #[serde(default)]
    pub ts: Option<Timestamp>,
    /// A `Deactivate` by the service itself (SPEC §3.2), not the operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
    /// The operator's reason, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompRecord {
    pub session_id: i64,
    pub reason: String,
    #[serde(default)]
    pub ts: Option<Timestamp>,
}

impl Record {
    /// The connection event this record is, if it is one.
    pub fn as_event(&self) -> Option<(EventKind, &ConnectionEvent)> {
        match self {
            Record::Connect(event) => Some((EventKind::Connect, event)),
            Record::Disconnect(event) => Some((EventKind::Disconnect, event)),
            _ => None,
        }
    }
}

impl LogLine {
    /// Parses one line of a log; what is wrong names the field at fault
    /// (`Participants[0].ParticipantFullName: …`).
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|error| {
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|value| explain(&value))
                .unwrap_or_else(|| error.to_string())
        })
    }
}

/// Why `value` is not a log line, naming the field at fault: the derived
/// form of a tagged (and flattened) record buffers the line first and loses
/// the field's name, so the line is read again as the record its `Type`
/// names. Only a line already found wrong pays for this.
pub fn explain(value: &Value) -> Option<String> {
    fn named<T: DeserializeOwned>(value: &Value, prefix: &str) -> Option<String> {
        serde_path_to_error::deserialize::<_, T>(value)
            .err()
            .map(|error| {
                let path = error.path().to_string();
                let error = error.into_inner();
                if path == "." {
                    format!("{prefix}{error}")
                } else {
                    format!("{prefix}{path}: {error}")
                }
            })
    }
    let object = value.as_object()?;
    if let Some(recorded) = object.get("RecordedTs")
        && let Some(error) = named::<Option<Timestamp>>(recorded, "RecordedTs: ")
    {
        return Some(error);
    }
    if let Some(batch) = object.get("Batch")
        && let Some(error) = named::<Option<i64>>(batch, "Batch: ")
    {
        return Some(error);
    }
    macro_rules! by_type {
        ($kind:expr, $($name:literal => $record:ty),* $(,)?) => {
            match $kind {
                $($name => named::<$record>(value, ""),)*
                _ => None,
            }
        };
    }
    by_type!(object.get("Type")?.as_str()?,
        "Company" => CompanyRecord,
        "CompanyPlan" => CompanyPlanRecord,
        "ApiKey" => ApiKeyRecord,
        "RevokeApiKey" => RevokeApiKeyRecord,
        "SupportAgent" => SupportAgentRecord,
        "User" => UserRecord,
        "UserUpdate" => UserUpdateRecord,
        "UserDelete" => UserDeleteRecord,
        "Session" => SessionRecord,
        "Reschedule" => RescheduleRecord,
        "Cancel" => CancelRecord,
        "AddParticipant" => AddParticipantRecord,
        "RemoveParticipant" => RemoveParticipantRecord,
        "Connect" => ConnectionEvent,
        "Disconnect" => ConnectionEvent,
        "Deactivate" => SessionActionRecord,
        "Comp" => CompRecord,
        "Uncomp" => SessionActionRecord,
        "Room" => RoomRecord,
    )
}

impl Record {
    /// Checks every piece of text the record brings against the limits of
    /// its field (`domain::limits`): the same for an API call and an
    /// imported line, before either reaches a store. Connection events are
    /// checked with their batch (`EventBatch::parse`).
    pub fn check_text(&self) -> Result<(), InvalidText> {
        match self {
            Record::Company(r) => check_text("Name", &r.name, Text::Name),
            Record::ApiKey(r) => {
                check_text("ApiKey", &r.api_key, Text::ApiKey)?;
                check_text("SecretHash", &r.secret_hash, Text::ApiKey)
            }
            Record::RevokeApiKey(r) => check_text("ApiKey", &r.api_key, Text::ApiKey),
            Record::SupportAgent(r) => {
                check_text("FullName", &r.full_name, Text::Name)?;
                check_text("EmailAddress", &r.email_address, Text::Email)
            }
            Record::User(r) => check_user(
                &r.full_name,
                &r.email_address,
                &r.external_id,
                [
                    ("SmsNumber", &r.sms_number),
                    ("DefaultResolution", &r.default_resolution),
                    ("TimeZoneWindowsId", &r.time_zone_windows_id),
                    ("HelpNumber", &r.help_number),
                ],
            ),
            Record::UserUpdate(r) => check_user(
                &r.full_name,
                &r.email_address,
                &r.external_id,
                [
                    ("SmsNumber", &r.sms_number),
                    ("DefaultResolution", &r.default_resolution),
                    ("TimeZoneWindowsId", &r.time_zone_windows_id),
                    ("HelpNumber", &r.help_number),
                ],
            ),
            Record::Session(r) => r
                .participants
                .iter()
                .enumerate()
                .try_for_each(|(index, p)| p.check_text(&format!("Participants[{index}]."))),
            Record::AddParticipant(r) => r.participant.check_text(""),
            Record::Comp(r) => check_text("Reason", &r.reason, Text::Reason),
            Record::Deactivate(r) | Record::Uncomp(r) => r
                .reason
                .as_deref()
                .map_or(Ok(()), |reason| check_text("Reason", reason, Text::Reason)),
            Record::Room(r) => {
                check_text("Provider", &r.provider, Text::Detail)?;
                check_text("RoomId", &r.room_id, Text::RoomId)
            }
            Record::CompanyPlan(_)
            | Record::UserDelete(_)
            | Record::Reschedule(_)
            | Record::Cancel(_)
            | Record::RemoveParticipant(_)
            | Record::Connect(_)
            | Record::Disconnect(_) => Ok(()),
        }
    }
}

fn check_user(
    full_name: &str,
    email_address: &str,
    external_id: &str,
    details: [(&str, &String); 4],
) -> Result<(), InvalidText> {
    check_text("FullName", full_name, Text::Name)?;
    check_text("EmailAddress", email_address, Text::Email)?;
    check_text("ExternalId", external_id, Text::ExternalId)?;
    details
        .into_iter()
        .try_for_each(|(field, value)| check_text(field, value, Text::Detail))
}

impl ParticipantRecord {
    /// Checks the participant's text; `which` prefixes each field's name
    /// (`Participants[2].`).
    fn check_text(&self, which: &str) -> Result<(), InvalidText> {
        let field = |name: &str| format!("{which}{name}");
        check_text(
            &field("ParticipantFullName"),
            &self.participant_full_name,
            Text::Name,
        )?;
        check_text(
            &field("ParticipantEmailAddress"),
            &self.participant_email_address,
            Text::Email,
        )?;
        check_text(
            &field("ParticipantExternalId"),
            &self.participant_external_id,
            Text::ExternalId,
        )?;
        for (name, value) in [
            ("ParticipantSmsNumber", &self.participant_sms_number),
            (
                "ParticipantDefaultResolution",
                &self.participant_default_resolution,
            ),
            (
                "ParticipantTimeZoneWindowsId",
                &self.participant_time_zone_windows_id,
            ),
        ] {
            check_text(&field(name), value, Text::Detail)?;
        }
        if let Some(code) = &self.should_auto_deliver_code {
            check_text(&field("ShouldAutoDeliverCode"), code, Text::Detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixed_forms_of_spec_section_9() {
        let lines = [
            r#"{"Type":"Company","CompanyId":1,"Name":"Acme","IncludedSessionsPerMonth":0,"OveragePriceCents":0}"#,
            r#"{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}"#,
            r#"{"Type":"SupportAgent","SupportAgentId":7,"FullName":"Marisa Zendejas","EmailAddress":"mz@example.com"}"#,
            r#"{"Type":"Session","CompanyId":1,"SessionId":105236,"UserId":4,"ScheduleTs":"2016-11-03T21:45:09.467","ScheduleType":"MeetNow","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}"#,
            r#"{"Type":"Connect","EventId":"a1","SessionId":105236,"Party":"Host","CallId":"h1","Ts":"2016-11-03T21:46:00"}"#,
            r#"{"Type":"Deactivate","SessionId":105236,"Ts":"2016-11-04T00:00:00"}"#,
            r#"{"Type":"Comp","SessionId":105236,"Reason":"goodwill","Ts":"2016-11-04T00:00:00"}"#,
            r#"{"Type":"Uncomp","SessionId":105236,"Ts":"2016-11-04T00:00:00"}"#,
        ];
        round_trip(&lines);
    }

    fn round_trip(lines: &[&str]) {
        for line in lines.iter().copied() {
            let parsed: LogLine =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let again: LogLine =
                serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
            assert_eq!(parsed, again);
        }
    }

    #[test]
    fn reads_the_session_api_changes() {
        round_trip(&[
            r#"{"Type":"UserUpdate","CompanyId":1,"UserId":4,"FullName":"Aaron J","EmailAddress":"aj@new.example","RecordedTs":"2016-11-05T00:00:00"}"#,
            r#"{"Type":"UserDelete","CompanyId":1,"UserId":4}"#,
            r#"{"Type":"Reschedule","CompanyId":1,"SessionId":5,"ScheduleTs":"2016-11-05T10:15:00"}"#,
            r#"{"Type":"Cancel","CompanyId":1,"SessionId":5}"#,
            r#"{"Type":"RemoveParticipant","CompanyId":1,"ParticipationId":9}"#,
            r#"{"Type":"Deactivate","SessionId":5,"Ts":"2016-11-06T00:00:00","Automatic":true}"#,
        ]);
        let line = r#"{"Type":"AddParticipant","CompanyId":1,"SessionId":5,"ParticipationId":12,"ParticipantFullName":"Alex Alexis","ParticipantEmailAddress":"aa@changed.com","ShouldAutoDeliverCode":"E","RecordedTs":"2016-11-05T00:00:00"}"#;
        let parsed: LogLine = serde_json::from_str(line).unwrap();
        let Record::AddParticipant(added) = &parsed.record else {
            panic!("{parsed:?}")
        };
        assert_eq!(added.participant.participation_id, Some(12));
        assert_eq!(added.participant.participant_full_name, "Alex Alexis");
        assert!(parsed.recorded_ts.is_some());
        round_trip(&[line]);
    }

    #[test]
    fn an_event_line_is_the_operator_event_object() {
        let line = r#"{"Type":"Disconnect","EventId":"e","SessionId":5,"Party":"Participant","ParticipationId":9,"CallId":"c","Ts":"2016-11-03T21:46:16.1Z","Batch":3}"#;
        let parsed: LogLine = serde_json::from_str(line).unwrap();
        let (kind, event) = parsed.record.as_event().unwrap();
        assert_eq!(kind, EventKind::Disconnect);
        assert_eq!(event.participation_id, Some(9));
        assert_eq!(event.ts.to_string(), "2016-11-03T21:46:16.1");
        assert_eq!(parsed.batch, Some(3));
    }
}
