//! What every handler shares: the store, the settings, and what is kept
//! in memory between requests (rate limits, History answers, API keys).

use std::sync::Arc;

use super::answer_cache::AnswerCache;
use super::key_cache::KeyCache;
use super::limits::{FailedAuthLimits, RateLimits, SignInLimits};
use crate::audit::AccessLog;
use crate::config::Settings;
use crate::store::{Rules, Store, StoreError};

/// What every handler shares, behind one `Arc`: axum clones the state into
/// each request (several times, with the middleware around each route), and
/// one reference count is cheaper to move than a count per field
/// (bench/README.md, "The request path").
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub settings: Settings,
    /// `None` when rate limiting is off.
    pub limits: Option<Arc<RateLimits>>,
    /// Failed authentications per client address; `None` when off.
    pub failed_auth: Option<Arc<FailedAuthLimits>>,
    /// Encoded History answers; `None` when turned off.
    pub answers: Option<Arc<AnswerCache>>,
    /// API keys and companies' data versions as last read, reused while no
    /// commit could have changed them (`KeyCache`).
    pub keys: KeyCache,
    /// Access records waiting to be appended to the audit (SPEC §15).
    pub audit: Arc<AccessLog>,
    /// Console sign-in attempts per account and per address.
    pub sign_in: Arc<SignInLimits>,
}

impl AppState {
    /// Opens the database (applying migrations) named by the settings.
    pub async fn open(settings: Settings) -> Result<Self, StoreError> {
        let rules = Rules {
            duplicate_window_minutes: settings.duplicate_window_minutes,
            platform_name: settings.platform_name.clone(),
            emit_webhooks: true,
        };
        let mut store = Store::open(settings.database_url.expose(), rules).await?;
        // An empty URL (an emptied environment variable) names no replica.
        if let Some(replica) = &settings.read_database_url
            && !replica.expose().trim().is_empty()
        {
            store = store.with_read_replica(replica.expose())?;
        }
        let audit = AccessLog::open(store.clone(), settings.audit_key.as_ref()).await?;
        Ok(Self(Arc::new(Shared {
            audit,
            store,
            limits: RateLimits::new(settings.rate_limit_per_second),
            failed_auth: FailedAuthLimits::new(settings.failed_auth_per_minute),
            answers: AnswerCache::new(settings.history_cache_mb as usize * 1024 * 1024)
                .map(Arc::new),
            settings,
            keys: KeyCache::default(),
            sign_in: Arc::new(SignInLimits::default()),
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
