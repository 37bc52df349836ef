//! Turning a batch of queued items into a compressed request body (spec §1.2–1.3, §2.2–2.4).
//!
//! One [`RequestEncoder`] lives in each shard and reuses every buffer, so encoding allocates
//! nothing per sample once the buffers have grown to the batch size.

use crate::config::Protocol;
use crate::encode_v2::SymbolTable;
use crate::item::{Item, KindCounts, Payload};
use crate::proto::*;
use crate::series::{LabelIds, SeriesCache};
use wal_format::record::{FloatHistogram, Histogram, Span};

/// What an encoded request holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BatchStats {
    /// Points in the request, per kind.
    pub(crate) counts: KindCounts,
    /// Points left out because they were older than the age limit.
    pub(crate) too_old: KindCounts,
    /// Points left out because their series is no longer cached.
    pub(crate) unknown: KindCounts,
    /// 2.0: series sent with metadata.
    pub(crate) with_metadata: u64,
    /// Highest timestamp > 0 in the request (0 if none).
    pub(crate) highest: i64,
    /// Lowest timestamp > 0 in the request (`i64::MAX` if none).
    pub(crate) lowest: i64,
}

/// Per-shard encoder with reusable buffers.
pub(crate) struct RequestEncoder {
    raw: Vec<u8>,
    compressed: Vec<u8>,
    compressed_len: usize,
    snappy: snap::raw::Encoder,
    v2: SymbolTable,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            raw: Vec::new(),
            compressed: Vec::new(),
            compressed_len: 0,
            snappy: snap::raw::Encoder::new(),
            v2: SymbolTable::default(),
        }
    }
}

impl RequestEncoder {
    /// Encodes `items` (skipping those with `t < min_ts`) and compresses the result; the body is
    /// then available from [`RequestEncoder::body`].
    pub(crate) fn encode(
        &mut self,
        protocol: Protocol,
        items: &[Item],
        cache: &SeriesCache,
        min_ts: Option<i64>,
    ) -> Result<BatchStats, snap::Error> {
        self.raw.clear();
        let stats = match protocol {
            Protocol::V1 => encode_v1(items, cache, min_ts, &mut self.raw),
            Protocol::V2 => self.v2.encode(items, cache, min_ts, &mut self.raw),
        };
        let max = snap::raw::max_compress_len(self.raw.len());
        if self.compressed.len() < max {
            self.compressed.resize(max, 0);
        }
        self.compressed_len = 0;
        self.compressed_len = self.snappy.compress(&self.raw, &mut self.compressed)?;
        Ok(stats)
    }

    /// The compressed body of the last [`RequestEncoder::encode`].
    pub(crate) fn body(&self) -> &[u8] {
        &self.compressed[..self.compressed_len]
    }

    /// Compresses the last raw request again (benchmarks: the snappy share of the cost).
    #[cfg(feature = "bench")]
    pub(crate) fn recompress(&mut self) -> usize {
        self.snappy.compress(&self.raw, &mut self.compressed).unwrap_or(0)
    }

    /// The uncompressed protobuf of the last encode (tests and benchmarks).
    #[cfg(test)]
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }
}

/// The label ids of an item's series, if still cached.
#[inline]
pub(crate) fn label_ids_of<'c>(item: &Item, cache: &'c SeriesCache) -> Option<&'c [u8]> {
    if item.slot == crate::item::NO_SLOT {
        cache.label_ids(item.series)
    } else {
        cache.label_ids_at(item.slot, item.slot_gen)
    }
}

/// Decides whether an item goes into the request, updating the stats either way.
#[inline]
pub(crate) fn admit<'c>(
    item: &Item,
    cache: &'c SeriesCache,
    min_ts: Option<i64>,
    stats: &mut BatchStats,
) -> Option<&'c [u8]> {
    if min_ts.is_some_and(|m| item.t < m) {
        stats.too_old.add(&item.payload);
        return None;
    }
    // Written out rather than calling `label_ids_of`, so this hot path stays as it was measured.
    let ids = if item.slot == crate::item::NO_SLOT {
        cache.label_ids(item.series)
    } else {
        cache.label_ids_at(item.slot, item.slot_gen)
    };
    let Some(ids) = ids else {
        stats.unknown.add(&item.payload);
        return None;
    };
    stats.counts.add(&item.payload);
    if item.t > 0 {
        stats.highest = stats.highest.max(item.t);
        stats.lowest = stats.lowest.min(item.t);
    }
    Some(ids)
}

/// `prometheus.WriteRequest`: one `TimeSeries` per item, labels copied from the interned pairs.
fn encode_v1(items: &[Item], cache: &SeriesCache, min_ts: Option<i64>, buf: &mut Vec<u8>) -> BatchStats {
    let mut stats = BatchStats { lowest: i64::MAX, ..Default::default() };
    for item in items {
        let Some(ids) = admit(item, cache, min_ts, &mut stats) else { continue };
        let ts = begin_len(buf, 1);
        for p in LabelIds::new(ids) {
            // `TimeSeries.labels` (field 1) + the interned, length-prefixed `Label` body.
            buf.push(0x0a);
            cache.pairs.append_prefixed(p, buf);
        }
        match &item.payload {
            Payload::Sample(v) => put_sample(buf, 2, *v, item.t, 0),
            Payload::Exemplar(e) => {
                let ex = begin_len(buf, 3);
                for (n, v) in e.labels.iter() {
                    put_label(buf, 1, n, v);
                }
                put_double(buf, 2, e.value);
                put_int(buf, 3, item.t as u64);
                end_len(buf, ex);
            }
            Payload::Histogram(h) => put_histogram(buf, 4, h, item.t, 0),
            Payload::FloatHistogram(h) => put_float_histogram(buf, 4, h, item.t, 0),
        }
        end_len(buf, ts);
    }
    stats
}

/// A `Label { name = 1; value = 2 }` as field `field`.
#[inline]
fn put_label(buf: &mut Vec<u8>, field: u32, name: &[u8], value: &[u8]) {
    let len = 2 + uvarint_len(name.len() as u64) + name.len() + uvarint_len(value.len() as u64) + value.len();
    put_tag(buf, field, WIRE_LEN);
    put_uvarint(buf, len as u64);
    buf.push(0x0a);
    put_uvarint(buf, name.len() as u64);
    buf.extend_from_slice(name);
    buf.push(0x12);
    put_uvarint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

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

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
