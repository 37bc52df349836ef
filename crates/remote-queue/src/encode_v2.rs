//! Remote write 2.0: `io.prometheus.write.v2.Request` with a per-request symbols table.
//!
//! Labels are interned as (name, value) pairs in the series cache; the first time a pair occurs
//! in a request its two strings are looked up in the request's string table, after that the pair
//! id alone finds both symbol indices. The table's size follows the request, not the cache.

use crate::batch_stats::{admit, BatchStats};
use crate::intern::SymbolId;
use crate::item::{Item, Payload};
use crate::point_proto::{put_float_histogram, put_histogram, put_sample};
use crate::proto::*;
use crate::ref_index::RefHasher;
use crate::series::{split_pair, LabelIds, SeriesCache};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};

/// Per-shard 2.0 encoding state.
#[derive(Default)]
pub(crate) struct SymbolTable {
    /// Encoded `symbols` fields (field 4), in index order.
    symbols: Vec<u8>,
    /// Where each symbol's string lies inside `symbols`.
    spans: Vec<(usize, usize)>,
    /// Symbol indices, hashed by their string.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Symbol indices of the name and value of pairs already seen in this request.
    by_pair: HashMap<SymbolId, (u32, u32), BuildHasherDefault<RefHasher>>,
    series: Vec<u8>,
    refs: Vec<u32>,
}

impl SymbolTable {
    fn reset(&mut self) {
        self.symbols.clear();
        self.spans.clear();
        self.table.clear();
        self.by_pair.clear();
        // symbols[0] is always "" (repeated string elements are written even when empty).
        self.symbols.extend_from_slice(&[0x22, 0]);
        self.spans.push((2, 0));
    }

    /// The symbol index of `s`, adding it if new; "" is always 0.
    fn sym(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let hash = self.hasher.hash_one(s);
        let (symbols, spans) = (&self.symbols, &self.spans);
        let found = self.table.find(hash, |&i| {
            let (start, len) = spans[i as usize];
            &symbols[start..start + len] == s
        });
        if let Some(&i) = found {
            return i;
        }
        put_tag(&mut self.symbols, 4, WIRE_LEN);
        put_uvarint(&mut self.symbols, s.len() as u64);
        let start = self.symbols.len();
        self.symbols.extend_from_slice(s);
        let i = self.spans.len() as u32;
        self.spans.push((start, s.len()));
        let (symbols, spans, hasher) = (&self.symbols, &self.spans, &self.hasher);
        self.table.insert_unique(hash, i, |&j| {
            let (start, len) = spans[j as usize];
            hasher.hash_one(&symbols[start..start + len])
        });
        i
    }

    #[inline]
    fn pair(&mut self, cache: &SeriesCache, id: SymbolId) -> (u32, u32) {
        if let Some(&r) = self.by_pair.get(&id) {
            return r;
        }
        let (name, value) = split_pair(cache.pairs.get(id));
        let r = (self.sym(name), self.sym(value));
        self.by_pair.insert(id, r);
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
                    let help = self.sym(cache.strings.get(m.help));
                    let unit = self.sym(cache.strings.get(m.unit));
                    (help, unit, metric_type_enum(m.metric_type))
                }
                None => (0, 0, 0),
            };
            self.refs.clear();
            for p in LabelIds::new(ids) {
                let (n, v) = self.pair(cache, p);
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
                        let (n, v) = (self.sym(n), self.sym(v));
                        self.refs.extend_from_slice(&[n, v]);
                    }
                    let ex = begin_len(&mut buf, 4);
                    put_packed_u32(&mut buf, 1, &self.refs);
                    put_double(&mut buf, 2, e.value);
                    put_int(&mut buf, 3, item.t as u64);
                    end_len(&mut buf, ex);
                }
            }
            // Metadata is tiny: its length is known up front.
            let field_len = |v: u64| if v == 0 { 0 } else { 1 + uvarint_len(v) };
            let md_len = field_len(typ) + field_len(u64::from(help)) + field_len(u64::from(unit));
            put_tag(&mut buf, 5, WIRE_LEN);
            put_uvarint(&mut buf, md_len as u64);
            put_int(&mut buf, 1, typ);
            put_int(&mut buf, 3, u64::from(help));
            put_int(&mut buf, 4, u64::from(unit));
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
    put_tag(buf, field, WIRE_LEN);
    // One pass: a one-byte length slot, patched afterwards (label refs rarely need more).
    buf.reserve(vals.len() * 5 + 1);
    let slot = buf.len();
    buf.push(0);
    for &v in vals {
        if v < 0x80 {
            buf.push(v as u8);
        } else {
            put_uvarint(buf, u64::from(v));
        }
    }
    let len = buf.len() - slot - 1;
    if len < 0x80 {
        buf[slot] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(5);
        put_uvarint(&mut prefix, len as u64);
        buf.splice(slot..slot + 1, prefix);
    }
}

/// `io.prometheus.write.v2.Metadata.MetricType`: the WAL's numbering for known types, else 0.
fn metric_type_enum(t: wal_format::record::MetricType) -> u64 {
    match t.byte() {
        b @ 1..=7 => u64::from(b),
        _ => 0,
    }
}
