//! `cargo bench -p wal-format --features testing`: read + decode of the benchmark WALs from
//! memory, beside the physical limits measured in the same run on the same bytes (memcpy, CRC32C,
//! raw snappy decompression).
//!
//! Two WALs of the shape, each uncompressed and snappy-compressed: one with a real
//! server's values (`Values::Server`, matched to the real fixtures' node_exporter and Prometheus
//! series: mostly integers, many zeros) and one with busy non-integer values (`Values::Noisy`,
//! snappy's worst case). Single-threaded. Each figure is the best of several runs. For reference,
//! the issue measured Prometheus 2.42's Go reader + `record.Decoder` on this shape on this kind of
//! machine at about 45–50 M samples/s uncompressed and 37–41 M samples/s snappy. Prometheus's own
//! packages cannot be built here (no Go module proxy), so when Debian's Go and `golang/snappy` are
//! installed (`cargo xtask bench` installs them) the bench also builds `go-reference/main.go` —
//! our Go re-statement of Prometheus's reader and Samples decoder on the same libraries — and
//! times it on the same WAL in the same run, alternating with our decoder, so the ratio is not
//! skewed by this machine's speed drifting between runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wal_format::record::{decode_samples, decode_series, RecordType};
use wal_format::testing::{cached_wal, for_each_record, target_dir, Shape, NOISY_SERVER, SERVER};
use wal_format::{parse_fragment, Compression, Dialect, Parsed, PAGE_SIZE};

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
    let (mut samples, mut c) = (Vec::new(), Counts::default());
    for_each_record(segments, |rec| count(rec, &mut samples, &mut Vec::new(), &mut c)).unwrap();
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

/// Builds the Go reference under the target directory; `None` (with the reason printed) when Go or
/// `golang/snappy` is missing.
fn build_go_reference() -> Option<PathBuf> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/go-reference/main.go");
    let out_dir = target_dir().join("go-reference");
    let binary = out_dir.join("go-reference");
    let built = std::process::Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        // Debian installs Go libraries GOPATH-style; no module download is needed or possible.
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", out_dir.join("cache"))
        .output();
    match built {
        Ok(o) if o.status.success() => Some(binary),
        Ok(o) => {
            println!("(Go reference not built: {})", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
        Err(e) => {
            println!(
                "(Go reference skipped: `go` not found ({e}); `cargo xtask bench` installs golang-go and golang-github-golang-snappy-dev)"
            );
            None
        }
    }
}

/// The Go reference's best time over `runs` passes on the WAL in `dir`, and the counts it decoded.
/// With `mode` "snappy" it times only `snappy.Decode` of every compressed record, and the counts
/// are records and decompressed bytes.
fn time_go_reference(
    binary: &std::path::Path,
    mode: &str,
    dir: &std::path::Path,
    runs: usize,
) -> Option<(Duration, [u64; 2])> {
    let o = std::process::Command::new(binary).arg(mode).arg(dir).arg(runs.to_string()).output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let parsed = (fields.len() == 3 && o.status.success())
        .then(|| Some(([fields[0].parse().ok()?, fields[1].parse().ok()?], fields[2].parse::<f64>().ok()?)))
        .flatten();
    match parsed {
        Some((counts, secs)) => Some((Duration::from_secs_f64(secs), counts)),
        None => {
            println!("(Go reference failed: {text} {})", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
    }
}

/// One more turn of the Go reference in `mode`: the best of `so_far` and this turn, or `None` (the
/// Go rows are dropped, with the reason printed) when it failed or its counts disagree with ours.
fn go_turn(
    binary: &std::path::Path,
    mode: &str,
    dir: &std::path::Path,
    so_far: Duration,
    agrees: impl Fn([u64; 2]) -> bool,
) -> Option<Duration> {
    let (t, counts) = time_go_reference(binary, mode, dir, 5)?;
    if !agrees(counts) {
        println!("(Go reference, {mode}: its counts {counts:?} disagree with ours)");
        return None;
    }
    Some(so_far.min(t))
}

fn row(name: &str, d: Duration, samples: Option<u64>, bytes: u64, note: &str) {
    let s = d.as_secs_f64();
    let sps = samples.map_or("-".to_string(), |n| format!("{:.1} M/s", n as f64 / s / 1e6));
    println!("| {name:<48} | {sps:>12} | {:>10.0} MB/s | {note}", bytes as f64 / s / 1e6);
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, unoptimised: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark not run: use `cargo bench`");
        return;
    }
    let root = target_dir().join("bench-wal");
    println!(
        "benchmark WALs: 100k series x 10 labels, 120 scrapes, 1,000 samples per record (12M samples); under {}",
        root.display()
    );
    println!("| {:<48} | {:>12} | {:>15} | note", "what (single thread, from memory)", "samples", "bytes");
    println!("|{}|{}|{}|---", "-".repeat(50), "-".repeat(14), "-".repeat(17));
    // Arguments pick WALs (for profiling): `-- snappy` runs both value mixes compressed,
    // `-- snappy server` one WAL.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let go_binary = build_go_reference();
    for shape in [SERVER, NOISY_SERVER] {
        for c in [Compression::None, Compression::Snappy] {
            let names = [format!("{c:?}"), format!("{:?}", shape.values)];
            if !only.iter().all(|o| names.iter().any(|n| n.eq_ignore_ascii_case(o))) {
                continue;
            }
            bench_wal(&root, shape, c, go_binary.as_deref());
        }
    }
}

/// The rows for one benchmark WAL.
fn bench_wal(root: &std::path::Path, shape: Shape, c: Compression, go_binary: Option<&std::path::Path>) {
    let dir = cached_wal(root, shape, c).unwrap();
    let segs = load(&dir);
    let bytes: u64 = segs.iter().map(|s| s.len() as u64).sum();
    // Ours and Go take turns, three rounds, each keeping its best: this machine's speed drifts
    // by up to 1.5x between seconds, and alternating exposes both to the same drift.
    let mut ours = Duration::MAX;
    let mut go = go_binary.map(|_| Duration::MAX);
    let mut counts = Counts::default();
    for _ in 0..3 {
        let (d, c) = best(5, || decode_all(&segs));
        (ours, counts) = (ours.min(d), c);
        let want = [counts.samples, counts.series];
        go = go.zip(go_binary).and_then(|(g, bin)| go_turn(bin, "decode", &dir, g, |n| n == want));
    }
    assert_eq!((counts.samples, counts.series), (shape.series * shape.scrapes, shape.series));
    let reference = if c == Compression::None { 47.5 } else { 39.0 };
    let sps = counts.samples as f64 / ours.as_secs_f64() / 1e6;
    let note = match go {
        Some(g) => format!(
            "{:.2}x Go below; {:.1}x the issue's Prometheus figure",
            g.as_secs_f64() / ours.as_secs_f64(),
            sps / reference
        ),
        None => format!("{:.1}x the issue's Prometheus 2.42 figure", sps / reference),
    };
    row(&format!("read + decode, {c:?}, {:?} values", shape.values), ours, Some(counts.samples), bytes, &note);
    if let Some(g) = go {
        row("  Go: Prometheus 2.42's algorithm, golang/snappy", g, Some(counts.samples), bytes, "same WAL, same run");
    }
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
    if c != Compression::Snappy {
        return;
    }
    let recs = compressed_records(&segs);
    let compressed: u64 = recs.iter().map(|r| r.len() as u64).sum();
    let out_len: u64 = recs.iter().map(|r| snap::raw::decompress_len(r).unwrap() as u64).sum();
    let ratio = format!("records compress {:.2}:1", out_len as f64 / compressed as f64);
    // Taking turns again, for the same reason as above.
    let (mut snap_best, mut ours_best) = (Duration::MAX, Duration::MAX);
    let mut go_best = go_binary.map(|_| Duration::MAX);
    let mut dec = snap::raw::Decoder::new();
    let mut buf = vec![0u8; 1 << 22];
    let mut out = Vec::new();
    for _ in 0..3 {
        let (d, _) = best(5, || {
            for r in &recs {
                black_box(dec.decompress(r, &mut buf).unwrap());
            }
        });
        snap_best = snap_best.min(d);
        go_best = go_best.zip(go_binary).and_then(|(g, bin)| go_turn(bin, "snappy", &dir, g, |n| n[1] == out_len));
        let (d, _) = best(5, || {
            for r in &recs {
                wal_format::decompress(Compression::Snappy, r, &mut out).unwrap();
                black_box(&out);
            }
        });
        ours_best = ours_best.min(d);
    }
    row("  raw snappy decompression, snap crate (output)", snap_best, None, out_len, &ratio);
    if let Some(g) = go_best {
        row("  raw snappy decompression, golang/snappy (output)", g, None, out_len, "");
    }
    row("  raw snappy decompression, ours (output)", ours_best, None, out_len, "");
}
