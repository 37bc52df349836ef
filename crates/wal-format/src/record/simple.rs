//! Series, Tombstones, MmapMarkers and Metadata records: flat lists of fixed-shape entries.

use super::{fault, finish, open, LabelsRef, MetricType, RecordType, RefMetadata, RefMmapMarker, RefSeries, Tombstone};
use crate::error::Error;
use crate::varint::{put_be64, put_bytes, put_uvarint, put_varint, Cursor, ReadFail};

/// Runs `entry` until the record is used up, mapping a failure to the offset of the entry it hit.
fn each_entry<'a>(
    typ: RecordType,
    mut cur: Cursor<'a>,
    mut entry: impl FnMut(&mut Cursor<'a>) -> Result<(), ReadFail>,
) -> Result<(), Error> {
    while !cur.is_empty() {
        let mut c = cur.clone();
        entry(&mut c).map_err(|f| fault(typ, cur.pos(), f.into()))?;
        cur = c;
    }
    finish(typ, &cur)
}

/// Decodes a Series (type 1) record, appending to `out`; labels borrow from `rec`.
pub fn decode_series<'a>(rec: &'a [u8], out: &mut Vec<RefSeries<'a>>) -> Result<(), Error> {
    let (typ, cur) = open(rec, &[RecordType::Series])?;
    each_entry(typ, cur, |c| {
        let series_ref = c.be64()?;
        let labels = LabelsRef::decode(c)?;
        out.push(RefSeries { series_ref, labels });
        Ok(())
    })
}

/// Encodes a Series (type 1) record.
pub fn encode_series(series: &[RefSeries<'_>], buf: &mut Vec<u8>) {
    buf.push(RecordType::Series.byte());
    for s in series {
        put_be64(buf, s.series_ref);
        s.labels.encode(buf);
    }
}

/// Decodes a Tombstones (type 3) record, appending to `out`.
pub fn decode_tombstones(rec: &[u8], out: &mut Vec<Tombstone>) -> Result<(), Error> {
    let (typ, cur) = open(rec, &[RecordType::Tombstones])?;
    each_entry(typ, cur, |c| {
        let series_ref = c.be64()?;
        let min_t = c.varint()?;
        let max_t = c.varint()?;
        out.push(Tombstone { series_ref, min_t, max_t });
        Ok(())
    })
}

/// Encodes a Tombstones (type 3) record.
pub fn encode_tombstones(stones: &[Tombstone], buf: &mut Vec<u8>) {
    buf.push(RecordType::Tombstones.byte());
    for s in stones {
        put_be64(buf, s.series_ref);
        put_varint(buf, s.min_t);
        put_varint(buf, s.max_t);
    }
}

/// Decodes an MmapMarkers (type 5) record, appending to `out`.
pub fn decode_mmap_markers(rec: &[u8], out: &mut Vec<RefMmapMarker>) -> Result<(), Error> {
    let (typ, cur) = open(rec, &[RecordType::MmapMarkers])?;
    each_entry(typ, cur, |c| {
        let series_ref = c.be64()?;
        let mmap_ref = c.be64()?;
        out.push(RefMmapMarker { series_ref, mmap_ref });
        Ok(())
    })
}

/// Encodes an MmapMarkers (type 5) record.
pub fn encode_mmap_markers(markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
    buf.push(RecordType::MmapMarkers.byte());
    for m in markers {
        put_be64(buf, m.series_ref);
        put_be64(buf, m.mmap_ref);
    }
}

const UNIT: &[u8] = b"UNIT";
const HELP: &[u8] = b"HELP";

/// Decodes a Metadata (type 6) record, appending to `out`. Fields other than `UNIT` and `HELP`
/// are skipped, as Prometheus does, so newer writers stay readable.
pub fn decode_metadata<'a>(rec: &'a [u8], out: &mut Vec<RefMetadata<'a>>) -> Result<(), Error> {
    let (typ, cur) = open(rec, &[RecordType::Metadata])?;
    each_entry(typ, cur, |c| {
        let series_ref = c.uvarint()?;
        let metric_type = MetricType::from_byte(c.byte()?);
        // Each field needs at least two length bytes.
        let fields = c.count(2)?;
        let (mut unit, mut help): (&[u8], &[u8]) = (&[], &[]);
        for _ in 0..fields {
            let name = c.bytes()?;
            let value = c.bytes()?;
            match name {
                UNIT => unit = value,
                HELP => help = value,
                _ => {}
            }
        }
        out.push(RefMetadata { series_ref, metric_type, unit, help });
        Ok(())
    })
}

/// Encodes a Metadata (type 6) record with the `UNIT` and `HELP` fields, as Prometheus writes it.
pub fn encode_metadata(metadata: &[RefMetadata<'_>], buf: &mut Vec<u8>) {
    buf.push(RecordType::Metadata.byte());
    for m in metadata {
        put_uvarint(buf, m.series_ref);
        buf.push(m.metric_type.byte());
        put_uvarint(buf, 2);
        put_bytes(buf, UNIT);
        put_bytes(buf, m.unit);
        put_bytes(buf, HELP);
        put_bytes(buf, m.help);
    }
}
