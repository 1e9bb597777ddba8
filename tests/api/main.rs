//! The integration suite: the real server over HTTP, a fresh database per test.

mod helpers;
mod history;
mod seed;
