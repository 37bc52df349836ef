//! `walship`: reads a Prometheus WAL as Prometheus writes it and ships it to remote storage.
//!
//! Subcommands: `inspect` (a summary of a WAL) and `dump` (every record). Shipping arrives with
//! the `walship` binary issue.

mod dump;
mod inspect;
mod matcher;
mod refset;
mod scan;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "walship", version, about = "Read a Prometheus WAL and ship it over remote write")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise a WAL directory (or a Prometheus data directory holding `wal/`).
    Inspect {
        /// The WAL or data directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
        format: InspectFormat,
    },
    /// Print every record of a WAL, one per line.
    Dump {
        /// The WAL or data directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
        format: DumpFormat,
        /// Only entries of this series ref (repeatable).
        #[arg(long = "ref")]
        refs: Vec<u64>,
        /// Only series matching this selector, e.g. '{job="node"}'.
        #[arg(long = "match")]
        matcher: Option<String>,
        /// Only samples at or after this time (ms since the epoch).
        #[arg(long)]
        min_time: Option<i64>,
        /// Only samples at or before this time (ms since the epoch).
        #[arg(long)]
        max_time: Option<i64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DumpFormat {
    Text,
    Jsonl,
}

/// Why a command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Reading the WAL failed.
    #[error(transparent)]
    Wal(#[from] wal_reader::Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Inspect { dir, format } => {
            check_dir(&dir)?;
            let summary = inspect::inspect(&dir)?;
            match format {
                InspectFormat::Json => {
                    let s = serde_json::to_string_pretty(&summary).map_err(|e| CliError::Output(e.into()))?;
                    println!("{s}");
                }
                InspectFormat::Text => print!("{}", inspect::render_text(&summary)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump { dir, format, refs, matcher, min_time, max_time } => {
            check_dir(&dir)?;
            let matchers = match matcher {
                Some(m) => matcher::parse(&m).map_err(CliError::Usage)?,
                None => Vec::new(),
            };
            let filter = dump::Filter { refs, matchers, min_time, max_time };
            let format = match format {
                DumpFormat::Text => dump::Format::Text,
                DumpFormat::Jsonl => dump::Format::Jsonl,
            };
            let corruptions = dump::dump(&dir, &filter, format, std::io::stdout().lock())?;
            Ok(if corruptions > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
    }
}

/// A clear line for the two commonest mistakes: a wrong path, and a directory that is no WAL.
fn check_dir(dir: &std::path::Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("{}: no such directory", dir.display())));
    }
    let wal = wal_reader::resolve_wal_dir(dir);
    let segments = wal_reader::list_segments(&wal)?;
    if segments.is_empty() && wal_reader::last_checkpoint(&wal)?.is_none() {
        return Err(CliError::Usage(format!(
            "{}: not a WAL directory (no segment files 00000000… and no checkpoint.NNNNNNNN)",
            dir.display()
        )));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("walship: {e}");
            ExitCode::FAILURE
        }
    }
}
