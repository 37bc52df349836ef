//! `cargo bench -p wal-reader`: Reader (mmap and read(2)) and LiveReader throughput on the
//! benchmark WAL from files in a warm page cache, beside decoding the same bytes from memory.
//! Every row decodes Series and Samples records, so the rows differ only in how bytes arrive.
//! `cargo bench -p wal-reader -- none` (or `snappy`) runs one half.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use wal_format::record::{decode_samples, decode_series, RecordType, RefSample};
use wal_format::testing::{cached_wal, for_each_record, target_dir, SERVER};
use wal_format::Compression;
use wal_reader::{list_segments, IoMode, LiveReader, Reader};

/// Decodes one record, counting samples.
fn count(rec: &[u8], samples: &mut Vec<RefSample>) -> u64 {
    match RecordType::of(rec) {
        RecordType::Samples => {
            samples.clear();
            decode_samples(rec, samples).unwrap();
            samples.len() as u64
        }
        RecordType::Series => {
            let mut v = Vec::new();
            decode_series(rec, &mut v).unwrap();
            0
        }
        _ => 0,
    }
}

fn from_memory<S: AsRef<[u8]>>(segs: &[S]) -> u64 {
    let (mut buf, mut n) = (Vec::new(), 0);
    for_each_record(segs, |rec| n += count(rec, &mut buf)).unwrap();
    n
}

fn reader(dir: &Path, io: IoMode) -> u64 {
    let (mut r, mut buf, mut n) = (Reader::open(dir).unwrap(), Vec::new(), 0);
    r.set_io_mode(io);
    while let Some(rec) = r.next_record().unwrap() {
        n += count(rec.data, &mut buf);
    }
    n
}

fn live(dir: &Path) -> u64 {
    let (mut buf, mut n) = (Vec::new(), 0);
    for seg in list_segments(dir).unwrap() {
        let mut r = LiveReader::new(std::fs::File::open(&seg.path).unwrap(), &seg.path, seg.index);
        while let Some(rec) = r.next_record().unwrap() {
            n += count(rec.data, &mut buf);
        }
    }
    n
}

/// Every segment mapped, page tables populated up front: decoding from this against decoding
/// from a `Vec` shows what reading from a mapping costs apart from setting it up and tearing it
/// down.
fn populated_maps(dir: &Path) -> Vec<memmap2::Mmap> {
    let map = |s: &wal_reader::SegmentRef| {
        let file = std::fs::File::open(&s.path).unwrap();
        // SAFETY: the benchmark WAL is not modified while the benchmark runs.
        unsafe { memmap2::MmapOptions::new().populate().map(&file) }.unwrap()
    };
    list_segments(dir).unwrap().iter().map(map).collect()
}

fn best(runs: usize, mut f: impl FnMut() -> u64) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        assert_eq!(black_box(f()), 12_000_000);
        best = best.min(t.elapsed());
    }
    best
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, unoptimised: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark not run: use `cargo bench`");
        return;
    }
    let root = target_dir().join("bench-wal");
    println!("| {:<36} | {:>12} | {:>10} | vs from memory", "reader (single thread, warm cache)", "samples", "MB/s");
    println!("|{}|{}|{}|---", "-".repeat(38), "-".repeat(14), "-".repeat(12));
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for c in [Compression::None, Compression::Snappy] {
        if !only.is_empty() && !only.iter().any(|o| format!("{c:?}").eq_ignore_ascii_case(o)) {
            continue;
        }
        let dir = cached_wal(&root, SERVER, c).unwrap();
        let segs: Vec<Vec<u8>> = list_segments(&dir).unwrap().iter().map(|s| std::fs::read(&s.path).unwrap()).collect();
        let bytes: u64 = segs.iter().map(|s| s.len() as u64).sum();
        let maps = populated_maps(&dir);
        let base = best(5, || from_memory(&segs));
        let rows = [
            ("decode from memory", base),
            ("  decode from a populated mapping", best(5, || from_memory(&maps))),
            ("Reader, mmap", best(5, || reader(&dir, IoMode::Mmap))),
            ("Reader, read(2)", best(5, || reader(&dir, IoMode::Read))),
            ("LiveReader, read(2)", best(5, || live(&dir))),
        ];
        for (name, d) in rows {
            let s = d.as_secs_f64();
            println!(
                "| {:<36} | {:>8.1} M/s | {:>10.0} | {:>+.0} %",
                format!("{name}, {c:?}"),
                12.0 / s,
                bytes as f64 / s / 1e6,
                (s / base.as_secs_f64() - 1.0) * 100.0
            );
        }
    }
}
