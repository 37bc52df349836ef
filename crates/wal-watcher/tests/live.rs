//! The watcher against a WAL being written: rollovers, a checkpoint and truncation mid-run, and
//! stopping and resuming from acknowledged positions.

mod common;

use common::*;
use proptest::prelude::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use wal_format::record::{RefSample, RefSeries};
use wal_format::Position;
use wal_watcher::{Sink, StartMode, StopHandle, Watcher};

/// A writer appends scrapes of 200 series every 2 ms across many segment rollovers; midway it
/// checkpoints and truncates as Prometheus's head truncation does (finish the segment, write the
/// checkpoint of the older segments keeping live series, delete those segments). Every sample
/// after the start arrives exactly once, in WAL order per series, and dead series are dropped.
#[test]
fn every_sample_once_across_rollovers_and_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let mut w = small_wal(&path);
    w.log(&[series_record(1..=200)]).unwrap();
    w.log(&[samples_record(1..=200, 0)]).unwrap(); // before the start: not sent
    let rec = Recorder::default();
    let mut watcher = Watcher::new(&path, fast_options(StartMode::Timestamp(0)), rec.clone());
    let stop = watcher.stop_handle();
    let metrics = watcher.metrics();
    let handle = std::thread::spawn(move || {
        watcher.run(|e| eprintln!("event: {e:?}")).unwrap();
        watcher
    });
    let scrapes = 600i64;
    let mut checkpointed = false;
    for t in 1..=scrapes {
        // Series 1..=50 stop being scraped halfway (they die).
        let refs: Vec<u64> = if t > scrapes / 2 { (51..=200).collect() } else { (1..=200).collect() };
        w.log(&[samples_record(refs.into_iter(), t)]).unwrap();
        if t == scrapes / 2 + 50 && !checkpointed {
            // Head truncation: cut the segment, checkpoint everything before it, delete it.
            let cut = w.next_segment().unwrap();
            // Prometheus never deletes what its watchers have not read yet in this test.
            let deadline = Instant::now() + Duration::from_secs(20);
            while metrics.current_segment.load(Ordering::Relaxed) < cut {
                assert!(Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut cp = wal_format::CheckpointWriter::create(&path, cut - 1, wal_format::Compression::Snappy).unwrap();
            cp.log(&[series_record(51..=200)]).unwrap();
            cp.commit().unwrap();
            w.truncate_before(cut).unwrap();
            wal_format::delete_checkpoints_before(&path, cut - 1).unwrap();
            checkpointed = true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let segments = w.segment();
    let want = (scrapes / 2) * 200 + (scrapes / 2) * 150;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rec.seen().samples.len() < want as usize {
        assert!(Instant::now() < deadline, "only {} of {want} samples", rec.seen().samples.len());
        std::thread::sleep(Duration::from_millis(5));
    }
    // Give the watcher time to notice the checkpoint (5 checkpoint checks).
    std::thread::sleep(Duration::from_millis(250));
    stop.stop();
    let watcher = handle.join().unwrap();
    let seen = rec.seen();
    assert!(segments >= 5, "only {segments} rollovers");
    assert_eq!(seen.samples.len(), want as usize, "duplicates");
    for (r, ts) in by_series(&seen.samples) {
        let n = if r <= 50 { scrapes / 2 } else { scrapes };
        assert_eq!(ts, (1..=n).collect::<Vec<_>>(), "series {r}");
    }
    assert_eq!(seen.resets.len(), 1, "one checkpoint GC");
    assert_eq!(seen.series.len(), 150, "dead series dropped");
    assert_eq!(watcher.metrics().corruptions.load(Ordering::Relaxed), 0);
}

/// Records deliveries with their positions, and stops the watcher after a given number.
struct StopAfter {
    got: Vec<(Position, Vec<(u64, i64)>)>,
    left: usize,
    stop: Option<StopHandle>,
}

impl Sink for StopAfter {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, _: &[RefSeries<'_>], _: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error> {
        self.got.push((at, samples.iter().map(|s| (s.series_ref, s.t)).collect()));
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            if let Some(s) = &self.stop {
                s.stop();
            }
        }
        Ok(true)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Stop at random points and resume from the position acknowledged last (a few records
    /// behind what was delivered): the union is everything, and duplicates fall only inside the
    /// unacknowledged windows.
    #[test]
    fn resume_from_acknowledged_positions(stops in prop::collection::vec((1usize..60, 0usize..4), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = small_wal(dir.path());
        w.log(&[series_record(1..=30)]).unwrap();
        for t in 1..=300 {
            w.append(&samples_record(1..=30, t)).unwrap();
            if t % 3 == 0 { w.flush().unwrap(); }
        }
        w.close().unwrap();

        let mut all: Vec<(Position, Vec<(u64, i64)>)> = Vec::new();
        let mut windows: Vec<(Position, Position)> = Vec::new();
        let mut cursor: Option<Position> = None;
        for (n, behind) in stops.iter().copied().chain(std::iter::once((usize::MAX, 0))) {
            let start = cursor.map_or(StartMode::Beginning, StartMode::Position);
            let sink = StopAfter { got: Vec::new(), left: n, stop: None };
            let mut watcher = Watcher::new(dir.path(), fast_options(start), sink);
            watcher.sink_mut().stop = Some(watcher.stop_handle());
            watcher.run_to_end(|_| {}).unwrap();
            let got = watcher.into_sink().got;
            if got.is_empty() { break; }
            let at_end = got.last().is_some_and(|g| g.1.iter().any(|s| s.1 == 300));
            prop_assert!(n == usize::MAX || got.len() == n || at_end, "stopped after {} of {} records", got.len(), n);
            // Acknowledged: everything before the record `behind` records from the last one.
            let ack = got[got.len().saturating_sub(1 + behind)].0;
            let last = got[got.len() - 1].0;
            all.extend(got);
            if n == usize::MAX { break; }
            windows.push((ack, last));
            cursor = Some(ack);
        }
        let mut counts = std::collections::HashMap::new();
        for (at, samples) in &all {
            for s in samples {
                *counts.entry(*s).or_insert(0) += 1;
                let _ = at;
            }
        }
        prop_assert_eq!(counts.len(), 30 * 300, "every sample delivered");
        for (at, samples) in &all {
            for s in samples {
                if counts[s] > 1 {
                    prop_assert!(windows.iter().any(|(a, l)| at >= a && at <= l), "duplicate outside a window at {}", at);
                }
            }
        }
    }
}
