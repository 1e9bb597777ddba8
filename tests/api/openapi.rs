//! The OpenAPI document (SPEC §10) and the docs page: every documented
//! operation is routed, and every routed operation is documented.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

/// Every operation of the service. A route added here without documentation,
/// or documented without being added here, fails `documents_every_operation`.
const OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/history"),
    ("GET", "/history/{user_id}"),
    ("GET", "/usage"),
    ("GET", "/audit"),
    ("POST", "/webhook"),
    ("GET", "/webhook"),
    ("DELETE", "/webhook/{id}"),
    ("GET", "/webhook/{id}/deliveries"),
    ("POST", "/webhook/{id}/deliveries/{deliveryId}/retry"),
    ("POST", "/webhook/{id}/enable"),
    ("GET", "/user"),
    ("POST", "/user"),
    ("GET", "/user/{user_id}"),
    ("PUT", "/password/{user_id}"),
    ("POST", "/login/{user_id}"),
    ("PUT", "/user/{user_id}"),
    ("DELETE", "/user/{user_id}"),
    ("GET", "/session"),
    ("GET", "/session/{id}"),
    ("POST", "/session/{id}"),
    ("PUT", "/session/{id}"),
    ("DELETE", "/session/{id}"),
    ("GET", "/session/{id}/calls"),
    ("POST", "/participant/{id}"),
    ("DELETE", "/participant/{id}"),
    ("POST", "/operator/companies"),
    ("GET", "/operator/companies/{company_id}"),
    ("PUT", "/operator/companies/{company_id}"),
    ("POST", "/operator/companies/{company_id}/keys"),
    ("GET", "/operator/companies/{company_id}/actions"),
    ("GET", "/operator/companies/{company_id}/audit"),
    ("DELETE", "/operator/keys/{api_key}"),
    ("POST", "/operator/support-agents"),
    ("POST", "/operator/events"),
    ("POST", "/operator/sessions/{session_id}/deactivate"),
    ("POST", "/operator/sessions/{session_id}/comp"),
    ("DELETE", "/operator/sessions/{session_id}/comp"),
    ("GET", "/operator/sessions/{session_id}/audit"),
    ("PUT", "/operator/sessions/{session_id}/room"),
    ("GET", "/operator/providers/unmatched"),
    ("POST", "/operator/providers/unmatched/{unmatched_id}/retry"),
    ("POST", "/providers/{provider}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

async fn document(app: &crate::helpers::TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    response.json().await.unwrap()
}

/// (method, path, whether it names a security scheme) for each operation.
fn operations(document: &Value) -> Vec<(String, String, bool)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let secured = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|schemes| !schemes.is_empty());
            operations.push((method.to_ascii_uppercase(), path.clone(), secured));
        }
    }
    operations
}

#[tokio::test]
async fn documents_every_operation() {
    let app = spawn_app().await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented,
        expected,
        "documented but not listed: {:?}; listed but not documented: {:?}",
        documented.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&documented).collect::<Vec<_>>(),
    );

    // Null is written out, never omitted (SPEC §1): nullable fields are required.
    let history = &document["components"]["schemas"]["HistoryEntry"];
    assert_eq!(
        history["required"].as_array().unwrap().len(),
        7,
        "{history}"
    );

    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["tenant_basic"]["scheme"], "basic");
    assert_eq!(schemes["operator_bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let document = document(&app).await;
    for (method, path, secured) in operations(&document) {
        let concrete = path
            .replace("{api_key}", "k1_unknown")
            .replace("{provider}", "daily")
            .replace(['{', '}'], "")
            .split('/')
            .map(|segment| {
                if segment.ends_with("id") {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status();
        // Unauthenticated: a routed, secured operation refuses with 401 (the
        // fallback would say 404, a wrong method 405), as does a provider's
        // webhook without its signature; an open one answers.
        if secured || concrete.starts_with("/providers/") {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}");
        } else {
            assert!(status.is_success(), "{method} {concrete}: {status}");
        }
    }
}

#[tokio::test]
async fn tenant_and_operator_operations_name_their_scheme() {
    let app = spawn_app().await;
    let document = document(&app).await;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let schemes: Vec<&str> = operation["security"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .flat_map(|scheme| scheme.as_object().unwrap().keys())
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            // A provider's webhook is authenticated by its signature.
            let signed = path.starts_with("/providers/");
            let expected: &[&str] = if path.starts_with("/operator/") {
                &["operator_bearer"]
            } else if signed
                || ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str())
            {
                &[]
            } else {
                &["tenant_basic"]
            };
            assert_eq!(schemes, expected, "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            if !expected.is_empty() || signed {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
    let bare = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::OK, "redirected to /docs/");
}

/// Handlers reach the router only through utoipa_axum's `routes!()`, which
/// needs a `#[utoipa::path]`: a plain axum `.route(…)` would be served but
/// missing from the document.
#[test]
fn no_route_bypasses_the_document() {
    let mut folders = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/api"
    ))];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "the API's files are found: {files:?}");
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        for forbidden in [".route(", "axum::routing", ".nest("] {
            assert!(
                !source.contains(forbidden),
                "{} uses {forbidden}: register handlers with routes!() instead",
                path.display()
            );
        }
    }
}
