//! Self-metrics under Prometheus's `prometheus_remote_storage_*` names (Prometheus's
//! `storage/remote/queue_manager.go`, `newQueueManagerMetrics`).
//!
//! Counters and gauges are plain atomics updated on the hot path; [`MetricsSnapshot`] copies them
//! for tests and programs, and [`crate::render_metrics`] writes the text exposition format with the
//! constant labels `remote_name` and `url` (the URL with any password redacted).

use crate::item::KindCounts;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why points were dropped before sending (`reason` label of `*_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The series was dropped by `write_relabel_configs`.
    DroppedSeries,
    /// The series reference was never stored (or already collected).
    UnintentionallyDroppedSeries,
    /// Older than `sample_age_limit`.
    TooOld,
    /// A custom-bucket histogram (schema −53) cannot travel in remote write 1.0.
    NhcbInRw1NotSupported,
}

impl DropReason {
    const ALL: [DropReason; 4] = [
        DropReason::DroppedSeries,
        DropReason::UnintentionallyDroppedSeries,
        DropReason::TooOld,
        DropReason::NhcbInRw1NotSupported,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::DroppedSeries => "dropped_series",
            DropReason::UnintentionallyDroppedSeries => "unintentionally_dropped_series",
            DropReason::TooOld => "too_old",
            DropReason::NhcbInRw1NotSupported => "nhcb_in_rw1_not_supported",
        }
    }
}

/// Upper bounds of `sent_batch_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0];

#[derive(Default)]
pub(crate) struct Kinds {
    pub(crate) samples: AtomicU64,
    pub(crate) exemplars: AtomicU64,
    pub(crate) histograms: AtomicU64,
}

impl Kinds {
    pub(crate) fn add(&self, c: &KindCounts) {
        self.samples.fetch_add(c.samples, Relaxed);
        self.exemplars.fetch_add(c.exemplars, Relaxed);
        self.histograms.fetch_add(c.histograms, Relaxed);
    }
    fn get(&self) -> [u64; 3] {
        [self.samples.load(Relaxed), self.exemplars.load(Relaxed), self.histograms.load(Relaxed)]
    }
    fn add_all(&self, o: &Kinds) {
        let [s, e, h] = o.get();
        self.samples.fetch_add(s, Relaxed);
        self.exemplars.fetch_add(e, Relaxed);
        self.histograms.fetch_add(h, Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct PendingKinds {
    pub(crate) samples: AtomicI64,
    pub(crate) exemplars: AtomicI64,
    pub(crate) histograms: AtomicI64,
}

impl PendingKinds {
    pub(crate) fn add(&self, c: &KindCounts, sign: i64) {
        self.samples.fetch_add(sign * c.samples as i64, Relaxed);
        self.exemplars.fetch_add(sign * c.exemplars as i64, Relaxed);
        self.histograms.fetch_add(sign * c.histograms as i64, Relaxed);
    }
}

/// The live metrics of one queue.
#[derive(Default)]
pub(crate) struct QueueMetrics {
    pub(crate) remote_name: String,
    pub(crate) url: String,
    pub(crate) sent: Kinds,
    pub(crate) metadata_total: AtomicU64,
    pub(crate) metadata_failed: AtomicU64,
    pub(crate) metadata_retried: AtomicU64,
    pub(crate) metadata_bytes: AtomicU64,
    pub(crate) failed: Kinds,
    pub(crate) retried: Kinds,
    /// What the remote stored (2xx, or what a partial answer says it wrote). Not a Prometheus
    /// metric: `*_total − *_retried_total − *_failed_total` gives it only while nothing is
    /// abandoned unsent at a stop, which counts as failed too.
    pub(crate) accepted: Kinds,
    /// `[reason][kind]`
    pub(crate) dropped: [Kinds; 4],
    pub(crate) enqueue_retries: AtomicU64,
    pub(crate) bytes_total: AtomicU64,
    pub(crate) pending: PendingKinds,
    pub(crate) highest_enqueued_s: AtomicI64,
    pub(crate) highest_sent_s: AtomicI64,
    pub(crate) highest_read_s: AtomicI64,
    pub(crate) items_in: Kinds,
    pub(crate) shards: AtomicU64,
    pub(crate) shards_min: AtomicU64,
    pub(crate) shards_max: AtomicU64,
    pub(crate) shards_desired_bits: AtomicU64,
    pub(crate) capacity: AtomicU64,
    pub(crate) max_samples_per_send: AtomicU64,
    pub(crate) duration_buckets: [AtomicU64; 15],
    pub(crate) duration_count: AtomicU64,
    pub(crate) duration_sum_ns: AtomicU64,
    pub(crate) series_cached: AtomicU64,
    /// Extra requests spent isolating rejected series (walship extension).
    pub(crate) isolation_requests: AtomicU64,
}

impl QueueMetrics {
    pub(crate) fn dropped(&self, reason: DropReason) -> &Kinds {
        &self.dropped[DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)]
    }

    pub(crate) fn observe_duration(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if s <= *b {
                self.duration_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Relaxed);
        self.duration_sum_ns.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    /// Adds the counters of `o` (another queue's) to these, and raises the timestamp gauges to
    /// its; the other gauges (shards, capacity, pending, cached series) stay this queue's own.
    pub(crate) fn add_counters(&self, o: &QueueMetrics) {
        let add = |a: &AtomicU64, b: &AtomicU64| {
            a.fetch_add(b.load(Relaxed), Relaxed);
        };
        for (a, b) in [
            (&self.sent, &o.sent),
            (&self.failed, &o.failed),
            (&self.retried, &o.retried),
            (&self.accepted, &o.accepted),
            (&self.items_in, &o.items_in),
        ] {
            a.add_all(b);
        }
        for (a, b) in self.dropped.iter().zip(&o.dropped) {
            a.add_all(b);
        }
        for (a, b) in self.duration_buckets.iter().zip(&o.duration_buckets) {
            add(a, b);
        }
        for (a, b) in [
            (&self.metadata_total, &o.metadata_total),
            (&self.metadata_failed, &o.metadata_failed),
            (&self.metadata_retried, &o.metadata_retried),
            (&self.metadata_bytes, &o.metadata_bytes),
            (&self.enqueue_retries, &o.enqueue_retries),
            (&self.bytes_total, &o.bytes_total),
            (&self.duration_count, &o.duration_count),
            (&self.duration_sum_ns, &o.duration_sum_ns),
            (&self.isolation_requests, &o.isolation_requests),
        ] {
            add(a, b);
        }
        for (a, b) in [
            (&self.highest_enqueued_s, &o.highest_enqueued_s),
            (&self.highest_sent_s, &o.highest_sent_s),
            (&self.highest_read_s, &o.highest_read_s),
        ] {
            a.fetch_max(b.load(Relaxed), Relaxed);
        }
    }

    pub(crate) fn set_desired(&self, v: f64) {
        self.shards_desired_bits.store(v.to_bits(), Relaxed);
    }

    /// Raises a whole-second gauge to `ms / 1000` if that is higher.
    pub(crate) fn raise(gauge: &AtomicI64, ms: i64) {
        gauge.fetch_max(ms / 1000, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let [samples_total, exemplars_total, histograms_total] = self.sent.get();
        let [samples_failed_total, exemplars_failed_total, histograms_failed_total] = self.failed.get();
        let [samples_retried_total, exemplars_retried_total, histograms_retried_total] = self.retried.get();
        let [samples_accepted, exemplars_accepted, histograms_accepted] = self.accepted.get();
        let mut dropped = Vec::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let [s, e, h] = self.dropped[i].get();
            dropped.push((*r, s, e, h));
        }
        MetricsSnapshot {
            samples_total,
            exemplars_total,
            histograms_total,
            metadata_total: self.metadata_total.load(Relaxed),
            metadata_failed_total: self.metadata_failed.load(Relaxed),
            samples_failed_total,
            exemplars_failed_total,
            histograms_failed_total,
            samples_retried_total,
            exemplars_retried_total,
            histograms_retried_total,
            dropped,
            enqueue_retries_total: self.enqueue_retries.load(Relaxed),
            bytes_total: self.bytes_total.load(Relaxed),
            samples_pending: self.pending.samples.load(Relaxed),
            queue_highest_timestamp_seconds: self.highest_enqueued_s.load(Relaxed),
            queue_highest_sent_timestamp_seconds: self.highest_sent_s.load(Relaxed),
            shards: self.shards.load(Relaxed),
            shards_desired: f64::from_bits(self.shards_desired_bits.load(Relaxed)),
            sent_batch_duration_count: self.duration_count.load(Relaxed),
            sent_batch_duration_sum: Duration::from_nanos(self.duration_sum_ns.load(Relaxed)),
            series_cached: self.series_cached.load(Relaxed),
            isolation_requests_total: self.isolation_requests.load(Relaxed),
            samples_accepted,
            exemplars_accepted,
            histograms_accepted,
        }
    }

    /// Adds every metric of this queue to `fams`.
    pub(crate) fn collect(&self, fams: &mut Families) {
        let labels = format!(
            "remote_name=\"{}\",url=\"{}\"",
            escape_label_value(&self.remote_name),
            escape_label_value(&self.url)
        );
        let mut metric = |name: &str, typ: &'static str, help: &'static str, extra: &str, value: String| {
            let full = format!("prometheus_remote_storage_{name}");
            let line = format!("{full}{{{labels}{extra}}} {value}");
            fams.add(&full, typ, help, line);
        };
        let kinds = [("samples", 0usize), ("exemplars", 1), ("histograms", 2)];
        for (kind, i) in kinds {
            let (sent, failed, retried) = (self.sent.get()[i], self.failed.get()[i], self.retried.get()[i]);
            metric(
                &format!("{kind}_total"),
                "counter",
                "Total number sent to remote storage, per attempt.",
                "",
                sent.to_string(),
            );
            metric(
                &format!("{kind}_failed_total"),
                "counter",
                "Total number that failed on send (non-recoverable).",
                "",
                failed.to_string(),
            );
            metric(
                &format!("{kind}_retried_total"),
                "counter",
                "Total number retried after a recoverable error.",
                "",
                retried.to_string(),
            );
            for (r, reason) in DropReason::ALL.iter().enumerate() {
                if *reason == DropReason::NhcbInRw1NotSupported && kind != "histograms" {
                    continue;
                }
                let extra = format!(",reason=\"{}\"", reason.label());
                let v = self.dropped[r].get()[i].to_string();
                metric(&format!("{kind}_dropped_total"), "counter", "Total number dropped before sending.", &extra, v);
            }
        }
        let pend = [
            ("samples_pending", self.pending.samples.load(Relaxed)),
            ("exemplars_pending", self.pending.exemplars.load(Relaxed)),
            ("histograms_pending", self.pending.histograms.load(Relaxed)),
        ];
        for (n, v) in pend {
            metric(n, "gauge", "Number enqueued and not yet sent.", "", v.to_string());
        }
        let g = |a: &AtomicU64| a.load(Relaxed).to_string();
        let gi = |a: &AtomicI64| a.load(Relaxed).to_string();
        metric("metadata_total", "counter", "Total number of metadata entries sent.", "", g(&self.metadata_total));
        metric(
            "metadata_failed_total",
            "counter",
            "Metadata entries that failed on send.",
            "",
            g(&self.metadata_failed),
        );
        metric("metadata_retried_total", "counter", "Metadata entries retried.", "", g(&self.metadata_retried));
        metric(
            "metadata_bytes_total",
            "counter",
            "Compressed bytes of metadata requests.",
            "",
            g(&self.metadata_bytes),
        );
        metric(
            "enqueue_retries_total",
            "counter",
            "Total number of times enqueue found the shard full.",
            "",
            g(&self.enqueue_retries),
        );
        metric("bytes_total", "counter", "Compressed bytes of data requests.", "", g(&self.bytes_total));
        metric(
            "isolation_requests_total",
            "counter",
            "Extra requests sent to isolate series the remote rejected (walship extension).",
            "",
            g(&self.isolation_requests),
        );
        metric(
            "queue_highest_timestamp_seconds",
            "gauge",
            "Highest timestamp enqueued, in seconds.",
            "",
            gi(&self.highest_enqueued_s),
        );
        metric(
            "queue_highest_sent_timestamp_seconds",
            "gauge",
            "Highest timestamp of a finished batch, in seconds.",
            "",
            gi(&self.highest_sent_s),
        );
        metric("shard_capacity", "gauge", "Capacity of each shard.", "", g(&self.capacity));
        metric("shards", "gauge", "Current number of shards.", "", g(&self.shards));
        metric("shards_max", "gauge", "Maximum number of shards.", "", g(&self.shards_max));
        metric("shards_min", "gauge", "Minimum number of shards.", "", g(&self.shards_min));
        let desired = f64::from_bits(self.shards_desired_bits.load(Relaxed)).to_string();
        metric("shards_desired", "gauge", "Number of shards the resharding computation asked for.", "", desired);
        metric(
            "max_samples_per_send",
            "gauge",
            "Maximum number of points per request.",
            "",
            g(&self.max_samples_per_send),
        );
        // walship has no appender: these count what was read and handed to each queue.
        metric(
            "highest_timestamp_in_seconds",
            "gauge",
            "Highest timestamp handed to the queue, in seconds.",
            "",
            gi(&self.highest_read_s),
        );
        for (n, i) in [("samples_in_total", 0usize), ("exemplars_in_total", 1), ("histograms_in_total", 2)] {
            metric(n, "counter", "Items handed to the queue.", "", self.items_in.get()[i].to_string());
        }
        let name = "prometheus_remote_storage_sent_batch_duration_seconds";
        let help = "Duration of send attempts.";
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            let line = format!("{name}_bucket{{{labels},le=\"{b}\"}} {}", self.duration_buckets[i].load(Relaxed));
            fams.add(name, "histogram", help, line);
        }
        let count = self.duration_count.load(Relaxed);
        fams.add(name, "histogram", help, format!("{name}_bucket{{{labels},le=\"+Inf\"}} {count}"));
        let sum = self.duration_sum_ns.load(Relaxed) as f64 / 1e9;
        fams.add(name, "histogram", help, format!("{name}_sum{{{labels}}} {sum}"));
        fams.add(name, "histogram", help, format!("{name}_count{{{labels}}} {count}"));
    }

    /// Writes this queue's metrics in the Prometheus text exposition format.
    #[cfg(test)]
    pub(crate) fn render(&self, out: &mut String) {
        let mut f = Families::default();
        self.collect(&mut f);
        f.write(out);
    }
}

/// Metric families of one or more queues, so that each family's `HELP`/`TYPE` appears once.
#[derive(Default)]
pub(crate) struct Families {
    list: Vec<(String, &'static str, &'static str, Vec<String>)>,
}

impl Families {
    fn add(&mut self, name: &str, typ: &'static str, help: &'static str, line: String) {
        match self.list.iter_mut().find(|f| f.0 == name) {
            Some(f) => f.3.push(line),
            None => self.list.push((name.to_string(), typ, help, vec![line])),
        }
    }

    /// Writes every family in the text exposition format.
    pub(crate) fn write(&self, out: &mut String) {
        for (name, typ, help, lines) in &self.list {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {typ}");
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
    }
}

/// A label value as the text exposition format writes it between double quotes: backslash,
/// double quote and line feed escaped. Programs that serve their own metrics beside the queue's
/// (walship's `/metrics`) write their label values with this too, so that one page has one rule.
///
/// ```
/// assert_eq!(remote_queue::metrics::escape_label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
/// ```
pub fn escape_label_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A copy of a queue's metrics at one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// `samples_total`: samples in send attempts (retries count again).
    pub samples_total: u64,
    /// `exemplars_total`.
    pub exemplars_total: u64,
    /// `histograms_total` (integer and float).
    pub histograms_total: u64,
    /// `metadata_total`.
    pub metadata_total: u64,
    /// `metadata_failed_total`.
    pub metadata_failed_total: u64,
    /// `samples_failed_total`.
    pub samples_failed_total: u64,
    /// Samples the remote stored (acknowledged with 2xx, or written by a partial answer). No
    /// Prometheus metric has this count.
    pub samples_accepted: u64,
    /// Exemplars the remote stored.
    pub exemplars_accepted: u64,
    /// Native histograms the remote stored.
    pub histograms_accepted: u64,
    /// `exemplars_failed_total`.
    pub exemplars_failed_total: u64,
    /// `histograms_failed_total`.
    pub histograms_failed_total: u64,
    /// `samples_retried_total`.
    pub samples_retried_total: u64,
    /// `exemplars_retried_total`.
    pub exemplars_retried_total: u64,
    /// `histograms_retried_total`.
    pub histograms_retried_total: u64,
    /// `*_dropped_total` by reason: `(reason, samples, exemplars, histograms)`.
    pub dropped: Vec<(DropReason, u64, u64, u64)>,
    /// `enqueue_retries_total`.
    pub enqueue_retries_total: u64,
    /// `bytes_total`.
    pub bytes_total: u64,
    /// `samples_pending`.
    pub samples_pending: i64,
    /// `queue_highest_timestamp_seconds`.
    pub queue_highest_timestamp_seconds: i64,
    /// `queue_highest_sent_timestamp_seconds`.
    pub queue_highest_sent_timestamp_seconds: i64,
    /// `shards`.
    pub shards: u64,
    /// `shards_desired`.
    pub shards_desired: f64,
    /// Number of `sent_batch_duration_seconds` observations.
    pub sent_batch_duration_count: u64,
    /// Sum of `sent_batch_duration_seconds`.
    pub sent_batch_duration_sum: Duration,
    /// Series currently cached (not a Prometheus metric).
    pub series_cached: u64,
    /// Extra requests spent isolating series the remote rejected (walship extension, see
    /// [`crate::QueueConfig::isolate_rejected_series`]).
    pub isolation_requests_total: u64,
}

impl MetricsSnapshot {
    /// Samples dropped for `reason`.
    pub fn samples_dropped(&self, reason: DropReason) -> u64 {
        self.dropped.iter().find(|d| d.0 == reason).map_or(0, |d| d.1)
    }
    /// Exemplars dropped for `reason`.
    pub fn exemplars_dropped(&self, reason: DropReason) -> u64 {
        self.dropped.iter().find(|d| d.0 == reason).map_or(0, |d| d.2)
    }
    /// Histograms dropped for `reason`.
    pub fn histograms_dropped(&self, reason: DropReason) -> u64 {
        self.dropped.iter().find(|d| d.0 == reason).map_or(0, |d| d.3)
    }
    /// Samples dropped for any reason.
    pub fn samples_dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_names_and_labels() {
        let m = QueueMetrics { remote_name: "abc".into(), url: "http://u:xxxxx@h/".into(), ..Default::default() };
        m.sent.add(&KindCounts { samples: 5, ..Default::default() });
        m.dropped(DropReason::TooOld).samples.fetch_add(2, Relaxed);
        m.observe_duration(Duration::from_millis(20));
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("prometheus_remote_storage_samples_total{remote_name=\"abc\",url=\"http://u:xxxxx@h/\"} 5"));
        assert!(s.contains("prometheus_remote_storage_samples_dropped_total{remote_name=\"abc\",url=\"http://u:xxxxx@h/\",reason=\"too_old\"} 2"));
        assert!(s.contains("le=\"0.025\"} 1"));
        assert!(s.contains("le=\"0.01\"} 0"));
        assert_eq!(s.matches("# TYPE prometheus_remote_storage_samples_dropped_total counter").count(), 1);
        assert_eq!(m.snapshot().samples_dropped(DropReason::TooOld), 2);
    }
}
