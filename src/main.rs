use clap::Parser;
use session_ledger::cli::{Cli, run};

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
