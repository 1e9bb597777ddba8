//! `ledger-bench run …`: see bench/README.md. `bench/run.sh` is the command.

use std::path::PathBuf;
use std::process::ExitCode;

use ledger_bench::dataset::Plan;
use ledger_bench::report;
use ledger_bench::runner::{self, Config, StoreKind};

const USAGE: &str = "usage: ledger-bench run|generate --bin PATH --work DIR [--smoke|--small|--medium|--full] \
[--sqlite-only|--postgres-only] [--postgres URL] [--no-external] [--wrk-seconds N] [--clients N] [--out FILE] [--command TEXT]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let generate_only = args.first().map(String::as_str) == Some("generate");
    if args.first().map(String::as_str) != Some("run") && !generate_only {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut bin = None;
    let mut work = None;
    let mut size = "full".to_owned();
    let mut postgres: Option<String> = None;
    let mut sqlite_only = false;
    let mut postgres_only = false;
    let mut external = true;
    let mut wrk_seconds = None;
    let mut clients = 4;
    let mut out: Option<PathBuf> = None;
    let mut command_text = "bench/run.sh".to_owned();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--bin" => {
                bin = Some(PathBuf::from(value()));
                i += 1;
            }
            "--work" => {
                work = Some(PathBuf::from(value()));
                i += 1;
            }
            "--smoke" => size = "smoke".into(),
            "--small" => size = "small".into(),
            "--medium" => size = "medium".into(),
            "--full" => size = "full".into(),
            "--sqlite-only" => sqlite_only = true,
            "--postgres-only" => postgres_only = true,
            "--postgres" => {
                postgres = Some(value());
                i += 1;
            }
            "--no-external" => external = false,
            "--wrk-seconds" => {
                wrk_seconds = value().parse().ok();
                i += 1;
            }
            "--clients" => {
                clients = value().parse().unwrap_or(4);
                i += 1;
            }
            "--out" => {
                out = Some(PathBuf::from(value()));
                i += 1;
            }
            "--command" => {
                command_text = value();
                i += 1;
            }
            other => {
                eprintln!("unknown argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    let (Some(bin), Some(work)) = (bin, work) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let plan = match size.as_str() {
        "smoke" => Plan::smoke(),
        "small" => Plan::small(),
        "medium" => Plan::medium(),
        _ => Plan::full(),
    };
    if postgres_only && (sqlite_only || postgres.is_none()) {
        eprintln!("--postgres-only needs --postgres URL and no --sqlite-only\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut stores = Vec::new();
    if !postgres_only {
        stores.push(StoreKind::Sqlite);
    }
    if !sqlite_only && let Some(url) = &postgres {
        stores.push(StoreKind::Postgres(url.clone()));
    }
    let config = Config {
        bin: bin.clone(),
        work,
        plan: plan.clone(),
        stores,
        external,
        wrk_seconds: wrk_seconds.unwrap_or(if size == "smoke" { 2 } else { 10 }),
        wrk_connections: 64,
        wrk_threads: 2,
        ingest_clients: clients,
        cold_samples: if size == "smoke" { 2 } else { 31 },
        warm_samples: if size == "smoke" { 3 } else { 20 },
        verbose: true,
    };
    if generate_only {
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
    let started = std::time::Instant::now();
    let commit = report::commit();
    let result = match runner::run(&config) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("[bench] failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let ratios = report::ratios(&result);
    let table = report::ratio_table(&ratios);
    println!("\n{table}");
    let wrk = format!(
        "wrk -t{} -c{} -d{}s",
        config.wrk_threads, config.wrk_connections, config.wrk_seconds
    );
    let postgres_used = if sqlite_only {
        None
    } else {
        postgres.as_deref()
    };
    let document = format!(
        "# session-ledger benchmark ({size})\n\n\
         Command: `{command_text}` — took {:.0} s. Ratios are ours ÷ the limit measured on the same \
         machine in the same run; targets from issue 5.\n\n\
         ## Ratios\n\n{table}\n\
         ## Figures\n\n{}\n\
         ## Machine\n\n{}",
        started.elapsed().as_secs_f64(),
        report::details(&result, &plan, &wrk),
        report::machine(&bin, postgres_used, &commit),
    );
    let out = out.unwrap_or_else(|| config.work.join("REPORT.md"));
    if let Err(error) = std::fs::write(&out, document) {
        eprintln!("[bench] writing {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("[bench] report written to {}", out.display());
    ExitCode::SUCCESS
}
