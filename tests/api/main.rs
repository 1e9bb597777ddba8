//! The integration suite: the real server over HTTP, a fresh database per test.

mod bad_input;
mod cli;
mod concurrency;
mod events;
mod helpers;
mod history;
mod import_export;
mod operator;
mod seed;
