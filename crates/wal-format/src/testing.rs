//! The benchmark WAL: a WAL shaped like a real Prometheus server's, written by [`crate::WalWriter`].
//! Behind the `testing` feature; used by the benchmarks of this crate and the ones above it, and
//! by tests of other crates that build Go varints by hand ([`put_uvarint`], [`put_varint`]).

use crate::record::{encode_samples, encode_series, Labels, RefSample, RefSeries};
use crate::{
    parse_fragment, Assembled, Compression, Dialect, Error, Parsed, RecordAssembler, WalOptions, WalWriter,
    DEFAULT_SEGMENT_SIZE, PAGE_SIZE,
};
use std::path::{Path, PathBuf};

/// The shape of a benchmark WAL.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Number of series.
    pub series: u64,
    /// Number of scrapes of every series.
    pub scrapes: u64,
    /// Series per Samples record.
    pub series_per_record: u64,
    /// How sample values are drawn.
    pub values: Values,
}

/// How the sample values of a benchmark WAL are drawn. The mix decides how well snappy compresses
/// a Samples record, and so how fast it decompresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// A real server's mix, matched to the node_exporter and Prometheus series in the WALs a real
    /// Prometheus 2.42 wrote (`testdata/prometheus-2.42`, synthetic target left out): 83 % of their
    /// samples are integers, 38 % are 0 and 60 % are integers below 256. Here: 86 % integers
    /// (zeros, small gauges, `up`, counters, page-sized memory gauges, start times), 40 % zeros,
    /// 60 % below 256; the rest seconds counters, constant decimals and noisy gauges.
    Server,
    /// Every value a non-integer with a busy mantissa (counters in hundredths, noisy gauges): a
    /// worst case for snappy, which finds only 4-byte matches between neighbouring samples.
    Noisy,
}

/// The shape: 100k series with 10 labels (~210 label bytes) each, 120 scrapes 15 s apart,
/// one Samples record per 1,000 series per scrape: 12M samples, with a real server's values.
pub const SERVER: Shape = Shape { series: 100_000, scrapes: 120, series_per_record: 1_000, values: Values::Server };

/// [`SERVER`] with [`Values::Noisy`].
pub const NOISY_SERVER: Shape = Shape { values: Values::Noisy, ..SERVER };

const MODES: [&str; 8] = ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"];

/// The labels of series `r` (1-based): 10 labels, about 210 bytes of names and values.
pub fn series_labels(r: u64) -> Labels {
    let host = r / 200;
    Labels::from_pairs_sorted([
        ("__name__".to_string(), format!("node_cpu_seconds_total_{:03}", r % 160)),
        ("cluster".to_string(), format!("prod-eu-west-{}", host % 4)),
        ("cpu".to_string(), format!("{}", r % 64)),
        ("datacenter".to_string(), format!("dc-{:02}", host % 12)),
        ("env".to_string(), "production".to_string()),
        (
            "instance".to_string(),
            format!("ip-10-{}-{}-{}.eu-west-1.compute.internal:9100", host % 250, r % 250, host % 7),
        ),
        ("job".to_string(), "node-exporter".to_string()),
        ("mode".to_string(), MODES[(r % 8) as usize].to_string()),
        ("region".to_string(), "eu-west-1".to_string()),
        ("team".to_string(), format!("platform-team-{:02}", host % 9)),
    ])
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The value of series `r` at scrape `i` under `values`.
pub fn sample_value(values: Values, r: u64, i: u64) -> f64 {
    match values {
        Values::Server => server_value(r, i),
        Values::Noisy => noisy_value(r, i),
    }
}

fn noisy_value(r: u64, i: u64) -> f64 {
    if r % 10 < 7 {
        seconds_counter(r, i)
    } else {
        noisy_gauge(r, i)
    }
}

/// A counter in hundredths, like `node_cpu_seconds_total`.
fn seconds_counter(r: u64, i: u64) -> f64 {
    ((r * 131 + i * (r % 97 + 1) * 15) as f64) * 0.01
}

fn noisy_gauge(r: u64, i: u64) -> f64 {
    (xorshift(r * 1_000_003 + i) % 1_000_000) as f64 / 7.0
}

/// One of several kinds of series, drawn by a hash of `r` so kinds interleave, in the shares of
/// [`Values::Server`].
fn server_value(r: u64, i: u64) -> f64 {
    let h = xorshift(r * 2_654_435_761 + 1);
    let jitter = xorshift(r * 1_000_003 + i + 7);
    match (h >> 32) % 20 {
        // Error counters never hit, idle gauges, empty histogram buckets.
        0..=7 => 0.0,
        // Goroutines, open files, threads.
        8..=9 => (10 + jitter % 200) as f64,
        // `up` and info metrics.
        10 => 1.0,
        // Restart and retry counters: small, mostly unchanged.
        11 => (h % 100 + i * (r % 3) / 4) as f64,
        // Request and byte counters: integers growing by `rate` ± jitter, never falling.
        12..=13 => {
            let rate = 1 + h % 2_000;
            (h % 10_000_000 + i * rate + jitter % rate) as f64
        }
        // Memory gauges: whole pages.
        14 => (4096 * (100_000 + h % 1_000_000 + jitter % 64)) as f64,
        // Start times in seconds.
        15 => (1_700_000_000 + h % 1_000_000) as f64,
        // Packet counters.
        16 => (h % 100_000 + i * (h % 50)) as f64,
        17 => seconds_counter(r, i),
        // Limits and ratios: constant decimals.
        18 => (h % 10_000) as f64 / 100.0,
        _ => noisy_gauge(r, i),
    }
}

/// Writes a WAL of `shape` into `dir` (which must not hold segments yet).
pub fn write_wal(dir: &Path, shape: Shape, compression: Compression) -> Result<(), Error> {
    let mut w = WalWriter::create(dir, WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, compression })?;
    let base_t = 1_700_000_000_000i64;
    let mut rec = Vec::new();
    let mut first = 1;
    while first <= shape.series {
        let last = (first + shape.series_per_record - 1).min(shape.series);
        let labels: Vec<Labels> = (first..=last).map(series_labels).collect();
        let series: Vec<RefSeries> =
            labels.iter().zip(first..).map(|(l, r)| RefSeries { series_ref: r, labels: l.as_ref() }).collect();
        rec.clear();
        encode_series(&series, &mut rec);
        w.log(&[&rec])?;
        first = last + 1;
    }
    let mut samples = Vec::with_capacity(shape.series_per_record as usize);
    for i in 0..shape.scrapes {
        let mut first = 1;
        while first <= shape.series {
            let last = (first + shape.series_per_record - 1).min(shape.series);
            // Targets are scraped at slightly different moments within the interval.
            let t = base_t + i as i64 * 15_000 + (first % 15_000) as i64;
            samples.clear();
            samples.extend((first..=last).map(|r| RefSample {
                series_ref: r,
                st: 0,
                t,
                v: sample_value(shape.values, r, i),
            }));
            rec.clear();
            encode_samples(&samples, &mut rec);
            w.log(&[&rec])?;
            first = last + 1;
        }
    }
    w.close()
}

/// The benchmark WAL for `compression` under `root`, written once and reused while its shape
/// marker matches.
pub fn cached_wal(root: &Path, shape: Shape, compression: Compression) -> Result<PathBuf, Error> {
    let name = format!(
        "wal-{}x{}x{}-{:?}-{:?}",
        shape.series, shape.scrapes, shape.series_per_record, shape.values, compression
    );
    let dir = root.join(name);
    let marker = dir.join(".complete");
    if !marker.exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        }
        write_wal(&dir, shape, compression)?;
        std::fs::write(&marker, b"").map_err(|source| Error::Io { path: marker.clone(), source })?;
    }
    Ok(dir)
}

/// The cargo target directory, where the benchmarks keep their WALs: `CARGO_TARGET_DIR`, else
/// the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Frames, checks and decompresses every record of whole segments held in memory, in order,
/// handing each to `f`: what a reader does, without the I/O, for the benchmarks' "from memory"
/// figure. A segment's trailing bytes that hold no whole fragment are skipped.
///
/// # Errors
/// The first fragment that does not parse or assemble.
pub fn for_each_record<S: AsRef<[u8]>>(segments: &[S], mut f: impl FnMut(&[u8])) -> Result<(), Error> {
    let mut asm = RecordAssembler::new();
    for seg in segments {
        let seg = seg.as_ref();
        let mut pos = 0;
        while pos < seg.len() {
            match parse_fragment(&seg[pos..], pos % PAGE_SIZE, Dialect::Reader)? {
                Parsed::Padding { size } => pos += size,
                Parsed::Incomplete { .. } => break,
                Parsed::Fragment { header, payload, size, .. } => {
                    pos += size;
                    match asm.push(&header, payload)? {
                        Assembled::Pending => {}
                        Assembled::Borrowed(r) => f(r),
                        Assembled::Owned => f(asm.record()),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Appends `v` as a Go `binary.Uvarint`, with the encoder the record codecs use.
pub fn put_uvarint(buf: &mut Vec<u8>, v: u64) {
    crate::varint::put_uvarint(buf, v);
}

/// Appends `v` as a Go `binary.Varint` (zig-zag), with the encoder the record codecs use.
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    crate::varint::put_varint(buf, v);
}
