//! `walship ship`: one watcher and one queue per endpoint, a durable cursor each, `/metrics`,
//! and a clean stop on SIGINT/SIGTERM.

use crate::cursor::{Cursor, HistoryCursor, StateDir};
use crate::endpoint::Endpoint;
use crate::error::CliError;
use crate::history::{self, HistoryEnd, HistoryProgress};
use crate::logging;
use crate::progress::{Progress, Tick};
use crate::signals::Signals;
use crate::sink::{AckedTime, GapWatch, QueueSink, RunningGap};
use crate::targets;
use crate::web;
use remote_queue::{DropReason, EndpointConfig, PrometheusApi, QueueManager, TargetMetadata};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wal_format::Position;
use wal_watcher::{Event, GapAnswer, StartMode, StopHandle, Watcher, WatcherOptions};

/// How often the main thread looks at the endpoints (stop requests, cursors, progress). Waking
/// more often bought nothing but CPU: at 20 wake-ups a second this loop was 5 % of walship's CPU
/// while tailing 30k series a second.
const SUPERVISE_EVERY: Duration = Duration::from_millis(200);

/// What `ship` needs, parsed from the command line.
pub struct ShipOptions {
    /// The WAL (or Prometheus data) directory.
    pub wal_dir: PathBuf,
    /// Endpoints.
    pub endpoints: Vec<EndpointConfig>,
    /// Where to start when no cursor is saved.
    pub start: Start,
    /// Read to the current end, deliver, save, exit.
    pub once: bool,
    /// Cursor directory.
    pub state_dir: PathBuf,
    /// How often cursors are saved.
    pub cursor_interval: Duration,
    /// `/metrics` listen address; `None` for no HTTP server.
    pub listen: Option<String>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// How far before the newest acknowledged sample a gap fill starts.
    pub fill_margin: Duration,
    /// With `once`: give up when no endpoint's cursor has moved for this long (the remote is
    /// down or refuses everything).
    pub stall_timeout: Duration,
    /// The Prometheus API to read the scrape targets' metadata from (`--prometheus.url`).
    pub prometheus: Option<remote_queue::PrometheusApiConfig>,
}

/// What became of one kind of data (float samples, histograms or exemplars), summed over
/// endpoints.
#[derive(Debug, Default, Clone)]
pub struct KindCounts {
    /// Accepted by the remotes.
    pub sent: u64,
    /// Dropped for a counted reason, by the `reason` label of `*_dropped_total`.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Failed for good: rejected by a remote, or still unsent when the flush deadline passed.
    pub failed: u64,
}

impl KindCounts {
    /// Every dropped one, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// `0`, or the drops by reason: `too_old:3,dropped_series:10`.
    fn dropped_text(&self) -> String {
        let by: Vec<String> = self.dropped.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{r}:{n}")).collect();
        if by.is_empty() {
            "0".into()
        } else {
            by.join(",")
        }
    }
}

/// Where `ship` starts when no cursor is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// In the WAL, as the watcher's start mode says.
    Wal(StartMode),
    /// With everything the data directory holds: the persisted blocks (up to where the WAL
    /// takes over), then the checkpoint and the WAL.
    Oldest,
}

/// How far before the newest acknowledged sample a gap fill starts, by default. Records after the cursor
/// hold samples a little older than the newest one acknowledged before it: Prometheus writes a
/// scrape's samples (stamped with the scrape's start) when the scrape ends, and scrapes of
/// different targets overlap. Five minutes is past any scrape timeout; what it repeats is
/// harmless for a receiver (same series, same timestamp, same value).
pub const FILL_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What a run delivered, for the final summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Samples read from the WAL and handed to queues (summed over endpoints).
    pub samples_read: u64,
    /// Float samples.
    pub samples: KindCounts,
    /// Native histograms (integer and float).
    pub histograms: KindCounts,
    /// Exemplars.
    pub exemplars: KindCounts,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether every endpoint's cursor reached the end read: every record read was delivered or
    /// dropped for a counted reason (relabelling, too old, rejected by the remote).
    pub complete: bool,
    /// Damaged WAL spans stepped over (summed over endpoints, which each read the WAL).
    pub wal_damage: u64,
    /// WAL records known to be lost to damage.
    pub wal_records_lost: u64,
    /// Gaps: segments missing when they were to be read (and not filled from blocks).
    pub wal_gaps: u64,
    /// Samples read from persisted blocks (included in `samples_read`).
    pub block_samples_read: u64,
    /// Block reads that failed (each logged with its file and offset).
    pub block_errors: u64,
}

impl Summary {
    /// The final log line: what was read, sent (stored by the remotes, retries included), dropped
    /// (by reason) and failed, per kind.
    pub fn log(&self) {
        let (s, h, e) = (&self.samples, &self.histograms, &self.exemplars);
        logging::info(
            "Shipped (complete=true: everything read was delivered or dropped for a counted reason)",
            &[
                ("samples_read", &self.samples_read),
                ("samples_sent", &s.sent),
                ("samples_dropped", &s.dropped_text()),
                ("samples_failed", &s.failed),
                ("histograms_sent", &h.sent),
                ("histograms_dropped", &h.dropped_text()),
                ("histograms_failed", &h.failed),
                ("exemplars_sent", &e.sent),
                ("exemplars_dropped", &e.dropped_text()),
                ("exemplars_failed", &e.failed),
                ("complete", &self.complete),
                ("wal_damage", &self.wal_damage),
                ("wal_records_lost", &self.wal_records_lost),
                ("wal_gaps", &self.wal_gaps),
                ("block_samples_read", &self.block_samples_read),
                ("block_errors", &self.block_errors),
                ("elapsed", &format!("{:?}", self.elapsed)),
            ],
        );
    }

    /// Points dropped because their series was never declared: the series record was lost (WAL
    /// damage), not a reason the user chose or the remote gave.
    fn unintentional_drops(&self) -> u64 {
        [&self.samples, &self.histograms, &self.exemplars]
            .iter()
            .map(|k| k.dropped.get(DropReason::UnintentionallyDroppedSeries.label()).copied().unwrap_or(0))
            .sum()
    }
}

/// The one name of an endpoint: its configured name, or a hash of its URL when it has none. It
/// names the endpoint's cursor file, its log lines and its series in `/metrics` (walship's
/// `endpoint` label and the queue's `remote_name`, see [`queue_config`]).
pub fn endpoint_key(cfg: &EndpointConfig) -> String {
    if !cfg.name.is_empty() {
        return cfg.name.clone();
    }
    format!("{:016x}", crate::cursor::fnv1a(cfg.url.as_bytes()))
}

/// `cfg` named by its [`endpoint_key`], so that the queue's metrics carry the name the cursor
/// has (the queue would otherwise name an unnamed endpoint by a hash of its own).
fn queue_config(cfg: &EndpointConfig) -> EndpointConfig {
    let mut named = cfg.clone();
    named.name = endpoint_key(cfg);
    named
}

struct Running {
    key: String,
    url: String,
    queue: Arc<QueueManager>,
    stop: wal_watcher::StopHandle,
    metrics: Arc<wal_watcher::WatcherMetrics>,
    thread: Option<std::thread::JoinHandle<Option<Position>>>,
    cursor: CursorState,
    /// Custom-bucket histograms dropped on remote write 1.0 were logged.
    nhcb_warned: bool,
    history: Arc<HistoryProgress>,
    acked: Arc<AckedTime>,
    /// A gap after the saved cursor was filled from blocks, leaving nothing unaccounted.
    gap_filled: bool,
    /// Gaps met while running and filled from blocks.
    running_fills: Arc<RunningFillCounts>,
}

/// What gap fills while running did, for the summary (what their queues sent is added to the
/// endpoint queue's counters).
#[derive(Default)]
struct RunningFillCounts {
    /// Gaps filled leaving nothing unaccounted.
    filled: AtomicU64,
}

/// What became of an endpoint's cursor saves.
struct CursorState {
    /// The last cursor saved (or loaded).
    saved: Option<Cursor>,
    /// The last save failed: its error was logged, its recovery will be.
    failing: bool,
    /// Failed saves, for `walship_cursor_save_failures_total`.
    failures: Arc<AtomicU64>,
    /// When the last save succeeded (ms since the epoch), for the status page.
    saved_at_ms: Arc<std::sync::atomic::AtomicI64>,
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// SIGINT or SIGTERM.
    Signalled,
    /// With `--once`: every watcher read to the end of the WAL.
    AllRead,
    /// With `--once`: nothing was acknowledged for `stall_timeout`.
    Stalled,
    /// A remote refused the credentials.
    Refused,
}

/// Runs the shipper until stopped (or, with `once`, until the WAL's current end is delivered).
pub fn ship(opts: ShipOptions) -> Result<(ExitCode, Summary), CliError> {
    let started = Instant::now();
    if let Err(e) = crate::error::check_dir(&opts.wal_dir) {
        // A data directory of blocks alone (a snapshot, a copy) is enough for --start=oldest.
        let has_blocks = opts.wal_dir.is_dir()
            && tsdb_block::DataDir::open(&history::data_dir_of(&opts.wal_dir)).is_ok_and(|d| !d.blocks().is_empty());
        if opts.start != Start::Oldest || !has_blocks {
            return Err(e);
        }
    }
    if opts.endpoints.is_empty() {
        return Err(CliError::Usage("no endpoint: give --url or --config.file with a remote_write section".into()));
    }
    let state = StateDir::open(&opts.state_dir)?;
    let signals = Signals::watch()?;
    // The first answer is waited for (at most the API's timeout), so that the first requests
    // already carry metadata; later ones are read in the background.
    let mut reader = match &opts.prometheus {
        Some(c) => Some(targets::Reader::new(
            PrometheusApi::new(c).map_err(|e| CliError::Usage(format!("--prometheus.url: {e}")))?,
            log_targets,
        )),
        None => None,
    };
    let initial = reader.as_mut().and_then(targets::Reader::read);
    let mut running = Vec::new();
    for cfg in &opts.endpoints {
        running.push(start_endpoint(&opts, cfg, &state, initial.clone())?);
    }
    let refresher = match reader {
        Some(r) => {
            let every =
                opts.endpoints.iter().map(|e| e.metadata.send_interval).min().unwrap_or(Duration::from_secs(60));
            let queues = running.iter().map(|r| r.queue.clone()).collect();
            Some(
                targets::Refresher::start(r, every, queues)
                    .map_err(|e| CliError::Run(format!("cannot start a thread: {e}")))?,
            )
        }
        None => None,
    };
    let web = match &opts.listen {
        Some(addr) => {
            let eps: Vec<Endpoint> = running
                .iter()
                .zip(&opts.endpoints)
                .map(|(r, cfg)| Endpoint {
                    key: r.key.clone(),
                    queue: r.queue.clone(),
                    watcher: r.metrics.clone(),
                    cursor_save_failures: r.cursor.failures.clone(),
                    cursor_saved_ms: r.cursor.saved_at_ms.clone(),
                    url: r.url.clone(),
                    max_shards: cfg.queue.max_shards,
                })
                .collect();
            Some(web::serve(addr, eps, opts.wal_dir.clone())?)
        }
        None => None,
    };
    let progress = opts.progress.then(|| Progress::new(&opts.wal_dir));
    let ended = supervise(&opts, &state, &mut running, &signals, progress.as_ref());
    if let Some(p) = progress {
        p.finish();
    }
    if ended != Ended::AllRead {
        logging::info("Stopping: flushing queues and saving cursors", &[]);
    }
    let flush_deadline = opts.endpoints.iter().map(|e| e.flush_deadline).max().unwrap_or_default();
    drop(refresher);
    let ends = shut_down(&mut running, flush_deadline, &signals);
    let saved = save_cursors(&state, &mut running);
    for r in running.iter_mut() {
        warn_of_unsendable_histograms(r);
    }
    drop(web);
    let summary = summarise(&opts, &running, &ends, started.elapsed());
    // Samples dropped for a reason the user chose (relabelling) or the remote gave (rejected) are
    // counted, not a failure: the run did what was asked.
    let failed = matches!(ended, Ended::Stalled | Ended::Refused) || (opts.once && (!summary.complete || !saved));
    if opts.once && !saved {
        logging::error("The cursor could not be saved: a new run would send again what this one sent", &[]);
    }
    let lost = summary.wal_damage > 0
        || summary.wal_records_lost > 0
        || summary.wal_gaps > 0
        || summary.block_errors > 0
        || summary.unintentional_drops() > 0;
    let code = if failed {
        ExitCode::FAILURE
    } else if opts.once && lost {
        ExitCode::from(crate::error::EXIT_DATA_LOST)
    } else {
        ExitCode::SUCCESS
    };
    Ok((code, summary))
}

/// Logs a change in whether the Prometheus API answers (once each way).
fn log_targets(n: &targets::Note<'_>) {
    match *n {
        targets::Note::Answers { url, again, targets, families } => logging::info(
            if again { "Prometheus API answers again" } else { "Reading target metadata" },
            &[("url", &url), ("targets", &targets), ("families", &families)],
        ),
        targets::Note::Fails { url, err } => logging::warn(
            "Cannot read target metadata from the Prometheus API; samples are shipped without new metadata until it answers",
            &[("url", &url), ("err", &err)],
        ),
    }
}

/// What an endpoint does before it follows the WAL.
struct Plan {
    /// The WAL start mode (replaced after a history phase).
    start: StartMode,
    /// A history phase: where it starts, and the WAL position to resume at after it.
    history: Option<(HistoryCursor, Option<Position>)>,
    /// What a gap fill is about, for the gap's log line.
    fill: Option<GapFill>,
}

/// A gap in the WAL after the saved cursor, filled from the blocks.
#[derive(Debug, Clone)]
struct GapFill {
    from_ms: i64,
    to_ms: i64,
    blocks: Vec<String>,
    /// The part of the range no block holds (older than every block), if any.
    not_in_blocks: Option<(i64, i64)>,
}

/// Decides, from the saved cursor and `--start`, whether the endpoint first ships from blocks.
fn plan(opts: &ShipOptions, key: &str, cursor: Option<&Cursor>) -> Plan {
    let wal_only = |start| Plan { start, history: None, fill: None };
    let Some(c) = cursor else {
        return match opts.start {
            Start::Wal(m) => wal_only(m),
            Start::Oldest => Plan {
                start: StartMode::Beginning,
                history: Some((HistoryCursor { from_ms: i64::MIN, upto_ms: i64::MIN, ..Default::default() }, None)),
                fill: None,
            },
        };
    };
    if let Some(h) = &c.history {
        // A gap fill that was under way when walship stopped goes on, and is reported as one.
        let fill = c
            .wal
            .and_then(|_| blocks_beside(&opts.wal_dir, key))
            .map(|d| gap_fill(&d, h.from_ms, c.acked_ms.unwrap_or(h.from_ms)));
        return Plan { start: StartMode::Beginning, history: Some((h.clone(), c.wal)), fill };
    }
    let Some(p) = c.wal else { return wal_only(StartMode::Beginning) };
    if !wal_gap(&opts.wal_dir, p) {
        return wal_only(StartMode::Position(p));
    }
    let Some(acked) = c.acked_ms else {
        logging::warn(
            "WAL segments after the cursor were deleted, and the cursor (written by an earlier walship) does not say which time they held: the gap cannot be filled from blocks",
            &[("endpoint", &key), ("cursor", &p)],
        );
        return wal_only(StartMode::Position(p));
    };
    let from_ms = acked.saturating_sub(opts.fill_margin.as_millis() as i64);
    let Some(dir) = blocks_beside(&opts.wal_dir, key) else { return wal_only(StartMode::Position(p)) };
    let fill = gap_fill(&dir, from_ms, acked);
    if fill.blocks.is_empty() {
        // Nothing to fill from (no block persisted yet, or retention removed them): the watcher
        // reports the gap as lost.
        logging::warn(
            "WAL segments after the cursor were deleted, and no persisted block holds the time they covered: the gap cannot be filled",
            &[("endpoint", &key), ("cursor", &p), ("acknowledged_until_ms", &acked)],
        );
        return wal_only(StartMode::Position(p));
    }
    logging::warn(
        "WAL segments after the cursor were deleted (walship was down longer than Prometheus keeps its WAL): shipping the time range they held from the persisted blocks first",
        &[
            ("endpoint", &key),
            ("cursor", &p),
            ("acknowledged_until_ms", &acked),
            ("fill_from_ms", &fill.from_ms),
            ("fill_to_ms", &fill.to_ms),
            ("blocks", &if fill.blocks.is_empty() { "none".to_string() } else { fill.blocks.join(",") }),
        ],
    );
    Plan {
        start: StartMode::Position(p),
        history: Some((HistoryCursor { from_ms, upto_ms: from_ms, ..Default::default() }, Some(p))),
        fill: Some(fill),
    }
}

/// The data directory beside the WAL at `wal_dir`, listed; `None` (logged) when it cannot be.
fn blocks_beside(wal_dir: &std::path::Path, key: &str) -> Option<tsdb_block::DataDir> {
    match tsdb_block::DataDir::open(&history::data_dir_of(wal_dir)) {
        Ok(d) => Some(d),
        Err(e) => {
            logging::warn("Cannot list the persisted blocks to fill a WAL gap", &[("endpoint", &key), ("err", &e)]);
            None
        }
    }
}

/// What a gap fill from `from_ms` takes from the blocks of `dir`, given the newest sample
/// acknowledged.
fn gap_fill(dir: &tsdb_block::DataDir, from_ms: i64, acked: i64) -> GapFill {
    let to_ms = history::blocks_end(dir).unwrap_or(i64::MIN);
    let blocks: Vec<String> = history::plan(dir, from_ms, to_ms).iter().flat_map(|w| w.ulids()).collect();
    // Blocks start at their first sample; only when the newest acknowledged sample is older than
    // every block can data have existed that no block holds (retention deleted it).
    let oldest = dir.blocks().iter().map(|b| b.meta().min_time).min();
    let not_in_blocks = oldest.filter(|&o| acked.saturating_add(1) < o).map(|o| (acked + 1, o));
    GapFill { from_ms, to_ms, blocks, not_in_blocks }
}

/// Whether the segment of `p` (and maybe more after it) is gone from the WAL at `dir`.
fn wal_gap(dir: &std::path::Path, p: Position) -> bool {
    let Ok(segments) = wal_reader::list_segments(&wal_reader::resolve_wal_dir(dir)) else { return false };
    match (segments.first(), segments.last()) {
        (Some(first), Some(last)) => p.segment < first.index && p.segment <= last.index,
        _ => false,
    }
}

/// Whether the WAL at `dir` holds anything to read.
fn wal_exists(dir: &std::path::Path) -> bool {
    let wal = wal_reader::resolve_wal_dir(dir);
    wal_reader::list_segments(&wal).is_ok_and(|s| !s.is_empty())
        || wal_reader::last_checkpoint(&wal).is_ok_and(|c| c.is_some())
}

/// Starts one endpoint: its queue, and on a thread of its own its history phase (if any) and
/// its watcher.
fn start_endpoint(
    opts: &ShipOptions,
    cfg: &EndpointConfig,
    state: &StateDir,
    targets: Option<Arc<TargetMetadata>>,
) -> Result<Running, CliError> {
    let key = endpoint_key(cfg);
    let url = cfg.redacted_url();
    let cursor = state.load(&key)?;
    let plan = plan(opts, &key, cursor.as_ref());
    match &cursor {
        Some(c) => logging::info(
            "Resuming from saved cursor",
            &[
                ("endpoint", &key),
                ("url", &url),
                ("position", &c.wal.map_or("none".to_string(), |p| p.to_string())),
                ("history", &c.history.as_ref().map_or("none".to_string(), |h| format!("{h:?}"))),
            ],
        ),
        None => {
            logging::info("Starting", &[("endpoint", &key), ("url", &url), ("start", &format!("{:?}", opts.start))])
        }
    }
    let queue = Arc::new(QueueManager::new(queue_config(cfg)).map_err(|e| CliError::Usage(format!("{url}: {e}")))?);
    if let Some(t) = targets {
        queue.set_target_metadata(t);
    }
    let wopts = WatcherOptions {
        start: plan.start,
        send_exemplars: cfg.send_exemplars,
        send_histograms: cfg.send_native_histograms,
        ..Default::default()
    };
    let acked = Arc::new(AckedTime::new(cursor.as_ref().and_then(|c| c.acked_ms)));
    let progress = Arc::new(HistoryProgress::default());
    let running_fills = Arc::new(RunningFillCounts::default());
    let fills = Arc::new(Mutex::new(VecDeque::new()));
    let filler = RunningFill {
        key: key.clone(),
        cfg: cfg.clone(),
        wal_dir: opts.wal_dir.clone(),
        margin: opts.fill_margin,
        queue: queue.clone(),
        acked: acked.clone(),
        progress: progress.clone(),
        stop: Arc::new(OnceLock::new()),
        fills: fills.clone(),
        counts: running_fills.clone(),
    };
    let stop_for_fill = filler.stop.clone();
    let watch = GapWatch::new(Box::new(move |gap| fill_running_gap(&filler, gap)));
    let mut watcher = Watcher::new(&opts.wal_dir, wopts, QueueSink(queue.clone(), acked.clone(), Some(watch)));
    let stop = watcher.stop_handle();
    let metrics = watcher.metrics();
    let _ = stop_for_fill.set(stop.clone());
    let once = opts.once;
    let name = key.clone();
    let wal_dir = opts.wal_dir.clone();
    let (q, stopper, prog, ack) = (queue.clone(), stop.clone(), progress.clone(), acked.clone());
    let fill = plan.fill.clone();
    let gap_filled = fill.as_ref().is_some_and(|f| !f.blocks.is_empty() && f.not_in_blocks.is_none());
    let history_plan = plan.history;
    let thread = std::thread::Builder::new()
        .name(format!("watch-{key}"))
        .spawn(move || {
            if let Some((from, then_wal)) = history_plan {
                let data_dir = history::data_dir_of(&wal_dir);
                match history::run(&data_dir, from, then_wal, &q, &stopper, &prog) {
                    Ok(HistoryEnd::Done { upto_ms, last }) => {
                        logging::info(
                            "Persisted blocks shipped; the WAL takes over",
                            &[
                                ("endpoint", &name),
                                ("until_ms", &upto_ms),
                                ("samples", &prog.samples_read.load(Ordering::Relaxed)),
                            ],
                        );
                        let start = match then_wal {
                            Some(p) => StartMode::Position(p),
                            None if upto_ms == i64::MIN => StartMode::Beginning,
                            None => {
                                ack.set(Some(upto_ms - 1));
                                StartMode::Timestamp(upto_ms - 1)
                            }
                        };
                        watcher.set_start(start);
                        if once && !wal_exists(&wal_dir) {
                            return Some(last);
                        }
                    }
                    Ok(HistoryEnd::Stopped) => return None,
                    Err(e) => {
                        logging::error("Reading the persisted blocks failed", &[("endpoint", &name), ("err", &e)]);
                        return None;
                    }
                }
            }
            let mut last_error = None;
            let mut fill = fill;
            let on_event = |e: Event<'_>| report(&name, e, &mut last_error, &mut fill, &fills);
            let ran = if once { watcher.run_to_end(on_event) } else { watcher.run(on_event) };
            if let Err(e) = ran {
                logging::error("Reading the WAL failed", &[("endpoint", &name), ("err", &e)]);
                return None;
            }
            watcher.position()
        })
        .map_err(|e| CliError::Run(format!("cannot start a thread: {e}")))?;
    let cursor = CursorState { saved: cursor, failing: false, failures: Arc::default(), saved_at_ms: Arc::default() };
    Ok(Running {
        key,
        url,
        queue,
        stop,
        metrics,
        thread: Some(thread),
        cursor,
        nhcb_warned: false,
        history: progress,
        acked,
        gap_filled,
        running_fills,
    })
}

/// Watches the endpoints until a signal, the end of a `--once` run, a stall or refused
/// credentials; saves cursors and prints progress meanwhile.
fn supervise(
    opts: &ShipOptions,
    state: &StateDir,
    running: &mut [Running],
    signals: &Signals,
    progress: Option<&Progress>,
) -> Ended {
    let mut last_save = Instant::now();
    let mut last_progress = (Instant::now(), 0u64);
    let mut last_move = (Instant::now(), Vec::new());
    loop {
        std::thread::sleep(SUPERVISE_EVERY);
        if let Some((r, why)) = running.iter().find_map(|r| r.queue.fatal_error().map(|e| (r, e))) {
            logging::error(
                "The remote refused walship's credentials; stopping. Nothing was dropped: fix the configuration and restart",
                &[("endpoint", &r.key), ("url", &r.url), ("err", &why)],
            );
            return Ended::Refused;
        }
        if opts.once {
            // A gap fill while running moves its own queue, not the endpoint's: the samples it
            // read from blocks count as movement too.
            let marks: Vec<(Option<Position>, u64)> = running
                .iter()
                .map(|r| (r.queue.low_watermark(), r.history.samples_read.load(Ordering::Relaxed)))
                .collect();
            if marks != last_move.1 {
                last_move = (Instant::now(), marks);
            } else if last_move.0.elapsed() >= opts.stall_timeout {
                logging::error(
                    "Nothing was acknowledged for too long; giving up",
                    &[("waited", &format!("{:?}", opts.stall_timeout))],
                );
                return Ended::Stalled;
            }
        }
        if signals.received() > 0 {
            return Ended::Signalled;
        }
        for r in running.iter_mut() {
            warn_of_unsendable_histograms(r);
        }
        if opts.once && running.iter().all(|r| r.thread.as_ref().is_none_or(|t| t.is_finished())) {
            return Ended::AllRead;
        }
        if last_save.elapsed() >= opts.cursor_interval {
            last_save = Instant::now();
            save_cursors(state, running);
        }
        if let Some(progress) = progress.filter(|_| last_progress.0.elapsed() >= Duration::from_secs(1)) {
            let sent: u64 = running.iter().map(|r| r.queue.metrics().samples_accepted).sum();
            let rate = sent.saturating_sub(last_progress.1) as f64 / last_progress.0.elapsed().as_secs_f64();
            last_progress = (Instant::now(), sent);
            progress.tick(&progress_tick(running, sent, rate));
        }
    }
}

/// Logs once per endpoint that custom-bucket histograms are being dropped: remote write 1.0 has
/// no field for their bounds (Prometheus 3 drops them too). They are counted under
/// `prometheus_remote_storage_histograms_dropped_total{reason="nhcb_in_rw1_not_supported"}`.
fn warn_of_unsendable_histograms(r: &mut Running) {
    if r.nhcb_warned {
        return;
    }
    // Every supervise tick: one counter, not a copy of all the queue's metrics.
    let dropped = r.queue.histograms_dropped(DropReason::NhcbInRw1NotSupported);
    if dropped > 0 {
        r.nhcb_warned = true;
        logging::warn(
            "Custom-bucket native histograms cannot travel in remote write 1.0 and are dropped (counted); use protobuf_message: io.prometheus.write.v2.Request to send them",
            &[("endpoint", &r.key), ("url", &r.url), ("dropped_so_far", &dropped)],
        );
    }
}

/// Stops the watchers and flushes the queues, all at once, within the flush deadline — or at
/// once when a second signal arrives. Returns where each watcher had read to, when it ended.
fn shut_down(running: &mut [Running], flush_deadline: Duration, signals: &Signals) -> Vec<Option<Position>> {
    for r in running.iter() {
        r.stop.stop();
    }
    // Stopping a queue flushes what it holds (within the flush deadline) and makes a watcher
    // blocked in an append return. All queues stop together, so that several endpoints do not
    // add up their deadlines.
    let stopping: Vec<_> = running
        .iter()
        .map(|r| {
            let q = r.queue.clone();
            std::thread::spawn(move || q.stop())
        })
        .collect();
    let signals_before = signals.received();
    let until = Instant::now() + flush_deadline + Duration::from_millis(500);
    let busy = |running: &[Running]| {
        stopping.iter().any(|t| !t.is_finished())
            || running.iter().any(|r| r.thread.as_ref().is_some_and(|t| !t.is_finished()))
    };
    while busy(running) && Instant::now() < until {
        // One more signal than the one that stopped supervision (if any) cuts the flush short.
        if signals.received() > signals_before {
            logging::warn(
                "Second signal: exiting now. Cursors are saved at what the remotes acknowledged; the rest is sent again at the next start",
                &[],
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    running
        .iter_mut()
        .map(|r| match r.thread.take_if(|t| t.is_finished()) {
            Some(t) => t.join().ok().flatten(),
            None => None,
        })
        .collect()
}

/// What the run did, for the final line.
fn summarise(opts: &ShipOptions, running: &[Running], ends: &[Option<Position>], elapsed: Duration) -> Summary {
    let mut summary = Summary { elapsed, complete: true, ..Default::default() };
    for (r, end) in running.iter().zip(ends) {
        let m = r.queue.metrics();
        let kinds = [
            (&mut summary.samples, m.samples_accepted, m.samples_failed_total),
            (&mut summary.exemplars, m.exemplars_accepted, m.exemplars_failed_total),
            (&mut summary.histograms, m.histograms_accepted, m.histograms_failed_total),
        ];
        for (i, (kind, accepted, failed)) in kinds.into_iter().enumerate() {
            kind.sent += accepted;
            kind.failed += failed;
            for (reason, by_kind) in m.dropped.iter().map(|d| (d.0, [d.1, d.2, d.3])) {
                *kind.dropped.entry(reason.label()).or_default() += by_kind[i];
            }
        }
        let block_samples = r.history.samples_read.load(Ordering::Relaxed);
        summary.samples_read += r.metrics.samples_sent.load(Ordering::Relaxed) + block_samples;
        summary.block_samples_read += block_samples;
        summary.block_errors += r.history.errors.load(Ordering::Relaxed);
        summary.wal_damage += r.metrics.corruptions.load(Ordering::Relaxed);
        summary.wal_records_lost +=
            r.metrics.records_lost.load(Ordering::Relaxed) + r.metrics.decode_failures.load(Ordering::Relaxed);
        let gaps = r.metrics.gaps.load(Ordering::Relaxed);
        let filled = u64::from(r.gap_filled) + r.running_fills.filled.load(Ordering::Relaxed);
        summary.wal_gaps += gaps.saturating_sub(filled);
        let reached = match (end, r.queue.low_watermark()) {
            (Some(e), Some(w)) => w >= *e,
            (Some(_), None) => false,
            (None, _) => !opts.once,
        };
        summary.complete &= reached;
        if opts.once && !reached {
            logging::error(
                "Not everything read was acknowledged by the remote; the cursor stays at what was",
                &[
                    ("endpoint", &r.key),
                    ("read_to", &end.map_or("nothing".to_string(), |p| p.to_string())),
                    ("acknowledged", &r.queue.low_watermark().map_or("nothing".to_string(), |p| p.to_string())),
                ],
            );
        }
        logging::info(
            "Endpoint done",
            &[
                ("endpoint", &r.key),
                ("url", &r.url),
                ("samples_sent", &m.samples_accepted),
                ("samples_dropped", &m.samples_dropped_total()),
                ("samples_failed", &m.samples_failed_total),
                ("cursor", &r.cursor.saved.as_ref().and_then(|c| c.wal).map_or("none".to_string(), |p| p.to_string())),
            ],
        );
    }
    summary
}

/// Saves each endpoint's acknowledged position. A failure is logged once (and its recovery
/// once), counted, and retried at the next save. Returns whether every cursor is saved.
fn save_cursors(state: &StateDir, running: &mut [Running]) -> bool {
    let mut all_saved = true;
    for r in running.iter_mut() {
        let Some(w) = r.queue.low_watermark() else { continue };
        let cursor = if history::is_block_position(w) {
            let Some((h, then_wal)) = r.history.cursor_for(w) else { continue };
            Cursor { wal: then_wal, acked_ms: r.acked.current(), history: Some(h) }
        } else {
            Cursor { wal: Some(w), acked_ms: r.acked.acked_before(w), history: None }
        };
        if r.cursor.saved.as_ref() == Some(&cursor) {
            continue;
        }
        match state.save(&r.key, &cursor, &r.url) {
            Ok(()) => {
                r.cursor.saved = Some(cursor);
                r.cursor.saved_at_ms.store(crate::time::now_ms(), Ordering::Relaxed);
                if std::mem::take(&mut r.cursor.failing) {
                    logging::info("Saving the cursor works again", &[("endpoint", &r.key), ("position", &w)]);
                }
            }
            Err(e) => {
                all_saved = false;
                r.cursor.failures.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut r.cursor.failing, true) {
                    logging::error(
                        "Saving the cursor failed; retrying at every save. A restart would send again what was sent since the last save",
                        &[("endpoint", &r.key), ("err", &e)],
                    );
                }
            }
        }
    }
    all_saved
}

fn progress_tick(running: &[Running], delivered: u64, rate: f64) -> Tick {
    let newest = running.iter().map(|r| r.metrics.newest_timestamp_ms.load(Ordering::Relaxed)).max().unwrap_or(0);
    let reading = running.iter().map(|r| r.metrics.current_segment.load(Ordering::Relaxed)).min().unwrap_or(0);
    let lag_seconds = (newest > 0).then(|| (crate::time::now_ms() - newest) as f64 / 1000.0);
    // While blocks are shipped the acknowledged positions are block positions, not WAL ones: the
    // WAL bar stays at its start and the blocks being read are named instead.
    let in_history = running.iter().any(|r| r.queue.low_watermark().is_some_and(history::is_block_position));
    let blocks = if in_history {
        running.iter().map(|r| r.history.current()).filter(|b| !b.is_empty()).collect()
    } else {
        Vec::new()
    };
    // The slowest endpoint decides how far the run is; one with nothing acknowledged yet is at 0.
    let marks: Vec<Option<Position>> = running.iter().map(|r| r.queue.low_watermark()).collect();
    let acknowledged =
        if in_history || marks.iter().any(Option::is_none) { None } else { marks.into_iter().flatten().min() };
    Tick { delivered, rate, acknowledged, reading, lag_seconds, blocks }
}

/// Logs a watcher event. A failing pass repeats every few seconds until its cause goes away (the
/// WAL directory missing while Prometheus restarts, say): the same error is logged once, and its
/// end once more.
///
/// A gap's line says how it was filled: by a fill made while running (`running`, oldest first),
/// else by the fill made at start (`start_fill`, which belongs to the first gap met).
fn report(
    endpoint: &str,
    e: Event<'_>,
    last_error: &mut Option<String>,
    start_fill: &mut Option<GapFill>,
    running: &Mutex<VecDeque<GapFill>>,
) {
    match e {
        Event::Error(err) => {
            let text = err.to_string();
            if last_error.as_deref() != Some(text.as_str()) {
                logging::error(
                    "Error reading the WAL; retrying until it goes away",
                    &[("endpoint", &endpoint), ("err", err)],
                );
                *last_error = Some(text);
            }
        }
        Event::Corruption(err) => match err {
            wal_reader::Error::Corruption { path, fragment_offset, skipped, records_lost, source, .. } => {
                logging::warn(
                    "WAL damage skipped; the records in it are lost, reading went on after it",
                    &[
                        ("endpoint", &endpoint),
                        ("file", &path.display()),
                        ("offset", fragment_offset),
                        ("bytes_skipped", skipped),
                        ("records_lost", records_lost),
                        ("err", source),
                    ],
                )
            }
            other => logging::warn("WAL damage skipped", &[("endpoint", &endpoint), ("err", other)]),
        },
        Event::BadRecord { at, error } => logging::warn(
            "Record does not decode; skipped",
            &[("endpoint", &endpoint), ("position", &at), ("err", error)],
        ),
        Event::Gap { missing, checkpoint, newest_before_ms, first_after_ms } => {
            let ms = |t: Option<i64>| t.map_or("unknown".to_string(), |t| t.to_string());
            let cp = checkpoint.map_or("none".to_string(), wal_format::checkpoint_dir_name);
            let running = running.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
            if let Some(f) = running.or_else(|| start_fill.take()) {
                let lost = f.not_in_blocks.map_or("none".to_string(), |(a, b)| format!("{a}..{b}"));
                let blocks = if f.blocks.is_empty() { "none".to_string() } else { f.blocks.join(",") };
                let text = if f.not_in_blocks.is_some() {
                    "WAL segments missing; the time range they held was shipped from the persisted blocks, but part of it is older than every block: samples in lost_ms, if any, are lost"
                } else {
                    "WAL segments missing; the time range they held was shipped from the persisted blocks and the checkpoint: nothing lost"
                };
                logging::warn(
                    text,
                    &[
                        ("endpoint", &endpoint),
                        ("missing", &format!("{:08}..{:08}", missing.start(), missing.end())),
                        ("filled_from_ms", &f.from_ms),
                        ("filled_to_ms", &f.to_ms),
                        ("blocks", &blocks),
                        ("checkpoint", &cp),
                        ("lost_ms", &lost),
                    ],
                );
                return;
            }
            logging::warn(
                "WAL segments missing (deleted by Prometheus while walship lagged, or by hand); their samples are lost unless the checkpoint kept them; reading went on with the next segment",
                &[
                    ("endpoint", &endpoint),
                    ("missing", &format!("{:08}..{:08}", missing.start(), missing.end())),
                    ("checkpoint", &cp),
                    ("newest_before_ms", &ms(newest_before_ms)),
                    ("first_after_ms", &ms(first_after_ms)),
                ],
            )
        }
        Event::CursorAhead { cursor, newest } => logging::warn(
            "Cursor is past the newest WAL segment (a new WAL?); reading the whole WAL",
            &[("endpoint", &endpoint), ("cursor", &cursor), ("newest_segment", &newest)],
        ),
        Event::SegmentDeleted { segment } => logging::warn(
            "The WAL segment being read was deleted; what it held was read, going on with the next one",
            &[("endpoint", &endpoint), ("segment", &format!("{segment:08}"))],
        ),
        Event::CheckpointGc { index } => {
            logging::debug("New checkpoint: series garbage-collected", &[("checkpoint", &index)])
        }
        Event::CaughtUp { replay } => {
            if let Some(err) = last_error.take() {
                logging::info("Reading the WAL works again", &[("endpoint", &endpoint), ("after", &err)]);
            }
            logging::info("Caught up with the WAL", &[("endpoint", &endpoint), ("replay", &format!("{replay:?}"))])
        }
        _ => {}
    }
}

/// What filling a gap met while running needs (see [`fill_running_gap`]).
struct RunningFill {
    key: String,
    cfg: EndpointConfig,
    wal_dir: PathBuf,
    margin: Duration,
    /// The endpoint's queue.
    queue: Arc<QueueManager>,
    acked: Arc<AckedTime>,
    progress: Arc<HistoryProgress>,
    /// The watcher's stop handle (set once the watcher exists).
    stop: Arc<OnceLock<StopHandle>>,
    /// Fills done, for the gap lines.
    fills: Arc<Mutex<VecDeque<GapFill>>>,
    counts: Arc<RunningFillCounts>,
}

/// Fills a gap the watcher met while running, as a gap after the saved cursor is filled at
/// start: the time range from the newest acknowledged sample (less the margin) to the end of
/// the newest block is shipped from the blocks, then the watcher goes on with the checkpoint
/// Prometheus wrote with the gap (its samples from the blocks' end on, as the answer says) and
/// the segments after it. Runs on the watcher's thread, before anything read after the gap is
/// queued, so that per series samples stay in time order:
///
/// 1. waits until the remote acknowledged everything queued before the gap (the newest
///    acknowledged sample time is then exact);
/// 2. ships the range through a queue of its own for the same endpoint (block series must not
///    meet the WAL's in the endpoint queue's series cache), and waits until it is acknowledged.
///
/// Meanwhile the cursor stays before the gap: a walship stopped during the fill fills the same
/// range at its next start.
fn fill_running_gap(f: &RunningFill, gap: RunningGap) -> GapAnswer {
    let Some(stop) = f.stop.get() else { return GapAnswer::GoOn };
    let stopped = || stop.is_stopped() || f.queue.fatal_error().is_some();
    let missing = format!("{:08}..{:08}", gap.from_segment, gap.to_segment);
    // A WAL directory without blocks beside it (a copy of the WAL alone): nothing to fill from.
    let Some(dir) =
        tsdb_block::DataDir::open(&history::data_dir_of(&f.wal_dir)).ok().filter(|d| !d.blocks().is_empty())
    else {
        return GapAnswer::GoOn;
    };
    logging::warn(
        "WAL segments were deleted before walship read them (it fell behind Prometheus): once the remote has acknowledged what was sent before them, the time range they held is shipped from the persisted blocks",
        &[("endpoint", &f.key), ("missing", &missing)],
    );
    let acked = match gap.before {
        Some(before) => {
            while f.queue.low_watermark().is_none_or(|w| w < before) {
                if stopped() {
                    return GapAnswer::Stop;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Every record up to and including `before` is acknowledged.
            f.acked.acked_before(Position::new(before.segment, before.offset.saturating_add(1)))
        }
        None => f.acked.current(),
    };
    let Some(acked) = acked else {
        logging::warn(
            "Nothing was acknowledged before the gap, so the time it starts at is unknown: it cannot be filled from blocks",
            &[("endpoint", &f.key), ("missing", &missing)],
        );
        return GapAnswer::GoOn;
    };
    let from_ms = acked.saturating_sub(f.margin.as_millis() as i64);
    let mut fill = gap_fill(&dir, from_ms, acked);
    let queue = match QueueManager::new(queue_config(&f.cfg)) {
        Ok(q) => q,
        Err(e) => {
            logging::error("Cannot start a queue to fill the gap", &[("endpoint", &f.key), ("err", &e)]);
            return GapAnswer::GoOn;
        }
    };
    // Block series carry their family's metadata over 2.0 as WAL series do: the targets'
    // metadata the endpoint's queue holds now.
    if let Some(t) = f.queue.target_metadata() {
        queue.set_target_metadata(t);
    }
    let start = HistoryCursor { from_ms, upto_ms: from_ms, ..Default::default() };
    let ran = history::run(&history::data_dir_of(&f.wal_dir), start, gap.before, &queue, stop, &f.progress);
    queue.stop();
    // Its requests count as the endpoint's, on /metrics and in the summary.
    f.queue.add_counters_of(&queue);
    match ran {
        Ok(HistoryEnd::Done { upto_ms, .. }) => {
            fill.to_ms = upto_ms;
            f.acked.set(Some(acked.max(upto_ms.saturating_sub(1))));
            let cp = gap.checkpoint.map_or("none".to_string(), wal_format::checkpoint_dir_name);
            logging::info(
                "Gap filled from the persisted blocks; the checkpoint written with it (its samples from the blocks' end on) and the WAL take over",
                &[
                    ("endpoint", &f.key),
                    ("missing", &missing),
                    ("filled_from_ms", &from_ms),
                    ("filled_to_ms", &upto_ms),
                    ("checkpoint", &cp),
                ],
            );
            // Whole only when blocks hold the range from the acknowledged time on and a
            // checkpoint of every missing segment keeps what is newer than them; otherwise the
            // watcher's gap line reports the gap as it would without a fill.
            let covered = gap.checkpoint.is_some_and(|c| c >= gap.to_segment);
            if !fill.blocks.is_empty() && fill.not_in_blocks.is_none() && covered {
                f.counts.filled.fetch_add(1, Ordering::Relaxed);
                f.fills.lock().unwrap_or_else(|p| p.into_inner()).push_back(fill);
            }
            GapAnswer::From(upto_ms)
        }
        Ok(HistoryEnd::Stopped) => {
            // The fill's queue refuses points only when stopping or refused by the remote.
            let why = match (stop.is_stopped(), queue.fatal_error().or_else(|| f.queue.fatal_error())) {
                (true, _) => "walship is stopping".to_string(),
                (false, Some(e)) => format!("the remote refused the credentials: {e}"),
                (false, None) => "the fill's queue refused points".to_string(),
            };
            logging::warn(
                "Gap fill stopped before its end; the cursor stays before the gap, so the next start fills it again",
                &[("endpoint", &f.key), ("missing", &missing), ("why", &why)],
            );
            GapAnswer::Stop
        }
        Err(e) => {
            logging::error(
                "Reading the persisted blocks to fill a gap failed; the gap's samples may be lost",
                &[("endpoint", &f.key), ("err", &e)],
            );
            GapAnswer::GoOn
        }
    }
}
