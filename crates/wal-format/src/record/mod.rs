//! Record codecs: the bytes inside a record, after framing and decompression.
//!
//! Every record starts with a type byte ([`RecordType`]). Decoders append to a caller-supplied
//! vector — clear it and pass it again to reuse its allocation, as Prometheus does with
//! `dec.Samples(rec, samples[:0])` — and borrow label strings from the record instead of copying
//! them. Encoders append to a caller-supplied buffer. Layouts follow Prometheus's `tsdb/record`.

mod histogram;
mod kind;
mod labels;
mod samples;
mod simple;

pub use histogram::{
    decode_float_histogram_samples, decode_histogram_samples, encode_float_histogram_samples, encode_histogram_samples,
    FloatHistogram, Histogram, RefFloatHistogramSample, RefHistogramSample, Span, CUSTOM_BUCKETS_SCHEMA,
};
pub use kind::RecordType;
pub use labels::{Label, Labels, LabelsIter, LabelsRef};
pub use samples::{decode_exemplars, decode_samples, encode_exemplars, encode_samples, encode_samples_v2};
pub use simple::{
    decode_metadata, decode_mmap_markers, decode_series, decode_tombstones, encode_metadata, encode_mmap_markers,
    encode_series, encode_tombstones,
};

use crate::error::{Error, RecordFault};
use crate::varint::Cursor;

/// The reference Prometheus gives a series in its head (`chunks.HeadSeriesRef`).
pub type SeriesRef = u64;

/// A series declaration: its reference and labels, borrowed from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefSeries<'a> {
    /// The series reference that sample records use.
    pub series_ref: SeriesRef,
    /// The series' labels.
    pub labels: LabelsRef<'a>,
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RefSample {
    /// The series it belongs to.
    pub series_ref: SeriesRef,
    /// Start timestamp in ms (SamplesV2 only; 0 when absent).
    pub st: i64,
    /// Timestamp in ms since the Unix epoch.
    pub t: i64,
    /// The value. A Prometheus stale marker is the NaN with bits [`STALE_NAN_BITS`].
    pub v: f64,
}

/// The bit pattern of Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One deletion interval of a series (Prometheus's `tombstones.Stone` with one interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tombstone {
    /// The series.
    pub series_ref: SeriesRef,
    /// First deleted timestamp (ms).
    pub min_t: i64,
    /// Last deleted timestamp (ms).
    pub max_t: i64,
}

/// An exemplar: a sample with labels of its own (e.g. a trace ID).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefExemplar<'a> {
    /// The series it belongs to.
    pub series_ref: SeriesRef,
    /// Timestamp in ms.
    pub t: i64,
    /// Value.
    pub v: f64,
    /// The exemplar's own labels.
    pub labels: LabelsRef<'a>,
}

/// A marker that a series' samples up to here were m-mapped to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefMmapMarker {
    /// The series.
    pub series_ref: SeriesRef,
    /// Reference into Prometheus's chunk files.
    pub mmap_ref: u64,
}

/// Metric metadata attached to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMetadata<'a> {
    /// The series.
    pub series_ref: SeriesRef,
    /// The metric type.
    pub metric_type: MetricType,
    /// The `UNIT` field (empty if absent).
    pub unit: &'a [u8],
    /// The `HELP` field (empty if absent).
    pub help: &'a [u8],
}

/// Metric types as the WAL numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// 0: unknown.
    Unknown,
    /// 1.
    Counter,
    /// 2.
    Gauge,
    /// 3 (classic or native).
    Histogram,
    /// 4.
    GaugeHistogram,
    /// 5.
    Summary,
    /// 6.
    Info,
    /// 7.
    Stateset,
    /// A byte this version does not know; kept so that it can be written back unchanged.
    Other(u8),
}

impl MetricType {
    /// The type a WAL byte stands for.
    pub fn from_byte(b: u8) -> Self {
        use MetricType::*;
        match b {
            0 => Unknown,
            1 => Counter,
            2 => Gauge,
            3 => Histogram,
            4 => GaugeHistogram,
            5 => Summary,
            6 => Info,
            7 => Stateset,
            o => Other(o),
        }
    }

    /// The WAL byte.
    pub fn byte(self) -> u8 {
        use MetricType::*;
        match self {
            Unknown => 0,
            Counter => 1,
            Gauge => 2,
            Histogram => 3,
            GaugeHistogram => 4,
            Summary => 5,
            Info => 6,
            Stateset => 7,
            Other(o) => o,
        }
    }

    /// The name Prometheus uses in the exposition format (`counter`, `gauge`, …).
    pub fn name(self) -> &'static str {
        use MetricType::*;
        match self {
            Counter => "counter",
            Gauge => "gauge",
            Histogram => "histogram",
            GaugeHistogram => "gaugehistogram",
            Summary => "summary",
            Info => "info",
            Stateset => "stateset",
            Unknown | Other(_) => "unknown",
        }
    }
}

/// Builds the error for a fault at `cur`'s position.
pub(crate) fn fault(record: RecordType, at: usize, reason: RecordFault) -> Error {
    Error::Record { record, at, reason }
}

/// Reads the type byte and checks it is one of `accepted`.
pub(crate) fn open<'a>(rec: &'a [u8], accepted: &[RecordType]) -> Result<(RecordType, Cursor<'a>), Error> {
    let typ = RecordType::of(rec);
    if rec.is_empty() || !accepted.contains(&typ) {
        return Err(fault(typ, 0, RecordFault::WrongType));
    }
    let mut cur = Cursor::new(rec);
    cur.pos_skip(1);
    Ok((typ, cur))
}

/// Fails when bytes are left after the last entry.
pub(crate) fn finish(typ: RecordType, cur: &Cursor<'_>) -> Result<(), Error> {
    if cur.is_empty() {
        Ok(())
    } else {
        Err(fault(typ, cur.pos(), RecordFault::Trailing(cur.remaining())))
    }
}
