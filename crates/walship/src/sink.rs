//! The bridge between the watcher and a remote-write queue.

use remote_queue::QueueManager;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use wal_format::record::{RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::{GapAnswer, Sink};

/// Feeds one endpoint's queue from a watcher. Appends block while the queue is full; a queue
/// that is stopping refuses them, and the sink then answers `false`, which stops the watcher at
/// once with its position before the refused record.
///
/// With a [`GapWatch`], a gap the watcher meets while running (Prometheus deleted segments
/// before they were read) goes to the gap's hook before anything read after it: it fills the
/// time range they held from the blocks and says which of the checkpoint's samples follow.
pub struct QueueSink(pub Arc<QueueManager>, pub Arc<AckedTime>, pub Option<GapWatch>);

/// What a running gap fill is told: the segments found missing, the checkpoint Prometheus
/// wrote with their deletion (read by the watcher right after), and the last position passed to
/// the queue before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningGap {
    /// The first segment missing.
    pub from_segment: u64,
    /// The last segment missing.
    pub to_segment: u64,
    /// The checkpoint read after the gap, if any.
    pub checkpoint: Option<u64>,
    /// The last position the queue was given before the gap; `None` if none was.
    pub before: Option<Position>,
}

/// Hands the gaps the watcher meets while running to a hook, with the last position given to
/// the queue before them.
pub struct GapWatch {
    /// The last position given to the queue.
    last: Option<Position>,
    hook: Box<dyn FnMut(RunningGap) -> GapAnswer + Send>,
}

impl GapWatch {
    /// A watch that calls `hook` for every gap met while running, blocking the watcher until it
    /// returns; its answer goes to the watcher.
    pub fn new(hook: Box<dyn FnMut(RunningGap) -> GapAnswer + Send>) -> GapWatch {
        GapWatch { last: None, hook }
    }

    /// Called after `at` was given to the queue.
    fn after(&mut self, at: Position) {
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    fn gap(&mut self, missing: std::ops::RangeInclusive<u64>, checkpoint: Option<u64>) -> GapAnswer {
        let gap =
            RunningGap { from_segment: *missing.start(), to_segment: *missing.end(), checkpoint, before: self.last };
        (self.hook)(gap)
    }
}

impl QueueSink {
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
        self.0.store_series(series, segment);
        Ok(true)
    }
    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Infallible> {
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
        let taken = self.0.append_exemplars(exemplars, at);
        self.after(at);
        go_on(taken)
    }
    fn append_histograms(&mut self, histograms: &[RefHistogramSample], at: Position) -> Result<bool, Infallible> {
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
        self.1.note(at, histograms.iter().map(|s| s.t));
        let taken = self.0.append_float_histograms(histograms, at);
        self.after(at);
        go_on(taken)
    }
    fn store_metadata(&mut self, metadata: &[RefMetadata<'_>], _at: Position) -> Result<bool, Infallible> {
        self.0.store_metadata(metadata);
        Ok(true)
    }
    fn gap(
        &mut self,
        missing: std::ops::RangeInclusive<u64>,
        checkpoint: Option<u64>,
    ) -> Result<GapAnswer, Infallible> {
        Ok(self.2.as_mut().map_or(GapAnswer::GoOn, |w| w.gap(missing, checkpoint)))
    }
    fn progress(&mut self, next: Position) -> Result<bool, Infallible> {
        let taken = self.0.mark_read(next);
        self.after(next);
        go_on(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook is told each gap with the last position the queue was given before it, and its
    /// answer goes back to the watcher.
    #[test]
    fn gap_watch_tells_the_last_position_before_the_gap() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut w = GapWatch::new(Box::new(move |g| {
            s2.lock().unwrap().push(g);
            GapAnswer::From(7)
        }));
        assert_eq!(w.gap(0..=1, None), GapAnswer::From(7));
        w.after(Position::new(3, 0));
        w.after(Position::new(3, 100));
        w.after(Position::new(2, 5));
        assert_eq!(w.gap(4..=5, Some(5)), GapAnswer::From(7));
        let want = [
            RunningGap { from_segment: 0, to_segment: 1, checkpoint: None, before: None },
            RunningGap { from_segment: 4, to_segment: 5, checkpoint: Some(5), before: Some(Position::new(3, 100)) },
        ];
        assert_eq!(*seen.lock().unwrap(), want);
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
