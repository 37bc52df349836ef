//! The command line: every subcommand and flag (clap derives the parser, `--help`, the man pages
//! and the shell completions from these types), and turning `ship` flags into endpoints.

use crate::error::CliError;
use crate::{config, duration, logging, ship, time};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "walship", version, about = "Read a Prometheus WAL and ship it over remote write")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What the exit codes of `ship --once`, `inspect` and `dump` mean (also in docs/operations.md).
const EXIT_CODES: &str = "Exit codes: 0 everything was read (and, for ship --once, delivered or dropped for a counted \
reason: relabelling, too old, rejected by the remote) and the cursor saved; 1 could not run or gave up (bad \
arguments, an unreadable directory, credentials refused, nothing acknowledged for too long, the cursor not saved), \
with one line saying why; 2 ran to the end, but some of the WAL was lost to damage or missing segments: each \
damaged span and gap is logged with its file, offset, bytes skipped and records lost.";

#[derive(Subcommand)]
pub enum Command {
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
pub enum Generate {
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
pub enum CheckWhat {
    /// Prometheus configuration files (their `remote_write` and `global.external_labels`).
    Config {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options of `walship ship`.
#[derive(clap::Args)]
pub struct ShipArgs {
    /// A Prometheus data directory, or its `wal/`.
    #[arg(long = "wal-dir")]
    pub wal_dir: PathBuf,
    /// A remote-write URL (repeatable); the queue options below apply to these.
    #[arg(long = "url")]
    pub urls: Vec<String>,
    /// A Prometheus configuration file: its `remote_write` list and `global.external_labels`.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Where to start without a saved cursor: `now`, `beginning` (of the WAL), `oldest` (the
    /// persisted blocks of the data directory first, then the WAL: all history Prometheus
    /// holds), or an RFC 3339 time.
    #[arg(long, default_value = "now")]
    pub start: String,
    /// Read to the WAL's current end, deliver everything, save the cursor and exit (non-zero if
    /// anything could not be delivered). Queues then start with one shard per CPU unless
    /// --queue.min-shards is given.
    #[arg(long)]
    pub once: bool,
    /// Directory of the durable cursors (one per endpoint), locked while walship runs.
    #[arg(long = "state-dir", default_value = "walship-state")]
    pub state_dir: PathBuf,
    /// How often the cursors are saved.
    #[arg(long = "cursor.save-interval", default_value = "5s", value_parser = parse_duration)]
    pub cursor_interval: std::time::Duration,
    /// Address of the status page (/), /metrics, /-/healthy and /-/ready; empty for none.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9333")]
    pub listen: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = logging::Format::Logfmt)]
    pub log_format: logging::Format,
    /// Least severe level logged.
    #[arg(long = "log.level", value_enum, default_value_t = logging::Level::Info)]
    pub log_level: logging::Level,
    /// Show progress every second: a bar (bytes of the WAL acknowledged, segments, samples/s,
    /// delivered, ETA) on a terminal, a plain line otherwise.
    #[arg(long)]
    pub progress: bool,
    /// Remote-write protocol of --url endpoints: 1 or 2.
    #[arg(long = "remote-write.protocol", default_value_t = 1)]
    pub protocol: u8,
    /// Timeout of one request.
    #[arg(long = "remote-timeout", default_value = "30s", value_parser = parse_duration)]
    pub remote_timeout: std::time::Duration,
    /// Shards at start and lower bound.
    #[arg(long = "queue.min-shards")]
    pub min_shards: Option<usize>,
    /// Upper bound of shards.
    #[arg(long = "queue.max-shards")]
    pub max_shards: Option<usize>,
    /// Samples buffered per shard.
    #[arg(long = "queue.capacity")]
    pub capacity: Option<usize>,
    /// Samples per request.
    #[arg(long = "queue.max-samples-per-send")]
    pub max_samples_per_send: Option<usize>,
    /// Longest wait before a partial batch is sent.
    #[arg(long = "queue.batch-send-deadline", value_parser = parse_duration)]
    pub batch_send_deadline: Option<std::time::Duration>,
    /// How long queued samples may take to flush at stop.
    #[arg(long = "flush-deadline", default_value = "1m", value_parser = parse_duration)]
    pub flush_deadline: std::time::Duration,
    /// Send exemplars (--url endpoints).
    #[arg(long = "send-exemplars")]
    pub send_exemplars: bool,
    /// Send native histograms (--url endpoints).
    #[arg(long = "send-native-histograms")]
    pub send_native_histograms: bool,
    /// When WAL segments after the saved cursor were deleted, the time range they held is
    /// shipped from the persisted blocks, starting this long before the newest sample
    /// acknowledged (samples of overlapping scrapes reach the WAL a little out of time order).
    #[arg(long = "gap-fill.margin", default_value = "5m", value_parser = parse_duration)]
    pub fill_margin: std::time::Duration,
    /// The Prometheus server whose WAL is shipped (e.g. http://127.0.0.1:9090; a user:password@
    /// in it is sent as basic auth): its scrape targets' metadata (type, help, unit per metric
    /// family, from /api/v1/targets/metadata) is read at start and every
    /// metadata_config.send_interval and sent as Prometheus sends it (remote write 1.0: metadata
    /// requests; 2.0: with every series). Metadata records in the WAL win. Default: none.
    #[arg(long = "prometheus.url")]
    pub prometheus_url: Option<String>,
    /// Bearer token file for --prometheus.url.
    #[arg(long = "prometheus.bearer-token-file")]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// CA certificates (PEM) to verify an https --prometheus.url with.
    #[arg(long = "prometheus.tls.ca-file")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for an https --prometheus.url; needs --prometheus.tls.key-file.
    #[arg(long = "prometheus.tls.cert-file")]
    pub prometheus_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --prometheus.tls.cert-file.
    #[arg(long = "prometheus.tls.key-file")]
    pub prometheus_key_file: Option<PathBuf>,
    /// Do not verify the certificate of an https --prometheus.url.
    #[arg(long = "prometheus.tls.insecure-skip-verify")]
    pub prometheus_insecure_skip_verify: bool,
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
    /// What `ship` is to do, from its flags.
    pub fn options(&self) -> Result<ship::ShipOptions, CliError> {
        Ok(ship::ShipOptions {
            wal_dir: self.wal_dir.clone(),
            endpoints: self.endpoints()?,
            start: parse_start(&self.start)?,
            once: self.once,
            state_dir: self.state_dir.clone(),
            cursor_interval: self.cursor_interval,
            listen: (!self.listen.is_empty()).then(|| self.listen.clone()),
            progress: self.progress,
            stall_timeout: self.flush_deadline,
            fill_margin: self.fill_margin,
            prometheus: self.prometheus(),
        })
    }

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
                logging::warn("Configuration", &[("file", &file.display()), ("warning", w)]);
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
pub enum InspectFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DumpFormat {
    Text,
    Jsonl,
}

/// walship(1) lists the subcommands only; the flags an operator looks up (`man walship-ship`) are
/// on a page per subcommand, as git does it.
pub fn write_man_pages(dir: &std::path::Path) -> Result<(), CliError> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
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
