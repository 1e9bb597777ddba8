use clap::Parser;
use session_ledger::cli::{Cli, run};

/// Many small, short-lived allocations per request: mimalloc spends less
/// time on them than the system allocator (bench/README.md has the figures).
/// Cargo.toml turns on two of its features: `override`, so SQLite's own
/// allocations (a copy of every column value sqlx reads) use it too instead
/// of glibc's, whose cross-thread frees took a fifth of a History read; and
/// `no_thp`, because mimalloc asks for transparent huge pages otherwise, and
/// each page fault on memory it had given back then zeroed 2 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("session-ledger: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
