//! The bridge between the watcher and a remote-write queue.

use remote_queue::QueueManager;
use std::convert::Infallible;
use std::sync::Arc;
use wal_format::record::{RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::Sink;

/// Feeds one endpoint's queue from a watcher. Appends block while the queue is full; a queue
/// that is stopping refuses them, and the sink then answers `false`, which stops the watcher at
/// once with its position before the refused record.
pub struct QueueSink(pub Arc<QueueManager>);

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
        go_on(self.0.append_histograms(histograms, at))
    }
    fn append_float_histograms(
        &mut self,
        histograms: &[RefFloatHistogramSample],
        at: Position,
    ) -> Result<bool, Infallible> {
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
