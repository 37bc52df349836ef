//! `walship`: reads a Prometheus WAL as Prometheus writes it and ships it to remote storage.
//!
//! Subcommands: `ship` (the shipper), `try` (ship a bundled WAL to a built-in receiver),
//! `receive` (a remote-write receiver), `inspect` (a summary of a WAL) and `dump` (every record).
//!
//! The flags of each subcommand: `walship <subcommand> --help`; running it beside Prometheus:
//! `docs/operations.md`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod block_dump;
mod check;
mod cli;
mod config;
mod cursor;
mod dump;
mod duration;
mod endpoint;
mod error;
mod history;
mod inspect;
mod logging;
mod matcher;
mod progress;
mod receive;
mod refset;
mod scan;
mod ship;
mod signals;
mod sink;
mod status;
mod targets;
mod time;
mod try_it;
mod web;

use clap::Parser;
use cli::{CheckWhat, Cli, Command, Generate};
use error::{check_dir, CliError, EXIT_DATA_LOST};
use std::process::ExitCode;

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Ship(args) => {
            logging::init(args.log_format, args.log_level);
            let (code, summary) = ship::ship(args.options()?)?;
            summary.log();
            Ok(code)
        }
        Command::Try { url, wal_dir } => try_it::run(url, wal_dir),
        Command::Check { what: CheckWhat::Config { files } } => Ok(check::check_config(&files)),
        Command::Receive { listen, print, print_metadata, threads } => {
            receive::run(&listen, threads, receive::Print { samples: print, metadata: print_metadata })
        }
        Command::Inspect { dir, format } => inspect::run(&dir, matches!(format, cli::InspectFormat::Json)),
        Command::Dump { dir, blocks, block, format, refs, matcher, min_time, max_time } => {
            if !blocks && block.is_empty() {
                check_dir(&dir)?;
            }
            let matchers = match matcher {
                Some(m) => matcher::parse(&m).map_err(CliError::Usage)?,
                None => Vec::new(),
            };
            let filter = dump::Filter { refs, matchers, min_time, max_time };
            let format = match format {
                cli::DumpFormat::Text => dump::Format::Text,
                cli::DumpFormat::Jsonl => dump::Format::Jsonl,
            };
            let lost = if blocks || !block.is_empty() {
                let which = if blocks { block_dump::Which::All } else { block_dump::Which::Only(block) };
                block_dump::dump_blocks(&dir, &which, &filter, format, std::io::stdout().lock())?
            } else {
                dump::dump(&dir, &filter, format, std::io::stdout().lock())?
            };
            Ok(if lost { ExitCode::from(EXIT_DATA_LOST) } else { ExitCode::SUCCESS })
        }
        Command::Generate { what } => {
            match what {
                Generate::Man { dir } => cli::write_man_pages(&dir)?,
                Generate::Completions { shell } => {
                    use clap::CommandFactory;
                    clap_complete::generate(shell, &mut Cli::command(), "walship", &mut std::io::stdout().lock())
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
