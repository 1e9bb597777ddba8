//! session-ledger: the session history and billing usage of a video-visit
//! platform, served through a SecureVideo-compatible History API.

pub mod api;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod connections;
pub mod console;
pub mod deactivation;
pub mod demo;
pub mod domain;
pub mod providers;
pub mod records;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod webhooks;
