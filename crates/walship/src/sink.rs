//! The bridge between the watcher and a remote-write queue.

use remote_queue::QueueManager;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use wal_format::record::{RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::Sink;

/// Feeds one endpoint's queue from a watcher. Appends block while the queue is full; a queue
/// that is stopping refuses them, and the sink then answers `false`, which stops the watcher at
/// once with its position before the refused record.
///
/// With a [`GapWatch`], the sink also notices when the watcher skipped WAL segments while
/// running (Prometheus deleted them before they were read) and, before it passes on anything
/// read after them, lets the gap's hook fill the time range they held from the blocks.
pub struct QueueSink(pub Arc<QueueManager>, pub Arc<AckedTime>, pub Option<GapWatch>);

/// What a running gap fill is told: the segments found missing (as far as the sink can tell:
/// from the one it expected next to the one before the record that came instead) and the last
/// position passed to the queue before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningGap {
    /// The first segment missing.
    pub from_segment: u64,
    /// The last segment missing.
    pub to_segment: u64,
    /// The last position the queue was given before the gap; `None` if none was.
    pub before: Option<Position>,
}

/// Notices gaps while the watcher runs. A gap is reported when the watcher counted one
/// (`gaps`, which it raises before it passes on anything read after the gap) and the next
/// record comes from a segment beyond the one expected next: a new checkpoint's records or a
/// later segment.
pub struct GapWatch {
    /// The watcher's gap counter (set once the watcher exists).
    gaps: Arc<std::sync::OnceLock<Arc<wal_watcher::WatcherMetrics>>>,
    seen_gaps: u64,
    /// The segment the next record should come from (at most).
    expect: Option<u64>,
    /// The last position given to the queue.
    last: Option<Position>,
    hook: Box<dyn FnMut(RunningGap) + Send>,
}

impl GapWatch {
    /// A watch that calls `hook` for every gap, blocking the watcher until it returns. `gaps`
    /// is filled with the watcher's metrics once the watcher is made (before it runs).
    pub fn new(
        gaps: Arc<std::sync::OnceLock<Arc<wal_watcher::WatcherMetrics>>>,
        hook: Box<dyn FnMut(RunningGap) + Send>,
    ) -> GapWatch {
        GapWatch { gaps, seen_gaps: 0, expect: None, last: None, hook }
    }

    fn counted_gaps(&self) -> u64 {
        self.gaps.get().map_or(0, |m| m.gaps.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Called before anything of `segment` goes to the queue.
    fn before(&mut self, segment: u64) {
        let counted = self.counted_gaps();
        if let Some(expect) = self.expect {
            if segment > expect && counted > self.seen_gaps {
                (self.hook)(RunningGap { from_segment: expect, to_segment: segment - 1, before: self.last });
            }
        }
        self.seen_gaps = counted;
        self.expect = Some(self.expect.map_or(segment, |e| e.max(segment)));
    }

    /// Called after `at` was given to the queue.
    fn after(&mut self, at: Position) {
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }
}

impl QueueSink {
    fn before(&mut self, segment: u64) {
        if let Some(w) = self.2.as_mut() {
            w.before(segment);
        }
    }

    fn after(&mut self, at: Position) {
        if let Some(w) = self.2.as_mut() {
            w.after(at);
        }
    }
}

/// The newest sample time the remote acknowledged, for the cursor: when Prometheus deletes the
/// WAL segments after a stopped walship's cursor, the time range to take from the blocks
/// starts there. The sink notes the newest timestamp of each record it queues; the cursor saver
/// folds in those below the watermark.
#[derive(Default)]
pub struct AckedTime {
    inner: Mutex<Acked>,
}

/// The newest timestamp of each record queued and not yet known acknowledged, and the newest
/// acknowledged.
#[derive(Default)]
struct Acked(VecDeque<(Position, i64)>, Option<i64>);

impl AckedTime {
    /// Starts with `acked` (from the saved cursor, or the end of the range sent from blocks).
    pub fn new(acked: Option<i64>) -> AckedTime {
        AckedTime { inner: Mutex::new(Acked(VecDeque::new(), acked)) }
    }

    fn note(&self, at: Position, ts: impl Iterator<Item = i64>) {
        let Some(newest) = ts.max() else { return };
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.0.back_mut() {
            Some(back) if back.0 == at => back.1 = back.1.max(newest),
            _ => g.0.push_back((at, newest)),
        }
    }

    /// The newest timestamp of the records before `watermark` (all acknowledged), with what
    /// was acknowledged earlier.
    pub fn acked_before(&self, watermark: Position) -> Option<i64> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(at, t)) = g.0.front() {
            if at >= watermark {
                break;
            }
            g.0.pop_front();
            g.1 = Some(g.1.map_or(t, |a| a.max(t)));
        }
        g.1
    }

    /// The acknowledged time, without looking at the watermark.
    pub fn current(&self) -> Option<i64> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    /// Sets the acknowledged time (the history phase ended: everything before its end is sent).
    pub fn set(&self, acked: Option<i64>) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1 = acked;
    }
}

/// The watcher goes on while the queue takes what it is given.
fn go_on(taken: Result<(), remote_queue::Error>) -> Result<bool, Infallible> {
    Ok(taken.is_ok())
}

impl Sink for QueueSink {
    type Error = Infallible;
    fn store_series(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Infallible> {
        self.before(segment);
        self.0.store_series(series, segment);
        Ok(true)
    }
    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Infallible> {
        self.before(at.segment);
        self.1.note(at, samples.iter().map(|s| s.t));
        let taken = self.0.append_samples(samples, at);
        self.after(at);
        go_on(taken)
    }
    fn update_series_segment(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Infallible> {
        let refs: Vec<u64> = series.iter().map(|s| s.series_ref).collect();
        self.0.update_series_segment(&refs, segment);
        Ok(true)
    }
    fn series_reset(&mut self, segment: u64) -> Result<bool, Infallible> {
        self.0.series_reset(segment);
        Ok(true)
    }
    fn append_exemplars(&mut self, exemplars: &[RefExemplar<'_>], at: Position) -> Result<bool, Infallible> {
        self.before(at.segment);
        let taken = self.0.append_exemplars(exemplars, at);
        self.after(at);
        go_on(taken)
    }
    fn append_histograms(&mut self, histograms: &[RefHistogramSample], at: Position) -> Result<bool, Infallible> {
        self.before(at.segment);
        self.1.note(at, histograms.iter().map(|s| s.t));
        let taken = self.0.append_histograms(histograms, at);
        self.after(at);
        go_on(taken)
    }
    fn append_float_histograms(
        &mut self,
        histograms: &[RefFloatHistogramSample],
        at: Position,
    ) -> Result<bool, Infallible> {
        self.before(at.segment);
        self.1.note(at, histograms.iter().map(|s| s.t));
        let taken = self.0.append_float_histograms(histograms, at);
        self.after(at);
        go_on(taken)
    }
    fn store_metadata(&mut self, metadata: &[RefMetadata<'_>], _at: Position) -> Result<bool, Infallible> {
        self.0.store_metadata(metadata);
        Ok(true)
    }
    fn progress(&mut self, next: Position) -> Result<bool, Infallible> {
        self.before(next.segment);
        let taken = self.0.mark_read(next);
        self.after(next);
        go_on(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gap is reported once, when the watcher counted one and the next thing comes from a
    /// later segment than expected; a counted gap alone, or a later segment alone, is none.
    #[test]
    fn gap_watch_reports_a_counted_gap_before_what_follows_it() {
        use std::sync::atomic::Ordering::Relaxed;
        let metrics = Arc::new(wal_watcher::WatcherMetrics::default());
        let late = Arc::new(std::sync::OnceLock::new());
        late.set(metrics.clone()).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut w = GapWatch::new(late, Box::new(move |g| s2.lock().unwrap().push(g)));
        w.before(2);
        w.after(Position::new(2, 100));
        // The next segment, no gap counted: none.
        w.before(3);
        w.after(Position::new(3, 0));
        // A gap counted (the watcher's CursorAhead, say) but nothing skipped: none.
        metrics.gaps.fetch_add(1, Relaxed);
        w.before(3);
        assert!(seen.lock().unwrap().is_empty());
        // A gap counted, then a record from segment 6: reported, with the last position before.
        metrics.gaps.fetch_add(1, Relaxed);
        w.before(6);
        w.after(Position::new(6, 0));
        w.before(6);
        w.before(7);
        let want = RunningGap { from_segment: 3, to_segment: 5, before: Some(Position::new(3, 0)) };
        assert_eq!(*seen.lock().unwrap(), [want]);
    }

    #[test]
    fn acked_time_counts_only_records_below_the_watermark() {
        let a = AckedTime::new(Some(5));
        a.note(Position::new(1, 0), [10, 30, 20].into_iter());
        a.note(Position::new(1, 0), [40].into_iter());
        a.note(Position::new(1, 100), [50].into_iter());
        assert_eq!(a.acked_before(Position::new(1, 0)), Some(5));
        assert_eq!(a.acked_before(Position::new(1, 100)), Some(40));
        assert_eq!(a.acked_before(Position::new(2, 0)), Some(50));
    }
}
