//! What the User, Session and Participant APIs read, in their wire form
//! (SPEC §5, §6): the store reads these in one snapshot per request.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::domain::{ConnectCode, Timestamp};

/// SecureVideo writes `SystemUserId` as a JSON string of digits.
fn id_as_string<S: Serializer>(id: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// The user id, as a JSON string of digits (as SecureVideo writes it).
    #[serde(rename = "SystemUserId", serialize_with = "id_as_string")]
    #[schema(value_type = String, pattern = "^[1-9][0-9]*$", example = "4")]
    pub user_id: i64,
    pub full_name: String,
    pub email_address: String,
    pub sms_number: String,
    pub default_resolution: String,
    pub time_zone_windows_id: String,
    pub help_number: String,
    pub external_id: String,
    #[schema(example = "H,P")]
    pub system_roles: String,
    /// The user's identity in the video system: assigned at creation,
    /// unique, stable, never reused.
    #[schema(example = "sv0000000004")]
    pub video_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Session {
    pub session_id: i64,
    pub schedule_ts: Timestamp,
    #[schema(required = true)]
    pub billable_ts: Option<Timestamp>,
    #[schema(required = true)]
    pub duration_minutes: Option<i64>,
    #[schema(required = true)]
    pub billable_status_cd: Option<String>,
    pub user_id: i64,
    /// `Scheduled`, `MeetNow` or `Rescheduled`.
    pub schedule_type: String,
    pub is_recorded: bool,
    /// Nine digits, the first not 0.
    #[schema(value_type = i64, minimum = 100000000, maximum = 999999999, example = 204848645)]
    pub connect_code: ConnectCode,
    pub participants: Vec<Participation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Participation {
    pub participation_id: i64,
    pub participant_full_name: String,
    #[serde(rename = "SecureVideoUserId")]
    #[schema(required = true)]
    pub secure_video_user_id: Option<i64>,
    pub participant_email_address: String,
    pub participant_sms_number: String,
    pub participant_default_resolution: String,
    pub participant_time_zone_windows_id: String,
    pub participant_external_id: String,
    /// Nine digits, the first not 0.
    #[schema(value_type = i64, minimum = 100000000, maximum = 999999999, example = 204848645)]
    pub connect_code: ConnectCode,
    /// `E` (e-mail), `S` (SMS) or `N`; the host's own is `E`.
    pub should_auto_deliver_code: String,
    /// The participant's first connection.
    #[schema(required = true)]
    pub connection_ts: Option<Timestamp>,
    /// When the invitation stops admitting: the session's deactivation.
    #[schema(required = true)]
    pub expires_ts: Option<Timestamp>,
    #[serde(rename = "RSVP")]
    pub rsvp: String,
}

/// One participant-call, so a tenant can see why a duration is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CallView {
    pub call_id: String,
    pub party: String,
    #[schema(required = true)]
    pub participation_id: Option<i64>,
    #[schema(required = true)]
    pub support_agent_id: Option<i64>,
    pub full_name: String,
    #[schema(required = true)]
    pub connect_ts: Option<Timestamp>,
    #[schema(required = true)]
    pub disconnect_ts: Option<Timestamp>,
}

/// Which active sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub company_id: i64,
    pub host_user_id: Option<i64>,
    /// Already normalized (trimmed, lower case).
    pub participant_email: Option<String>,
}
