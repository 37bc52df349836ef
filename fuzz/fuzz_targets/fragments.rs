//! A segment's bytes, parsed fragment by fragment as a reader does: fragments are joined into
//! records and every complete record goes to the decoder its type byte selects. The first input
//! byte picks the dialect (Prometheus's `Reader` or `LiveReader` rules).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{parse_fragment, Assembled, Dialect, Parsed, RecordAssembler, HEADER_SIZE, PAGE_SIZE};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, buf)) = input.split_first() else { return };
    let dialect = if mode & 1 == 0 { Dialect::Reader } else { Dialect::Live };
    let mut assembler = RecordAssembler::new();
    let mut pos = 0;
    // Corruption ends the parse, as a reader reports it and moves on to the next segment.
    while let Ok(parsed) = parse_fragment(&buf[pos..], pos % PAGE_SIZE, dialect) {
        match parsed {
            Parsed::Fragment { header, payload, size, .. } => {
                assert_eq!(size, HEADER_SIZE + header.length);
                assert_eq!(payload.len(), header.length);
                match assembler.push(&header, payload) {
                    Ok(Assembled::Borrowed(rec)) => walship_fuzz::decode_by_type(rec),
                    Ok(Assembled::Owned) => walship_fuzz::decode_by_type(assembler.record()),
                    // A sequence error drops the open record; the assembler starts over, so go on.
                    Ok(Assembled::Pending) | Err(_) => {}
                }
                pos += size;
            }
            Parsed::Padding { size } => {
                assert!(size >= 1, "padding of size 0 would never advance");
                assert_eq!((pos + size) % PAGE_SIZE, 0, "padding must end at the page end");
                pos += size;
            }
            Parsed::Incomplete { needed } => {
                assert!(needed > buf.len() - pos, "Incomplete although {needed} bytes are there");
                break;
            }
        }
    }
});
