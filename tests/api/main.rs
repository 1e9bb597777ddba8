//! The integration suite: the real server over HTTP, a fresh database per test.

mod cli;
mod helpers;
mod history;
mod import_export;
mod seed;
