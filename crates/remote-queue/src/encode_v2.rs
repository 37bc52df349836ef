//! Remote write 2.0: `io.prometheus.write.v2.Request` with a per-request symbols table.
//!
//! Label strings are interned in the series cache, so a symbol's index is found by the string's
//! [`SymbolId`] in a stamped array (no hashing, no clearing between requests). Only exemplar
//! labels, which are not interned, go through a small per-request hash map.

use crate::encode::{admit, put_float_histogram, put_histogram, put_sample, BatchStats};
use crate::intern::SymbolId;
use crate::item::{Item, Payload};
use crate::proto::*;
use crate::series::RefHasher;
use crate::series::{LabelIds, SeriesCache};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Per-shard 2.0 encoding state.
#[derive(Default)]
pub(crate) struct SymbolTable {
    /// Encoded `symbols` fields (field 4), in index order.
    symbols: Vec<u8>,
    count: u32,
    /// Symbol index by interned id, for this request only: its size follows the request, not
    /// the number of strings in the cache (an id-indexed array would cost every shard 8 bytes
    /// per cached string).
    by_id: HashMap<SymbolId, u32, BuildHasherDefault<RefHasher>>,
    other: HashMap<Vec<u8>, u32>,
    series: Vec<u8>,
    refs: Vec<u32>,
}

impl SymbolTable {
    fn reset(&mut self) {
        self.symbols.clear();
        self.other.clear();
        self.by_id.clear();
        self.count = 0;
        // symbols[0] is always "".
        self.push(b"");
    }

    fn push(&mut self, s: &[u8]) -> u32 {
        // Repeated string elements are written even when empty.
        put_tag(&mut self.symbols, 4, WIRE_LEN);
        put_uvarint(&mut self.symbols, s.len() as u64);
        self.symbols.extend_from_slice(s);
        self.count += 1;
        self.count - 1
    }

    fn push_prefixed(&mut self, prefixed: &[u8]) -> u32 {
        self.symbols.push(0x22);
        self.symbols.extend_from_slice(prefixed);
        self.count += 1;
        self.count - 1
    }

    #[inline]
    fn interned(&mut self, cache: &SeriesCache, id: SymbolId) -> u32 {
        if let Some(&r) = self.by_id.get(&id) {
            return r;
        }
        let s = cache.interner.get_prefixed(id);
        let r = if s == [0] { 0 } else { self.push_prefixed(s) };
        self.by_id.insert(id, r);
        r
    }

    fn bytes(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&r) = self.other.get(s) {
            return r;
        }
        let r = self.push(s);
        self.other.insert(s.to_vec(), r);
        r
    }

    /// Encodes a whole request into `out`.
    pub(crate) fn encode(
        &mut self,
        items: &[Item],
        cache: &SeriesCache,
        min_ts: Option<i64>,
        out: &mut Vec<u8>,
    ) -> BatchStats {
        self.reset();
        self.series.clear();
        let mut stats = BatchStats { lowest: i64::MAX, ..Default::default() };
        for item in items {
            let Some(ids) = admit(item, cache, min_ts, &mut stats) else { continue };
            let meta = cache.metadata(item.series);
            let (help, unit, typ) = match meta {
                Some(m) => {
                    stats.with_metadata += 1;
                    let help = self.interned(cache, m.help);
                    let unit = self.interned(cache, m.unit);
                    (help, unit, metric_type_enum(m.metric_type))
                }
                None => (0, 0, 0),
            };
            self.refs.clear();
            for (n, v) in LabelIds::new(ids) {
                let (n, v) = (self.interned(cache, n), self.interned(cache, v));
                self.refs.extend_from_slice(&[n, v]);
            }
            let mut buf = std::mem::take(&mut self.series);
            let ts = begin_len(&mut buf, 5);
            put_packed_u32(&mut buf, 1, &self.refs);
            match &item.payload {
                Payload::Sample(v) => put_sample(&mut buf, 2, *v, item.t, item.st),
                Payload::Histogram(h) => put_histogram(&mut buf, 3, h, item.t, item.st),
                Payload::FloatHistogram(h) => put_float_histogram(&mut buf, 3, h, item.t, item.st),
                Payload::Exemplar(e) => {
                    self.refs.clear();
                    for (n, v) in e.labels.iter() {
                        let (n, v) = (self.bytes(n), self.bytes(v));
                        self.refs.extend_from_slice(&[n, v]);
                    }
                    let ex = begin_len(&mut buf, 4);
                    put_packed_u32(&mut buf, 1, &self.refs);
                    put_double(&mut buf, 2, e.value);
                    put_int(&mut buf, 3, item.t as u64);
                    end_len(&mut buf, ex);
                }
            }
            let md = begin_len(&mut buf, 5);
            put_int(&mut buf, 1, typ);
            put_int(&mut buf, 3, u64::from(help));
            put_int(&mut buf, 4, u64::from(unit));
            end_len(&mut buf, md);
            end_len(&mut buf, ts);
            self.series = buf;
        }
        out.extend_from_slice(&self.symbols);
        out.extend_from_slice(&self.series);
        stats
    }
}

fn put_packed_u32(buf: &mut Vec<u8>, field: u32, vals: &[u32]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| if v < 0x80 { 1 } else { uvarint_len(u64::from(v)) }).sum();
    put_tag(buf, field, WIRE_LEN);
    buf.reserve(len + 5);
    put_uvarint(buf, len as u64);
    for &v in vals {
        if v < 0x80 {
            buf.push(v as u8);
        } else {
            put_uvarint(buf, u64::from(v));
        }
    }
}

/// `io.prometheus.write.v2.Metadata.MetricType`: the WAL's numbering for known types, else 0.
fn metric_type_enum(t: wal_format::record::MetricType) -> u64 {
    match t.byte() {
        b @ 1..=7 => u64::from(b),
        _ => 0,
    }
}
