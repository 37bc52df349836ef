//! Remote write 1.0: `prometheus.WriteRequest` (Prometheus's `prompb/remote.proto` and
//! `prompb/types.proto`), labels copied from the series cache's interned `Label` bodies.

use crate::batch_stats::{admit, prefetch_ahead, BatchStats};
use crate::item::{Item, Payload};
use crate::point_proto::{put_float_histogram, put_histogram, put_sample};
use crate::proto::*;
use crate::series::{Label, LabelEntries, SeriesCache};

/// `prometheus.WriteRequest`: one `TimeSeries` per item, labels copied from the interned pairs.
/// Out of line, as 2.0's `SymbolTable::encode` is (see there).
#[inline(never)]
pub(crate) fn encode_v1(items: &[Item], cache: &SeriesCache, min_ts: Option<i64>, buf: &mut Vec<u8>) -> BatchStats {
    let mut stats = BatchStats { lowest: i64::MAX, ..Default::default() };
    for (k, item) in items.iter().enumerate() {
        prefetch_ahead(items, k, cache);
        let Some(ids) = admit(item, cache, min_ts, &mut stats) else { continue };
        let ts = begin_len(buf, 1);
        for label in LabelEntries::new(ids) {
            match label {
                // `TimeSeries.labels` (field 1) + the interned, length-prefixed `Label` body.
                Label::Pair(p) => {
                    buf.push(0x0a);
                    cache.pairs.append_prefixed(p, buf);
                }
                // A cache made for 2.0: a label held as two strings is put together from them.
                Label::Strings(n, v) => {
                    put_label_prefixed(buf, cache.strings.get_prefixed(n), cache.strings.get_prefixed(v))
                }
            }
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

/// A `Label { name = 1; value = 2 }` as `TimeSeries.labels` (field 1), from its name and value
/// each preceded by its varint length.
fn put_label_prefixed(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    put_tag(buf, 1, WIRE_LEN);
    put_uvarint(buf, (2 + name.len() + value.len()) as u64);
    buf.push(0x0a);
    buf.extend_from_slice(name);
    buf.push(0x12);
    buf.extend_from_slice(value);
}

/// A `Label { name = 1; value = 2 }` as field `field`.
#[inline]
fn put_label(buf: &mut Vec<u8>, field: u32, name: &[u8], value: &[u8]) {
    let len = 2 + uvarint_len(name.len() as u64) + name.len() + uvarint_len(value.len() as u64) + value.len();
    put_tag(buf, field, WIRE_LEN);
    put_uvarint(buf, len as u64);
    put_label_body(buf, name, value);
}
