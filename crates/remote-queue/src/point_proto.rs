//! The protobuf messages of one data point — `Sample`, `Histogram` and its `BucketSpan`s — which
//! remote write 1.0 (`prompb/types.proto`) and 2.0 (`prompb/io/prometheus/write/v2/types.proto`)
//! number alike; 2.0 adds the start timestamp (field 3 of `Sample`, 17 of `Histogram`).

use crate::proto::*;
use wal_format::record::{FloatHistogram, Histogram, Span};

/// A `Sample { value = 1; timestamp = 2; start_timestamp = 3 }`; `st` is 0 for 1.0.
///
/// Built in a stack buffer and appended with one copy: at most 2 + 9 + 11 + 11 bytes, so the
/// length always fits one varint byte (`field` < 16 keeps the tag to one byte too).
#[inline]
pub(crate) fn put_sample(buf: &mut Vec<u8>, field: u32, v: f64, t: i64, st: i64) {
    let mut tmp = [0u8; 34];
    let mut n = 2;
    if v.to_bits() != 0 {
        tmp[n] = 0x09;
        tmp[n + 1..n + 9].copy_from_slice(&v.to_bits().to_le_bytes());
        n += 9;
    }
    for (tag, x) in [(0x10u8, t), (0x18, st)] {
        if x != 0 {
            tmp[n] = tag;
            n += 1 + write_uvarint(&mut tmp[n + 1..], x as u64);
        }
    }
    tmp[0] = ((field << 3) | u32::from(WIRE_LEN)) as u8;
    tmp[1] = (n - 2) as u8;
    // All 34 bytes, then cut back: a copy of a length known at compile time is two vector moves,
    // where `&tmp[..n]` would be a call to memcpy for every sample.
    let len = buf.len();
    buf.extend_from_slice(&tmp);
    buf.truncate(len + n);
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
    put_double(buf, 3, h.sum);
    put_int(buf, 4, zigzag32(h.schema));
    put_double(buf, 5, h.zero_threshold);
    put_tag(buf, 6, WIRE_VARINT);
    put_uvarint(buf, h.zero_count);
    put_spans(buf, 8, &h.negative_spans);
    put_packed_sint64(buf, 9, &h.negative_buckets);
    put_spans(buf, 11, &h.positive_spans);
    put_packed_sint64(buf, 12, &h.positive_buckets);
    put_int(buf, 14, u64::from(h.counter_reset_hint));
    put_int(buf, 15, t as u64);
    put_packed_double(buf, 16, &h.custom_values);
    put_int(buf, 17, st as u64);
    end_len(buf, start);
}

/// Float native histogram: `count_float`, `zero_count_float`, absolute bucket counts.
pub(crate) fn put_float_histogram(buf: &mut Vec<u8>, field: u32, h: &FloatHistogram, t: i64, st: i64) {
    let start = begin_len(buf, field);
    put_double_always(buf, 2, h.count);
    put_double(buf, 3, h.sum);
    put_int(buf, 4, zigzag32(h.schema));
    put_double(buf, 5, h.zero_threshold);
    put_double_always(buf, 7, h.zero_count);
    put_spans(buf, 8, &h.negative_spans);
    put_packed_double(buf, 10, &h.negative_buckets);
    put_spans(buf, 11, &h.positive_spans);
    put_packed_double(buf, 13, &h.positive_buckets);
    put_int(buf, 14, u64::from(h.counter_reset_hint));
    put_int(buf, 15, t as u64);
    put_packed_double(buf, 16, &h.custom_values);
    put_int(buf, 17, st as u64);
    end_len(buf, start);
}
