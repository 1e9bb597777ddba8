//! What the OpenAPI 3.1 document (SPEC §10) says besides its paths: its
//! title, tags and security schemes, how a timestamp is described, and the
//! Swagger UI page that reads it. The paths come from the same `routes!()`
//! registrations as the router (`routes`).

use std::borrow::Cow;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::error::ErrorBody;
use crate::domain::Timestamp;

/// Where the document is served, and where the docs page reads it from.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// The API docs page (Swagger UI, served from the binary: works offline).
pub const DOCS_PATH: &str = "/docs";

/// Security scheme names, as the `security(...)` of each operation cite them.
pub const TENANT_AUTH: &str = "tenant_basic";
pub const OPERATOR_AUTH: &str = "operator_bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "session-ledger",
        description = "Session history and billing usage for a video-visit platform, \
            SecureVideo History API compatible. Query parameter names are \
            case-insensitive (`Month`, `month`, `MONTH`); the PascalCase forms are \
            documented. Every error is `{\"Message\": \"…\"}`."
    ),
    components(schemas(ErrorBody, Timestamp)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "history", description = "Session history and CSV activity (SPEC §4)"),
        (name = "usage", description = "Monthly usage against the plan (SPEC §8)"),
        (name = "users", description = "SecureVideo-compatible User API (SPEC §5)"),
        (name = "sessions", description = "SecureVideo-compatible Session API (SPEC §6)"),
        (name = "participants", description = "Participant API (SPEC §6)"),
        (name = "audit", description = "The company's access audit (SPEC §15)"),
        (name = "console", description = "SecureVideo-compatible Password and Login APIs: console sign-in (SPEC §14)"),
        (name = "operator", description = "Operator API, Bearer token (SPEC §7)"),
        (name = "providers", description = "Video providers' own webhooks (SPEC §12)"),
        (name = "webhooks", description = "Signed outbound webhooks to the tenant (SPEC §13)"),
        (name = "operations", description = "Health, readiness, metrics, this document (SPEC §10)"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TENANT_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("User name: the API key; password: the API secret."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            OPERATOR_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator token (SESSION_LEDGER_OPERATOR_TOKEN). Without one \
                         configured, the operator API answers 404.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Timestamps on the wire (SPEC §1): UTC, no zone designator, the fraction
/// only when non-zero.
impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "UTC instant `yyyy-MM-ddTHH:mm:ss[.f]`, 1–6 fraction digits without \
                 trailing zeros, no zone designator. Inputs may also end in `Z` or a \
                 numeric offset.",
            ))
            .pattern(Some(
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?$",
            ))
            .examples([serde_json::json!("2016-11-03T21:46:16.1")])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

/// The Swagger UI page, reading the document from [`DOCUMENT_PATH`].
pub fn docs_page<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    SwaggerUi::new(DOCS_PATH)
        .config(Config::new([DOCUMENT_PATH]))
        .into()
}
