//! The command line (SPEC §9): subcommands, each operator action available
//! directly against the database; creating commands print one line of JSON.

use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::api::state::AppState;
use crate::app::{launch, shutdown_signal};
use crate::audit::Verdict;
use crate::config::{LogFormat, Settings};
use crate::domain::Timestamp;
use crate::domain::access::{AccessRecord, Actor, ChainKey};
use crate::records::{ApiKeyRecord, CompanyRecord, SupportAgentRecord};
use crate::secrets::new_key;
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "session-ledger",
    version,
    about = "Session history and billing usage, SecureVideo History API compatible"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server, applying migrations first.
    Serve {
        /// Also create (once) a demo company with a month of sessions, and print a key for it.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Companies (tenants).
    Company {
        #[command(subcommand)]
        action: CompanyAction,
    },
    /// API keys of a company.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// The platform's support agents.
    SupportAgent {
        #[command(subcommand)]
        action: SupportAgentAction,
    },
    /// Replay a JSON Lines log into the database (`-` reads standard input).
    Import { file: PathBuf },
    /// Write the whole database as a JSON Lines log (`-` writes standard output).
    Export { file: PathBuf },
    /// The access audit (SPEC §15).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Recompute every company's chain (or one's) and name the first record
    /// edited, deleted, inserted or reordered; exits non-zero if there is one.
    Verify {
        #[arg(long)]
        company: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CompanyAction {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 0)]
        included_sessions: i64,
        #[arg(long, default_value_t = 0)]
        overage_cents: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyAction {
    Create {
        #[arg(long)]
        company: i64,
    },
    Revoke {
        key: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SupportAgentAction {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
}

/// Logs go to standard error through a thread of their own, which writes
/// whatever lines are waiting in one go: writing each request's line from
/// the request's own thread took a seventh of the CPU of a kept History
/// answer under load (bench/README.md, "Logging and metrics"). No line is
/// dropped while the guard lives: when the writer falls behind by more than
/// its queue holds, the threads that log wait for it. The lines still queued
/// are written when the returned guard is dropped, at the end of `run`
/// (tracing-appender waits up to a second for that). Text lines carry no
/// terminal colours: tracing-subscriber is built without its `ansi` feature,
/// whose styling cost a kept History answer about 4,200 instructions even
/// when switched off (bench/README.md, "Logging and metrics"); `with_ansi(false)`
/// keeps them off should another crate turn the feature on.
#[must_use = "logs stop when the guard is dropped"]
pub fn init_logging(format: LogFormat) -> WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("session-ledger-logs")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    guard
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _logs = init_logging(cli.settings.log_format);
    let state = AppState::open(cli.settings.clone())
        .await
        .with_context(|| format!("opening the database {}", cli.settings.database_url))?;
    let store = state.store.clone();
    match cli.command {
        Command::Serve { demo } => serve(state, &cli.settings, demo).await?,
        Command::Migrate => {
            store.migrate().await?;
            println!("{}", json!({ "Migrated": true }));
        }
        Command::Import { file } => {
            import(&store, &file).await?;
            // The import may have brought the key its audit was chained under.
            let key = crate::audit::chain_key(&store, cli.settings.audit_key.as_ref()).await?;
            let companies = store.company_ids().await?;
            cli_access(&store, &key, &companies, "import").await?;
        }
        Command::Export { file } => {
            // Recorded before a line is written: an export is a read of
            // every company's data (SPEC §15).
            let companies = store.company_ids().await?;
            cli_access(&store, state.audit.key(), &companies, "export").await?;
            export(&store, &file).await?
        }
        Command::Company { action } => company(&state, action).await?,
        Command::Key { action } => key(&state, action).await?,
        Command::Audit {
            action: AuditAction::Verify { company },
        } => verify(&state, company).await?,
        Command::SupportAgent { action } => support_agent(&store, action).await?,
    }
    store.close().await;
    Ok(())
}

async fn serve(state: AppState, settings: &Settings, demo: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let address = listener.local_addr()?;
    if demo {
        let access = crate::demo::ensure_demo(&state.store).await?;
        println!(
            "Demo company {} ({}).",
            access.company_name, access.company_id
        );
        println!("API key:    {}", access.api_key);
        println!("API secret: {}", access.api_secret);
        println!(
            "Try: curl -u '{}:{}' 'http://{address}/history?month={}'",
            access.api_key, access.api_secret, access.month
        );
        demo_console_sign_ins(&state, settings, access.company_id).await?;
        let livekit = &settings.providers;
        if let (Some(key), Some(secret)) = (&livekit.livekit_api_key, &livekit.livekit_api_secret) {
            let example = crate::demo::livekit_example(
                &state.store,
                access.company_id,
                (key, secret.expose()),
                address,
            )
            .await?;
            println!("A LiveKit webhook (valid 5 minutes): {example}");
        }
    }
    tracing::info!(%address, "listening");
    launch(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// Records what a command did to each of `companies` in their access audits.
async fn cli_access(
    store: &Store,
    key: &ChainKey,
    companies: &[i64],
    command: &str,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let actor = Actor::cli(command);
    let records = companies
        .iter()
        .map(|company_id| {
            let mut record = AccessRecord::new(*company_id, now, &actor);
            record.method = "CLI".into();
            record.route = command.into();
            record.ids = format!("company_id={company_id}");
            record
        })
        .collect();
    store
        .append_access(key, records)
        .await
        .context("recording the command in the access audit")?;
    Ok(())
}

async fn verify(state: &AppState, company: Option<i64>) -> anyhow::Result<()> {
    match crate::audit::verify(&state.store, state.audit.key(), company).await? {
        Verdict::Verified(chains) => {
            let records: u64 = chains.iter().map(|(_, count)| count).sum();
            println!(
                "{}",
                json!({ "Verified": true, "Chains": chains.len(), "Records": records })
            );
            Ok(())
        }
        Verdict::Broken(broken) => Err(anyhow::anyhow!("access audit does not verify: {broken}")),
    }
}

/// Fresh console passwords, each start, for the demo's account
/// administrator and one host, printed with where to sign in.
async fn demo_console_sign_ins(
    state: &AppState,
    settings: &Settings,
    company_id: i64,
) -> anyhow::Result<()> {
    let users = state.store.users(company_id).await?;
    let is_administrator = |roles: &str| roles.split(',').any(|role| role.trim() == "A");
    let administrator = users
        .iter()
        .find(|user| is_administrator(&user.system_roles));
    let host = users
        .iter()
        .find(|user| !is_administrator(&user.system_roles));
    println!("Console:    {}/console/sign-in", settings.public_base_url());
    for (label, user) in [("administrator", administrator), ("host", host)] {
        let Some(user) = user else { continue };
        let password = crate::secrets::console::new_login_guid();
        let hash = crate::secrets::console::hash_password(&password)
            .map_err(|error| anyhow::anyhow!(error))?;
        let now = crate::domain::Timestamp::now().as_micros();
        state
            .store
            .set_password(company_id, user.user_id, &hash, now)
            .await?;
        println!(
            "  {label:<14} {} ({}) password {password}",
            user.email_address, user.full_name
        );
    }
    Ok(())
}

async fn company(state: &AppState, action: CompanyAction) -> anyhow::Result<()> {
    let store = &state.store;
    let CompanyAction::Create {
        name,
        included_sessions,
        overage_cents,
    } = action;
    let record = CompanyRecord {
        company_id: None,
        name,
        included_sessions_per_month: included_sessions,
        overage_price_cents: overage_cents,
        duplicate_window_minutes: None,
    };
    let (company_id, created) = store.write().create_company(record).await?;
    cli_access(store, state.audit.key(), &[company_id], "company create").await?;
    println!("{}", serde_json::to_string(&created)?);
    Ok(())
}

async fn key(state: &AppState, action: KeyAction) -> anyhow::Result<()> {
    let store = &state.store;
    match action {
        KeyAction::Create { company } => {
            cli_access(store, state.audit.key(), &[company], "key create").await?;
            let key = new_key(company);
            let record = ApiKeyRecord {
                company_id: company,
                api_key: key.api_key.clone(),
                secret_hash: key.secret_hash,
            };
            store.write().create_api_key(record).await?;
            println!(
                "{}",
                json!({ "ApiKey": key.api_key, "ApiSecret": key.api_secret })
            );
        }
        KeyAction::Revoke { key } => {
            store.write().revoke_api_key(key.clone()).await?;
            if let Some(company_id) = crate::secrets::company_of_key(&key) {
                cli_access(store, state.audit.key(), &[company_id], "key revoke").await?;
            }
            println!("{}", json!({ "ApiKey": key, "Revoked": true }));
        }
    }
    Ok(())
}

async fn support_agent(store: &Store, action: SupportAgentAction) -> anyhow::Result<()> {
    let SupportAgentAction::Create { name, email } = action;
    let record = SupportAgentRecord {
        support_agent_id: None,
        full_name: name,
        email_address: email,
    };
    let (_, created) = store.write().create_support_agent(record).await?;
    println!("{}", serde_json::to_string(&created)?);
    Ok(())
}

async fn import(store: &Store, file: &std::path::Path) -> anyhow::Result<()> {
    let summary = if file.as_os_str() == "-" {
        store.import(BufReader::new(tokio::io::stdin())).await?
    } else {
        let input = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        store.import(BufReader::new(input)).await?
    };
    println!("{}", json!({ "ImportedLines": summary.lines }));
    Ok(())
}

async fn export(store: &Store, file: &std::path::Path) -> anyhow::Result<()> {
    let count = if file.as_os_str() == "-" {
        let mut output = tokio::io::stdout();
        let count = store.export(&mut output).await?;
        output.flush().await?;
        count
    } else {
        let output = tokio::fs::File::create(file)
            .await
            .with_context(|| format!("creating {}", file.display()))?;
        let mut output = tokio::io::BufWriter::new(output);
        let count = store.export(&mut output).await?;
        output.flush().await?;
        count
    };
    eprintln!("{}", json!({ "ExportedLines": count }));
    Ok(())
}
