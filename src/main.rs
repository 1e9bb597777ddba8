use clap::Parser;
use session_ledger::cli::{Cli, run};

/// Many small, short-lived allocations per request: mimalloc spends less
/// time on them than the system allocator (bench/README.md has the figures).
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
