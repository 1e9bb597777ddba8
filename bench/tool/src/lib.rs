//! session-ledger's benchmark (issue 5), std only so that it builds in
//! seconds and the test suite can include it (tests/api/bench_smoke.rs).

pub mod dataset;
pub mod http;
pub mod report;
pub mod runner;
