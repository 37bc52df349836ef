//! Remote write 1.0 metadata requests: `WriteRequest.metadata`, one `MetricMetadata` per metric
//! family known from metadata records (Prometheus's `prompb/types.proto`; sent by
//! `storage/remote/metadata_watcher.go` and `QueueManager.AppendWatcherMetadata`).

use crate::proto::{begin_len, end_len, put_int, put_tag, put_uvarint, WIRE_LEN};
use wal_format::record::MetricType;

/// One metric family's metadata, as a 1.0 `MetricMetadata` carries it: name (`__name__`), type,
/// help, unit.
pub(crate) type Family = (Vec<u8>, MetricType, Vec<u8>, Vec<u8>);

/// `WriteRequest { metadata = 3 }` with one `MetricMetadata` per family.
pub(crate) fn encode(families: &[Family], buf: &mut Vec<u8>) {
    for (name, typ, help, unit) in families {
        let start = begin_len(buf, 3);
        // The 1.0 enum numbers the types as the WAL does; anything unknown is UNKNOWN (0).
        let t = match typ.byte() {
            b @ 1..=7 => u64::from(b),
            _ => 0,
        };
        put_int(buf, 1, t);
        for (field, s) in [(2u32, name), (4, help), (5, unit)] {
            if !s.is_empty() {
                put_tag(buf, field, WIRE_LEN);
                put_uvarint(buf, s.len() as u64);
                buf.extend_from_slice(s);
            }
        }
        end_len(buf, start);
    }
}
