//! Every documented route and its handler, merged in one place: the router
//! and the OpenAPI document are both built from these registrations, so
//! nothing can be routed but not documented.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::ApiDoc;
use super::state::AppState;
use super::{
    access, history, login, operator, ops, participants, providers, sessions, usage, users,
    webhooks,
};

/// Every resource's routes, with the OpenAPI document's own.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(history::router())
        .merge(usage::router())
        .merge(users::router())
        .merge(sessions::router())
        .merge(participants::router())
        .merge(login::router())
        .merge(operator::router())
        .merge(access::router())
        .merge(ops::router())
        .merge(providers::router())
        .merge(webhooks::router())
        .routes(routes!(document))
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
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
