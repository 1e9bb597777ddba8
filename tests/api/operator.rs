//! The operator API (SPEC §2, §7): its bearer token, tenants, plans, keys,
//! support agents, and the walls between tenants.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    OPERATOR_TOKEN, Tenant, TestApp, assert_error, event, participant_event, spawn_app,
    spawn_app_with, support_event,
};

/// Company 1 with user 4 and a billable session 100 with Trevor Stamp.
const COMPANY_A: &str = r#"{"Type":"Company","CompanyId":1,"Name":"Acme Clinic","IncludedSessionsPerMonth":0,"OveragePriceCents":0}
{"Type":"User","CompanyId":1,"UserId":4,"FullName":"Aaron Johnson","EmailAddress":"aj@example.com"}
{"Type":"Session","CompanyId":1,"SessionId":100,"UserId":4,"ScheduleTs":"2016-11-03T10:00:00","ScheduleType":"Scheduled","Participants":[{"ParticipationId":9,"ParticipantFullName":"Trevor Stamp","ParticipantEmailAddress":"ts@example.com"}]}
"#;

async fn company_a(app: &TestApp) {
    app.import(COMPANY_A).await;
    let response = app
        .post_events(json!([
            event("h1c", 100, "Connect", "Host", "h1", "2016-11-03T10:00:00"),
            participant_event("p1c", 100, "Connect", 9, "p1", "2016-11-03T10:01:00"),
            participant_event("p1d", 100, "Disconnect", 9, "p1", "2016-11-03T10:21:00"),
            event(
                "h1d",
                100,
                "Disconnect",
                "Host",
                "h1",
                "2016-11-03T10:30:00"
            ),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn operator_paths() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/operator/companies",
            Some(json!({ "Name": "Acme" })),
        ),
        (Method::GET, "/operator/companies/1", None),
        (
            Method::PUT,
            "/operator/companies/1",
            Some(json!({ "IncludedSessionsPerMonth": 3 })),
        ),
        (Method::POST, "/operator/companies/1/keys", None),
        (Method::DELETE, "/operator/keys/k1_abc", None),
        (
            Method::POST,
            "/operator/support-agents",
            Some(json!({ "FullName": "Marisa Zendejas", "EmailAddress": "mz@example.com" })),
        ),
        (
            Method::POST,
            "/operator/events",
            Some(json!([event(
                "e1",
                100,
                "Connect",
                "Host",
                "h1",
                "2016-11-03T10:00:00"
            )])),
        ),
        (Method::POST, "/operator/sessions/100/deactivate", None),
        (
            Method::POST,
            "/operator/sessions/100/comp",
            Some(json!({ "Reason": "goodwill" })),
        ),
        (Method::DELETE, "/operator/sessions/100/comp", None),
        (Method::GET, "/operator/sessions/100/audit", None),
    ]
}

#[tokio::test]
async fn without_a_configured_token_the_operator_api_does_not_exist() {
    let app = spawn_app_with(|settings| settings.operator_token = None).await;
    app.import(COMPANY_A).await;
    for (method, path, body) in operator_paths() {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(OPERATOR_TOKEN);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["Message"].is_string(), "{method} {path}: {body}");
    }
    // Nothing was done: the session took no events. (A key straight into
    // the database, since the operator API is not there to make one.)
    let key = session_ledger::secrets::new_key(1);
    app.import(
        &json!({ "Type": "ApiKey", "CompanyId": 1, "ApiKey": key.api_key, "SecretHash": key.secret_hash })
            .to_string(),
    )
    .await;
    let tenant = Tenant {
        company_id: 1,
        api_key: key.api_key,
        api_secret: key.api_secret,
    };
    let history = app.history(&tenant, "/history").await;
    assert_eq!(history[0]["BillableTs"], Value::Null);
}

#[tokio::test]
async fn a_wrong_or_missing_bearer_token_is_refused() {
    let app = spawn_app().await;
    company_a(&app).await;
    let tenant = app.key_for(1).await;
    let before = app.history(&tenant, "/history").await;
    for (method, path, body) in operator_paths() {
        for authorization in [
            None,
            Some("Bearer wrong-token"),
            Some("Basic dGVzdDp0ZXN0"),
            Some("Bearer "),
        ] {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}"
            );
            let body: Value = response.json().await.unwrap();
            assert!(body["Message"].is_string());
        }
    }
    // A tenant's own credentials are no operator's either.
    let response = app
        .client
        .post(app.url("/operator/sessions/100/comp"))
        .basic_auth(&tenant.api_key, Some(&tenant.api_secret))
        .json(&json!({ "Reason": "self-service" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.history(&tenant, "/history").await, before);
    assert_eq!(before[0]["BillableStatusCd"], "BILL");
}

#[tokio::test]
async fn companies_are_created_with_a_plan_that_can_change() {
    let app = spawn_app().await;
    let response = app
        .operator(Method::POST, "/operator/companies")
        .json(&json!({ "Name": "  Acme Clinic ", "IncludedSessionsPerMonth": 5, "OveragePriceCents": 300 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let company_id = created["CompanyId"].as_i64().expect("a numeric CompanyId");
    assert!(company_id > 0);
    assert_eq!(
        created,
        json!({ "CompanyId": company_id, "Name": "Acme Clinic", "IncludedSessionsPerMonth": 5, "OveragePriceCents": 300,
                "DuplicateWindowMinutes": 60 })
    );

    // The plan defaults to nothing included, nothing charged.
    let response = app
        .operator(Method::POST, "/operator/companies")
        .json(&json!({ "Name": "Beta Care" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let other: Value = response.json().await.unwrap();
    assert_ne!(other["CompanyId"], created["CompanyId"]);
    assert_eq!(other["IncludedSessionsPerMonth"], 0);
    assert_eq!(other["OveragePriceCents"], 0);

    let response = app
        .operator(Method::PUT, &format!("/operator/companies/{company_id}"))
        .json(&json!({ "IncludedSessionsPerMonth": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["IncludedSessionsPerMonth"], 10);
    assert_eq!(
        changed["OveragePriceCents"], 300,
        "a field not given keeps its value"
    );

    let response = app
        .operator(Method::GET, &format!("/operator/companies/{company_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), changed);

    // The tenant's usage shows the plan.
    let tenant = app.create_key(company_id).await;
    let response = app
        .tenant(&tenant, "/usage?month=2016-11-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let usage: Value = response.json().await.unwrap();
    assert_eq!(usage["IncludedSessions"], 10);
    assert_eq!(usage["OveragePriceCents"], 300);

    let response = app
        .operator(Method::PUT, "/operator/companies/987654")
        .json(&json!({ "IncludedSessionsPerMonth": 1 }))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Company not found").await;
    let response = app
        .operator(Method::GET, "/operator/companies/987654")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Company not found").await;
}

#[tokio::test]
async fn a_key_works_with_basic_auth_until_it_is_revoked() {
    let app = spawn_app().await;
    company_a(&app).await;
    let response = app
        .operator(Method::POST, "/operator/companies/1/keys")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let api_key = created["ApiKey"].as_str().unwrap().to_owned();
    let api_secret = created["ApiSecret"].as_str().unwrap().to_owned();
    assert!(!api_key.is_empty() && !api_secret.is_empty());
    assert_ne!(api_key, api_secret);

    let history = |key: String, secret: String| {
        let request = app
            .client
            .get(app.url("/history"))
            .basic_auth(key, Some(secret));
        async move { request.send().await.unwrap() }
    };
    let response = history(api_key.clone(), api_secret.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["SessionId"], 100);

    // A second key of the same company.
    let second = app.create_key(1).await;
    assert_ne!(second.api_key, api_key);

    // The wrong secret, or another key's secret, is refused.
    let response = history(api_key.clone(), second.api_secret.clone()).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "").await;

    let response = app
        .operator(Method::DELETE, &format!("/operator/keys/{api_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = history(api_key.clone(), api_secret.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"session-ledger\""
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["Message"].is_string());
    let response = app
        .client
        .get(app.url("/usage?month=2016-11-01"))
        .basic_auth(&api_key, Some(&api_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The other key is untouched.
    let response = history(second.api_key.clone(), second.api_secret.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Revoking again, or an unknown key, finds nothing.
    let response = app
        .operator(Method::DELETE, &format!("/operator/keys/{api_key}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not found").await;
    let response = app
        .operator(Method::DELETE, "/operator/keys/nonsense")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not found").await;

    // No key for a company that does not exist.
    let response = app
        .operator(Method::POST, "/operator/companies/987654/keys")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not found").await;
}

#[tokio::test]
async fn support_agents_are_created_and_can_join_sessions() {
    let app = spawn_app().await;
    company_a(&app).await;
    let tenant = app.key_for(1).await;
    let response = app
        .operator(Method::POST, "/operator/support-agents")
        .json(&json!({ "FullName": "Marisa Zendejas", "EmailAddress": "mz@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let agent: Value = response.json().await.unwrap();
    let agent_id = agent["SupportAgentId"]
        .as_i64()
        .expect("a numeric SupportAgentId");
    assert!(agent_id > 0);
    assert_eq!(agent["FullName"], "Marisa Zendejas");
    assert_eq!(agent["EmailAddress"], "mz@example.com");

    let response = app
        .post_events(json!([
            event("h2c", 100, "Connect", "Host", "h2", "2016-11-03T11:00:00"),
            support_event("a1c", 100, "Connect", agent_id, "a1", "2016-11-03T11:01:00"),
            support_event(
                "a1d",
                100,
                "Disconnect",
                agent_id,
                "a1",
                "2016-11-03T11:05:00"
            ),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = app.history(&tenant, "/history").await;
    assert_eq!(history[0]["BillableStatusCd"], "SVCO");
    assert_eq!(
        history[0]["UsageDescription"],
        "Aaron Johnson Session #100 with Trevor Stamp, Marisa Zendejas - Session with SecureVideo.com - does not count towards billable limits"
    );
}

#[tokio::test]
async fn a_tenant_never_sees_another_company() {
    let app = spawn_app().await;
    company_a(&app).await;
    let a = app.key_for(1).await;
    let b_id = app.create_company("Beta Care").await;
    let b = app.create_key(b_id).await;

    // A sees its own.
    assert_eq!(app.history(&a, "/history/4").await[0]["SessionId"], 100);

    let response = app.tenant(&b, "/history/4").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "Message": "User not found" })
    );
    let response = app
        .tenant(&b, "/history/4?month=2016-11-01")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "Message": "User not found" })
    );

    for query in [
        "/history",
        "/history?month=2016-11-01",
        "/history?participantEmail=ts@example.com",
        "/history?participantEmail=aj@example.com",
        "/history?StartDt=2016-01-01&EndDt=2016-12-31",
    ] {
        assert_eq!(app.history(&b, query).await, json!([]), "{query}");
    }
    let response = app
        .tenant(&b, "/usage?month=2016-11-01")
        .send()
        .await
        .unwrap();
    let usage: Value = response.json().await.unwrap();
    assert_eq!(usage["CountedSessions"], 0);
    assert_eq!(usage["TotalDurationMinutes"], 0);

    // A key names its company, but a key of A with B's id spliced in is no key of B.
    assert_eq!((a.company_id, b.company_id), (1, b_id));
    let forged = a.api_key.replacen("k1_", &format!("k{b_id}_"), 1);
    let response = app
        .client
        .get(app.url("/history"))
        .basic_auth(&forged, Some(&a.api_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_json_response_says_utf_8() {
    let app = spawn_app().await;
    company_a(&app).await;
    let tenant = app.key_for(1).await;
    let responses = vec![
        (
            "company created",
            app.operator(Method::POST, "/operator/companies")
                .json(&json!({ "Name": "Beta Care" }))
                .send()
                .await
                .unwrap(),
        ),
        (
            "events accepted",
            app.post_events(json!([event(
                "h1c",
                100,
                "Connect",
                "Host",
                "h1",
                "2016-11-03T10:00:00"
            )]))
            .await,
        ),
        (
            "audit",
            app.operator(Method::GET, "/operator/sessions/100/audit")
                .send()
                .await
                .unwrap(),
        ),
        (
            "history",
            app.tenant(&tenant, "/history").send().await.unwrap(),
        ),
        (
            "usage",
            app.tenant(&tenant, "/usage?month=2016-11-01")
                .send()
                .await
                .unwrap(),
        ),
        (
            "400",
            app.tenant(&tenant, "/history?month=2016-13-01")
                .send()
                .await
                .unwrap(),
        ),
        (
            "401",
            app.client.get(app.url("/history")).send().await.unwrap(),
        ),
        (
            "404",
            app.tenant(&tenant, "/history/987654").send().await.unwrap(),
        ),
        (
            "404 route",
            app.client.get(app.url("/nowhere")).send().await.unwrap(),
        ),
        (
            "405",
            app.operator(Method::GET, "/operator/events")
                .send()
                .await
                .unwrap(),
        ),
        (
            "409",
            app.operator(Method::DELETE, "/operator/sessions/100/comp")
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (what, response) in responses {
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json; charset=utf-8",
            "{what} ({})",
            response.status()
        );
    }
}

#[tokio::test]
async fn operator_actions_on_a_company_are_audited_in_order() {
    let app = crate::helpers::spawn_app().await;
    app.import(crate::seed::SEED_SETUP).await;
    assert_eq!(
        app.post_events(crate::seed::seed_events()).await.status(),
        StatusCode::OK
    );
    let tenant = app.create_key(1).await;
    let plan = app
        .operator(Method::PUT, "/operator/companies/1")
        .json(&json!({"IncludedSessionsPerMonth": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            "/operator/sessions/105236/comp",
            Some(json!({"Reason": "Video trouble"})),
        ),
        (Method::DELETE, "/operator/sessions/105236/comp", None),
        (Method::POST, "/operator/sessions/105236/deactivate", None),
    ] {
        let mut request = app.operator(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NO_CONTENT
        );
    }
    let revoke = app
        .operator(
            Method::DELETE,
            &format!("/operator/keys/{}", tenant.api_key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);

    let audit: Value = app
        .operator(Method::GET, "/operator/companies/1/actions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "ApiKeyCreated",
            "PlanChanged",
            "SessionComped",
            "CompWithdrawn",
            "SessionDeactivated",
            "ApiKeyRevoked"
        ]
    );
    assert_eq!(audit[0]["ApiKey"], tenant.api_key.as_str());
    assert_eq!(audit[2]["SessionId"], 105236);
    assert_eq!(audit[2]["Reason"], "Video trouble");
    assert!(audit[0]["At"].is_string());
    assert!(
        !audit.to_string().contains(&tenant.api_secret),
        "secrets are never listed"
    );

    // Only the operator reads it.
    let as_tenant = app
        .client
        .get(app.url("/operator/companies/1/actions"))
        .basic_auth(&tenant.api_key, Some(&tenant.api_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(as_tenant.status(), StatusCode::UNAUTHORIZED);
    let unknown = app
        .operator(Method::GET, "/operator/companies/999/actions")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// Uncomp and deactivate take an optional `{"Reason"}`, written to the
/// status audit and the company's operator actions as comp's is; a blank
/// one or one over 500 characters is a 400 naming it, and changes nothing;
/// without a body they work as they always did.
#[tokio::test]
async fn uncomp_and_deactivate_take_an_optional_reason() {
    let app = spawn_app().await;
    company_a(&app).await;
    let actions = async || -> Vec<(String, Value)> {
        let actions: Value = app
            .operator(Method::GET, "/operator/companies/1/actions")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        actions
            .as_array()
            .unwrap()
            .iter()
            .map(|action| {
                (
                    action["Action"].as_str().unwrap().to_owned(),
                    action["Reason"].clone(),
                )
            })
            .collect()
    };
    let comp = app
        .operator(Method::POST, "/operator/sessions/100/comp")
        .json(&json!({"Reason": "Video trouble"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comp.status(), StatusCode::NO_CONTENT);
    let too_long = "x".repeat(501);
    for (method, path) in [
        (Method::DELETE, "/operator/sessions/100/comp"),
        (Method::POST, "/operator/sessions/100/deactivate"),
    ] {
        for (body, needle) in [
            (json!({"Reason": ""}), "Reason is required"),
            (json!({"Reason": "   "}), "Reason is required"),
            (
                json!({"Reason": too_long}),
                "Reason must be at most 500 characters, not 501",
            ),
            (json!({"Reason": 7}), "Reason: invalid type"),
        ] {
            let response = app
                .operator(method.clone(), path)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_error(response, StatusCode::BAD_REQUEST, needle).await;
        }
        let response = app
            .operator(method.clone(), path)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "body is not valid").await;
    }
    assert_eq!(
        actions().await,
        [("SessionComped".to_owned(), json!("Video trouble"))],
        "nothing changed"
    );

    for (method, path, reason) in [
        (
            Method::DELETE,
            "/operator/sessions/100/comp",
            "comped by mistake",
        ),
        (
            Method::POST,
            "/operator/sessions/100/deactivate",
            "the visit is over",
        ),
    ] {
        let response = app
            .operator(method, path)
            .json(&json!({"Reason": format!("  {reason} ")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let audit: Value = app
        .operator(Method::GET, "/operator/sessions/100/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let withdrawn = audit.as_array().unwrap().last().unwrap();
    assert_eq!(withdrawn["OldStatus"], "COMP", "{audit}");
    assert_eq!(withdrawn["Reason"], "comped by mistake");
    assert_eq!(withdrawn["Actor"], "operator");

    // As existing clients call them: no body, or one without a Reason.
    let again = app
        .operator(Method::POST, "/operator/sessions/100/comp")
        .json(&json!({"Reason": "goodwill"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let bare = app
        .operator(Method::DELETE, "/operator/sessions/100/comp")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::NO_CONTENT);
    let audit: Value = app
        .operator(Method::GET, "/operator/sessions/100/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit.as_array().unwrap().last().unwrap()["Reason"],
        "comp withdrawn"
    );
    assert_eq!(
        actions().await,
        [
            ("SessionComped".to_owned(), json!("Video trouble")),
            ("CompWithdrawn".to_owned(), json!("comped by mistake")),
            ("SessionDeactivated".to_owned(), json!("the visit is over")),
            ("SessionComped".to_owned(), json!("goodwill")),
            ("CompWithdrawn".to_owned(), Value::Null),
        ]
    );
}

/// An empty operator token (flag or environment variable set to "") is no
/// token: the operator API is not there, rather than open to an empty
/// Bearer or closed with 401s.
#[tokio::test]
async fn an_empty_operator_token_is_not_configured() {
    for empty in ["", "  "] {
        let app =
            spawn_app_with(|settings| settings.operator_token = Some(empty.to_owned().into()))
                .await;
        for (method, path, body) in operator_paths() {
            for authorization in [None, Some("Bearer "), Some("Bearer"), Some("Bearer x")] {
                let mut request = app.client.request(method.clone(), app.url(path));
                if let Some(value) = authorization {
                    request = request.header("Authorization", value);
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::NOT_FOUND,
                    "{empty:?} {method} {path} {authorization:?}"
                );
            }
        }
    }
}
