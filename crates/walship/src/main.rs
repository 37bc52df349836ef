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
mod config;
mod cursor;
mod dump;
mod duration;
mod history;
mod inspect;
mod log;
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

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "walship", version, about = "Read a Prometheus WAL and ship it over remote write")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What the exit codes of `ship --once`, `inspect` and `dump` mean (also in docs/operations.md).
const EXIT_CODES: &str = "Exit codes: 0 everything was read (and, for ship --once, delivered or dropped for a counted \
reason: relabelling, too old, rejected by the remote) and the cursor saved; 1 could not run or gave up (bad \
arguments, an unreadable directory, credentials refused, nothing acknowledged for too long, the cursor not saved), \
with one line saying why; 2 ran to the end, but some of the WAL was lost to damage or missing segments: each \
damaged span and gap is logged with its file, offset, bytes skipped and records lost.";

#[derive(Subcommand)]
enum Command {
    /// Ship a Prometheus WAL to remote storage, following it as Prometheus writes it.
    #[command(after_help = EXIT_CODES)]
    Ship(Box<ShipArgs>),
    /// Ship a bundled real Prometheus WAL to a built-in receiver (or to VictoriaMetrics on
    /// 127.0.0.1:8428 when one runs): the quickest way to see walship work.
    Try {
        /// Ship here instead (a remote-write URL).
        #[arg(long)]
        url: Option<String>,
        /// The WAL to ship (default: the bundled Prometheus 2.42 WAL).
        #[arg(long)]
        wal_dir: Option<PathBuf>,
    },
    /// Check a Prometheus configuration file the way walship will read it (`walship check config
    /// FILE`): what `promtool check config` checks of the parts walship reads, and what only
    /// walship knows. Exit codes as promtool's: 0 valid, 1 invalid.
    Check {
        /// What to check.
        #[command(subcommand)]
        what: CheckWhat,
    },
    /// Run a remote-write receiver that counts (or prints) what arrives.
    Receive {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9201")]
        listen: String,
        /// Print every sample to stdout.
        #[arg(long)]
        print: bool,
        /// Print the metadata that arrives to stdout: each remote write 1.0 `MetricMetadata` as
        /// `# METADATA family type "help" "unit"`, and for each remote write 2.0 series
        /// `# SERIES {labels} type "help" "unit"`.
        #[arg(long = "print-metadata")]
        print_metadata: bool,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Summarise a WAL directory, or a Prometheus data directory: its `wal/` and its persisted
    /// blocks.
    #[command(after_help = EXIT_CODES)]
    Inspect {
        /// The WAL or data directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
        format: InspectFormat,
    },
    /// Print every record of a WAL, one per line (or, with --blocks / --block, the samples of
    /// persisted blocks).
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// The WAL or data directory.
        dir: PathBuf,
        /// Dump every persisted block of the data directory instead of the WAL.
        #[arg(long)]
        blocks: bool,
        /// Dump this persisted block (ULID; repeatable) instead of the WAL.
        #[arg(long = "block")]
        block: Vec<String>,
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
    /// Write the man page or shell completions (for packaging).
    #[command(hide = true)]
    Generate {
        /// What to write.
        #[command(subcommand)]
        what: Generate,
    },
}

/// What `walship generate` writes to standard output.
#[derive(Subcommand)]
enum Generate {
    /// The man pages: walship(1) and one per subcommand (walship-ship(1), …), into a directory.
    Man {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Completions for a shell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What `walship check` checks.
#[derive(Subcommand)]
enum CheckWhat {
    /// Prometheus configuration files (their `remote_write` and `global.external_labels`).
    Config {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options of `walship ship`.
#[derive(clap::Args)]
struct ShipArgs {
    /// A Prometheus data directory, or its `wal/`.
    #[arg(long = "wal-dir")]
    wal_dir: PathBuf,
    /// A remote-write URL (repeatable); the queue options below apply to these.
    #[arg(long = "url")]
    urls: Vec<String>,
    /// A Prometheus configuration file: its `remote_write` list and `global.external_labels`.
    #[arg(long = "config.file")]
    config_file: Option<PathBuf>,
    /// Where to start without a saved cursor: `now`, `beginning` (of the WAL), `oldest` (the
    /// persisted blocks of the data directory first, then the WAL: all history Prometheus
    /// holds), or an RFC 3339 time.
    #[arg(long, default_value = "now")]
    start: String,
    /// Read to the WAL's current end, deliver everything, save the cursor and exit (non-zero if
    /// anything could not be delivered). Queues then start with one shard per CPU unless
    /// --queue.min-shards is given.
    #[arg(long)]
    once: bool,
    /// Directory of the durable cursors (one per endpoint), locked while walship runs.
    #[arg(long = "state-dir", default_value = "walship-state")]
    state_dir: PathBuf,
    /// How often the cursors are saved.
    #[arg(long = "cursor.save-interval", default_value = "5s", value_parser = parse_duration)]
    cursor_interval: std::time::Duration,
    /// Address of the status page (/), /metrics, /-/healthy and /-/ready; empty for none.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9333")]
    listen: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = log::Format::Logfmt)]
    log_format: log::Format,
    /// Least severe level logged.
    #[arg(long = "log.level", value_enum, default_value_t = log::Level::Info)]
    log_level: log::Level,
    /// Show progress every second: a bar (bytes of the WAL acknowledged, segments, samples/s,
    /// delivered, ETA) on a terminal, a plain line otherwise.
    #[arg(long)]
    progress: bool,
    /// Remote-write protocol of --url endpoints: 1 or 2.
    #[arg(long = "remote-write.protocol", default_value_t = 1)]
    protocol: u8,
    /// Timeout of one request.
    #[arg(long = "remote-timeout", default_value = "30s", value_parser = parse_duration)]
    remote_timeout: std::time::Duration,
    /// Shards at start and lower bound.
    #[arg(long = "queue.min-shards")]
    min_shards: Option<usize>,
    /// Upper bound of shards.
    #[arg(long = "queue.max-shards")]
    max_shards: Option<usize>,
    /// Samples buffered per shard.
    #[arg(long = "queue.capacity")]
    capacity: Option<usize>,
    /// Samples per request.
    #[arg(long = "queue.max-samples-per-send")]
    max_samples_per_send: Option<usize>,
    /// Longest wait before a partial batch is sent.
    #[arg(long = "queue.batch-send-deadline", value_parser = parse_duration)]
    batch_send_deadline: Option<std::time::Duration>,
    /// How long queued samples may take to flush at stop.
    #[arg(long = "flush-deadline", default_value = "1m", value_parser = parse_duration)]
    flush_deadline: std::time::Duration,
    /// Send exemplars (--url endpoints).
    #[arg(long = "send-exemplars")]
    send_exemplars: bool,
    /// Send native histograms (--url endpoints).
    #[arg(long = "send-native-histograms")]
    send_native_histograms: bool,
    /// When WAL segments after the saved cursor were deleted, the time range they held is
    /// shipped from the persisted blocks, starting this long before the newest sample
    /// acknowledged (samples of overlapping scrapes reach the WAL a little out of time order).
    #[arg(long = "gap-fill.margin", default_value = "5m", value_parser = parse_duration)]
    fill_margin: std::time::Duration,
    /// The Prometheus server whose WAL is shipped (e.g. http://127.0.0.1:9090; a user:password@
    /// in it is sent as basic auth): its scrape targets' metadata (type, help, unit per metric
    /// family, from /api/v1/targets/metadata) is read at start and every
    /// metadata_config.send_interval and sent as Prometheus sends it (remote write 1.0: metadata
    /// requests; 2.0: with every series). Metadata records in the WAL win. Default: none.
    #[arg(long = "prometheus.url")]
    prometheus_url: Option<String>,
    /// Bearer token file for --prometheus.url.
    #[arg(long = "prometheus.bearer-token-file")]
    prometheus_bearer_token_file: Option<PathBuf>,
    /// CA certificates (PEM) to verify an https --prometheus.url with.
    #[arg(long = "prometheus.tls.ca-file")]
    prometheus_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for an https --prometheus.url; needs --prometheus.tls.key-file.
    #[arg(long = "prometheus.tls.cert-file")]
    prometheus_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --prometheus.tls.cert-file.
    #[arg(long = "prometheus.tls.key-file")]
    prometheus_key_file: Option<PathBuf>,
    /// Do not verify the certificate of an https --prometheus.url.
    #[arg(long = "prometheus.tls.insecure-skip-verify")]
    prometheus_insecure_skip_verify: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    duration::parse(s)
}

/// The start mode a `--start` value asks for.
fn parse_start(s: &str) -> Result<ship::Start, CliError> {
    use wal_watcher::StartMode;
    match s {
        "now" => Ok(ship::Start::Wal(StartMode::Now)),
        "beginning" => Ok(ship::Start::Wal(StartMode::Beginning)),
        "oldest" => Ok(ship::Start::Oldest),
        t => time::parse_rfc3339(t).map(|t| ship::Start::Wal(StartMode::Timestamp(t))).ok_or_else(|| {
            CliError::Usage(format!("--start {t:?}: expected now, beginning, oldest or an RFC 3339 time"))
        }),
    }
}

impl ShipArgs {
    /// The Prometheus API to read target metadata from, if --prometheus.url is given.
    fn prometheus(&self) -> Option<remote_queue::PrometheusApiConfig> {
        let url = self.prometheus_url.as_ref().filter(|u| !u.is_empty())?;
        let mut c = remote_queue::PrometheusApiConfig::new(url.clone());
        if let Some(f) = &self.prometheus_bearer_token_file {
            c.auth = remote_queue::Auth::CredentialsFile { scheme: "Bearer".into(), credentials_file: f.clone() };
        }
        c.tls = remote_queue::TlsConfig {
            ca_file: self.prometheus_ca_file.clone(),
            cert_file: self.prometheus_cert_file.clone(),
            key_file: self.prometheus_key_file.clone(),
            insecure_skip_verify: self.prometheus_insecure_skip_verify,
        };
        c.timeout = self.remote_timeout.min(std::time::Duration::from_secs(10));
        Some(c)
    }

    fn endpoints(&self) -> Result<Vec<remote_queue::EndpointConfig>, CliError> {
        let mut out = Vec::new();
        if let Some(file) = &self.config_file {
            let loaded = config::load(file).map_err(CliError::Usage)?;
            for w in &loaded.warnings {
                log::warn("Configuration", &[("file", &file.display()), ("warning", w)]);
            }
            out.extend(loaded.endpoints);
        }
        for url in &self.urls {
            let mut e = remote_queue::EndpointConfig::new(url.clone());
            e.protocol = match self.protocol {
                1 => remote_queue::Protocol::V1,
                2 => remote_queue::Protocol::V2,
                p => return Err(CliError::Usage(format!("--remote-write.protocol {p}: expected 1 or 2"))),
            };
            e.remote_timeout = self.remote_timeout;
            e.send_exemplars = self.send_exemplars;
            e.send_native_histograms = self.send_native_histograms;
            let q = &mut e.queue;
            q.min_shards = self.min_shards.unwrap_or(q.min_shards);
            q.max_shards = self.max_shards.unwrap_or(q.max_shards);
            q.capacity = self.capacity.unwrap_or(q.capacity);
            q.max_samples_per_send = self.max_samples_per_send.unwrap_or(q.max_samples_per_send);
            q.batch_send_deadline = self.batch_send_deadline.unwrap_or(q.batch_send_deadline);
            e.validate().map_err(|x| CliError::Usage(format!("--url {}: {x}", e.redacted_url())))?;
            out.push(e);
        }
        let backfill_shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        for e in &mut out {
            e.flush_deadline = self.flush_deadline;
            if self.once && self.min_shards.is_none() {
                // A backfill has its whole backlog from the first second, and resharding (every
                // 10 s, as Prometheus does) would take most of a short run to notice: start with
                // one shard per CPU instead (1.36 -> 2.14 M samples/s on the 2-core benchmark WAL).
                let q = &mut e.queue;
                q.min_shards = q.min_shards.max(backfill_shards.min(q.max_shards));
            }
        }
        Ok(out)
    }
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

/// Exit code: the command ran to the end, but some of the WAL was lost to damage or gaps.
pub(crate) const EXIT_DATA_LOST: u8 = 2;

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
    /// The state directory.
    #[error(transparent)]
    State(#[from] cursor::StateError),
    /// Something failed while running (a thread, signals): not the user's input.
    #[error("{0}")]
    Run(String),
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Ship(args) => {
            log::init(args.log_format, args.log_level);
            let opts = ship::ShipOptions {
                wal_dir: args.wal_dir.clone(),
                endpoints: args.endpoints()?,
                start: parse_start(&args.start)?,
                once: args.once,
                state_dir: args.state_dir.clone(),
                cursor_interval: args.cursor_interval,
                listen: (!args.listen.is_empty()).then(|| args.listen.clone()),
                progress: args.progress,
                stall_timeout: args.flush_deadline,
                fill_margin: args.fill_margin,
                prometheus: args.prometheus(),
            };
            let (code, summary) = ship::ship(opts)?;
            summary.log();
            Ok(code)
        }
        Command::Try { url, wal_dir } => try_it::run(url, wal_dir),
        Command::Check { what: CheckWhat::Config { files } } => Ok(check_config(&files)),
        Command::Receive { listen, print, print_metadata, threads } => {
            let r = receive::start(&listen, threads, receive::Print { samples: print, metadata: print_metadata })?;
            eprintln!("walship: receiving remote write on http://{}/api/v1/write", r.addr);
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone()).map_err(|e| CliError::Usage(format!("signals: {e}")))?;
            }
            let mut last = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let n = r.counts.samples.load(std::sync::atomic::Ordering::Relaxed);
                if n != last && !print {
                    eprintln!(
                        "walship: {} requests, {n} samples received",
                        r.counts.requests.load(std::sync::atomic::Ordering::Relaxed)
                    );
                    last = n;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { dir, format } => {
            let checked = check_dir(&dir);
            let (blocks, blocks_skipped) = match inspect::inspect_blocks(&dir) {
                Ok(b) => b,
                Err(e) => {
                    // A wrong path is said as for a WAL.
                    checked?;
                    return Err(CliError::Usage(format!("{}: {e}", dir.display())));
                }
            };
            let mut summary = match checked {
                Ok(()) => inspect::inspect(&dir)?,
                // A data directory of blocks alone (a snapshot) is summarised without a WAL.
                Err(_) if !blocks.is_empty() => inspect::Summary::default(),
                Err(e) => return Err(e),
            };
            summary.blocks = blocks;
            summary.blocks_skipped = blocks_skipped;
            match format {
                InspectFormat::Json => {
                    let s = serde_json::to_string_pretty(&summary).map_err(|e| CliError::Output(e.into()))?;
                    println!("{s}");
                }
                InspectFormat::Text => print!("{}", inspect::render_text(&summary)),
            }
            Ok(if summary.lost_data() { ExitCode::from(EXIT_DATA_LOST) } else { ExitCode::SUCCESS })
        }
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
                DumpFormat::Text => dump::Format::Text,
                DumpFormat::Jsonl => dump::Format::Jsonl,
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
            use clap::CommandFactory;
            let mut cli = Cli::command();
            match what {
                Generate::Man { dir } => write_man_pages(cli, &dir)?,
                Generate::Completions { shell } => {
                    clap_complete::generate(shell, &mut cli, "walship", &mut std::io::stdout().lock())
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// walship(1) lists the subcommands only; the flags an operator looks up (`man walship-ship`) are
/// on a page per subcommand, as git does it.
fn write_man_pages(mut cli: clap::Command, dir: &std::path::Path) -> Result<(), CliError> {
    cli.build();
    let write = |name: &str, cmd: clap::Command| -> Result<(), CliError> {
        let mut out = std::fs::File::create(dir.join(format!("{name}.1")))?;
        clap_mangen::Man::new(cmd).render(&mut out)?;
        Ok(())
    };
    // clap adds `help` as a subcommand of its own; it needs no page.
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let name = format!("walship-{}", sub.get_name());
        let page = sub.clone().display_name(name.clone()).bin_name(name.clone()).version(env!("CARGO_PKG_VERSION"));
        write(&name, page)?;
    }
    write("walship", cli)
}

/// `walship check config`: one verdict per file, on stdout as promtool prints them; 1 when any
/// file is invalid.
fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Checking {}", file.display());
        match config::load(file) {
            Ok(loaded) => {
                println!(
                    " SUCCESS: {} is valid for walship: {} remote_write endpoint(s)",
                    file.display(),
                    loaded.endpoints.len()
                );
                for e in &loaded.endpoints {
                    let q = &e.queue;
                    println!(
                        "  endpoint {:?}: {} (remote write {}), shards {}..{}, {} samples per request, isolate_rejected_series={}",
                        e.name,
                        e.redacted_url(),
                        if e.protocol == remote_queue::Protocol::V2 { "2.0" } else { "1.0" },
                        q.min_shards,
                        q.max_shards,
                        q.max_samples_per_send,
                        q.isolate_rejected_series,
                    );
                }
                for w in &loaded.warnings {
                    println!("  WARNING: {w}");
                }
            }
            Err(e) => {
                failed = true;
                println!("  FAILED: {e}");
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A clear line for the two commonest mistakes: a wrong path, and a directory that is no WAL.
pub(crate) fn check_dir(dir: &std::path::Path) -> Result<(), CliError> {
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
