//! Our writer lays out pages and segments exactly as Prometheus 2.42's writer: re-framing the
//! records of WALs written by Prometheus's own `tsdb/wlog` gives the same bytes.

mod common;

use common::*;
use wal_format::{Compression, Framer, SegmentSink};

/// Collects framed bytes per segment in memory.
#[derive(Default)]
struct MemSegments(Vec<Vec<u8>>);

impl SegmentSink for MemSegments {
    fn write(&mut self, bytes: &[u8]) -> Result<(), wal_format::Error> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        self.0.last_mut().unwrap().extend_from_slice(bytes);
        Ok(())
    }
    fn next_segment(&mut self) -> Result<(), wal_format::Error> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        self.0.push(Vec::new());
        Ok(())
    }
}

#[test]
fn reframing_go_writer_wals_is_byte_identical() {
    for (name, compression) in [("none", Compression::None), ("snappy", Compression::Snappy)] {
        let dir = testdata().join("prometheus-go-writer").join(name);
        let segments = wal_reader::list_segments(&dir).unwrap();
        let original: Vec<Vec<u8>> = segments.iter().map(|s| std::fs::read(&s.path).unwrap()).collect();
        let records = read_all(&dir);
        // Each record was logged in a batch of its own; the writer was closed at the end.
        let mut sink = MemSegments::default();
        let mut framer = Framer::new(256 * 1024, compression).unwrap();
        for (_, rec) in &records {
            framer.log(rec, true, &mut sink).unwrap();
        }
        framer.finish_page(&mut sink).unwrap();
        assert_eq!(sink.0.len(), original.len(), "{name}: segment count");
        for (i, (ours, theirs)) in sink.0.iter().zip(&original).enumerate() {
            assert_eq!(ours.len(), theirs.len(), "{name}: segment {i} length");
            if let Some(at) = ours.iter().zip(theirs).position(|(a, b)| a != b) {
                panic!("{name}: segment {i} differs first at byte {at}");
            }
        }
        // And the positions our framer reports are the positions the reader finds.
        let mut sink = MemSegments::default();
        let mut framer = Framer::new(256 * 1024, compression).unwrap();
        let mut segment = 0u64;
        for (pos, rec) in &records {
            let (moved, offset) = framer.log(rec, true, &mut sink).unwrap();
            segment += moved as u64;
            assert_eq!((segment, offset as u64), (pos.segment, pos.offset), "{name}");
        }
    }
}
