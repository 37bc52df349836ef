//! Native histogram records: integer (types 7, 9, 12) and float (types 8, 10, 13).
//!
//! V1 records (7–10) store the first ref and T as BE64 and per-entry deltas to them; V2 records
//! (12, 13) use varints, deltas of the ref to the previous entry and a start-timestamp marker.
//! The custom-bucket types share the V1 layout: a histogram whose schema is
//! [`CUSTOM_BUCKETS_SCHEMA`] carries its bucket bounds at the end, whatever the record type.

use super::samples::{put_v1_entries, read_st_marker, v1_entries, write_st_marker};
use super::{fault, finish, open, RecordType, SeriesRef};
use crate::error::{Error, RecordFault};
use crate::varint::{put_be64, put_uvarint, put_varint, Cursor, ReadFail};

/// The schema number of histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A run of consecutive buckets: `offset` buckets after the previous span, `length` buckets long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Gap to the previous span (or the start index for the first span).
    pub offset: i32,
    /// Number of buckets in the span.
    pub length: u32,
}

/// A native histogram with integer counts. Bucket counts are deltas, as Prometheus stores them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter reset hint: 0 unknown, 1 reset, 2 not reset, 3 gauge.
    pub counter_reset_hint: u8,
    /// Resolution; [`CUSTOM_BUCKETS_SCHEMA`] for custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, each a delta to the previous bucket.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, each a delta to the previous bucket.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts (absolute, not deltas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter reset hint: 0 unknown, 1 reset, 2 not reset, 3 gauge.
    pub counter_reset_hint: u8,
    /// Resolution; [`CUSTOM_BUCKETS_SCHEMA`] for custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts.
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// An integer histogram sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefHistogramSample {
    /// The series.
    pub series_ref: SeriesRef,
    /// Start timestamp (V2 records only; 0 when absent).
    pub st: i64,
    /// Timestamp in ms.
    pub t: i64,
    /// The histogram.
    pub h: Histogram,
}

/// A float histogram sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefFloatHistogramSample {
    /// The series.
    pub series_ref: SeriesRef,
    /// Start timestamp (V2 records only; 0 when absent).
    pub st: i64,
    /// Timestamp in ms.
    pub t: i64,
    /// The histogram.
    pub fh: FloatHistogram,
}

fn read_spans(c: &mut Cursor<'_>) -> Result<Vec<Span>, ReadFail> {
    let n = c.count(2)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        // Go truncates with int32()/uint32(); so do we.
        let offset = c.varint()? as i32;
        let length = c.uvarint()? as u32;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

fn write_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_varint(buf, s.offset as i64);
        put_uvarint(buf, s.length as u64);
    }
}

fn read_f64s(c: &mut Cursor<'_>) -> Result<Vec<f64>, ReadFail> {
    let n = c.count(8)?;
    (0..n).map(|_| c.be_f64()).collect()
}

fn write_f64s(buf: &mut Vec<u8>, v: &[f64]) {
    put_uvarint(buf, v.len() as u64);
    for x in v {
        put_be64(buf, x.to_bits());
    }
}

/// What the two histogram flavours share, so one loop codes both.
trait Body: Sized {
    fn decode(c: &mut Cursor<'_>) -> Result<Self, ReadFail>;
    fn encode(&self, buf: &mut Vec<u8>);
}

impl Body for Histogram {
    fn decode(c: &mut Cursor<'_>) -> Result<Self, ReadFail> {
        let counter_reset_hint = c.byte()?;
        let schema = c.varint()? as i32;
        let zero_threshold = c.be_f64()?;
        let zero_count = c.uvarint()?;
        let count = c.uvarint()?;
        let sum = c.be_f64()?;
        let positive_spans = read_spans(c)?;
        let negative_spans = read_spans(c)?;
        let buckets = |c: &mut Cursor<'_>| -> Result<Vec<i64>, ReadFail> {
            let n = c.count(1)?;
            (0..n).map(|_| c.varint()).collect()
        };
        let positive_buckets = buckets(c)?;
        let negative_buckets = buckets(c)?;
        let custom_values = if schema == CUSTOM_BUCKETS_SCHEMA { read_f64s(c)? } else { Vec::new() };
        Ok(Histogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values,
        })
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.counter_reset_hint);
        put_varint(buf, self.schema as i64);
        put_be64(buf, self.zero_threshold.to_bits());
        put_uvarint(buf, self.zero_count);
        put_uvarint(buf, self.count);
        put_be64(buf, self.sum.to_bits());
        write_spans(buf, &self.positive_spans);
        write_spans(buf, &self.negative_spans);
        for b in [&self.positive_buckets, &self.negative_buckets] {
            put_uvarint(buf, b.len() as u64);
            for &x in b.iter() {
                put_varint(buf, x);
            }
        }
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            write_f64s(buf, &self.custom_values);
        }
    }
}

impl Body for FloatHistogram {
    fn decode(c: &mut Cursor<'_>) -> Result<Self, ReadFail> {
        let counter_reset_hint = c.byte()?;
        let schema = c.varint()? as i32;
        let zero_threshold = c.be_f64()?;
        let zero_count = c.be_f64()?;
        let count = c.be_f64()?;
        let sum = c.be_f64()?;
        let positive_spans = read_spans(c)?;
        let negative_spans = read_spans(c)?;
        let positive_buckets = read_f64s(c)?;
        let negative_buckets = read_f64s(c)?;
        let custom_values = if schema == CUSTOM_BUCKETS_SCHEMA { read_f64s(c)? } else { Vec::new() };
        Ok(FloatHistogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values,
        })
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.counter_reset_hint);
        put_varint(buf, self.schema as i64);
        for x in [self.zero_threshold, self.zero_count, self.count, self.sum] {
            put_be64(buf, x.to_bits());
        }
        write_spans(buf, &self.positive_spans);
        write_spans(buf, &self.negative_spans);
        write_f64s(buf, &self.positive_buckets);
        write_f64s(buf, &self.negative_buckets);
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            write_f64s(buf, &self.custom_values);
        }
    }
}

/// One decoded entry before it becomes a public sample type.
struct Entry<B> {
    series_ref: SeriesRef,
    st: i64,
    t: i64,
    body: B,
}

fn decode_entries<B: Body>(
    typ: RecordType,
    mut cur: Cursor<'_>,
    v2: bool,
    mut push: impl FnMut(Entry<B>),
) -> Result<(), Error> {
    if cur.is_empty() {
        return Ok(());
    }
    let res = (|| -> Result<(), ReadFail> {
        if !v2 {
            return v1_entries(&mut cur, |series_ref, t, c| {
                push(Entry { series_ref, st: 0, t, body: B::decode(c)? });
                Ok(())
            });
        }
        let first_ref = cur.varint()?;
        let first_t = cur.varint()?;
        let first_st = cur.varint()?;
        let (mut prev_ref, mut prev_st) = (first_ref, first_st);
        let mut first = true;
        while !cur.is_empty() {
            let mut c = cur.clone();
            let (r, t, st) = if first {
                (first_ref, first_t, first_st)
            } else {
                let r = prev_ref.wrapping_add(c.varint()?);
                let t = first_t.wrapping_add(c.varint()?);
                (r, t, read_st_marker(&mut c, prev_st, first_st)?)
            };
            let body = B::decode(&mut c)?;
            cur = c;
            first = false;
            (prev_ref, prev_st) = (r, st);
            push(Entry { series_ref: r as u64, st, t, body });
        }
        Ok(())
    })();
    res.map_err(|f| fault(typ, cur.pos(), f.into()))?;
    finish(typ, &cur)
}

fn encode_entries<'h, B: Body + 'h>(
    typ: RecordType,
    entries: impl ExactSizeIterator<Item = (SeriesRef, i64, i64, &'h B)> + Clone,
    buf: &mut Vec<u8>,
) {
    buf.push(typ.byte());
    let Some((first_ref, first_st, first_t, _)) = entries.clone().next() else { return };
    let v2 = matches!(typ, RecordType::HistogramSamplesV2 | RecordType::FloatHistogramSamplesV2);
    if !v2 {
        put_v1_entries(buf, entries, |&(r, _, t, _)| (r, t), |buf, (_, _, _, body)| body.encode(buf));
        return;
    }
    put_varint(buf, first_ref as i64);
    put_varint(buf, first_t);
    put_varint(buf, first_st);
    let (mut prev_ref, mut prev_st) = (first_ref, first_st);
    for (i, (r, st, t, body)) in entries.enumerate() {
        if i > 0 {
            put_varint(buf, (r as i64).wrapping_sub(prev_ref as i64));
            put_varint(buf, t.wrapping_sub(first_t));
            write_st_marker(buf, st, first_st, prev_st);
        }
        body.encode(buf);
        (prev_ref, prev_st) = (r, st);
    }
}

/// Decodes an integer histogram record (types 7, 9 or 12), appending to `out`.
///
/// Unlike the newest Prometheus, histograms of unknown schema are returned as they are, not
/// skipped: what to do with them is the consumer's decision.
pub fn decode_histogram_samples(rec: &[u8], out: &mut Vec<RefHistogramSample>) -> Result<(), Error> {
    use RecordType::*;
    let (typ, cur) = open(rec, &[HistogramSamples, CustomBucketsHistogramSamples, HistogramSamplesV2])?;
    decode_entries::<Histogram>(typ, cur, typ == HistogramSamplesV2, |e| {
        out.push(RefHistogramSample { series_ref: e.series_ref, st: e.st, t: e.t, h: e.body })
    })
}

/// Decodes a float histogram record (types 8, 10 or 13), appending to `out`.
pub fn decode_float_histogram_samples(rec: &[u8], out: &mut Vec<RefFloatHistogramSample>) -> Result<(), Error> {
    use RecordType::*;
    let (typ, cur) = open(rec, &[FloatHistogramSamples, CustomBucketsFloatHistogramSamples, FloatHistogramSamplesV2])?;
    decode_entries::<FloatHistogram>(typ, cur, typ == FloatHistogramSamplesV2, |e| {
        out.push(RefFloatHistogramSample { series_ref: e.series_ref, st: e.st, t: e.t, fh: e.body })
    })
}

/// Encodes integer histograms as a record of type `typ`: `HistogramSamples` (what Prometheus 2.42
/// writes), `CustomBucketsHistogramSamples` or `HistogramSamplesV2`. Prometheus puts custom-bucket
/// histograms in their own record type; choosing the type is the caller's job.
pub fn encode_histogram_samples(typ: RecordType, hs: &[RefHistogramSample], buf: &mut Vec<u8>) -> Result<(), Error> {
    use RecordType::*;
    if !matches!(typ, HistogramSamples | CustomBucketsHistogramSamples | HistogramSamplesV2) {
        return Err(fault(typ, 0, RecordFault::WrongType));
    }
    encode_entries(typ, hs.iter().map(|h| (h.series_ref, h.st, h.t, &h.h)), buf);
    Ok(())
}

/// Encodes float histograms as a record of type `typ`: `FloatHistogramSamples`,
/// `CustomBucketsFloatHistogramSamples` or `FloatHistogramSamplesV2`.
pub fn encode_float_histogram_samples(
    typ: RecordType,
    hs: &[RefFloatHistogramSample],
    buf: &mut Vec<u8>,
) -> Result<(), Error> {
    use RecordType::*;
    if !matches!(typ, FloatHistogramSamples | CustomBucketsFloatHistogramSamples | FloatHistogramSamplesV2) {
        return Err(fault(typ, 0, RecordFault::WrongType));
    }
    encode_entries(typ, hs.iter().map(|h| (h.series_ref, h.st, h.t, &h.fh)), buf);
    Ok(())
}
