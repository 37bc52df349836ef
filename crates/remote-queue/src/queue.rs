//! [`QueueManager`]: the public face of the crate, Prometheus's `storage/remote/queue_manager.go`
//! `QueueManager` as a library.

use crate::client::{HttpTransport, Transport};
use crate::clock::now_ms;
use crate::config::{EndpointConfig, Protocol};
use crate::item::{ExemplarData, Item, KindCounts, Payload};
use crate::last_error::LastError;
use crate::lock::lock;
use crate::metadata_loop::metadata_loop;
use crate::metrics::{DropReason, MetricsSnapshot, QueueMetrics};
use crate::queue_state::QueueState;
use crate::relabel::{LabelSet, Relabeler};
use crate::reshard_loop::reshard_loop;
use crate::send_context::SendContext;
use crate::series::{Known, SeriesCache};
use crate::shards::{abandon, ShardSet};
use crate::target_metadata::TargetMetadata;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wal_format::record::{
    RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries, SeriesRef,
    CUSTOM_BUCKETS_SCHEMA,
};
use wal_format::Position;

/// The kind of an appended point, for counting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sample,
    Exemplar,
    Histogram,
}

impl Kind {
    fn counts(self) -> KindCounts {
        match self {
            Kind::Sample => KindCounts { samples: 1, ..Default::default() },
            Kind::Exemplar => KindCounts { exemplars: 1, ..Default::default() },
            Kind::Histogram => KindCounts { histograms: 1, ..Default::default() },
        }
    }

    /// Whether `cfg` sends points of this kind (`send_exemplars`, `send_native_histograms`).
    fn sent(self, cfg: &EndpointConfig) -> bool {
        match self {
            Kind::Sample => true,
            Kind::Exemplar => cfg.send_exemplars,
            Kind::Histogram => cfg.send_native_histograms,
        }
    }
}

/// A point the queue takes from the WAL: what it counts as, and the item it becomes.
trait Point {
    /// The kind it counts as.
    const KIND: Kind;
    /// Its series and timestamp.
    fn key(&self) -> (SeriesRef, i64);
    /// Whether it is a custom-bucket histogram, which remote write 1.0 cannot carry.
    fn is_nhcb(&self) -> bool {
        false
    }
    /// Its start timestamp and what it sends.
    fn payload(&self) -> (i64, Payload);
}

impl Point for RefSample {
    const KIND: Kind = Kind::Sample;
    fn key(&self) -> (SeriesRef, i64) {
        (self.series_ref, self.t)
    }
    fn payload(&self) -> (i64, Payload) {
        (self.st, Payload::Sample(self.v))
    }
}

impl Point for RefExemplar<'_> {
    const KIND: Kind = Kind::Exemplar;
    fn key(&self) -> (SeriesRef, i64) {
        (self.series_ref, self.t)
    }
    fn payload(&self) -> (i64, Payload) {
        let labels = LabelSet::from_pairs(self.labels.iter().map(|l| (l.name, l.value)));
        (0, Payload::Exemplar(Box::new(ExemplarData { value: self.v, labels })))
    }
}

impl Point for RefHistogramSample {
    const KIND: Kind = Kind::Histogram;
    fn key(&self) -> (SeriesRef, i64) {
        (self.series_ref, self.t)
    }
    fn is_nhcb(&self) -> bool {
        self.h.schema == CUSTOM_BUCKETS_SCHEMA
    }
    fn payload(&self) -> (i64, Payload) {
        (self.st, Payload::Histogram(Box::new(self.h.clone())))
    }
}

impl Point for RefFloatHistogramSample {
    const KIND: Kind = Kind::Histogram;
    fn key(&self) -> (SeriesRef, i64) {
        (self.series_ref, self.t)
    }
    fn is_nhcb(&self) -> bool {
        self.fh.schema == CUSTOM_BUCKETS_SCHEMA
    }
    fn payload(&self) -> (i64, Payload) {
        (self.st, Payload::FloatHistogram(Box::new(self.fh.clone())))
    }
}

/// One remote-write endpoint: series cache, shards, senders, resharding, metrics.
///
/// Feed it in WAL order from one thread: series first ([`QueueManager::store_series`]), then
/// the points that refer to them. Append calls block while the shards are full (backpressure) and
/// fail only when the queue is stopping. Everything is sent in the background; ask
/// [`QueueManager::low_watermark`] how far the remote has acknowledged.
///
/// Share it between threads with an `Arc`. Dropping it stops it ([`QueueManager::stop`]), which
/// may take up to `flush_deadline`.
pub struct QueueManager {
    state: Arc<QueueState>,
    reshard_thread: Mutex<Option<JoinHandle<()>>>,
}

impl QueueManager {
    /// Validates `cfg`, builds the HTTP client and starts `min_shards` shards.
    pub fn new(cfg: EndpointConfig) -> Result<QueueManager> {
        cfg.validate()?;
        let transport = HttpTransport::new(&cfg)?;
        Self::with_transport(cfg, Box::new(transport))
    }

    pub(crate) fn with_transport(cfg: EndpointConfig, transport: Box<dyn Transport>) -> Result<QueueManager> {
        cfg.validate()?;
        let relabel = Relabeler::new(&cfg.write_relabel_configs)?;
        let external = LabelSet::from_pairs(cfg.external_labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        let name = if cfg.name.is_empty() { default_name(&cfg) } else { cfg.name.clone() };
        let q = &cfg.queue;
        let metrics = QueueMetrics { remote_name: name, url: cfg.redacted_url(), ..Default::default() };
        metrics.capacity.store(q.capacity as u64, Relaxed);
        metrics.shards_min.store(q.min_shards as u64, Relaxed);
        metrics.shards_max.store(q.max_shards as u64, Relaxed);
        metrics.max_samples_per_send.store(q.max_samples_per_send as u64, Relaxed);
        metrics.set_desired(q.min_shards as f64);
        let min_shards = q.min_shards;
        let mut cache = SeriesCache::new(external, relabel);
        cache.labels_as_strings(cfg.protocol == Protocol::V2);
        let ctx = Arc::new(SendContext::new(cfg, cache, metrics, transport));
        let state = Arc::new(QueueState::new(ctx));
        *lock(&state.shards) = ShardSet::start(&state.ctx, min_shards);
        let s2 = state.clone();
        let handle = std::thread::Builder::new()
            .name("rq-reshard".into())
            .spawn(move || reshard_loop(&s2))
            .map_err(|e| Error::Config(format!("cannot start resharding thread: {e}")))?;
        if state.ctx.cfg.metadata.send {
            if state.ctx.cfg.protocol == Protocol::V2 {
                log::warn!("metadata_config.send is ignored with remote write 2.0: metadata travels with each series");
            } else {
                let s3 = state.clone();
                std::thread::Builder::new()
                    .name("rq-metadata".into())
                    .spawn(move || metadata_loop(&s3))
                    .map_err(|e| Error::Config(format!("cannot start metadata thread: {e}")))?;
            }
        }
        Ok(QueueManager { state, reshard_thread: Mutex::new(Some(handle)) })
    }

    /// Stores series labels (merged with external labels and relabelled) by reference, noting the
    /// WAL segment they were seen in. A reference seen again is replaced.
    pub fn store_series(&self, series: &[RefSeries<'_>], segment: u64) {
        self.state.run_gc();
        let mut c = self.state.ctx.cache_write();
        c.store(series, segment);
        self.state.ctx.metrics.series_cached.store(c.len() as u64, Relaxed);
    }

    /// Records that these series were seen in `segment` without changing their labels.
    pub fn update_series_segment(&self, refs: &[SeriesRef], segment: u64) {
        self.state.ctx.cache_write().update_segment(refs.iter().copied(), segment);
    }

    /// Stores metric metadata per series; remote write 2.0 sends it with every point.
    pub fn store_metadata(&self, metadata: &[RefMetadata<'_>]) {
        if self.state.ctx.cfg.protocol == Protocol::V2 || self.state.ctx.cfg.metadata.send {
            self.state.ctx.cache_write().store_metadata(metadata);
        }
    }

    /// Replaces the scrape targets' metadata (from a Prometheus server's
    /// `/api/v1/targets/metadata`, see [`crate::PrometheusApi`]). Remote write 1.0 sends its
    /// families every `metadata_config.send_interval` (after the families of WAL metadata
    /// records, which win); remote write 2.0 gives every series without a WAL metadata record the
    /// metadata of its family (by `job`, `instance` and name). Metadata never holds back a point:
    /// a series sent before its family is known goes without.
    pub fn set_target_metadata(&self, metadata: Arc<TargetMetadata>) {
        let cfg = &self.state.ctx.cfg;
        let per_series = self.state.ctx.protocol() == Protocol::V2;
        if per_series || cfg.metadata.send {
            self.state.ctx.cache_write().set_targets(metadata, per_series);
        }
    }

    /// The scrape targets' metadata this queue holds (the last given to
    /// [`Self::set_target_metadata`] that it uses), if any: for a second queue to the same
    /// endpoint.
    pub fn target_metadata(&self) -> Option<Arc<TargetMetadata>> {
        self.state.ctx.cache_read().targets()
    }

    /// Forgets every series last seen in a segment lower than `segment` (called after a
    /// checkpoint). The collection waits until every point already appended has been sent, so
    /// queued points never lose their labels.
    pub fn series_reset(&self, segment: u64) {
        let seq = self.state.ctx.tracker.next_seq();
        lock(&self.state.pending_resets).push_back((segment, seq));
        self.state.run_gc();
    }

    /// Queues float samples read at `pos`. Blocks while the shards are full; fails only with
    /// [`Error::Stopped`]. Samples of unknown or relabel-dropped series, or older than
    /// `sample_age_limit`, are dropped and counted.
    pub fn append_samples(&self, samples: &[RefSample], pos: Position) -> Result<()> {
        self.append(samples, pos)
    }

    /// Queues exemplars (ignored unless `send_exemplars`).
    pub fn append_exemplars(&self, exemplars: &[RefExemplar<'_>], pos: Position) -> Result<()> {
        self.append(exemplars, pos)
    }

    /// Queues integer native histograms (ignored unless `send_native_histograms`).
    pub fn append_histograms(&self, hs: &[RefHistogramSample], pos: Position) -> Result<()> {
        self.append(hs, pos)
    }

    /// Queues float native histograms (ignored unless `send_native_histograms`).
    pub fn append_float_histograms(&self, hs: &[RefFloatHistogramSample], pos: Position) -> Result<()> {
        self.append(hs, pos)
    }

    /// Tells the queue that everything up to `pos` has been read and holds nothing to send (a
    /// series or tombstone record, say), so the watermark may move there once earlier points are done.
    pub fn mark_read(&self, pos: Position) -> Result<()> {
        self.state.ctx.tracker.register(pos, 0);
        Ok(())
    }

    /// Queues points of one kind read at `pos` (see [`QueueManager::append_samples`]); points of
    /// a kind this endpoint does not send only move the watermark.
    fn append<T: Point>(&self, src: &[T], pos: Position) -> Result<()> {
        if !T::KIND.sent(&self.state.ctx.cfg) {
            return self.mark_read(pos);
        }
        let kind = T::KIND;
        let (state, sh) = (&self.state, &self.state.ctx);
        if sh.is_stopping() {
            return Err(Error::Stopped);
        }
        state.run_gc();
        let m = &sh.metrics;
        let one = kind.counts();
        let floor = {
            let l = sh.cfg.queue.sample_age_limit;
            (!l.is_zero()).then(|| now_ms() - l.as_millis() as i64)
        };
        let v1 = sh.protocol() == Protocol::V1;
        let mut scratch = lock(&state.scratch);
        let (remaining, buckets) = &mut *scratch;
        remaining.clear();
        let mut highest = 0;
        let mut highest_read = 0;
        {
            let cache = sh.cache_read();
            for x in src {
                let (r, t) = x.key();
                highest_read = highest_read.max(t);
                if floor.is_some_and(|f| t < f) {
                    m.dropped(DropReason::TooOld).add(&one);
                    continue;
                }
                if v1 && x.is_nhcb() {
                    m.dropped(DropReason::NhcbInRw1NotSupported).add(&one);
                    continue;
                }
                match cache.known(r) {
                    Known::Stored(slot, slot_gen) => {
                        let (st, payload) = x.payload();
                        highest = highest.max(t);
                        remaining.push_back(Item { series: r, slot, slot_gen, ack: 0, t, st, payload });
                    }
                    Known::Dropped => {
                        m.dropped(DropReason::DroppedSeries).add(&one);
                        sh.throughput.data_dropped.incr(1);
                    }
                    Known::Unknown => {
                        m.dropped(DropReason::UnintentionallyDroppedSeries).add(&one);
                        sh.throughput.data_dropped.incr(1);
                        log::debug!("dropped point for series {r} that was not explicitly dropped via relabelling");
                    }
                }
            }
        }
        // Counters once per call, not per point: these atomics are shared with the shard threads.
        let n_in = src.len() as u64;
        m.items_in.add(&KindCounts {
            samples: one.samples * n_in,
            exemplars: one.exemplars * n_in,
            histograms: one.histograms * n_in,
        });
        QueueMetrics::raise(&m.highest_read_s, highest_read);
        sh.throughput.data_in.incr(n_in);
        let seq = sh.tracker.register(pos, remaining.len() as u64);
        if remaining.is_empty() {
            return Ok(());
        }
        for i in remaining.iter_mut() {
            i.ack = seq;
        }
        let counts = KindCounts::of(remaining.make_contiguous());
        m.pending.add(&counts, 1);
        QueueMetrics::raise(&m.highest_enqueued_s, highest);
        let first_wait = if kind == Kind::Exemplar { sh.cfg.queue.min_backoff } else { Duration::from_millis(5) };
        self.enqueue(remaining, buckets, first_wait)
    }

    /// Pushes every item into its shard, waiting for space as long as needed.
    fn enqueue(
        &self,
        remaining: &mut VecDeque<Item>,
        buckets: &mut Vec<VecDeque<Item>>,
        first_wait: Duration,
    ) -> Result<()> {
        let (state, sh) = (&self.state, &self.state.ctx);
        let mut wait = first_wait;
        loop {
            if sh.is_stopping() {
                sh.metrics.pending.add(&KindCounts::of(remaining.make_contiguous()), -1);
                remaining.clear();
                return Err(Error::Stopped);
            }
            let gen = sh.space_generation();
            let set = state.current_set();
            let n = set.len();
            if n == 1 {
                set.push(0, remaining);
            } else if n > 1 {
                buckets.resize_with(n.max(buckets.len()), VecDeque::new);
                for item in remaining.drain(..) {
                    buckets[(item.series % n as u64) as usize].push_back(item);
                }
                for (i, b) in buckets.iter_mut().enumerate().take(n) {
                    if !b.is_empty() {
                        set.push(i, b);
                        remaining.extend(b.drain(..));
                    }
                }
            }
            if remaining.is_empty() {
                return Ok(());
            }
            sh.metrics.enqueue_retries.fetch_add(1, Relaxed);
            sh.wait_for_space(gen, wait);
            wait = (wait * 2).min(sh.cfg.queue.max_backoff);
        }
    }

    /// The highest position below which every appended point was accepted by the remote or
    /// dropped with a counted reason. Resume reading there after a restart; the record at the
    /// watermark itself may be sent again (at-least-once). `None` before anything was appended.
    pub fn low_watermark(&self) -> Option<Position> {
        self.state.run_gc();
        self.state.ctx.tracker.low_watermark()
    }

    /// Set when the queue stopped by itself because the remote refused its credentials (HTTP 401
    /// or 403): a configuration error no retry can fix. The queue then sends nothing more, leaves
    /// what it held unacknowledged (so the watermark stays before it and a restart with the right
    /// credentials sends it) and fails appends. The string is the server's answer.
    pub fn fatal_error(&self) -> Option<String> {
        self.state.ctx.fatal()
    }

    /// The newest failed send attempt of sample, exemplar, histogram and 1.0 metadata requests, whether its
    /// data is retried, and whether a later attempt succeeded; `None` if no attempt failed yet.
    /// Its text has the passwords, credentials and header values of the configuration replaced
    /// by `xxxxx` (see [`LastError::message`]).
    pub fn last_error(&self) -> Option<LastError> {
        self.state.ctx.last_error.get()
    }

    /// A copy of the self-metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.state.ctx.metrics.snapshot()
    }

    /// Adds the counters of `other` — a second queue for the same endpoint, stopped — to this
    /// queue's self-metrics: what it sent, failed, retried, dropped and accepted then counts on
    /// this queue's `remote_name` and `url`, in [`Self::metrics`] and [`render_metrics`]. This
    /// queue's gauges (shards, capacity, pending) stay its own; the highest-timestamp gauges rise
    /// to `other`'s. Meant to be called once per other queue, after it stopped.
    pub fn add_counters_of(&self, other: &QueueManager) {
        self.state.ctx.metrics.add_counters(&other.state.ctx.metrics);
    }

    /// Histograms dropped for `reason` so far: one counter, where [`Self::metrics`] copies them
    /// all (for a caller that watches one of them often).
    pub fn histograms_dropped(&self, reason: DropReason) -> u64 {
        self.state.ctx.metrics.dropped(reason).histograms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends the self-metrics in the Prometheus text exposition format. To serve several
    /// queues on one page use [`render_metrics`], which writes each family's header once.
    pub fn render_metrics(&self, out: &mut String) {
        render_metrics(&[self], out)
    }

    /// The protocol currently used (2.0 becomes 1.0 after a 415 fallback).
    pub fn protocol(&self) -> Protocol {
        self.state.ctx.protocol()
    }

    /// Current number of shards.
    pub fn shards(&self) -> usize {
        self.state.current_set().len()
    }

    /// Reshards to `n` now (clamped to `min_shards..=max_shards`), waiting for the old shards to
    /// send everything queued. Normally the resharding thread decides; this is for tests and tools.
    pub fn reshard(&self, n: usize) {
        let q = &self.state.ctx.cfg.queue;
        self.state.reshard(n.clamp(q.min_shards, q.max_shards));
    }

    /// Number of cached series and approximate heap bytes of the series cache.
    pub fn series_cache_usage(&self) -> (usize, usize) {
        let c = self.state.ctx.cache_read();
        (c.len(), c.heap_bytes())
    }

    /// Stops the queue: appends fail from now on, queued points are sent for at most
    /// `flush_deadline`, then whatever is left is abandoned — counted in `*_failed_total` but not
    /// acknowledged, so the watermark stays behind it. Returns within `flush_deadline` (plus a few
    /// milliseconds) even when the remote never answers. Calling it again does nothing.
    pub fn stop(&self) {
        let (state, sh) = (&self.state, &self.state.ctx);
        let deadline = Instant::now() + sh.cfg.flush_deadline;
        let set = {
            let cur = lock(&state.shards);
            if !sh.begin_stop() {
                return;
            }
            cur.clone()
        };
        sh.notify_space();
        {
            let _g = lock(&state.loops_wake.0);
            state.loops_wake.1.notify_all();
        }
        set.close();
        if !set.wait_exited(Some(deadline)) {
            sh.hard_stop_now();
            set.wake_all();
            abandon(sh, &set.take_all(), &Default::default());
        }
        let handle = lock(&self.reshard_thread).take();
        if let Some(h) = handle {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for QueueManager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes the self-metrics of several queues in the text exposition format, each metric family
/// once with one line per queue (told apart by their `remote_name` and `url` labels).
pub fn render_metrics(queues: &[&QueueManager], out: &mut String) {
    let mut fams = crate::metrics::Families::default();
    for q in queues {
        q.state.ctx.metrics.collect(&mut fams);
    }
    fams.write(out);
}

/// Prometheus names an unnamed queue by a hash of its configuration; walship uses the URL.
fn default_name(cfg: &EndpointConfig) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(cfg.url.as_bytes());
    d.iter().take(3).map(|b| format!("{b:02x}")).collect()
}
