//! The integration suite: the real server over HTTP, a fresh SQLite database
//! per test. tests/postgres runs the same modules against PostgreSQL.

mod backend {
    pub const POSTGRES: bool = false;
}

mod bad_input;
mod cli;
mod concurrency;
mod crash;
mod deactivation;
mod demo;
mod events;
mod helpers;
mod history;
mod import_export;
mod openapi;
mod operator;
mod ops;
mod participants;
mod process;
mod seed;
mod sessions;
mod tenant_isolation;
mod users;
