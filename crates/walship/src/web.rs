//! The HTTP endpoints: the status page `/` (`status.rs`), `/metrics` (the queues'
//! `prometheus_remote_storage_*` series and walship's own), `/-/healthy` and `/-/ready`.

use crate::CliError;
use remote_queue::QueueManager;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wal_watcher::WatcherMetrics;

/// What `/metrics` reports for one endpoint.
pub struct Endpoint {
    /// Cursor key (endpoint name).
    pub key: String,
    /// Its queue.
    pub queue: Arc<QueueManager>,
    /// Its watcher's counters.
    pub watcher: Arc<WatcherMetrics>,
    /// Failed saves of its cursor.
    pub cursor_save_failures: Arc<std::sync::atomic::AtomicU64>,
    /// When its cursor was last saved (ms since the epoch; 0: not in this run).
    pub cursor_saved_ms: Arc<std::sync::atomic::AtomicI64>,
    /// Its URL with any password hidden.
    pub url: String,
    /// Its queue's upper bound of shards.
    pub max_shards: usize,
}

/// The running server; dropping it stops it.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    sampler: Option<std::thread::JoinHandle<()>>,
    stop_sampling: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        self.stop_sampling.store(true, Ordering::Relaxed);
        for t in [self.thread.take(), self.sampler.take()].into_iter().flatten() {
            let _ = t.join();
        }
    }
}

const RECORD_TYPES: [(u8, &str); 13] = [
    (1, "series"),
    (2, "samples"),
    (3, "tombstones"),
    (4, "exemplars"),
    (5, "mmap_markers"),
    (6, "metadata"),
    (7, "histogram_samples"),
    (8, "float_histogram_samples"),
    (9, "custom_buckets_histogram_samples"),
    (10, "custom_buckets_float_histogram_samples"),
    (11, "samples_v2"),
    (12, "histogram_samples_v2"),
    (13, "float_histogram_samples_v2"),
];

/// walship's own series, in the text exposition format.
pub fn render(endpoints: &[Endpoint], out: &mut String) {
    let now = crate::time::now_ms() as f64 / 1000.0;
    let families: [(&str, &str, &str); 12] = [
        ("walship_wal_segment_current", "gauge", "WAL segment being read."),
        ("walship_wal_lag_seconds", "gauge", "Seconds between now and the newest sample read from the WAL."),
        ("walship_wal_records_read_total", "counter", "WAL records read, by type."),
        ("walship_wal_corruptions_total", "counter", "Damaged WAL spans found; the records in them are lost."),
        ("walship_wal_bytes_skipped_total", "counter", "Bytes of WAL stepped over because they were damaged."),
        ("walship_wal_records_lost_total", "counter", "WAL records known to be lost to damage."),
        ("walship_wal_decode_failures_total", "counter", "WAL records that did not decode."),
        ("walship_wal_errors_total", "counter", "Passes of the WAL watcher that ended in an error."),
        ("walship_cursor_gaps_total", "counter", "Gaps in the WAL: segments missing when they were to be read (deleted by Prometheus under a lagging cursor, or by hand)."),
        ("walship_cursor_save_failures_total", "counter", "Failed saves of the cursor (each retried at the next save)."),
        ("walship_cursor_last_save_timestamp_seconds", "gauge", "When the cursor was last saved (0: not since walship started)."),
        ("walship_cursor_segment", "gauge", "Segment of the acknowledged cursor (everything before it was delivered)."),
    ];
    for (name, kind, help) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for e in endpoints {
            let w = &e.watcher;
            let l = format!("endpoint=\"{}\"", remote_queue::metrics::escape_label_value(&e.key));
            match name {
                "walship_wal_segment_current" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.current_segment.load(Ordering::Relaxed));
                }
                "walship_wal_lag_seconds" => {
                    let newest = w.newest_timestamp_ms.load(Ordering::Relaxed);
                    let lag = if newest > 0 { (now - newest as f64 / 1000.0).max(0.0) } else { 0.0 };
                    let _ = writeln!(out, "{name}{{{l}}} {lag}");
                }
                "walship_wal_records_read_total" => {
                    for (b, t) in RECORD_TYPES {
                        let _ = writeln!(out, "{name}{{{l},type=\"{t}\"}} {}", w.records_read(b));
                    }
                }
                "walship_wal_corruptions_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.corruptions.load(Ordering::Relaxed));
                }
                "walship_wal_bytes_skipped_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.bytes_skipped.load(Ordering::Relaxed));
                }
                "walship_wal_records_lost_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.records_lost.load(Ordering::Relaxed));
                }
                "walship_wal_decode_failures_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.decode_failures.load(Ordering::Relaxed));
                }
                "walship_wal_errors_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.errors.load(Ordering::Relaxed));
                }
                "walship_cursor_save_failures_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", e.cursor_save_failures.load(Ordering::Relaxed));
                }
                "walship_cursor_last_save_timestamp_seconds" => {
                    let ms = e.cursor_saved_ms.load(Ordering::Relaxed);
                    let _ = writeln!(out, "{name}{{{l}}} {}", ms as f64 / 1000.0);
                }
                "walship_cursor_gaps_total" => {
                    let _ = writeln!(out, "{name}{{{l}}} {}", w.gaps.load(Ordering::Relaxed));
                }
                _ => {
                    let (seg, off) = e.queue.low_watermark().map_or((0, 0), |p| (p.segment, p.offset));
                    let _ = writeln!(out, "{name}{{{l}}} {seg}");
                    let _ = writeln!(out, "walship_cursor_offset{{{l}}} {off}");
                }
            }
        }
    }
    // One call for all queues, so each family's HELP and TYPE lines appear once.
    let queues: Vec<&QueueManager> = endpoints.iter().map(|e| &*e.queue).collect();
    remote_queue::render_metrics(&queues, out);
}

/// Starts serving on `addr` (`host:port`); the status page describes `wal_dir`.
pub fn serve(addr: &str, endpoints: Vec<Endpoint>, wal_dir: std::path::PathBuf) -> Result<Server, CliError> {
    let server = Arc::new(
        tiny_http::Server::http(addr).map_err(|e| CliError::Usage(format!("--web.listen-address {addr}: {e}")))?,
    );
    if let Some(a) = server.server_addr().to_ip() {
        crate::log::info("Listening", &[("address", &a)]);
    }
    let endpoints = Arc::new(endpoints);
    let history = Arc::new(crate::status::History::default());
    let stop_sampling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (eps, hist, stop) = (endpoints.clone(), history.clone(), stop_sampling.clone());
    let sampler = std::thread::Builder::new()
        .name("status-history".into())
        .spawn(move || {
            let mut next = crate::time::now_ms();
            // Short sleeps, so that dropping the server does not wait a whole sampling period.
            while !stop.load(Ordering::Relaxed) {
                let now = crate::time::now_ms();
                if now >= next {
                    hist.sample(&eps, now);
                    next = now + crate::status::SAMPLE_EVERY_MS;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
        .map_err(|e| CliError::Run(format!("cannot start a thread: {e}")))?;
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("web".into())
        .spawn(move || {
            for req in s.incoming_requests() {
                let (code, body, ctype) = match req.url() {
                    "/" => {
                        let page = crate::status::render(&endpoints, &history, &wal_dir, crate::time::now_ms());
                        (200, page, "text/html; charset=utf-8")
                    }
                    "/metrics" => {
                        let mut out = String::new();
                        render(&endpoints, &mut out);
                        (200, out, "text/plain; version=0.0.4; charset=utf-8")
                    }
                    "/-/healthy" => (200, "walship is Healthy.\n".into(), "text/plain"),
                    "/-/ready" => (200, "walship is Ready.\n".into(), "text/plain"),
                    _ => (404, "not found\n".into(), "text/plain"),
                };
                let header = tiny_http::Header::from_bytes("Content-Type", ctype).ok();
                let mut resp = tiny_http::Response::from_string(body).with_status_code(code);
                if let Some(h) = header {
                    resp.add_header(h);
                }
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| CliError::Usage(format!("cannot start the HTTP server: {e}")))?;
    Ok(Server { server, thread: Some(thread), sampler: Some(sampler), stop_sampling })
}
