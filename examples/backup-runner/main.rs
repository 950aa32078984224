//! backup-runner: restic backups of the frame PostgreSQL (per entity) and folders in three
//! tiers (local, ring peer, cold disk), with retention, rotating verification and restore
//! drills.
//!
//! ```sh
//! cargo run --example backup-runner -- --config backup.yaml check-config
//! cargo run --example backup-runner -- --config backup.yaml run
//! cargo run --example backup-runner -- --config backup.yaml restore-drill --tier local
//! ```
//!
//! Exit codes: 0 ok, 1 failed, 2 usage or config error, 3 degraded (the local tier is complete,
//! the ring or cold tier failed or was skipped). See `README.md` beside this file.

mod config;
mod db;
mod drill;
mod manifest;
mod progress;
mod report;
mod restic;
mod run;
mod stream;
mod verify;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use axe_isolation::EntityId;
use clap::{Parser, Subcommand};

use crate::config::{Config, TierName};
use crate::report::{Outcome, Report};

/// Exit code of a usage or configuration error (clap's own, too).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "backup-runner",
    version,
    about = "restic backups in three tiers, with restore drills"
)]
struct Cli {
    /// The YAML configuration.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration and exit.
    CheckConfig,
    /// Back up every entity, the globals and the folders; copy to ring and cold; retention.
    Run,
    /// Read the next part of the data (`restic check --read-data-subset n/N`).
    Verify {
        /// Only this tier (local, ring, cold).
        #[arg(long, value_parser = parse_tier)]
        tier: Option<TierName>,
    },
    /// Restore the latest backup of a tier into a scratch database and compare it with the
    /// manifest.
    RestoreDrill {
        /// The tier to restore from.
        #[arg(long, value_parser = parse_tier, default_value = "local")]
        tier: TierName,
        /// Only these entities (default: every entity backed up in the tier).
        #[arg(long = "entity", value_parser = parse_entity)]
        entities: Vec<EntityId>,
    },
    /// Last run per tier, age, snapshot counts, sizes (from the JSON report).
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_tier(s: &str) -> Result<TierName, String> {
    s.parse()
}

fn parse_entity(s: &str) -> Result<EntityId, String> {
    EntityId::new(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("backup-runner: config error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("backup-runner: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(&config, cli.command)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("backup-runner: {e:#}");
            ExitCode::from(Outcome::Failed.exit_code())
        }
    }
}

async fn dispatch(config: &Config, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::CheckConfig => {
            println!(
                "config ok: {} tier(s), entities {:?}, {} folder(s)",
                config.tiers.len(),
                config.entities,
                config.folders.len()
            );
            Ok(Outcome::Ok)
        }
        Command::Run => run::run(config).await,
        Command::Verify { tier } => verify::verify(config, tier).await,
        Command::RestoreDrill { tier, entities } => drill::drill(config, tier, &entities).await,
        Command::Status { json } => {
            let report = Report::load(&config.report_file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render(jiff::Timestamp::now()));
            }
            Ok(Outcome::Ok)
        }
    }
}
