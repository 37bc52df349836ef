//! Tails a WAL and prints samples as they arrive.
//!
//! ```text
//! cargo run -p wal-watcher --example tail -- /var/lib/prometheus/data   # until Ctrl-C
//! cargo run -p wal-watcher --example tail                               # a demo WAL, then exits
//! ```
//!
//! Without an argument it writes a WAL of its own in a temporary directory — a writer thread
//! appends a scrape of 100 series every 20 ms for about a second and a half, in segments small
//! enough to roll over several times — and stops once every sample written has arrived.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wal_format::record::{encode_samples, encode_series, Labels, RefSample, RefSeries};
use wal_format::{Compression, Position, WalOptions, WalWriter, PAGE_SIZE};
use wal_watcher::{Sink, StartMode, Watcher, WatcherOptions};

const SERIES: u64 = 100;
const SCRAPES: i64 = 75;

/// Prints one line per Samples record: where it is, how many samples, and one of them.
struct PrintSamples {
    labels: HashMap<u64, String>,
    received: Arc<AtomicU64>,
}

impl Sink for PrintSamples {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, series: &[RefSeries<'_>], _segment: u64) -> Result<bool, Self::Error> {
        for s in series {
            self.labels.insert(s.series_ref, s.labels.to_string());
        }
        Ok(true)
    }

    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error> {
        let Some(first) = samples.first() else { return Ok(true) };
        let labels = self.labels.get(&first.series_ref).map_or("(unknown series)", String::as_str);
        println!("{at}: {} samples at t={}, e.g. {labels} {}", samples.len(), first.t, first.v);
        self.received.fetch_add(samples.len() as u64, Ordering::Relaxed);
        Ok(true)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let received = Arc::new(AtomicU64::new(0));
    let sink = PrintSamples { labels: HashMap::new(), received: received.clone() };
    if let Some(dir) = std::env::args_os().nth(1) {
        // Prometheus's behaviour: samples from now on, as they are written.
        let mut watcher = Watcher::new(&dir, WatcherOptions::default(), sink);
        watcher.run(|event| eprintln!("{event:?}"))?;
        return Ok(());
    }

    let dir = tempfile::tempdir()?;
    // Beginning: the samples written before the watcher started count too.
    let options = WatcherOptions { start: StartMode::Beginning, ..Default::default() };
    let mut watcher = Watcher::new(dir.path(), options, sink);
    let stop = watcher.stop_handle();
    // One-page segments (Prometheus's are 128 MiB), so that a second of writing crosses several.
    let mut wal =
        WalWriter::create(dir.path(), WalOptions { segment_size: PAGE_SIZE, compression: Compression::None })?;
    write_series(&mut wal)?;
    let writer = std::thread::spawn(move || -> Result<u64, wal_format::Error> {
        for scrape in 1..=SCRAPES {
            write_scrape(&mut wal, scrape)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        let last_segment = wal.segment();
        wal.close()?;
        Ok(last_segment)
    });
    let want = SERIES * SCRAPES as u64;
    let waiter = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.stop();
        received.load(Ordering::Relaxed)
    });
    watcher.run(|event| eprintln!("{event:?}"))?;
    let last_segment = writer.join().expect("writer thread")?;
    let got = waiter.join().expect("waiting thread");
    println!("{got} of {want} samples arrived, from segments 0 to {last_segment}");
    if got != want {
        return Err(format!("only {got} of {want} samples arrived within 60 s").into());
    }
    Ok(())
}

fn write_series(wal: &mut WalWriter) -> Result<(), wal_format::Error> {
    let labels: Vec<Labels> = (0..SERIES)
        .map(|r| {
            Labels::from_pairs_sorted([("__name__", "demo_requests_total".to_string()), ("path", format!("/p{r}"))])
        })
        .collect();
    let series: Vec<RefSeries> =
        labels.iter().enumerate().map(|(r, l)| RefSeries { series_ref: r as u64, labels: l.as_ref() }).collect();
    let mut record = Vec::new();
    encode_series(&series, &mut record);
    wal.log(&[record])
}

fn write_scrape(wal: &mut WalWriter, scrape: i64) -> Result<(), wal_format::Error> {
    let t = 1_700_000_000_000 + scrape * 15_000;
    let samples: Vec<RefSample> =
        (0..SERIES).map(|r| RefSample { series_ref: r, st: 0, t, v: (scrape as u64 * (r + 1)) as f64 }).collect();
    let mut record = Vec::new();
    encode_samples(&samples, &mut record);
    wal.log(&[record])
}
