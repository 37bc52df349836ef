//! Turning one record into sink calls, with the start filter applied.

use crate::metrics::WatcherMetrics;
use crate::options::WatcherOptions;
use crate::sink::Sink;
use crate::start::SampleFilter;
use std::sync::atomic::Ordering;
use wal_format::record::{self, RecordType};
use wal_format::Position;

/// Buffers reused from record to record, so that steady-state reading allocates nothing.
#[derive(Default)]
pub(crate) struct Scratch {
    samples: Vec<record::RefSample>,
    histograms: Vec<record::RefHistogramSample>,
    float_histograms: Vec<record::RefFloatHistogramSample>,
}

/// What a record is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A WAL segment: series, and samples as the filter allows.
    Segment,
    /// A checkpoint read at start-up or after a gap met while running: series, and samples
    /// only when `samples_after` is set, those with a timestamp greater than it.
    Checkpoint { samples_after: Option<i64> },
    /// A new checkpoint read for garbage collection: series only, as updates.
    Gc,
}

/// Decodes records and calls the sink, with the start filter and the options applied.
pub(crate) struct Dispatcher {
    pub(crate) filter: SampleFilter,
    pub(crate) opts: WatcherOptions,
    pub(crate) metrics: std::sync::Arc<WatcherMetrics>,
    scratch: Scratch,
    /// The first sample timestamp decoded since the last [`Dispatcher::take_first_timestamp`].
    first_t: Option<i64>,
    /// The newest timestamp of the samples and histograms the sink has taken.
    newest_taken: Option<i64>,
}

impl Dispatcher {
    pub(crate) fn new(filter: SampleFilter, opts: WatcherOptions, metrics: std::sync::Arc<WatcherMetrics>) -> Self {
        Dispatcher { filter, opts, metrics, scratch: Scratch::default(), first_t: None, newest_taken: None }
    }

    /// The first sample timestamp decoded since the last call (to say what time a gap ended at).
    pub(crate) fn take_first_timestamp(&mut self) -> Option<i64> {
        self.first_t.take()
    }

    /// The newest timestamp of the samples and histograms the sink has taken from this
    /// dispatcher (a record it refused does not count).
    pub(crate) fn newest_taken(&self) -> Option<i64> {
        self.newest_taken
    }

    /// Hands the record `rec` at `at` (read from segment `segment`) to the sink, and returns the
    /// sink's answer: go on (`true`) or stop (`false`). A record that does not decode is counted
    /// and skipped, as Prometheus does; the error is returned so the caller can report it.
    pub(crate) fn dispatch<S: Sink>(
        &mut self,
        sink: &mut S,
        rec: &[u8],
        at: Position,
        segment: u64,
        purpose: Purpose,
    ) -> Result<bool, Failed<S::Error>> {
        let (filter, opts, metrics, scratch) = (&self.filter, &self.opts, &*self.metrics, &mut self.scratch);
        let typ = RecordType::of(rec);
        metrics.record(typ.byte());
        let samples_wanted = match purpose {
            Purpose::Segment => filter.wants_record(at),
            Purpose::Checkpoint { samples_after } => samples_after.is_some(),
            Purpose::Gc => false,
        };
        let after_t = match purpose {
            Purpose::Checkpoint { samples_after: Some(t) } => t.max(filter.after_t),
            _ => filter.after_t,
        };
        let decode = Failed::Decode;
        let result = (|| {
            let go_on = match typ {
                RecordType::Series => {
                    let mut series = Vec::new();
                    record::decode_series(rec, &mut series).map_err(decode)?;
                    if purpose == Purpose::Gc {
                        sink.update_series_segment(&series, segment)
                    } else {
                        sink.store_series(&series, segment)
                    }
                }
                RecordType::Samples | RecordType::SamplesV2 if samples_wanted => {
                    let buf = &mut scratch.samples;
                    buf.clear();
                    record::decode_samples(rec, buf).map_err(decode)?;
                    note_newest(metrics, buf.iter().map(|s| s.t));
                    if self.first_t.is_none() {
                        self.first_t = buf.first().map(|s| s.t);
                    }
                    buf.retain(|s| s.t > after_t);
                    if buf.is_empty() {
                        return Ok(true);
                    }
                    WatcherMetrics::add(&metrics.samples_sent, buf.len() as u64);
                    let newest = buf.iter().map(|s| s.t).max();
                    took(&mut self.newest_taken, newest, sink.append_samples(buf, at))
                }
                RecordType::Exemplars if samples_wanted && opts.send_exemplars => {
                    let mut ex = Vec::new();
                    record::decode_exemplars(rec, &mut ex).map_err(decode)?;
                    ex.retain(|e| e.t > after_t);
                    if ex.is_empty() {
                        return Ok(true);
                    }
                    sink.append_exemplars(&ex, at)
                }
                RecordType::HistogramSamples
                | RecordType::CustomBucketsHistogramSamples
                | RecordType::HistogramSamplesV2
                    if samples_wanted && opts.send_histograms =>
                {
                    let buf = &mut scratch.histograms;
                    buf.clear();
                    record::decode_histogram_samples(rec, buf).map_err(decode)?;
                    note_newest(metrics, buf.iter().map(|s| s.t));
                    buf.retain(|h| h.t > after_t);
                    if buf.is_empty() {
                        return Ok(true);
                    }
                    let newest = buf.iter().map(|h| h.t).max();
                    took(&mut self.newest_taken, newest, sink.append_histograms(buf, at))
                }
                RecordType::FloatHistogramSamples
                | RecordType::CustomBucketsFloatHistogramSamples
                | RecordType::FloatHistogramSamplesV2
                    if samples_wanted && opts.send_histograms =>
                {
                    let buf = &mut scratch.float_histograms;
                    buf.clear();
                    record::decode_float_histogram_samples(rec, buf).map_err(decode)?;
                    note_newest(metrics, buf.iter().map(|s| s.t));
                    buf.retain(|h| h.t > after_t);
                    if buf.is_empty() {
                        return Ok(true);
                    }
                    let newest = buf.iter().map(|h| h.t).max();
                    took(&mut self.newest_taken, newest, sink.append_float_histograms(buf, at))
                }
                RecordType::Metadata if purpose != Purpose::Gc && opts.send_metadata => {
                    let mut md = Vec::new();
                    record::decode_metadata(rec, &mut md).map_err(decode)?;
                    sink.store_metadata(&md, at)
                }
                _ => Ok(true),
            };
            go_on.map_err(Failed::Sink)
        })();
        if let Err(Failed::Decode(_)) = &result {
            WatcherMetrics::add(&metrics.decode_failures, 1);
        }
        result
    }
}

/// Why a record was not handed over.
pub(crate) enum Failed<E> {
    /// It does not decode: counted and skipped.
    Decode(wal_format::Error),
    /// The sink failed.
    Sink(E),
}

/// Passes the sink's `answer` on, noting `newest` in `taken` when the sink took the points.
fn took<E>(taken: &mut Option<i64>, newest: Option<i64>, answer: Result<bool, E>) -> Result<bool, E> {
    if matches!(answer, Ok(true)) {
        *taken = (*taken).max(newest);
    }
    answer
}

fn note_newest(metrics: &WatcherMetrics, ts: impl Iterator<Item = i64>) {
    if let Some(max) = ts.max() {
        metrics.newest_timestamp_ms.fetch_max(max, Ordering::Relaxed);
    }
}
