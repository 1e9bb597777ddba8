//! Settings: every one a flag and an environment variable (SPEC §9). Secrets
//! never print: not in `Debug`, not in `--help`.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// sqlite://FILE (created when missing) or postgres://…
    #[arg(
        long,
        env = "SESSION_LEDGER_DATABASE_URL",
        default_value = "sqlite://session-ledger.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// postgres://… of a streaming replica of the PostgreSQL database: History,
    /// usage and list reads go there whenever it has replayed what the reader must see.
    #[arg(
        long,
        env = "SESSION_LEDGER_READ_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub read_database_url: Option<DatabaseUrl>,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "SESSION_LEDGER_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// Seconds a client has to send a request's headers, from its first
    /// byte (or from connecting, for the first request); then the connection is closed.
    #[arg(
        long,
        env = "SESSION_LEDGER_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3_600),
        global = true
    )]
    pub header_read_timeout_seconds: u64,

    /// Seconds a keep-alive connection may wait for its next request before it is closed.
    #[arg(
        long,
        env = "SESSION_LEDGER_IDLE_TIMEOUT_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        global = true
    )]
    pub idle_timeout_seconds: u64,

    /// Most connections open at once; 0 derives it from the open-file limit
    /// (the limit less 128 kept for the database and files). A connection over
    /// the cap closes the one longest waiting for a request, or is answered 503.
    #[arg(
        long,
        env = "SESSION_LEDGER_MAX_CONNECTIONS",
        default_value_t = 0,
        global = true
    )]
    pub max_connections: usize,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT; then
    /// their connections are dropped and the process exits.
    #[arg(
        long,
        env = "SESSION_LEDGER_SHUTDOWN_TIMEOUT_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub shutdown_timeout_seconds: u64,

    /// Bearer token of the operator API; without one (or with an empty one) the operator API
    /// answers 404.
    #[arg(
        long,
        env = "SESSION_LEDGER_OPERATOR_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub operator_token: Option<Secret>,

    /// The platform's name in invoice lines ("Session with …", "Comped by …").
    #[arg(
        long,
        env = "SESSION_LEDGER_PLATFORM_NAME",
        default_value = "Support",
        global = true
    )]
    pub platform_name: String,

    /// How close a second session of the same host and guest counts as a likely duplicate:
    /// the window a company gets when it is created (each company keeps its own).
    #[arg(
        long,
        env = "SESSION_LEDGER_DUPLICATE_WINDOW_MINUTES",
        default_value_t = 60,
        value_parser = clap::value_parser!(i64).range(0..=10_080),
        global = true
    )]
    pub duplicate_window_minutes: i64,

    /// Deactivate a session once its scheduled day (UTC) has passed and it has
    /// had no activity (creation, reschedule, call event) for this many hours.
    #[arg(
        long,
        env = "SESSION_LEDGER_AUTO_DEACTIVATE_AFTER_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(i64).range(0..=87_600),
        global = true
    )]
    pub auto_deactivate_after_hours: i64,

    /// How often `serve` looks for sessions to deactivate; 0 turns automatic deactivation off.
    #[arg(
        long,
        env = "SESSION_LEDGER_AUTO_DEACTIVATE_INTERVAL_SECONDS",
        default_value_t = 300,
        global = true
    )]
    pub auto_deactivate_interval_seconds: u64,

    /// Requests per second per API key, in bursts of twice that; 0 turns the limit off.
    #[arg(
        long,
        env = "SESSION_LEDGER_RATE_LIMIT_PER_SECOND",
        default_value_t = 100,
        global = true
    )]
    pub rate_limit_per_second: u32,

    /// Failed authentications (wrong or unknown key, secret or operator token) allowed per
    /// client address a minute, in bursts of as many; past them the address gets 429 until
    /// it may try again, even with good credentials. 0 turns the limit off.
    #[arg(
        long,
        env = "SESSION_LEDGER_FAILED_AUTH_PER_MINUTE",
        default_value_t = 60,
        global = true
    )]
    pub failed_auth_per_minute: u32,

    /// Memory for kept History answers, in MiB: a repeated read of unchanged
    /// data is served without a scan; 0 turns it off.
    #[arg(
        long,
        env = "SESSION_LEDGER_HISTORY_CACHE_MB",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(0..=65_536),
        global = true
    )]
    pub history_cache_mb: u32,

    /// The address people reach this service at (`https://ledger.example.com`): the
    /// Login API's LoginUri is built from it, and console cookies are `Secure` when it is
    /// https. Unset: `http://` and the bind address.
    #[arg(
        long,
        env = "SESSION_LEDGER_PUBLIC_URL",
        value_parser = parse_public_url,
        global = true
    )]
    pub public_url: Option<String>,

    /// Log lines as human-readable text or as JSON.
    #[arg(
        long,
        env = "SESSION_LEDGER_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Key of the access audit's HMAC-SHA256 chain (SPEC §15): any text, kept
    /// secret and outside the database. Without one, the database keeps a key
    /// it generated (docs/audit.md, "The key").
    #[arg(
        long,
        env = "SESSION_LEDGER_AUDIT_KEY",
        global = true,
        hide_env_values = true
    )]
    pub audit_key: Option<Secret>,

    /// Days access records are kept; older ones are pruned, leaving a sealed
    /// checkpoint so what remains still verifies.
    #[arg(
        long,
        env = "SESSION_LEDGER_AUDIT_RETENTION_DAYS",
        default_value_t = 2_192,
        value_parser = clap::value_parser!(u32).range(1..=36_500),
        global = true
    )]
    pub audit_retention_days: u32,

    /// `on` (the default): every request an authentication lets in leaves an
    /// access record. `off` records nothing (a loud warning at start): for
    /// measuring the audit's cost only, never in production (docs/audit.md).
    #[arg(
        long,
        env = "SESSION_LEDGER_ACCESS_AUDIT",
        default_value = "on",
        global = true
    )]
    pub access_audit: AccessAudit,

    /// The video providers' webhook secrets (SPEC §12).
    #[command(flatten)]
    pub providers: ProviderSecrets,

    /// Outbound webhooks (SPEC §13).
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// Outbound webhooks (SPEC §13): by default only public `https` endpoints
/// are called; tests and private networks may allow more.
#[derive(Args, Clone, Debug)]
pub struct WebhookSettings {
    /// Let tenants' webhook URLs use plain http (for tests and private networks).
    #[arg(
        long,
        env = "SESSION_LEDGER_WEBHOOK_ALLOW_HTTP",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub webhook_allow_http: bool,

    /// Let webhooks go to loopback, private, link-local and other non-public
    /// addresses (for tests and private networks).
    #[arg(
        long,
        env = "SESSION_LEDGER_WEBHOOK_ALLOW_PRIVATE",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub webhook_allow_private: bool,

    /// A PEM file of CA certificates trusted for webhook endpoints besides the
    /// system's (endpoints on a private network with certificates of a private CA).
    #[arg(
        long,
        env = "SESSION_LEDGER_WEBHOOK_CA_FILE",
        value_name = "PATH",
        value_parser = TrustedCas::load,
        global = true
    )]
    pub webhook_ca_file: Option<TrustedCas>,

    /// Milliseconds before a failed webhook's first retry, doubled for each
    /// later one (at most an hour). Meant for tests.
    #[arg(
        long,
        env = "SESSION_LEDGER_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000),
        global = true,
        hide = true
    )]
    pub webhook_retry_base_ms: u64,

    /// Milliseconds an endpoint has to answer before the attempt fails
    /// (SPEC: 10 s). Meant for tests.
    #[arg(
        long,
        env = "SESSION_LEDGER_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..=60_000),
        global = true,
        hide = true
    )]
    pub webhook_timeout_ms: u64,
}

impl WebhookSettings {
    pub fn url_policy(&self) -> crate::domain::webhooks::UrlPolicy {
        crate::domain::webhooks::UrlPolicy {
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            webhook_allow_http: false,
            webhook_allow_private: false,
            webhook_ca_file: None,
            webhook_retry_base_ms: 5_000,
            webhook_timeout_ms: 10_000,
        }
    }
}

/// The CA certificates of `--webhook-ca-file`, read and checked when the
/// flag is parsed: a file that cannot be read, holds no certificate or one
/// that cannot anchor a chain stops the start, naming the file and why.
#[derive(Clone)]
pub struct TrustedCas {
    path: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
}

impl TrustedCas {
    pub fn load(path: &str) -> Result<Self, String> {
        let path = PathBuf::from(path);
        let pem = std::fs::read(&path)
            .map_err(|error| format!("{} cannot be read: {error}", path.display()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("{} is not valid PEM: {error}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (number, certificate) in certificates.iter().enumerate() {
            roots.add(certificate.clone()).map_err(|error| {
                format!(
                    "{}: certificate {} cannot be trusted as a CA: {error}",
                    path.display(),
                    number + 1
                )
            })?;
        }
        Ok(Self { path, certificates })
    }

    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

impl fmt::Debug for TrustedCas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} certificates)",
            self.path.display(),
            self.certificates.len()
        )
    }
}

/// The secrets the video providers sign their webhooks with (SPEC §12): a
/// provider without its secret is not enabled, and its webhook path answers
/// 404. docs/providers.md says where each is found.
#[derive(Args, Clone, Debug, Default)]
pub struct ProviderSecrets {
    /// LiveKit's API key that signs its webhooks (the JWT's issuer).
    #[arg(long, env = "SESSION_LEDGER_LIVEKIT_API_KEY", global = true)]
    pub livekit_api_key: Option<String>,

    /// LiveKit's API secret of that key: enables POST /providers/livekit.
    #[arg(
        long,
        env = "SESSION_LEDGER_LIVEKIT_API_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub livekit_api_secret: Option<Secret>,

    /// Daily's webhook `hmac` secret (base64, as Daily shows it): enables POST /providers/daily.
    #[arg(
        long,
        env = "SESSION_LEDGER_DAILY_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub daily_webhook_secret: Option<Secret>,

    /// Zoom's app Secret Token: enables POST /providers/zoom.
    #[arg(
        long,
        env = "SESSION_LEDGER_ZOOM_SECRET_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub zoom_secret_token: Option<Secret>,

    /// Vonage Video's session-monitoring signature secret (Secure Callbacks):
    /// enables POST /providers/vonage.
    #[arg(
        long,
        env = "SESSION_LEDGER_VONAGE_SIGNATURE_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub vonage_signature_secret: Option<Secret>,

    /// Whereby's webhook signing secret: enables POST /providers/whereby.
    #[arg(
        long,
        env = "SESSION_LEDGER_WHEREBY_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub whereby_webhook_secret: Option<Secret>,
}

impl Settings {
    /// Where links to this service start, without a trailing `/`.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// Whether the console's cookies carry `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_base_url()
            .to_ascii_lowercase()
            .starts_with("https://")
    }
}

/// An absolute http or https URL with a host and no query or fragment.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| "must start with https:// or http://".to_owned())?;
    if rest.is_empty()
        || rest.starts_with('/')
        || url.contains(['?', '#'])
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be an absolute URL with a host, no query or fragment".to_owned());
    }
    Ok(url.to_owned())
}

/// Whether `serve` records its requests in the access audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AccessAudit {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A value that must never appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A database URL whose password is hidden when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host… → scheme://user:***@host…
        match self.0.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((credentials, host)) => {
                    let user = credentials.split(':').next().unwrap_or_default();
                    write!(f, "{scheme}://{user}:***@{host}")
                }
                None => write!(f, "{}", self.0),
            },
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let token = Secret::from("s3cret-token".to_owned());
        assert!(!format!("{token:?}").contains("s3cret"));
        let url = DatabaseUrl::from("postgres://app:hunter2@db:5432/ledger".to_owned());
        assert_eq!(format!("{url:?}"), "postgres://app:***@db:5432/ledger");
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/ledger");
        let plain = DatabaseUrl::from("sqlite://ledger.db".to_owned());
        assert_eq!(plain.to_string(), "sqlite://ledger.db");
    }
}
