//! Damage costs only the records it touches: a real segment written by Prometheus's own writer
//! (records of many fragments across pages), with bytes changed and its end cut where the input
//! says, read by the Reader (mapped and through `read(2)`) and by a finished LiveReader, reading on
//! after each damaged span. Every record whose fragments hold no changed byte and lie before the
//! cut must be read, whole, at its offset.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use wal_reader::{IoMode, LiveReader, Reader, Record};

static SEGMENT: &[u8] = include_bytes!("../../testdata/prometheus-go-writer/none/00000002");

/// (start, end, payload) of every record of the sound segment, found by walking its pages here.
fn extents() -> &'static [(usize, usize, Vec<u8>)] {
    static EXTENTS: std::sync::OnceLock<Vec<(usize, usize, Vec<u8>)>> = std::sync::OnceLock::new();
    EXTENTS.get_or_init(|| {
        let (b, page) = (SEGMENT, 32 * 1024);
        let (mut out, mut at, mut open) = (Vec::new(), 0, None::<(usize, Vec<u8>)>);
        while at + 7 <= b.len() {
            if page - at % page < 7 || b[at] == 0 {
                at += page - at % page;
                continue;
            }
            let (kind, len) = (b[at] & 7, u16::from_be_bytes([b[at + 1], b[at + 2]]) as usize);
            let payload = &b[at + 7..at + 7 + len];
            match (kind, open.as_mut()) {
                (1 | 2, _) => open = Some((at, payload.to_vec())),
                (_, Some(o)) => o.1.extend_from_slice(payload),
                (_, None) => {}
            }
            at += 7 + len;
            if let (1 | 4, Some((start, data))) = (kind, open.take_if(|_| matches!(kind, 1 | 4))) {
                out.push((start, at, data));
            }
        }
        out
    })
}

/// One step of draining a reader: a record is kept by its offset, a damaged span skipped (the
/// reader goes on after it); false at the end. Any other error fails the target.
fn keep(out: &mut HashMap<u64, Vec<u8>>, next: Result<Option<Record<'_>>, wal_reader::Error>) -> bool {
    match next {
        Ok(Some(rec)) => drop(out.insert(rec.position.offset, rec.data.to_vec())),
        Ok(None) => return false,
        Err(wal_reader::Error::Corruption { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    true
}

fn read(bytes: &[u8]) -> Vec<HashMap<u64, Vec<u8>>> {
    let dir = std::env::temp_dir().join(format!("walship-fuzz-resync-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("00000000"), bytes).unwrap();
    let mut outs = Vec::new();
    for io in [IoMode::Mmap, IoMode::Read] {
        let mut r = Reader::open(&dir).unwrap();
        r.set_io_mode(io);
        let mut out = HashMap::new();
        while keep(&mut out, r.next_record()) {}
        outs.push(out);
    }
    let mut live = LiveReader::new(bytes, "fuzz", 0);
    let mut out = HashMap::new();
    while keep(&mut out, live.next_record()) {}
    // The segment is complete: seal it (pad its last page) and read what that lets through.
    if live.seal() {
        while keep(&mut out, live.next_record()) {}
    }
    let _ = live.finish();
    outs.push(out);
    outs
}

fuzz_target!(|input: &[u8]| {
    // Input: a 3-byte length to cut the segment at (0xffffff: no cut), then 4-byte edits: a
    // 3-byte offset and a byte to XOR there.
    let Some((cut, edits)) = input.split_first_chunk::<3>() else { return };
    let cut = u32::from_be_bytes([0, cut[0], cut[1], cut[2]]) as usize;
    let len = if cut == 0xff_ffff { SEGMENT.len() } else { cut % (SEGMENT.len() + 1) };
    let mut bytes = SEGMENT[..len].to_vec();
    let mut changed = Vec::new();
    for e in edits.chunks_exact(4) {
        if bytes.is_empty() || e[3] == 0 {
            continue;
        }
        let at = u32::from_be_bytes([0, e[0], e[1], e[2]]) as usize % bytes.len();
        bytes[at] ^= e[3];
        changed.push(at);
    }
    let outs = read(&bytes);
    for (start, end, data) in extents() {
        if *end > len || changed.iter().any(|c| (start..end).contains(&c)) {
            continue;
        }
        for (reader, got) in outs.iter().enumerate() {
            assert!(got.get(&(*start as u64)) == Some(data), "reader {reader} lost the sound record at {start}");
        }
    }
});
