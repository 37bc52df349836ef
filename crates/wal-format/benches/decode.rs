//! `cargo bench -p wal-format --features testing`: read + decode of the benchmark WAL from memory,
//! beside the physical limits measured in the same run on the same bytes (memcpy, CRC32C, raw
//! snappy decompression).
//!
//! Single-threaded. Each figure is the best of several runs. For reference, the issue measured
//! Prometheus 2.42's Go reader + `record.Decoder` on this shape on this kind of machine at about
//! 45–50 M samples/s uncompressed and 37–41 M samples/s snappy (it cannot be built here: no Go
//! toolchain or module proxy).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wal_format::record::{decode_samples, decode_series, RecordType};
use wal_format::testing::{cached_wal, SERVER};
use wal_format::{parse_fragment, Assembled, Compression, Dialect, Parsed, RecordAssembler, PAGE_SIZE};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn load(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().bytes().all(|b| b.is_ascii_digit()))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[derive(Default, Clone, Copy)]
struct Counts {
    samples: u64,
    series: u64,
}

/// Framing, CRC, decompression, Series and Samples decoding of every record.
fn decode_all(segments: &[Vec<u8>]) -> Counts {
    let mut asm = RecordAssembler::new();
    let mut samples = Vec::new();
    let mut c = Counts::default();
    for seg in segments {
        let mut pos = 0;
        while pos < seg.len() {
            match parse_fragment(&seg[pos..], pos % PAGE_SIZE, Dialect::Reader).unwrap() {
                Parsed::Padding { size } => pos += size,
                Parsed::Incomplete { .. } => break,
                Parsed::Fragment { header, payload, size, .. } => {
                    pos += size;
                    let mut series = Vec::new();
                    match asm.push(&header, payload).unwrap() {
                        Assembled::Pending => {}
                        Assembled::Borrowed(r) => count(r, &mut samples, &mut series, &mut c),
                        Assembled::Owned => count(asm.record(), &mut samples, &mut series, &mut c),
                    }
                }
            }
        }
    }
    c
}

fn count<'a>(
    rec: &'a [u8],
    samples: &mut Vec<wal_format::record::RefSample>,
    series: &mut Vec<wal_format::record::RefSeries<'a>>,
    c: &mut Counts,
) {
    match RecordType::of(rec) {
        RecordType::Samples => {
            samples.clear();
            decode_samples(rec, samples).unwrap();
            c.samples += samples.len() as u64;
        }
        RecordType::Series => {
            series.clear();
            decode_series(rec, series).unwrap();
            c.series += series.len() as u64;
        }
        _ => {}
    }
}

/// The compressed payload of every record (joined fragments), for the raw snappy figure.
fn compressed_records(segments: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for seg in segments {
        let mut pos = 0;
        while pos < seg.len() {
            match parse_fragment(&seg[pos..], pos % PAGE_SIZE, Dialect::Reader).unwrap() {
                Parsed::Padding { size } => pos += size,
                Parsed::Incomplete { .. } => break,
                Parsed::Fragment { header, payload, size, .. } => {
                    pos += size;
                    cur.extend_from_slice(payload);
                    if header.fragment_type.ends_record() {
                        if header.compression == Compression::Snappy {
                            out.push(std::mem::take(&mut cur));
                        }
                        cur.clear();
                    }
                }
            }
        }
    }
    out
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = black_box(f());
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.unwrap())
}

fn row(name: &str, d: Duration, samples: Option<u64>, bytes: u64, note: &str) {
    let s = d.as_secs_f64();
    let sps = samples.map_or("-".to_string(), |n| format!("{:.1} M/s", n as f64 / s / 1e6));
    println!("| {name:<44} | {sps:>12} | {:>10.0} MB/s | {note}", bytes as f64 / s / 1e6);
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, unoptimised: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark not run: use `cargo bench`");
        return;
    }
    let root = target_dir().join("bench-wal");
    println!(
        "benchmark WAL: 100k series x 10 labels, 120 scrapes, 1,000 samples per record (12M samples); under {}",
        root.display()
    );
    println!("| {:<44} | {:>12} | {:>15} | note", "what (single thread, from memory)", "samples", "bytes");
    println!("|{}|{}|{}|---", "-".repeat(46), "-".repeat(14), "-".repeat(17));
    // `cargo bench … -- none` or `-- snappy` runs one half (for profiling).
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for c in [Compression::None, Compression::Snappy] {
        if !only.is_empty() && !only.iter().any(|o| format!("{c:?}").eq_ignore_ascii_case(o)) {
            continue;
        }
        let dir = cached_wal(&root, SERVER, c).unwrap();
        let segs = load(&dir);
        let bytes: u64 = segs.iter().map(|s| s.len() as u64).sum();
        let (d, counts) = best(5, || decode_all(&segs));
        assert_eq!((counts.samples, counts.series), (12_000_000, 100_000));
        let reference = if c == Compression::None { 47.5 } else { 39.0 };
        let ratio = counts.samples as f64 / d.as_secs_f64() / 1e6 / reference;
        row(
            &format!("read + decode, {c:?}"),
            d,
            Some(counts.samples),
            bytes,
            &format!("{ratio:.1}x Prometheus 2.42 reference"),
        );
        let (d, _) = best(5, || segs.iter().map(|s| crc32c::crc32c(s)).fold(0, |a, b| a ^ b));
        row(&format!("  limit: CRC32C of the same {} MB", bytes / 1_000_000), d, None, bytes, "");
        let mut copy = vec![0u8; segs.iter().map(Vec::len).max().unwrap()];
        let (d, _) = best(5, || {
            for s in &segs {
                copy[..s.len()].copy_from_slice(s);
                black_box(&copy);
            }
        });
        row("  limit: memcpy of the same bytes", d, None, bytes, "");
        if c == Compression::Snappy {
            let recs = compressed_records(&segs);
            let out_len: u64 = recs.iter().map(|r| snap::raw::decompress_len(r).unwrap() as u64).sum();
            let mut dec = snap::raw::Decoder::new();
            let mut buf = vec![0u8; 1 << 22];
            let (d, _) = best(5, || {
                for r in &recs {
                    black_box(dec.decompress(r, &mut buf).unwrap());
                }
            });
            row("  raw snappy decompression, snap crate (output)", d, None, out_len, "");
            let mut out = Vec::new();
            let (d, _) = best(5, || {
                for r in &recs {
                    wal_format::decompress(Compression::Snappy, r, &mut out).unwrap();
                    black_box(&out);
                }
            });
            row("  raw snappy decompression, ours (output)", d, None, out_len, "");
        }
    }
}
