//! Decodes WAL records from bytes: a Series record written out as a literal, the way it sits in a
//! segment once unframed, and a Samples record made with the crate's own encoder.
//!
//! `cargo run -p wal-format --example decode_record`

use wal_format::record::{decode_samples, decode_series, encode_samples, RecordType, RefSample};

/// A Series record, byte by byte: type 1, then per series its reference (8 bytes, big-endian) and
/// its labels (a count, then length-prefixed names and values, all as unsigned varints).
const SERIES_RECORD: &[u8] = &[
    1, // record type: Series
    0, 0, 0, 0, 0, 0, 0, 7, // series reference 7
    2, // two labels
    8, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 2, b'u', b'p', // __name__="up"
    3, b'j', b'o', b'b', 4, b'n', b'o', b'd', b'e', // job="node"
];

fn main() -> Result<(), wal_format::Error> {
    println!("{} record, {} bytes", RecordType::of(SERIES_RECORD), SERIES_RECORD.len());
    let mut series = Vec::new();
    decode_series(SERIES_RECORD, &mut series)?;
    for s in &series {
        println!("  series {} {}", s.series_ref, s.labels);
    }

    // Samples are delta-encoded against the first one: a few bytes each.
    let written = [
        RefSample { series_ref: 7, st: 0, t: 1_700_000_000_000, v: 1.0 },
        RefSample { series_ref: 7, st: 0, t: 1_700_000_015_000, v: 0.0 },
    ];
    let mut record = Vec::new();
    encode_samples(&written, &mut record);
    println!("{} record, {} bytes: {record:02x?}", RecordType::of(&record), record.len());
    let mut samples = Vec::new();
    decode_samples(&record, &mut samples)?;
    for s in &samples {
        println!("  series {} t={} v={}", s.series_ref, s.t, s.v);
    }
    assert_eq!(samples, written);
    Ok(())
}
