//! spawn_app(): the real server on port 0 over a fresh SQLite file, and typed
//! helpers for talking to it as an operator or a tenant.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use session_ledger::api::state::AppState;
use session_ledger::app::launch;
use session_ledger::audit::AccessLog;
use session_ledger::config::{AccessAudit, DatabaseUrl, LogFormat, Settings, WebhookSettings};
use session_ledger::store::Store;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const OPERATOR_TOKEN: &str = "test-operator-token";

/// Names the PostgreSQL server the suite also runs against; each test gets a
/// fresh database of its own there.
pub const POSTGRES_URL_VARIABLE: &str = "SESSION_LEDGER_TEST_POSTGRES_URL";

/// A fresh, empty database for one test: a SQLite file in a temporary
/// folder, or a new database on the PostgreSQL test server (dropped after).
pub struct TestDatabase {
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// On the backend this test binary is for.
    pub async fn new() -> Self {
        if crate::backend::POSTGRES {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        Self {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    pub async fn postgres() -> Self {
        use sqlx::Connection;
        let server = std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| {
            panic!("{POSTGRES_URL_VARIABLE} must name the PostgreSQL test server")
        });
        let name = format!("sl_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|error| {
                panic!("PostgreSQL at {POSTGRES_URL_VARIABLE} is unreachable: {error}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&server, &name);
        Self {
            url,
            _dir: None,
            postgres: Some((server, name)),
        }
    }
}

impl TestDatabase {
    /// A database the test made and removes itself (a private cluster's).
    #[allow(dead_code)]
    pub fn managed_elsewhere(url: String) -> TestDatabase {
        TestDatabase {
            url,
            _dir: None,
            postgres: None,
        }
    }

    /// The same database reached through another URL (a proxy, say); the
    /// original still drops it. Used by the PostgreSQL suite only.
    #[allow(dead_code)]
    pub fn reached_at(&self, url: String) -> TestDatabase {
        TestDatabase {
            url,
            _dir: None,
            postgres: None,
        }
    }
}

/// The server URL with its database name replaced.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop can't await; a thread with its own runtime can.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub store: Store,
    /// The access audit's waiting records (`flush` writes them now).
    pub audit: std::sync::Arc<AccessLog>,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A tenant's credentials.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub company_id: i64,
    pub api_key: String,
    pub api_secret: String,
}

pub fn settings(database_url: &str) -> Settings {
    Settings {
        database_url: DatabaseUrl::from(database_url.to_owned()),
        read_database_url: None,
        bind: "127.0.0.1:0".to_owned(),
        header_read_timeout_seconds: 10,
        idle_timeout_seconds: 60,
        max_connections: 0,
        shutdown_timeout_seconds: 10,
        operator_token: Some(OPERATOR_TOKEN.to_owned().into()),
        platform_name: "SecureVideo.com".to_owned(),
        duplicate_window_minutes: 60,
        rate_limit_per_second: 100,
        failed_auth_per_minute: 60,
        history_cache_mb: 64,
        audit_key: Some("test-audit-key".to_owned().into()),
        audit_retention_days: 2_192,
        access_audit: AccessAudit::On,
        // Set to the server's own address once it is bound (`spawn_on`).
        public_url: None,
        log_format: LogFormat::Text,
        auto_deactivate_after_hours: 24,
        // Off unless a test turns it on: imported 2016 sessions would
        // otherwise end under the tests that still report calls to them.
        auto_deactivate_interval_seconds: 0,
        providers: crate::providers::secrets(),
        // The test receivers listen on 127.0.0.1 over http; tests of the
        // default refusals turn these off. Retries come after tens of ms.
        webhooks: WebhookSettings {
            webhook_allow_http: true,
            webhook_allow_private: true,
            webhook_ca_file: None,
            webhook_retry_base_ms: 50,
            webhook_timeout_ms: 10_000,
        },
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDatabase::new().await, configure).await
}

/// Serves a given database, e.g. one that an import filled or another app used.
pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = settings(&database.url);
    settings.public_url = Some(address.clone());
    configure(&mut settings);
    let state = AppState::open(settings).await.expect("database opens");
    let store = state.store.clone();
    let audit = state.audit.clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(launch(listener, state, async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::new(),
        store,
        audit,
        database,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// A second server on this app's database, as another node of the same
    /// deployment would be; stop it before this app goes.
    pub async fn another_node(&self) -> TestApp {
        self.another_node_with(|_| {}).await
    }

    /// [`Self::another_node`], configured.
    pub async fn another_node_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let database = TestDatabase {
            url: self.database.url.clone(),
            _dir: None,
            postgres: None,
        };
        spawn_on(database, configure).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn operator(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(OPERATOR_TOKEN)
    }

    pub fn tenant(&self, tenant: &Tenant, path: &str) -> RequestBuilder {
        self.client
            .get(self.url(path))
            .basic_auth(&tenant.api_key, Some(&tenant.api_secret))
    }

    /// A tenant's request as a SecureVideo client sends it: Basic auth and
    /// `Accept: application/json`.
    pub fn call(&self, tenant: &Tenant, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(&tenant.api_key, Some(&tenant.api_secret))
            .header("Accept", "application/json")
    }

    /// A tenant's request with a JSON body; answers the status and the body.
    pub async fn send(
        &self,
        tenant: &Tenant,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.call(tenant, method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return (status, Value::Null);
        }
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(
            content_type.as_deref(),
            Some("application/json; charset=utf-8"),
            "{method} {path}"
        );
        (status, response.json().await.unwrap())
    }

    /// A new company and a key for it.
    pub async fn new_tenant(&self, name: &str) -> Tenant {
        let company_id = self.create_company(name).await;
        self.create_key(company_id).await
    }

    /// Creates a user through the User API; answers its id.
    pub async fn create_user(&self, tenant: &Tenant, full_name: &str, email: &str) -> i64 {
        let (status, user) = self
            .send(
                tenant,
                Method::POST,
                "/user",
                Some(json!({ "FullName": full_name, "EmailAddress": email })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user["SystemUserId"].as_str().unwrap().parse().unwrap()
    }

    /// Schedules a session through the Session API; answers its JSON.
    pub async fn create_session(&self, tenant: &Tenant, user_id: i64, body: Value) -> Value {
        let (status, session) = self
            .send(
                tenant,
                Method::POST,
                &format!("/session/{user_id}"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        session
    }

    /// Replays log lines into this app's database.
    pub async fn import(&self, lines: &str) {
        self.store
            .import(std::io::Cursor::new(lines.as_bytes().to_vec()))
            .await
            .expect("import succeeds");
    }

    pub async fn create_company(&self, name: &str) -> i64 {
        let response = self
            .operator(Method::POST, "/operator/companies")
            .json(&json!({ "Name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["CompanyId"]
            .as_i64()
            .unwrap()
    }

    pub async fn create_key(&self, company_id: i64) -> Tenant {
        let response = self
            .operator(
                Method::POST,
                &format!("/operator/companies/{company_id}/keys"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        Tenant {
            company_id,
            api_key: body["ApiKey"].as_str().unwrap().to_owned(),
            api_secret: body["ApiSecret"].as_str().unwrap().to_owned(),
        }
    }

    /// A key for a company that an import created.
    pub async fn key_for(&self, company_id: i64) -> Tenant {
        self.create_key(company_id).await
    }

    pub async fn post_events(&self, events: Value) -> Response {
        self.operator(Method::POST, "/operator/events")
            .json(&events)
            .send()
            .await
            .unwrap()
    }

    pub async fn history(&self, tenant: &Tenant, path_and_query: &str) -> Value {
        let response = self.tenant(tenant, path_and_query).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path_and_query}");
        response.json().await.unwrap()
    }

    /// The value of one sample of `/metrics` (0 when it is not there yet),
    /// named with its labels as rendered.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(sample))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    }

    /// Stops the server gracefully and hands back its database.
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.store.close().await;
        std::mem::replace(&mut self.database, TestDatabase::sqlite())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts a JSON error: the status, and a Message that mentions `needle`.
pub async fn assert_error(response: Response, status: StatusCode, needle: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    let message = body["Message"].as_str().expect("a Message");
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "message {message:?} should mention {needle:?}"
    );
}

/// A connection event as the operator API takes it.
pub fn event(id: &str, session_id: i64, kind: &str, party: &str, call: &str, ts: &str) -> Value {
    json!({ "EventId": id, "SessionId": session_id, "Type": kind, "Party": party, "CallId": call, "Ts": ts })
}

pub fn participant_event(
    id: &str,
    session_id: i64,
    kind: &str,
    participation: i64,
    call: &str,
    ts: &str,
) -> Value {
    let mut value = event(id, session_id, kind, "Participant", call, ts);
    value["ParticipationId"] = json!(participation);
    value
}

pub fn support_event(
    id: &str,
    session_id: i64,
    kind: &str,
    agent: i64,
    call: &str,
    ts: &str,
) -> Value {
    let mut value = event(id, session_id, kind, "Support", call, ts);
    value["SupportAgentId"] = json!(agent);
    value
}
