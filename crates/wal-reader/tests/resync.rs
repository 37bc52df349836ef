//! Damage costs only the records it touches: random single-byte flips and random truncations of a
//! segment written by Prometheus's own writer never lose a record whose fragments do not overlap
//! the damaged bytes, whichever reader reads it.

use proptest::prelude::*;
use std::path::Path;
use wal_reader::{IoMode, LiveReader, Reader};

const PAGE: usize = 32 * 1024;

/// (start, end, payload bytes) of each record of a sound, uncompressed segment, found by walking
/// its pages here rather than with the crate's own framing.
fn extents(bytes: &[u8]) -> Vec<(usize, usize, Vec<u8>)> {
    let (mut out, mut at, mut open) = (Vec::new(), 0, None::<(usize, Vec<u8>)>);
    while at + 7 <= bytes.len() {
        let left = PAGE - at % PAGE;
        if left < 7 || bytes[at] == 0 {
            at += left;
            continue;
        }
        let len = u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]) as usize;
        let payload = &bytes[at + 7..at + 7 + len];
        match bytes[at] & 7 {
            1 | 2 => open = Some((at, payload.to_vec())),
            _ => open.as_mut().expect("sound segment").1.extend_from_slice(payload),
        }
        at += 7 + len;
        if matches!(bytes[at - 7 - len] & 7, 1 | 4) {
            let (start, data) = open.take().expect("sound segment");
            out.push((start, at, data));
        }
    }
    out
}

/// Two real segments: one from Prometheus's own writer with 256 KiB segments (records of many
/// fragments across pages), and the first 256 KiB of one written by a running Prometheus 2.42
/// (records of a whole scrape each).
fn segment(which: usize) -> &'static [u8] {
    static BYTES: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    &BYTES.get_or_init(|| {
        let writer = std::fs::read(root.join("prometheus-go-writer/none/00000002")).unwrap();
        let mut server =
            std::fs::read(root.join("prometheus-2.42/uncompressed-exemplars-checkpoint/00000002")).unwrap();
        server.truncate(256 * 1024);
        [writer, server]
    })[which]
}

/// Every record each reader yields from `bytes`, by offset, reading on after damage.
fn read_all(bytes: &[u8]) -> Vec<Vec<(u64, Vec<u8>)>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00000000"), bytes).unwrap();
    let mut outs = Vec::new();
    for io in [IoMode::Mmap, IoMode::Read] {
        let mut r = Reader::open(dir.path()).unwrap();
        r.set_io_mode(io);
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push((rec.position.offset, rec.data.to_vec())),
                Ok(None) => break,
                Err(wal_reader::Error::Corruption { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        outs.push(out);
    }
    let mut live = LiveReader::new(bytes, "segment", 0);
    let mut out = Vec::new();
    loop {
        match live.next_record() {
            Ok(Some(rec)) => out.push((rec.position.offset, rec.data.to_vec())),
            Ok(None) => break,
            Err(wal_reader::Error::Corruption { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let _ = live.finish();
    outs.push(out);
    outs
}

/// Checks that every record of the sound segment whose bytes lie outside `damaged` is read, at
/// its offset and whole, by every reader.
fn nothing_sound_lost(which: usize, bytes: &[u8], damaged: std::ops::Range<usize>) -> Result<(), TestCaseError> {
    let sound: Vec<_> =
        extents(segment(which)).into_iter().filter(|(s, e, _)| *e <= damaged.start || *s >= damaged.end).collect();
    for (reader, got) in read_all(bytes).iter().enumerate() {
        let got: std::collections::HashMap<u64, &Vec<u8>> = got.iter().map(|(o, d)| (*o, d)).collect();
        for (start, _, data) in &sound {
            prop_assert_eq!(
                got.get(&(*start as u64)).copied(),
                Some(data),
                "reader {} lost the record at {}",
                reader,
                start
            );
        }
    }
    Ok(())
}

#[test]
fn the_segment_is_read_whole_when_sound() {
    for (which, min_records) in [(0, 20), (1, 15)] {
        let want: Vec<(u64, Vec<u8>)> = extents(segment(which)).into_iter().map(|(s, _, d)| (s as u64, d)).collect();
        assert!(want.len() >= min_records, "{}", want.len());
        for got in read_all(segment(which)) {
            assert_eq!(got, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_flipped_byte_costs_only_the_record_it_lies_in(which in 0..2usize, at in 0..256 * 1024usize, bit in 0..8u8) {
        let mut bytes = segment(which).to_vec();
        let at = at % bytes.len();
        bytes[at] ^= 1 << bit;
        nothing_sound_lost(which, &bytes, at..at + 1)?;
    }

    #[test]
    fn a_truncation_costs_only_the_records_it_cuts(which in 0..2usize, len in 0..256 * 1024usize) {
        let bytes = &segment(which)[..len % segment(which).len()];
        nothing_sound_lost(which, bytes, bytes.len()..usize::MAX)?;
    }
}
