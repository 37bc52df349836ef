//! The protobuf messages of one data point — `Sample`, `Histogram` and its `BucketSpan`s — which
//! remote write 1.0 (`prompb/types.proto`) and 2.0 (`prompb/io/prometheus/write/v2/types.proto`)
//! number alike; 2.0 adds the start timestamp (field 3 of `Sample`, 17 of `Histogram`).

use crate::proto::*;
use wal_format::record::{FloatHistogram, Histogram, Span};

/// A `Sample { value = 1; timestamp = 2; start_timestamp = 3 }`; `st` is 0 for 1.0.
///
/// Written in place: 34 zero bytes (the most a sample takes: 2 + 9 + 11 + 11, so the length
/// always fits one varint byte and `field` < 16 keeps the tag to one byte too) are appended with
/// one fixed-size store, the fields written over them, and the tail cut back. Building the message
/// in a stack array and copying it over made the processor wait: the copy's wide loads read bytes
/// the narrow stores just before had not yet written to the cache ("store forwarding" fails).
#[inline]
pub(crate) fn put_sample(buf: &mut Vec<u8>, field: u32, v: f64, t: i64, st: i64) {
    const MAX: usize = 34;
    let start = buf.len();
    buf.extend_from_slice(&[0u8; MAX]);
    let Some(msg) = buf.get_mut(start..start + MAX) else { return };
    let mut n = 2;
    if v.to_bits() != 0 {
        msg[n] = 0x09;
        msg[n + 1..n + 9].copy_from_slice(&v.to_bits().to_le_bytes());
        n += 9;
    }
    for (tag, x) in [(0x10u8, t), (0x18, st)] {
        if x != 0 {
            msg[n] = tag;
            n += 1 + write_uvarint(&mut msg[n + 1..], x as u64);
        }
    }
    msg[0] = ((field << 3) | u32::from(WIRE_LEN)) as u8;
    msg[1] = (n - 2) as u8;
    buf.truncate(start + n);
}

fn put_spans(buf: &mut Vec<u8>, field: u32, spans: &[Span]) {
    for s in spans {
        let start = begin_len(buf, field);
        put_int(buf, 1, zigzag32(s.offset));
        put_int(buf, 2, u64::from(s.length));
        end_len(buf, start);
    }
}

fn put_packed_sint64(buf: &mut Vec<u8>, field: u32, vals: &[i64]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| uvarint_len(zigzag64(v))).sum();
    put_tag(buf, field, WIRE_LEN);
    put_uvarint(buf, len as u64);
    for &v in vals {
        put_uvarint(buf, zigzag64(v));
    }
}

fn put_packed_double(buf: &mut Vec<u8>, field: u32, vals: &[f64]) {
    if vals.is_empty() {
        return;
    }
    put_tag(buf, field, WIRE_LEN);
    put_uvarint(buf, (vals.len() * 8) as u64);
    for v in vals {
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Integer native histogram: `count_int`, `zero_count_int`, delta buckets.
pub(crate) fn put_histogram(buf: &mut Vec<u8>, field: u32, h: &Histogram, t: i64, st: i64) {
    let start = begin_len(buf, field);
    put_tag(buf, 1, WIRE_VARINT);
    put_uvarint(buf, h.count);
    put_histogram_shape(buf, h.sum, h.schema, h.zero_threshold);
    put_tag(buf, 6, WIRE_VARINT);
    put_uvarint(buf, h.zero_count);
    put_buckets(buf, 8, &h.negative_spans, 9, &h.negative_buckets, put_packed_sint64);
    put_buckets(buf, 11, &h.positive_spans, 12, &h.positive_buckets, put_packed_sint64);
    put_histogram_tail(buf, h.counter_reset_hint, t, &h.custom_values, st);
    end_len(buf, start);
}

/// Float native histogram: `count_float`, `zero_count_float`, absolute bucket counts.
pub(crate) fn put_float_histogram(buf: &mut Vec<u8>, field: u32, h: &FloatHistogram, t: i64, st: i64) {
    let start = begin_len(buf, field);
    put_double_always(buf, 2, h.count);
    put_histogram_shape(buf, h.sum, h.schema, h.zero_threshold);
    put_double_always(buf, 7, h.zero_count);
    put_buckets(buf, 8, &h.negative_spans, 10, &h.negative_buckets, put_packed_double);
    put_buckets(buf, 11, &h.positive_spans, 13, &h.positive_buckets, put_packed_double);
    put_histogram_tail(buf, h.counter_reset_hint, t, &h.custom_values, st);
    end_len(buf, start);
}

/// The fields of both histogram kinds between the count and the zero count: `sum = 3`,
/// `schema = 4`, `zero_threshold = 5`.
fn put_histogram_shape(buf: &mut Vec<u8>, sum: f64, schema: i32, zero_threshold: f64) {
    put_double(buf, 3, sum);
    put_int(buf, 4, zigzag32(schema));
    put_double(buf, 5, zero_threshold);
}

/// One side of the buckets: its spans, then its counts (deltas or absolute) as `put_counts`
/// packs them.
fn put_buckets<T>(
    buf: &mut Vec<u8>,
    spans_field: u32,
    spans: &[Span],
    counts_field: u32,
    counts: &[T],
    put_counts: fn(&mut Vec<u8>, u32, &[T]),
) {
    put_spans(buf, spans_field, spans);
    put_counts(buf, counts_field, counts);
}

/// The fields of both histogram kinds after the buckets: `reset_hint = 14`, `timestamp = 15`,
/// `custom_values = 16` and (2.0) `start_timestamp = 17`.
fn put_histogram_tail(buf: &mut Vec<u8>, reset_hint: u8, t: i64, custom_values: &[f64], st: i64) {
    put_int(buf, 14, u64::from(reset_hint));
    put_int(buf, 15, t as u64);
    put_packed_double(buf, 16, custom_values);
    put_int(buf, 17, st as u64);
}
