//! The integration suite: the real server over HTTP, a fresh SQLite database
//! per test. tests/postgres runs the same modules against PostgreSQL.

mod backend {
    pub const POSTGRES: bool = false;
}

mod access_audit;
mod authentication;
mod bad_input;
mod bench_smoke;
mod cli;
mod concurrency;
mod connections;
mod console;
mod console_browser;
mod crash;
mod current_email;
mod deactivation;
mod demo;
mod duplicate_window;
mod events;
mod helpers;
mod history;
mod import_export;
mod limits;
mod nodes;
mod openapi;
mod operator;
mod ops;
mod participants;
mod process;
mod providers;
mod securevideo_migration;
mod securevideo_replay;
mod seed;
mod sessions;
mod spec_3_1;
mod storage;
mod tenant_isolation;
mod users;
mod webhook_crash;
mod webhook_failing;
mod webhook_tls;
mod webhooks;

/// The benchmark's own code (a separate Cargo project, std only), included
/// so that its smoke mode runs with the suite.
#[allow(dead_code)]
#[path = "../../bench/tool/src/lib.rs"]
mod ledger_bench;
