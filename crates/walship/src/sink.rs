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
pub struct QueueSink(pub Arc<QueueManager>, pub Arc<AckedTime>);

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
        go_on(self.0.append_samples(samples, at))
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
        go_on(self.0.append_exemplars(exemplars, at))
    }
    fn append_histograms(&mut self, histograms: &[RefHistogramSample], at: Position) -> Result<bool, Infallible> {
        self.1.note(at, histograms.iter().map(|s| s.t));
        go_on(self.0.append_histograms(histograms, at))
    }
    fn append_float_histograms(
        &mut self,
        histograms: &[RefFloatHistogramSample],
        at: Position,
    ) -> Result<bool, Infallible> {
        self.1.note(at, histograms.iter().map(|s| s.t));
        go_on(self.0.append_float_histograms(histograms, at))
    }
    fn store_metadata(&mut self, metadata: &[RefMetadata<'_>], _at: Position) -> Result<bool, Infallible> {
        self.0.store_metadata(metadata);
        Ok(true)
    }
    fn progress(&mut self, next: Position) -> Result<bool, Infallible> {
        go_on(self.0.mark_read(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
