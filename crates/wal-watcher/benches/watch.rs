//! `cargo bench -p wal-watcher`: replay throughput with `StartMode::Beginning` beside the
//! `wal-reader` Reader on the same WAL, and the lag from a record's append to its `Sink` call while
//! a writer appends 100k samples/s (inotify wake-ups; and polling alone, for comparison).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wal_format::record::{decode_samples, encode_samples, encode_series, Labels, RecordType, RefSample, RefSeries};
use wal_format::testing::{cached_wal, SERVER};
use wal_format::{Compression, Position, WalOptions, WalWriter};
use wal_watcher::{Sink, StartMode, Watcher, WatcherOptions};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[derive(Default)]
struct Count(u64);

impl Sink for Count {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, _: &[RefSeries<'_>], _: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn append_samples(&mut self, s: &[RefSample], _: Position) -> Result<bool, Self::Error> {
        self.0 += s.len() as u64;
        Ok(true)
    }
}

fn best(runs: usize, mut f: impl FnMut() -> u64) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(f(), 12_000_000);
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Sink that measures, per record, the delay since the writer stamped it (the sample value holds
/// the write time in µs since `epoch`).
struct Lag {
    epoch: Instant,
    lags: Arc<Mutex<Vec<f64>>>,
}

impl Sink for Lag {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, _: &[RefSeries<'_>], _: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn append_samples(&mut self, s: &[RefSample], _: Position) -> Result<bool, Self::Error> {
        let now = self.epoch.elapsed().as_micros() as f64;
        self.lags.lock().unwrap().push((now - s[0].v) / 1000.0);
        Ok(true)
    }
}

fn lag(use_notify: bool) -> (f64, f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        WalWriter::create(dir.path(), WalOptions { segment_size: 16 << 20, compression: Compression::Snappy }).unwrap();
    let labels: Vec<Labels> = (1..=1000u64).map(wal_format::testing::series_labels).collect();
    let series: Vec<RefSeries> =
        labels.iter().zip(1..).map(|(l, r)| RefSeries { series_ref: r, labels: l.as_ref() }).collect();
    let mut rec = Vec::new();
    encode_series(&series, &mut rec);
    w.log(&[&rec]).unwrap();
    let epoch = Instant::now();
    let lags = Arc::new(Mutex::new(Vec::new()));
    let opts = WatcherOptions { start: StartMode::Timestamp(0), use_notify, ..Default::default() };
    let mut watcher = Watcher::new(dir.path(), opts, Lag { epoch, lags: lags.clone() });
    let stop = watcher.stop_handle();
    let h = std::thread::spawn(move || watcher.run(|_| {}));
    std::thread::sleep(Duration::from_millis(100));
    // 100 records of 1,000 samples per second = 100k samples/s, for 5 s.
    let done = Arc::new(AtomicBool::new(false));
    let mut samples: Vec<RefSample> = (1..=1000).map(|r| RefSample { series_ref: r, st: 0, t: 1, v: 0.0 }).collect();
    let start = Instant::now();
    for i in 0..500u32 {
        let due = start + Duration::from_millis(10) * i;
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let stamp = epoch.elapsed().as_micros() as f64;
        for s in &mut samples {
            s.t = i as i64 + 1;
            s.v = stamp;
        }
        rec.clear();
        encode_samples(&samples, &mut rec);
        w.log(&[&rec]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Release);
    stop.stop();
    h.join().unwrap().unwrap();
    let mut l = lags.lock().unwrap().clone();
    l.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| l[((l.len() as f64 - 1.0) * q) as usize];
    (p(0.5), p(0.99), l.len())
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, unoptimised: measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark not run: use `cargo bench`");
        return;
    }
    let root = target_dir().join("bench-wal");
    println!("| {:<44} | {:>12} | vs Reader", "replay (Beginning, single thread)", "samples");
    println!("|{}|{}|---", "-".repeat(46), "-".repeat(14));
    for c in [Compression::None, Compression::Snappy] {
        let dir = cached_wal(&root, SERVER, c).unwrap();
        let reader = best(3, || {
            let mut r = wal_reader::Reader::open(&dir).unwrap();
            let (mut buf, mut n) = (Vec::new(), 0u64);
            while let Some(rec) = r.next_record().unwrap() {
                if RecordType::of(rec.data) == RecordType::Samples {
                    buf.clear();
                    decode_samples(rec.data, &mut buf).unwrap();
                    n += buf.len() as u64;
                } else if RecordType::of(rec.data) == RecordType::Series {
                    let mut v = Vec::new();
                    wal_format::record::decode_series(rec.data, &mut v).unwrap();
                }
            }
            n
        });
        let watcher = best(3, || {
            let opts = WatcherOptions { start: StartMode::Beginning, use_notify: false, ..Default::default() };
            let mut w = Watcher::new(&dir, opts, Count::default());
            w.run_to_end(|_| {}).unwrap();
            w.into_sink().0
        });
        for (name, d) in [("wal-reader Reader", reader), ("watcher replay", watcher)] {
            println!(
                "| {:<44} | {:>8.1} M/s | {:+.0} %",
                format!("{name}, {c:?}"),
                12.0 / d.as_secs_f64(),
                (d.as_secs_f64() / reader.as_secs_f64() - 1.0) * 100.0
            );
        }
    }
    println!();
    println!("| {:<44} | {:>8} | {:>8} | records", "lag, append → Sink, 100k samples/s", "p50", "p99");
    println!("|{}|{}|{}|---", "-".repeat(46), "-".repeat(10), "-".repeat(10));
    for notify in [true, false] {
        let (p50, p99, n) = lag(notify);
        let name = if notify { "inotify" } else { "polling every 10 ms" };
        println!("| {name:<44} | {p50:>5.2} ms | {p99:>5.2} ms | {n}");
    }
}
