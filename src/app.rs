//! Builds the application from settings and serves it on a bound listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::limits::{FailedAuthLimits, RateLimits, SignInLimits};
use crate::api::state::AppState;
use crate::config::{AccessAudit, WebhookSettings};
use crate::connections::Bounds;
use crate::deactivation::Policy;

/// Serves until `shutdown` completes, then lets in-flight requests finish
/// (for up to the shutdown timeout), writes the access records still
/// waiting and closes the database. Automatic deactivation, the access
/// audit's group commit and its pruning, and the delivery of outbound
/// webhooks run alongside.
pub async fn launch(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    if state.settings.access_audit == AccessAudit::Off {
        tracing::warn!(
            "THE ACCESS AUDIT IS OFF (--access-audit off): requests leave no access record. \
             For measuring its cost only, never in production (docs/audit.md)"
        );
    }
    let policy = Policy {
        after_hours: state.settings.auto_deactivate_after_hours,
        interval: Duration::from_secs(state.settings.auto_deactivate_interval_seconds),
    };
    let (stop, stopped) = watch::channel(false);
    let deactivation = tokio::spawn(crate::deactivation::run(
        store.clone(),
        policy,
        stopped.clone(),
    ));
    let webhooks = tokio::spawn(crate::webhooks::run(
        store.clone(),
        webhook_policy(&state.settings.webhooks),
        state
            .settings
            .webhooks
            .webhook_ca_file
            .as_ref()
            .map(|cas| cas.certificates().to_vec())
            .unwrap_or_default(),
        stopped,
    ));
    let housekeeping = tokio::spawn(housekeeping(
        state.limits.clone(),
        state.failed_auth.clone(),
        state.sign_in.clone(),
    ));
    let watcher = {
        let store = store.clone();
        tokio::spawn(async move { store.watch_changes().await })
    };
    let checkpoints = {
        let store = store.clone();
        tokio::spawn(async move { store.keep_checkpointed().await })
    };
    let health = {
        let store = store.clone();
        tokio::spawn(async move { store.watch_health().await })
    };
    let audit = state.audit.clone();
    let flusher = {
        let audit = audit.clone();
        tokio::spawn(audit.keep_flushing())
    };
    let pruner = {
        let audit = audit.clone();
        let days = state.settings.audit_retention_days;
        tokio::spawn(async move { audit.keep_pruning(days).await })
    };
    let bounds = Bounds::from_settings(&state.settings);
    let pages = crate::console::router(state.clone());
    let router = crate::api::router_with_pages(state, pages);
    crate::connections::serve(listener, router, bounds, shutdown).await;
    let _ = stop.send(true);
    let _ = deactivation.await;
    // A delivery cut short is sent again later, with the same webhook-id.
    webhooks.abort();
    housekeeping.abort();
    watcher.abort();
    checkpoints.abort();
    health.abort();
    flusher.abort();
    pruner.abort();
    // The records of the last requests, before the database closes.
    if let Err(error) = audit.flush().await {
        tracing::error!(%error, "the last access records could not be written");
    }
    store.close().await;
    Ok(())
}

fn webhook_policy(settings: &WebhookSettings) -> crate::webhooks::Policy {
    crate::webhooks::Policy {
        urls: settings.url_policy(),
        timeout: Duration::from_millis(settings.webhook_timeout_ms),
        retry_base: Duration::from_millis(settings.webhook_retry_base_ms),
        poll: Duration::from_millis(200),
    }
}

/// Keeps the metrics' histograms bounded and the rate limiters' memory
/// proportional to the keys and addresses in use.
async fn housekeeping(
    limits: Option<Arc<RateLimits>>,
    failed_auth: Option<Arc<FailedAuthLimits>>,
    sign_in: Arc<SignInLimits>,
) {
    let metrics = crate::telemetry::metrics_handle();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        metrics.run_upkeep();
        if let Some(limits) = &limits {
            limits.forget_idle_keys();
        }
        if let Some(failed_auth) = &failed_auth {
            failed_auth.forget_idle_addresses();
        }
        sign_in.forget_idle();
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
