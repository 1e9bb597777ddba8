use clap::Parser;
use session_ledger::cli::{Cli, Command, run};

/// Many small, short-lived allocations per request: mimalloc spends less
/// time on them than the system allocator (bench/README.md, "Allocation", has the figures).
/// Cargo.toml turns on two of its features: `override`, so SQLite's own
/// allocations (a copy of every column value sqlx reads) use it too instead
/// of glibc's, whose cross-thread frees took a fifth of a History read; and
/// `no_thp`, because mimalloc asks for transparent huge pages otherwise, and
/// each page fault on memory it had given back then zeroed 2 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Import { .. }) {
        stay_on_one_cpu();
    }
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("session-ledger: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An import into SQLite is one conversation between two threads taking
/// turns: ours sends a statement, sqlx's SQLite worker runs it and answers,
/// several times a line (`strace` counted 25 futex calls a line). Each turn
/// wakes the other thread, and waking a thread on another CPU can cost tens
/// of microseconds (on a virtual machine, the wake-up goes through the
/// hypervisor). Kept on the CPU it started on, with every thread it starts
/// after this, the process switches threads there instead: the first
/// 100,000 lines of the benchmark's dataset imported in 8.4 s instead of
/// 38.8 s (bench/README.md, "Importing"). Called before the runtime
/// starts its threads, so they inherit it; if the CPU cannot be chosen, the
/// import runs as it would have. An import into an empty PostgreSQL
/// database replays into a scratch SQLite file first (`store::bulk`), the
/// same conversation; one into a PostgreSQL database with data talks to
/// the server's processes, on the other CPUs.
fn stay_on_one_cpu() {
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
        let pinned = sched_getcpu().and_then(|cpu| {
            let mut cpus = CpuSet::new();
            cpus.set(cpu)?;
            sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus)
        });
        if let Err(error) = pinned {
            eprintln!("session-ledger: import runs on every CPU ({error})");
        }
    }
}
