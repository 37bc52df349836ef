//! `cargo bench -p tsdb-block --bench decode`: chunk decode throughput per encoding, beside
//! Prometheus's own `tsdb/chunkenc` iterators decoding the same chunk bytes in the same run.
//!
//! The chunks, per encoding:
//! - XOR: every chunk of the real Prometheus 2.42 blocks in `testdata/prometheus-2.42-blocks/`
//!   (7,840 chunks of scraped node_exporter and Prometheus series);
//! - histogram: the histogram chunks of the real 2.42 blocks in
//!   `testdata/prometheus-2.42-native-histograms/` and those Prometheus 2.42's encoder wrote into
//!   `testdata/prometheus-go-chunks/chunks-v2.42.0.json`;
//! - float histogram: the float histogram chunks of that file (Prometheus 2.42 writes none from
//!   scrapes);
//! - XOR2, histogramST, floathistogramST: the chunks Prometheus 3.14's encoder wrote into
//!   `chunks-v3.14.0.json`.
//!
//! Small sets are repeated so that one pass decodes at least [`MIN_SAMPLES`] samples. A pass reads
//! every sample of every chunk into one reused sample ([`tsdb_block::ChunkSamples::next_into`]); for the
//! histogram encodings a second row reads them through the iterator instead, which allocates
//! every histogram anew. A figure is the best of several passes.
//! Single-threaded; times are CPU time (this machine is shared), ours from the thread's
//! scheduler statistics, Go's from `getrusage` for the whole process (its garbage collector
//! included).
//!
//! The Go reference (`go-reference/main.go`, ours) reads every sample of the same chunk bytes
//! through Prometheus's `chunkenc` iterators. It is built in GOPATH mode against a Prometheus 2.42
//! source tree named by `PROMETHEUS_SRC` (`cargo xtask bench` unpacks Debian's `prometheus` source
//! package and sets it) and Debian's Go and `golang-github-pkg-errors-dev`. Without them the bench
//! says why and prints our rows alone. The start-timestamp encodings exist only in Prometheus 3,
//! whose source Debian does not package and which Debian's Go 1.19 cannot build: their rows have no
//! Go figure. Ours and Go take turns (three rounds, each keeping its best), so that this machine's
//! speed drifting between seconds affects both alike.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tsdb_block::{Chunk, DataDir, Encoding, Sample, Value};

/// Fewest samples one pass decodes; smaller sets are repeated up to it.
const MIN_SAMPLES: u64 = 400_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Chunks of one encoding: `(encoding, data)`.
type Set = Vec<(Encoding, Vec<u8>)>;

/// Every chunk of every block under `data`, by encoding.
fn block_chunks(data: &Path, out: &mut Vec<Set>) {
    let dir = DataDir::open(data).unwrap();
    for b in dir.blocks() {
        let block = b.open().unwrap();
        for series in block.series().unwrap() {
            for meta in series.unwrap().chunks() {
                let chunk = block.chunk_files().chunk(meta.chunk_ref).unwrap().chunk();
                push(out, chunk.encoding(), chunk.data().to_vec());
            }
        }
    }
}

/// The chunks of one `testdata/prometheus-go-chunks/` file.
fn fixture_chunks(file: &str, out: &mut Vec<Set>) {
    let path = root().join("testdata/prometheus-go-chunks").join(file);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for entry in json.as_array().unwrap() {
        let enc = Encoding::from_byte(entry["encoding"].as_u64().unwrap() as u8).unwrap();
        let hex = entry["bytes"].as_str().unwrap().as_bytes();
        let bytes = hex.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect();
        push(out, enc, bytes);
    }
}

fn push(out: &mut Vec<Set>, enc: Encoding, bytes: Vec<u8>) {
    match out.iter_mut().find(|s| s[0].0 == enc) {
        Some(set) => set.push((enc, bytes)),
        None => out.push(vec![(enc, bytes)]),
    }
}

/// Reads every sample of every chunk into one reused [`Sample`] ([`tsdb_block::ChunkSamples::next_into`], as
/// Go's iterator reuses its own buffers); the number of samples read.
fn decode(set: &Set) -> u64 {
    let mut n = 0;
    let mut s = Sample::default();
    for (enc, data) in set {
        let mut samples = Chunk::new(*enc, data).samples();
        while samples.next_into(&mut s).unwrap() {
            look(&s);
            n += 1;
        }
    }
    n
}

/// As [`decode`], through the iterator: every histogram sample newly allocated.
fn decode_owned(set: &Set) -> u64 {
    let mut n = 0;
    for (enc, data) in set {
        for s in Chunk::new(*enc, data).samples() {
            look(&s.unwrap());
            n += 1;
        }
    }
    n
}

#[inline(always)]
fn look(s: &Sample) {
    match &s.value {
        Value::Float(v) => black_box(v.to_bits()),
        Value::Histogram(h) => black_box(h.count + h.positive_buckets.len() as u64),
        Value::FloatHistogram(h) => black_box(h.count.to_bits() + h.positive_buckets.len() as u64),
    };
    black_box((s.t, s.st));
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds): the machine
/// is shared, and wall time would count the time other programs had the core.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(text.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// The fastest of `runs` passes of `f` in CPU time (wall time where the kernel does not say),
/// and what the last pass returned.
fn best(runs: usize, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let (mut best, mut n) = (Duration::MAX, 0);
    for _ in 0..runs {
        let (cpu, wall) = (thread_cpu(), Instant::now());
        n = black_box(f());
        let took = thread_cpu().saturating_sub(cpu);
        best = best.min(if took.is_zero() { wall.elapsed() } else { took });
    }
    (best, n)
}

/// Builds the Go reference against the Prometheus source tree in `PROMETHEUS_SRC`; `None`, with
/// the reason printed, when that or Go is missing or the build fails.
fn build_go_reference() -> Option<(PathBuf, String)> {
    let Some(src) = std::env::var_os("PROMETHEUS_SRC").map(PathBuf::from) else {
        println!(
            "(no Go reference: PROMETHEUS_SRC is not set; `cargo xtask bench` sets it to Debian's Prometheus 2.42 source)"
        );
        return None;
    };
    let version = std::fs::read_to_string(src.join("VERSION")).unwrap_or_default().trim().to_string();
    // Only the three packages `tsdb/chunkenc` needs, copied into a GOPATH of our own; the rest of
    // the tree would need libraries Debian does not package.
    let out = target_dir().join("go-reference-tsdb");
    let pkg_root = out.join("gopath/src/github.com/prometheus/prometheus");
    for dir in ["tsdb/chunkenc", "model/histogram", "model/value"] {
        if let Err(e) = copy_go_files(&src.join(dir), &pkg_root.join(dir)) {
            println!("(no Go reference: {}: {e})", src.join(dir).display());
            return None;
        }
    }
    let binary = out.join("go-reference");
    let gopath = std::env::join_paths([out.join("gopath"), PathBuf::from("/usr/share/gocode")]).unwrap();
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/go-reference/main.go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", out.join("cache"))
        .output();
    match built {
        Ok(o) if o.status.success() => Some((binary, version)),
        Ok(o) => {
            println!("(no Go reference: build failed: {})", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
        Err(e) => {
            println!("(no Go reference: `go` not found ({e}); `cargo xtask bench` installs golang-go)");
            None
        }
    }
}

/// Copies the non-test `.go` files of `from` into `to`, replacing what was there.
fn copy_go_files(from: &Path, to: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".go") && !name.ends_with("_test.go") {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    Ok(())
}

/// Writes `set` in the Go reference's input format: per chunk the encoding byte, the data length
/// (`u32`, little-endian) and the data.
fn write_set(set: &Set, path: &Path) {
    let mut buf = Vec::new();
    for (enc, data) in set {
        buf.push(enc.byte());
        buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
        buf.extend_from_slice(data);
    }
    std::fs::write(path, buf).unwrap();
}

/// The Go reference's best pass over the chunks in `file`, or `None` (reason printed) when it
/// failed or read another number of samples than we did.
fn go_turn(binary: &Path, file: &Path, want_samples: u64) -> Option<Duration> {
    let o = Command::new(binary).arg(file).arg("10").output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let parsed = (o.status.success() && f.len() == 3)
        .then(|| Some((f[0].parse::<u64>().ok()?, f[2].parse::<f64>().ok()?)))
        .flatten();
    match parsed {
        Some((n, _)) if n != want_samples => {
            println!("(Go reference read {n} samples, we read {want_samples}: its row is left out)");
            None
        }
        Some((_, secs)) => Some(Duration::from_secs_f64(secs)),
        None => {
            println!("(Go reference failed: {text} {})", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
    }
}

fn row(what: &str, d: Duration, samples: u64, bytes: u64, note: &str) {
    let s = d.as_secs_f64();
    println!(
        "| {what:<34} | {:>9.1} M/s | {:>7.0} MB/s | {:>8.1} ns | {note}",
        samples as f64 / s / 1e6,
        bytes as f64 / s / 1e6,
        s * 1e9 / samples as f64
    );
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, unoptimised: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark not run: use `cargo bench`");
        return;
    }
    let mut sets = Vec::new();
    block_chunks(&root().join("testdata/prometheus-2.42-blocks/data"), &mut sets);
    block_chunks(&root().join("testdata/prometheus-2.42-native-histograms/data"), &mut sets);
    fixture_chunks("chunks-v2.42.0.json", &mut sets);
    fixture_chunks("chunks-v3.14.0.json", &mut sets);
    sets.sort_by_key(|s| s[0].0);
    let go = build_go_reference();
    if let Some((_, version)) = &go {
        println!("Go reference: Prometheus {version} tsdb/chunkenc, {}", go_version());
    }
    println!(
        "| {:<34} | {:>13} | {:>12} | {:>11} | note",
        "decode, single thread", "samples", "chunk bytes", "per sample"
    );
    println!("|{}|{}|{}|{}|---", "-".repeat(36), "-".repeat(15), "-".repeat(14), "-".repeat(13));
    let dir = target_dir().join("bench-chunks");
    std::fs::create_dir_all(&dir).unwrap();
    // Arguments pick encodings by name (for profiling): `-- XOR histogram`.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for set in &sets {
        let enc = set[0].0;
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(enc.name())) {
            continue;
        }
        let distinct = set.len();
        let once = decode(set);
        let repeat = MIN_SAMPLES.div_ceil(once).max(1) as usize;
        let set: Set = set.iter().cycle().take(distinct * repeat).cloned().collect();
        let bytes: u64 = set.iter().map(|(_, d)| d.len() as u64).sum();
        let go_bin = go.as_ref().map(|(b, _)| b.as_path()).filter(|_| enc.byte() <= 3);
        let file = dir.join(format!("{enc}.bin"));
        if go_bin.is_some() {
            write_set(&set, &file);
        }
        let (mut ours, mut go_best, mut samples) = (Duration::MAX, go_bin.map(|_| Duration::MAX), 0);
        for _ in 0..3 {
            let (d, n) = best(10, || decode(&set));
            (ours, samples) = (ours.min(d), n);
            go_best = go_best.zip(go_bin).and_then(|(g, bin)| Some(g.min(go_turn(bin, &file, samples)?)));
        }
        let what = format!("{enc} ({distinct} chunks x{repeat})");
        match go_best {
            Some(g) => {
                let ratio = g.as_secs_f64() / ours.as_secs_f64();
                let verdict = if ratio >= 2.0 { "meets" } else { "BELOW" };
                row(&what, ours, samples, bytes, &format!("{ratio:.2}x Go ({verdict} the 2x target)"));
                row("  Go: Prometheus chunkenc", g, samples, bytes, "same chunks, same run");
            }
            None if enc.byte() > 3 => row(&what, ours, samples, bytes, "no Go reference (Prometheus 3 only)"),
            None => row(&what, ours, samples, bytes, "no Go reference (see above)"),
        }
        if !matches!(enc, Encoding::Xor | Encoding::Xor2) {
            let (owned, _) = best(10, || decode_owned(&set));
            let note = match go_best {
                Some(g) => format!("{:.2}x Go", g.as_secs_f64() / owned.as_secs_f64()),
                None => String::new(),
            };
            row("  through the iterator (allocates)", owned, samples, bytes, &note);
        }
    }
}

fn go_version() -> String {
    Command::new("go")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
