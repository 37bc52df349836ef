//! The bridge between the watcher and a remote-write queue.

use remote_queue::QueueManager;
use std::sync::Arc;
use wal_format::record::{RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::Sink;

/// Feeds one endpoint's queue from a watcher. Appends block while the queue is full; they fail
/// only when the queue is stopping, which is also when the watcher is being stopped, so the
/// error carries no information the cursor does not already hold.
pub struct QueueSink(pub Arc<QueueManager>);

impl Sink for QueueSink {
    fn store_series(&mut self, series: &[RefSeries<'_>], segment: u64) {
        self.0.store_series(series, segment);
    }
    fn append_samples(&mut self, samples: &[RefSample], at: Position) {
        let _ = self.0.append_samples(samples, at);
    }
    fn update_series_segment(&mut self, series: &[RefSeries<'_>], segment: u64) {
        let refs: Vec<u64> = series.iter().map(|s| s.series_ref).collect();
        self.0.update_series_segment(&refs, segment);
    }
    fn series_reset(&mut self, segment: u64) {
        self.0.series_reset(segment);
    }
    fn append_exemplars(&mut self, exemplars: &[RefExemplar<'_>], at: Position) {
        let _ = self.0.append_exemplars(exemplars, at);
    }
    fn append_histograms(&mut self, histograms: &[RefHistogramSample], at: Position) {
        let _ = self.0.append_histograms(histograms, at);
    }
    fn append_float_histograms(&mut self, histograms: &[RefFloatHistogramSample], at: Position) {
        let _ = self.0.append_float_histograms(histograms, at);
    }
    fn store_metadata(&mut self, metadata: &[RefMetadata<'_>], _at: Position) {
        self.0.store_metadata(metadata);
    }
    fn progress(&mut self, next: Position) {
        let _ = self.0.mark_read(next);
    }
}
