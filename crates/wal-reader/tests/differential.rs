//! Reader and LiveReader on WALs from our writer: same records and positions, whatever the
//! chunking of the bytes, and while a real file is being appended by another thread.

mod common;

use common::*;
use proptest::prelude::*;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use wal_format::{Compression, WalOptions, WalWriter, PAGE_SIZE};
use wal_reader::{list_segments, LiveReader, Position};

fn record(i: usize, len: usize) -> Vec<u8> {
    let mut r = (i as u64).to_be_bytes().to_vec();
    r.extend((0..len).map(|j| if j % 3 == 0 { (i + j) as u8 } else { b'x' }));
    r
}

/// Writes records of the given sizes, flushing (ending a batch) where `flushes` says.
fn write_wal(dir: &std::path::Path, sizes: &[usize], flushes: &[bool], pages: usize, c: Compression) -> Vec<Position> {
    let mut w = WalWriter::create(dir, WalOptions { segment_size: pages * PAGE_SIZE, compression: c }).unwrap();
    let mut at = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        at.push(w.append(&record(i, n)).unwrap());
        if flushes[i % flushes.len()] {
            w.flush().unwrap();
        }
    }
    w.close().unwrap();
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn reader_live_reader_and_chunked_live_reader_agree(
        sizes in prop::collection::vec(prop_oneof![0usize..200, 0usize..70_000], 1..60),
        flushes in prop::collection::vec(any::<bool>(), 1..8),
        chunks in prop::collection::vec(prop_oneof![1usize..16, 1usize..65_536], 1..16),
        pages in 3usize..8,
        snappy in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let c = if snappy { Compression::Snappy } else { Compression::None };
        let written = write_wal(dir.path(), &sizes, &flushes, pages, c);
        let whole = read_all(dir.path());
        prop_assert_eq!(whole.iter().map(|(p, _)| *p).collect::<Vec<_>>(), written.clone());
        for (i, (_, r)) in whole.iter().enumerate() {
            prop_assert_eq!(r, &record(i, sizes[i]));
        }
        prop_assert!(live_read_all(dir.path()) == whole);
        // Chunked delivery (sizes cycling through `chunks`), one segment after another.
        prop_assert!(read_chunked(dir.path(), &chunks) == whole, "chunked live reading differs");
    }
}

#[test]
fn chunked_reading_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let sizes: Vec<usize> = (0..300).map(|i| (i * 7919) % 50_000).collect();
    write_wal(dir.path(), &sizes, &[false, true, false], 6, Compression::Snappy);
    let whole = read_all(dir.path());
    for chunk in [1usize, 7, 4096, 32_768, 65_536] {
        assert!(read_chunked(dir.path(), &[chunk]) == whole, "chunk size {chunk}");
    }
}

/// Every record of the WAL in `dir`, read with a LiveReader per segment while the segment's
/// bytes arrive in chunks of the given sizes (cycling), one segment after another.
fn read_chunked(dir: &std::path::Path, chunks: &[usize]) -> Vec<(Position, Vec<u8>)> {
    let mut got = Vec::new();
    for seg in list_segments(dir).unwrap() {
        let src = SharedChunks::new(std::fs::read(&seg.path).unwrap(), chunks.to_vec());
        let mut r = LiveReader::new(src.clone(), &seg.path, seg.index);
        loop {
            while let Some(rec) = r.next_record().unwrap() {
                got.push((rec.position, rec.data.to_vec()));
            }
            if !src.grow() {
                break;
            }
        }
    }
    got
}

/// Bytes revealed chunk by chunk (sizes cycling through a list) through a shared handle, as a
/// file grows between its writer's writes; reads in between find nothing new.
#[derive(Clone)]
struct SharedChunks(Arc<std::sync::Mutex<Chunks>>);

struct Chunks {
    data: Vec<u8>,
    pos: usize,
    visible: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl SharedChunks {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        let s = SharedChunks(Arc::new(std::sync::Mutex::new(Chunks { data, pos: 0, visible: 0, sizes, next: 0 })));
        s.grow();
        s
    }
    fn grow(&self) -> bool {
        let mut g = self.0.lock().unwrap();
        if g.visible == g.data.len() {
            return false;
        }
        let step = g.sizes[g.next % g.sizes.len()];
        g.next += 1;
        g.visible = (g.visible + step).min(g.data.len());
        true
    }
}

impl Read for SharedChunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut g = self.0.lock().unwrap();
        let c = &mut *g;
        let n = buf.len().min(c.visible - c.pos);
        buf[..n].copy_from_slice(&c.data[c.pos..c.pos + n]);
        c.pos += n;
        Ok(n)
    }
}

/// A writer thread appends records of random sizes with random flush points and segment
/// rollovers to real files while a LiveReader tails them: every record arrives exactly once.
#[test]
fn live_reader_tails_files_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let n_records = 3_000usize;
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (path, done, written) = (path.clone(), done.clone(), written.clone());
        std::thread::spawn(move || {
            let mut w =
                WalWriter::create(&path, WalOptions { segment_size: 8 * PAGE_SIZE, compression: Compression::Snappy })
                    .unwrap();
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..n_records {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = match seed % 10 {
                    0 => (seed >> 8) as usize % 100_000,
                    1..=3 => PAGE_SIZE - 7 - (seed >> 20) as usize % 16,
                    _ => (seed >> 8) as usize % 3_000,
                };
                w.append(&record(i, len)).unwrap();
                if seed.is_multiple_of(3) {
                    w.flush().unwrap();
                }
                written.store(i + 1, Ordering::Release);
                if seed.is_multiple_of(50) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            w.close().unwrap();
            done.store(true, Ordering::Release);
        })
    };
    // Tail: read the current segment; when a newer one exists and this one yields nothing more,
    // read it to its end and move on (the watcher's rule).
    let mut next_index = 0usize;
    let mut segment = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    'segments: loop {
        let seg_path = path.join(wal_format::segment_file_name(segment));
        while !seg_path.exists() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut r = LiveReader::new(std::fs::File::open(&seg_path).unwrap(), &seg_path, segment);
        loop {
            assert!(std::time::Instant::now() < deadline, "timed out at record {next_index}");
            let newer = path.join(wal_format::segment_file_name(segment + 1)).exists();
            let finished = done.load(Ordering::Acquire);
            let mut progressed = false;
            while let Some(rec) = r.next_record().unwrap() {
                assert_eq!(rec.data, &record(next_index, rec.data.len() - 8)[..], "record {next_index}");
                next_index += 1;
                progressed = true;
            }
            if newer && !progressed {
                // One more read: the writer finished this segment before creating the next.
                while let Some(rec) = r.next_record().unwrap() {
                    assert_eq!(rec.data, &record(next_index, rec.data.len() - 8)[..]);
                    next_index += 1;
                }
                segment += 1;
                continue 'segments;
            }
            if finished && !newer && !progressed {
                break 'segments;
            }
            if !progressed {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(next_index, n_records);
    assert_eq!(written.load(Ordering::Acquire), n_records);
    assert!(segment >= 5, "only {segment} rollovers");
}
