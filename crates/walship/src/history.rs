//! The history phase of `ship`: sending what only Prometheus's persisted blocks still hold (all
//! of it with `--start=oldest`, or the range of WAL segments deleted under a stopped walship),
//! through the endpoint's own queue, before the WAL takes over.
//!
//! The queue acknowledges [`Position`]s. Block data gets positions of its own, above every WAL
//! position (segment numbers stay far below 2^63): `segment = 2^63 + window`, `offset = series`,
//! where a window is a run of blocks read together (one block, or blocks whose time ranges
//! overlap, merged as Prometheus merges them) and series are counted in label order. After the
//! samples of a series are queued its successor's position is marked read, so a watermark
//! `(window, k)` means: every earlier window, and the first `k` series of this one, are
//! acknowledged. [`HistoryProgress`] turns such a watermark back into the cursor's
//! [`HistoryCursor`] (the window's start time and ULIDs), which a restart resumes from.

use crate::cursor::HistoryCursor;
use crate::logging;
use remote_queue::QueueManager;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tsdb_block::{merge_series, Block, BlockDir, DataDir, Sample, Value};
use wal_format::record::{self, Labels, RefFloatHistogramSample, RefHistogramSample, RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::StopHandle;

/// Block positions start here; WAL positions are all below.
pub const BLOCK_POSITIONS: u64 = 1 << 63;

/// Series references given to block series have this bit set: far above those Prometheus hands
/// out (a counter from 1), so that they can never name a WAL series.
const BLOCK_REF_BIT: u64 = 1 << 62;

/// Points queued per append call.
const BATCH: usize = 2000;

/// Series stored between two series-cache collections: the cache holds at most about this
/// many block series (plus those still in flight), whatever the size of a block.
const SERIES_PER_EPOCH: u64 = 4096;

/// Whether `pos` is a block position (see the module documentation).
pub fn is_block_position(pos: Position) -> bool {
    pos.segment >= BLOCK_POSITIONS
}

/// The data directory that holds the blocks, for a `--wal-dir` that names the data directory
/// or its `wal/`.
pub fn data_dir_of(dir: &Path) -> PathBuf {
    if dir.join("wal").is_dir() {
        return dir.to_path_buf();
    }
    match (dir.file_name(), dir.parent()) {
        (Some(name), Some(parent)) if name == "wal" => parent.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// A run of blocks read together, and the part of their time range to send.
#[derive(Debug, Clone)]
pub struct Window {
    /// First time sent (inclusive).
    pub from_ms: i64,
    /// End of the time sent (exclusive).
    pub to_ms: i64,
    /// The blocks, sorted by time.
    pub blocks: Vec<BlockDir>,
}

impl Window {
    /// The blocks' ULIDs.
    pub fn ulids(&self) -> Vec<String> {
        self.blocks.iter().map(|b| b.meta().ulid.clone()).collect()
    }
}

/// The windows that cover `[from_ms, to_ms)`, in time order: each block alone, or blocks whose
/// ranges overlap (directly or through a chain) together.
pub fn plan(dir: &DataDir, from_ms: i64, to_ms: i64) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for b in dir.blocks_in_range(from_ms, to_ms) {
        let m = b.meta();
        match out.last_mut() {
            // Blocks come sorted by min_time: one that starts before the window ends overlaps it.
            Some(w) if m.min_time < w.to_ms => {
                w.blocks.push(b.clone());
                w.to_ms = w.to_ms.max(m.max_time);
            }
            _ => out.push(Window { from_ms: m.min_time, to_ms: m.max_time, blocks: vec![b.clone()] }),
        }
    }
    for w in &mut out {
        w.from_ms = w.from_ms.max(from_ms);
        w.to_ms = w.to_ms.min(to_ms);
    }
    out
}

/// The end of what the blocks hold: everything before it was persisted (the newest block's
/// `max_time`), `None` without blocks.
pub fn blocks_end(dir: &DataDir) -> Option<i64> {
    dir.blocks().iter().map(|b| b.meta().max_time).max()
}

/// What the supervisor needs to know about a running history phase: the windows whose
/// positions may still be the watermark, for the cursor, and counters for the summary.
#[derive(Default)]
pub struct HistoryProgress {
    inner: Mutex<Inner>,
    /// Samples (and histograms) read from blocks and queued.
    pub samples_read: AtomicU64,
    /// Block reads that failed (each logged with its file and offset): data lost.
    pub errors: AtomicU64,
}

#[derive(Default)]
struct Inner {
    upto_ms: i64,
    /// The WAL position to resume at after the blocks (gap fill).
    then_wal: Option<Position>,
    /// Windows started, oldest first: (number, first time, ULIDs).
    windows: VecDeque<(u64, i64, Vec<String>)>,
    /// For the progress line: the blocks being read.
    current: String,
}

impl HistoryProgress {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cursor for the block watermark `w`, or `None` if `w` is no block position.
    pub fn cursor_for(&self, w: Position) -> Option<(HistoryCursor, Option<Position>)> {
        if !is_block_position(w) {
            return None;
        }
        let number = w.segment - BLOCK_POSITIONS;
        let mut g = self.lock();
        // Windows before the watermark's are done for good.
        while g.windows.len() > 1 && g.windows.front().is_some_and(|x| x.0 < number) {
            g.windows.pop_front();
        }
        let (_, from_ms, blocks) = g.windows.iter().find(|x| x.0 == number)?.clone();
        Some((HistoryCursor { from_ms, upto_ms: g.upto_ms, blocks, next_series: w.offset }, g.then_wal))
    }

    /// The blocks being read, for the progress line.
    pub fn current(&self) -> String {
        self.lock().current.clone()
    }
}

/// How the history phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryEnd {
    /// Everything up to `upto_ms` was sent and acknowledged; `last` is the last position queued.
    Done {
        /// The end of the range sent; the WAL covers what follows.
        upto_ms: i64,
        /// The last block position.
        last: Position,
    },
    /// Stopped (a signal, or the queue stopping) before the end.
    Stopped,
}

/// Sends the blocks' samples in `[start.from_ms, end)`, where `end` is the newer of
/// `start.upto_ms` and the end of the newest block — looked at again after each pass, since
/// Prometheus persists new blocks (and deletes the WAL segments they came from) meanwhile.
/// Resumes inside the first window when its blocks are those of the cursor. Waits until the
/// queue acknowledged everything, then forgets the block series, so that the WAL's may follow.
pub fn run(
    data_dir: &Path,
    start: HistoryCursor,
    then_wal: Option<Position>,
    queue: &QueueManager,
    stop: &StopHandle,
    progress: &HistoryProgress,
) -> Result<HistoryEnd, tsdb_block::Error> {
    let mut shipper = Shipper { queue, stop, progress, epoch: 0, stored: 0, sample: Sample::default() };
    let mut from = start.from_ms;
    let mut upto = start.upto_ms;
    let mut resume = (!start.blocks.is_empty()).then(|| (start.blocks.clone(), start.next_series));
    // Window 0 stands for the cursor this run started from, until the first window is
    // acknowledged.
    let mut last = Position::new(BLOCK_POSITIONS, start.next_series);
    {
        let mut g = progress.lock();
        g.then_wal = then_wal;
        g.upto_ms = upto;
        g.windows.push_back((0, from, start.blocks));
    }
    if queue.mark_read(last).is_err() {
        return Ok(HistoryEnd::Stopped);
    }
    let mut window_number = 0u64;
    let mut first_pass = true;
    loop {
        let dir = DataDir::open(data_dir)?;
        let end = blocks_end(&dir).unwrap_or(i64::MIN).max(upto);
        // After the first pass, look again: a block persisted meanwhile holds data the WAL may
        // have lost since.
        if !first_pass && end <= upto {
            break;
        }
        first_pass = false;
        upto = end;
        progress.lock().upto_ms = upto;
        for w in plan(&dir, from, upto) {
            let ulids = w.ulids();
            let skip = match resume.take() {
                Some((blocks, next)) if blocks == ulids && w.from_ms == from => next,
                _ => 0,
            };
            window_number += 1;
            {
                let mut g = progress.lock();
                g.windows.push_back((window_number, w.from_ms, ulids.clone()));
                g.current = ulids.join(",");
            }
            last = Position::new(BLOCK_POSITIONS + window_number, skip);
            if queue.mark_read(last).is_err() {
                return Ok(HistoryEnd::Stopped);
            }
            match shipper.window(&w, window_number, skip, &mut last) {
                Ok(true) => {}
                Ok(false) => return Ok(HistoryEnd::Stopped),
                Err(e) => {
                    progress.errors.fetch_add(1, Ordering::Relaxed);
                    logging::error(
                        "Reading a block failed; the rest of its samples are not sent",
                        &[("blocks", &ulids.join(",")), ("err", &e)],
                    );
                }
            }
            from = w.to_ms;
        }
        from = from.max(upto);
        resume = None;
    }
    // The WAL's series must not meet block series in the cache: wait until every block point
    // is acknowledged, then forget them all.
    loop {
        if stop.is_stopped() || queue.fatal_error().is_some() {
            return Ok(HistoryEnd::Stopped);
        }
        if queue.low_watermark() == Some(last) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    queue.series_reset(u64::MAX);
    Ok(HistoryEnd::Done { upto_ms: upto, last })
}

struct Shipper<'a> {
    queue: &'a QueueManager,
    stop: &'a StopHandle,
    progress: &'a HistoryProgress,
    /// The segment number block series are stored under; raised every `SERIES_PER_EPOCH`
    /// series, with a collection of the earlier ones once their points are sent.
    epoch: u64,
    stored: u64,
    /// The sample each block sample is decoded into (its histogram's memory reused).
    sample: Sample,
}

/// Points of one series waiting to be queued.
#[derive(Default)]
struct Batch {
    floats: Vec<RefSample>,
    histograms: Vec<RefHistogramSample>,
    float_histograms: Vec<RefFloatHistogramSample>,
}

impl Shipper<'_> {
    /// Sends window `w` (number `number`), skipping its first `skip` series. Returns `false`
    /// when stopped. `last` follows the last position marked.
    fn window(&mut self, w: &Window, number: u64, skip: u64, last: &mut Position) -> Result<bool, tsdb_block::Error> {
        let blocks: Vec<Block> = w.blocks.iter().map(|b| b.open()).collect::<Result<_, _>>()?;
        let (lo, hi) = (w.from_ms, w.to_ms.saturating_sub(1));
        let segment = BLOCK_POSITIONS + number;
        let mut batch = Batch::default();
        let mut index = 0u64;
        if let [block] = blocks.as_slice() {
            // One block: its own series order, and only the chunks the range needs, decoded into
            // one reused sample.
            for series in block.series()? {
                let series = series?;
                if index >= skip {
                    let mut samples = block.samples_between(&series, lo, hi);
                    let at = Position::new(segment, index);
                    if !self.series(series.labels(), &mut samples, at, &mut batch)? {
                        return Ok(false);
                    }
                }
                index += 1;
                *last = Position::new(segment, index);
                if index > skip && self.queue.mark_read(*last).is_err() {
                    return Ok(false);
                }
            }
        } else {
            for series in merge_series(&blocks)? {
                let series = series?;
                if index >= skip {
                    let labels = series.labels().to_vec();
                    let samples = series.samples().filter(|s| s.as_ref().map_or(true, |s| s.t >= lo && s.t <= hi));
                    let at = Position::new(segment, index);
                    if !self.series(&labels, &mut Samples(samples), at, &mut batch)? {
                        return Ok(false);
                    }
                }
                index += 1;
                *last = Position::new(segment, index);
                if index > skip && self.queue.mark_read(*last).is_err() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Queues one series' samples at `at`. A sample that does not decode ends the series (logged,
    /// counted). Returns `false` when stopped.
    fn series(
        &mut self,
        labels: &[tsdb_block::Label<'_>],
        samples: &mut dyn NextSample,
        at: Position,
        batch: &mut Batch,
    ) -> Result<bool, tsdb_block::Error> {
        let mut sample = std::mem::take(&mut self.sample);
        let sent = self.series_with(labels, samples, at, batch, &mut sample);
        self.sample = sample;
        sent
    }

    /// [`Self::series`], each sample decoded into `sample`.
    fn series_with(
        &mut self,
        labels: &[tsdb_block::Label<'_>],
        samples: &mut dyn NextSample,
        at: Position,
        batch: &mut Batch,
        sample: &mut Sample,
    ) -> Result<bool, tsdb_block::Error> {
        if self.stop.is_stopped() {
            return Ok(false);
        }
        let mut series_ref = None;
        loop {
            match samples.next_sample(sample) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.progress.errors.fetch_add(1, Ordering::Relaxed);
                    logging::error(
                        "A series' chunk does not decode; the rest of the series in this block is not sent",
                        &[("series", &format_labels(labels)), ("err", &e)],
                    );
                    break;
                }
            }
            let r = match series_ref {
                Some(r) => r,
                None => {
                    let r = self.store(labels);
                    series_ref = Some(r);
                    r
                }
            };
            // Per series, points go out in time order: a switch between floats and histograms
            // sends what was gathered of the other kind first.
            let others = match &sample.value {
                Value::Float(_) => batch.histograms.len() + batch.float_histograms.len(),
                Value::Histogram(_) => batch.floats.len() + batch.float_histograms.len(),
                Value::FloatHistogram(_) => batch.floats.len() + batch.histograms.len(),
            };
            if others > 0 && !self.flush(batch, at)? {
                return Ok(false);
            }
            let (st, t) = (sample.st, sample.t);
            match &sample.value {
                Value::Float(v) => batch.floats.push(RefSample { series_ref: r, st, t, v: *v }),
                Value::Histogram(h) => batch.histograms.push(RefHistogramSample {
                    series_ref: r,
                    st,
                    t,
                    h: convert_histogram((**h).clone()),
                }),
                Value::FloatHistogram(h) => batch.float_histograms.push(RefFloatHistogramSample {
                    series_ref: r,
                    st,
                    t,
                    fh: convert_float_histogram((**h).clone()),
                }),
            }
            let n = batch.floats.len() + batch.histograms.len() + batch.float_histograms.len();
            if n >= BATCH && !self.flush(batch, at)? {
                return Ok(false);
            }
        }
        self.flush(batch, at)
    }

    /// Queues what `batch` holds. Returns `false` when the queue is stopping.
    fn flush(&mut self, batch: &mut Batch, at: Position) -> Result<bool, tsdb_block::Error> {
        let n = (batch.floats.len() + batch.histograms.len() + batch.float_histograms.len()) as u64;
        let mut ok = true;
        if !batch.floats.is_empty() {
            ok &= self.queue.append_samples(&batch.floats, at).is_ok();
            batch.floats.clear();
        }
        if !batch.histograms.is_empty() {
            ok &= self.queue.append_histograms(&batch.histograms, at).is_ok();
            batch.histograms.clear();
        }
        if !batch.float_histograms.is_empty() {
            ok &= self.queue.append_float_histograms(&batch.float_histograms, at).is_ok();
            batch.float_histograms.clear();
        }
        self.progress.samples_read.fetch_add(n, Ordering::Relaxed);
        Ok(ok)
    }

    /// Gives the series its reference and stores it in the queue's cache. The reference is a
    /// hash of the labels, the same in every window: the queue shards by reference, so a series'
    /// samples from successive blocks go through one shard, in time order (a receiver without
    /// an out-of-order window, such as Prometheus, would refuse them otherwise).
    fn store(&mut self, labels: &[tsdb_block::Label<'_>]) -> u64 {
        if self.stored > 0 && self.stored.is_multiple_of(SERIES_PER_EPOCH) {
            // Every point of the series stored so far is queued: once they are sent, forget them.
            self.epoch += 1;
            self.queue.series_reset(self.epoch);
        }
        self.stored += 1;
        let r = series_ref_of(labels);
        let owned = Labels::from_pairs(labels.iter().map(|l| (l.name, l.value)));
        self.queue.store_series(&[RefSeries { series_ref: r, labels: owned.as_ref() }], self.epoch);
        r
    }
}

/// The samples of one series, one at a time into a sample the caller reuses.
trait NextSample {
    /// Puts the next sample into `out`; `Ok(false)` at the end.
    fn next_sample(&mut self, out: &mut Sample) -> Result<bool, tsdb_block::Error>;
}

/// One block's samples: decoded in place, reusing the histogram `out` holds.
impl NextSample for tsdb_block::SeriesSamples<'_> {
    fn next_sample(&mut self, out: &mut Sample) -> Result<bool, tsdb_block::Error> {
        self.next_into(out)
    }
}

/// Any other sample iterator (the merge of overlapping blocks).
struct Samples<I>(I);

impl<I: Iterator<Item = Result<Sample, tsdb_block::Error>>> NextSample for Samples<I> {
    fn next_sample(&mut self, out: &mut Sample) -> Result<bool, tsdb_block::Error> {
        match self.0.next() {
            Some(Ok(s)) => {
                *out = s;
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }
}

/// FNV-1a over the label pairs, in the block reference range.
fn series_ref_of(labels: &[tsdb_block::Label<'_>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for l in labels {
        for b in l.name.bytes().chain([0xff]).chain(l.value.bytes()).chain([0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    BLOCK_REF_BIT | (h & (BLOCK_REF_BIT - 1))
}

fn format_labels(labels: &[tsdb_block::Label<'_>]) -> String {
    let inner: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", inner.join(", "))
}

fn spans(s: &[tsdb_block::Span]) -> Vec<record::Span> {
    s.iter().map(|s| record::Span { offset: s.offset, length: s.length }).collect()
}

/// The WAL record of type `$to` holding the block's histogram `$h`: the int and the float
/// histogram have the same fields (of other number types), so one body serves both.
macro_rules! histogram_record {
    ($h:expr, $to:ident) => {{
        let h = $h;
        record::$to {
            counter_reset_hint: h.counter_reset_hint.as_u8(),
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: h.zero_count,
            count: h.count,
            sum: h.sum,
            positive_spans: spans(&h.positive_spans),
            negative_spans: spans(&h.negative_spans),
            positive_buckets: h.positive_buckets,
            negative_buckets: h.negative_buckets,
            custom_values: h.custom_values,
        }
    }};
}

/// A block's histogram as the queue takes it (the WAL record's type).
pub fn convert_histogram(h: tsdb_block::Histogram) -> record::Histogram {
    histogram_record!(h, Histogram)
}

/// A block's float histogram as the queue takes it.
pub fn convert_float_histogram(h: tsdb_block::FloatHistogram) -> record::FloatHistogram {
    histogram_record!(h, FloatHistogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
    }

    #[test]
    fn plan_covers_the_range_block_by_block() {
        let dir = DataDir::open(&testdata("prometheus-2.42-blocks/data")).unwrap();
        let all = plan(&dir, i64::MIN, i64::MAX);
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|w| w.blocks.len() == 1));
        assert!(all.windows(2).all(|p| p[0].to_ms <= p[1].from_ms));
        // A range inside the second block and the start of the third: two windows, clipped.
        let some = plan(&dir, 1_796_113_300_000, 1_796_113_330_000);
        assert_eq!(some.len(), 2);
        assert_eq!((some[0].from_ms, some[1].to_ms), (1_796_113_300_000, 1_796_113_330_000));
        assert_eq!(blocks_end(&dir), Some(1_796_113_440_000));
        assert!(plan(&dir, 1_796_113_440_000, i64::MAX).is_empty());
    }

    #[test]
    fn data_dir_of_a_wal_dir_is_its_parent() {
        let d = testdata("prometheus-2.42-blocks/data");
        assert_eq!(data_dir_of(&d), d);
        assert_eq!(data_dir_of(&d.join("wal")), d);
    }
}
