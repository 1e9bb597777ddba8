//! The Participant API (SPEC §6): invite one more participant to a session,
//! or take back an invitation nobody has used yet.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Tenant;
use super::error::TenantErrors;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathText, path_id, windows_zone};
use super::state::AppState;
use crate::records::{AddParticipantRecord, ParticipantRecord, RemoveParticipantRecord};
use crate::store::Participation;

pub fn router() -> OpenApiRouter<AppState> {
    // POST takes a session id, DELETE a participation id, as in SecureVideo.
    OpenApiRouter::new().routes(routes!(add_participant, remove_participant))
}

/// A participant as a client sends it. Ids, connect codes and RSVP are the
/// service's and ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ParticipantInput {
    /// At least 2 characters; not a name already in the session.
    #[schema(example = "Pat Doe", min_length = 2)]
    participant_full_name: Option<String>,
    /// Invites one of the company's users (not the host) instead of naming a person.
    #[serde(
        rename = "SecureVideoUserId",
        default,
        deserialize_with = "optional_user_id"
    )]
    #[schema(schema_with = user_id_schema)]
    secure_video_user_id: Option<i64>,
    /// Required when ShouldAutoDeliverCode is `E`.
    participant_email_address: Option<String>,
    /// Required when ShouldAutoDeliverCode is `S`.
    participant_sms_number: Option<String>,
    participant_default_resolution: Option<String>,
    /// A Windows time-zone id (CLDR's windowsZones), or empty.
    #[schema(example = "Hawaiian Standard Time")]
    participant_time_zone_windows_id: Option<String>,
    participant_external_id: Option<String>,
    /// `E` (e-mail), `S` (SMS) or `N` (default): how the connect code is delivered.
    #[schema(example = "N")]
    should_auto_deliver_code: Option<String>,
}

/// A user id: a number, a string of digits (a `SystemUserId` passed on), or null.
fn user_id_schema() -> Schema {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
        )))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[0-9]+\s*$")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// A user id as a number, or as the digit string SecureVideo writes a
/// `SystemUserId` as, so a client may pass one on unchanged.
fn optional_user_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Digits(String),
    }
    match Option::<Id>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Id::Number(id)) => Ok(Some(id)),
        Some(Id::Digits(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a user id")),
    }
}

impl ParticipantInput {
    pub(super) fn user_id(&self) -> Option<i64> {
        self.secure_video_user_id
    }

    /// The invitation as the store takes it; `which` names the participant
    /// in errors (`Participants[0].`, or empty for a participant body).
    pub(super) fn into_record(self, which: &str) -> Result<ParticipantRecord, ApiError> {
        let time_zone = windows_zone(
            &format!("{which}ParticipantTimeZoneWindowsId"),
            self.participant_time_zone_windows_id,
        )?;
        Ok(ParticipantRecord {
            participation_id: None,
            participant_full_name: self.participant_full_name.unwrap_or_default(),
            secure_video_user_id: self.secure_video_user_id,
            participant_email_address: self.participant_email_address.unwrap_or_default(),
            participant_sms_number: self.participant_sms_number.unwrap_or_default(),
            participant_default_resolution: self.participant_default_resolution.unwrap_or_default(),
            participant_time_zone_windows_id: time_zone.unwrap_or_default(),
            participant_external_id: self.participant_external_id.unwrap_or_default(),
            connect_code: None,
            // `e`, ` E ` and `E` all mean e-mail; empty means the default, N.
            should_auto_deliver_code: self
                .should_auto_deliver_code
                .map(|code| code.trim().to_ascii_uppercase())
                .filter(|code| !code.is_empty()),
        })
    }
}

/// Invites one more participant to a session (POST takes a session id).
#[utoipa::path(
    post,
    path = "/participant/{id}",
    tag = "participants",
    params(("id" = i64, Path, description = "The SessionId", minimum = 1)),
    request_body = ParticipantInput,
    security(("tenant_basic" = [])),
    responses(
        (status = 201, description = "The new participation", body = Participation),
        (status = 400, description = "The session id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such session (or invited user) in this company", body = ErrorBody),
        (status = 409, description = "The session has been deactivated", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        TenantErrors,
    )
)]
async fn add_participant(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
    JsonBody(input): JsonBody<ParticipantInput>,
) -> Result<Response, ApiError> {
    let session_id = path_id("SessionId", &raw)?;
    let record = AddParticipantRecord {
        company_id: tenant.company_id,
        session_id,
        participant: input.into_record("")?,
    };
    let participation_id = state.store.write().add_participant(record).await?;
    tracing::info!(session_id, participation_id, "participant added");
    let participation = state
        .store
        .participation(tenant.company_id, participation_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Participant not found".into()))?;
    Ok((StatusCode::CREATED, Json(participation)).into_response())
}

/// Takes back an invitation nobody has used yet (DELETE takes a participation id).
#[utoipa::path(
    delete,
    path = "/participant/{id}",
    tag = "participants",
    params(("id" = i64, Path, description = "The ParticipationId", minimum = 1)),
    security(("tenant_basic" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The participation id is not valid", body = ErrorBody),
        (status = 404, description = "No such participation in this company", body = ErrorBody),
        (status = 409, description = "The participant has connected, or the session is deactivated", body = ErrorBody),
        TenantErrors,
    )
)]
async fn remove_participant(
    State(state): State<AppState>,
    tenant: Tenant,
    PathText(raw): PathText,
) -> Result<StatusCode, ApiError> {
    let participation_id = path_id("ParticipationId", &raw)?;
    let record = RemoveParticipantRecord {
        company_id: tenant.company_id,
        participation_id,
    };
    state.store.write().remove_participant(record).await?;
    Ok(StatusCode::NO_CONTENT)
}
