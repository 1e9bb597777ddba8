//! The OpenAPI 3.1 document (SPEC §10), built from the same `routes!()`
//! registrations as the router, and the Swagger UI page that reads it.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::error::ErrorBody;
use crate::app::AppState;
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
        (name = "operator", description = "Operator API, Bearer token (SPEC §7)"),
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

/// Errors every tenant endpoint can answer, whatever its input.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum TenantErrors {
    /// Missing or wrong credentials (with `WWW-Authenticate: Basic`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Rate limited; retry after the seconds in `Retry-After`.
    #[response(status = 429, headers(("Retry-After" = u64)))]
    TooManyRequests(ErrorBody),
}

/// Errors every operator endpoint can answer, whatever its input.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum OperatorErrors {
    /// Missing or wrong Bearer token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such thing; also every operator path when no operator token is configured.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The document itself (serialized once).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn document() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        openapi()
            .to_json()
            .expect("the document serializes to JSON")
    });
    let mut response = json.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(document))
}

/// Every documented route and its handler, in one place: the router is
/// built from this, so nothing can be routed but not documented.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::history::router())
        .merge(super::usage::router())
        .merge(super::users::router())
        .merge(super::sessions::router())
        .merge(super::participants::router())
        .merge(super::operator::router())
        .merge(super::ops::router())
        .merge(router())
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The Swagger UI page, reading the document from [`DOCUMENT_PATH`].
pub fn docs_page() -> axum::Router<AppState> {
    SwaggerUi::new(DOCS_PATH)
        .config(Config::new([DOCUMENT_PATH]))
        .into()
}
