//! Compiles the PostgreSQL integration suite in when the test server is named.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=SESSION_LEDGER_TEST_POSTGRES_URL");
    if std::env::var_os("SESSION_LEDGER_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
