//! `ledger-bench run …`: see bench/README.md, "Running". `bench/run.sh` is
//! the command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ledger_bench::dataset::Plan;
use ledger_bench::report;
use ledger_bench::runner::{self, Config, RunResult, StoreKind};

const USAGE: &str = "usage: ledger-bench run|generate --bin PATH --work DIR [--smoke|--small|--medium|--full] \
[--sqlite-only|--postgres-only] [--postgres URL] [--no-external] [--wrk-seconds N] [--clients N] [--out FILE] [--command TEXT]";

/// The command line, read.
struct Args {
    generate_only: bool,
    bin: PathBuf,
    work: PathBuf,
    size: String,
    postgres: Option<String>,
    sqlite_only: bool,
    postgres_only: bool,
    external: bool,
    wrk_seconds: Option<u32>,
    clients: usize,
    out: Option<PathBuf>,
    command_text: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = config(&args);
    if args.generate_only {
        return match runner::generate(&config) {
            Ok((meta, seconds)) => {
                eprintln!("[bench] generated in {seconds:.1} s");
                print!("{}", meta.to_text());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("[bench] failed: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let started = Instant::now();
    let commit = report::commit();
    let result = match runner::run(&config) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("[bench] failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let document = document(&args, &config, &result, started, &commit);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.work.join("REPORT.md"));
    if let Err(error) = std::fs::write(&out, document) {
        eprintln!("[bench] writing {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("[bench] report written to {}", out.display());
    ExitCode::SUCCESS
}

/// Reads the command line; on a mistake, prints the usage and gives the
/// exit code.
fn parse(args: &[String]) -> Result<Args, ExitCode> {
    let generate_only = args.first().map(String::as_str) == Some("generate");
    if args.first().map(String::as_str) != Some("run") && !generate_only {
        eprintln!("{USAGE}");
        return Err(ExitCode::from(2));
    }
    let mut bin = None;
    let mut work = None;
    let mut parsed = Args {
        generate_only,
        bin: PathBuf::new(),
        work: PathBuf::new(),
        size: "full".to_owned(),
        postgres: None,
        sqlite_only: false,
        postgres_only: false,
        external: true,
        wrk_seconds: None,
        clients: 4,
        out: None,
        command_text: "bench/run.sh".to_owned(),
    };
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        let mut takes_value = true;
        match args[i].as_str() {
            "--bin" => bin = Some(PathBuf::from(value())),
            "--work" => work = Some(PathBuf::from(value())),
            "--postgres" => parsed.postgres = Some(value()),
            "--wrk-seconds" => parsed.wrk_seconds = value().parse().ok(),
            "--clients" => parsed.clients = value().parse().unwrap_or(4),
            "--out" => parsed.out = Some(PathBuf::from(value())),
            "--command" => parsed.command_text = value(),
            flag => {
                takes_value = false;
                match flag {
                    "--smoke" => parsed.size = "smoke".into(),
                    "--small" => parsed.size = "small".into(),
                    "--medium" => parsed.size = "medium".into(),
                    "--full" => parsed.size = "full".into(),
                    "--sqlite-only" => parsed.sqlite_only = true,
                    "--postgres-only" => parsed.postgres_only = true,
                    "--no-external" => parsed.external = false,
                    other => {
                        eprintln!("unknown argument {other}\n{USAGE}");
                        return Err(ExitCode::from(2));
                    }
                }
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    let (Some(bin), Some(work)) = (bin, work) else {
        eprintln!("{USAGE}");
        return Err(ExitCode::from(2));
    };
    (parsed.bin, parsed.work) = (bin, work);
    if parsed.postgres_only && (parsed.sqlite_only || parsed.postgres.is_none()) {
        eprintln!("--postgres-only needs --postgres URL and no --sqlite-only\n{USAGE}");
        return Err(ExitCode::from(2));
    }
    Ok(parsed)
}

fn plan(size: &str) -> Plan {
    match size {
        "smoke" => Plan::smoke(),
        "small" => Plan::small(),
        "medium" => Plan::medium(),
        _ => Plan::full(),
    }
}

fn config(args: &Args) -> Config {
    let mut stores = Vec::new();
    if !args.postgres_only {
        stores.push(StoreKind::Sqlite);
    }
    if !args.sqlite_only
        && let Some(url) = &args.postgres
    {
        stores.push(StoreKind::Postgres(url.clone()));
    }
    let smoke = args.size == "smoke";
    Config {
        bin: args.bin.clone(),
        work: args.work.clone(),
        plan: plan(&args.size),
        stores,
        external: args.external,
        wrk_seconds: args.wrk_seconds.unwrap_or(if smoke { 2 } else { 10 }),
        wrk_connections: 64,
        wrk_threads: 2,
        ingest_clients: args.clients,
        webhook_senders: 64,
        cold_samples: if smoke { 2 } else { 31 },
        warm_samples: if smoke { 3 } else { 20 },
        verbose: true,
    }
}

/// The report: the ratio table (also printed), the figures behind it, and
/// the machine.
fn document(
    args: &Args,
    config: &Config,
    result: &RunResult,
    started: Instant,
    commit: &str,
) -> String {
    let ratios = report::ratios(result);
    let table = report::ratio_table(&ratios);
    println!("\n{table}");
    let wrk = format!(
        "wrk -t{} -c{} -d{}s",
        config.wrk_threads, config.wrk_connections, config.wrk_seconds
    );
    let postgres_used = if args.sqlite_only {
        None
    } else {
        args.postgres.as_deref()
    };
    format!(
        "# session-ledger benchmark ({})\n\n\
         Command: `{}` — took {:.0} s. Ratios are ours ÷ the limit measured on the same \
         machine in the same run; targets from issue 5.\n\n\
         ## Ratios\n\n{table}\n\
         ## Figures\n\n{}\n\
         ## Machine\n\n{}",
        args.size,
        args.command_text,
        started.elapsed().as_secs_f64(),
        report::details(result, &config.plan, &wrk),
        report::machine(&config.bin, postgres_used, commit),
    )
}
