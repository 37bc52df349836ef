//! A recording sink and a WAL-writing helper for the watcher tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use wal_format::record::{encode_samples, encode_series, Labels, RefSample, RefSeries};
use wal_format::{CheckpointWriter, Compression, Position, WalOptions, WalWriter, PAGE_SIZE};
use wal_watcher::Sink;

#[derive(Default, Debug)]
pub struct Seen {
    /// ref → (labels as text, segment last seen).
    pub series: HashMap<u64, (String, u64)>,
    pub series_calls: u64,
    pub samples: Vec<(u64, i64, f64, Position)>,
    pub resets: Vec<u64>,
    pub progress: Option<Position>,
}

/// A sink that records everything into shared state.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Seen>>);

impl Recorder {
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap()
    }
}

impl Sink for Recorder {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Self::Error> {
        let mut s = self.seen();
        for x in series {
            s.series.insert(x.series_ref, (x.labels.to_string(), segment));
        }
        s.series_calls += series.len() as u64;
        Ok(true)
    }
    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error> {
        let mut s = self.seen();
        for x in samples {
            s.samples.push((x.series_ref, x.t, x.v, at));
        }
        Ok(true)
    }
    fn series_reset(&mut self, segment: u64) -> Result<bool, Self::Error> {
        let mut s = self.seen();
        s.resets.push(segment);
        s.series.retain(|_, (_, seg)| *seg >= segment);
        Ok(true)
    }
    fn progress(&mut self, next: Position) -> Result<bool, Self::Error> {
        self.seen().progress = Some(next);
        Ok(true)
    }
}

pub fn labels(r: u64) -> Labels {
    Labels::from_pairs_sorted([("__name__".to_string(), format!("m{}", r % 5)), ("id".to_string(), r.to_string())])
}

pub fn series_record(refs: impl Iterator<Item = u64>) -> Vec<u8> {
    let ls: Vec<(u64, Labels)> = refs.map(|r| (r, labels(r))).collect();
    let s: Vec<RefSeries> = ls.iter().map(|(r, l)| RefSeries { series_ref: *r, labels: l.as_ref() }).collect();
    let mut rec = Vec::new();
    encode_series(&s, &mut rec);
    rec
}

pub fn samples_record(refs: impl Iterator<Item = u64>, t: i64) -> Vec<u8> {
    let s: Vec<RefSample> =
        refs.map(|r| RefSample { series_ref: r, st: 0, t, v: r as f64 + t as f64 / 1000.0 }).collect();
    let mut rec = Vec::new();
    encode_samples(&s, &mut rec);
    rec
}

pub fn small_wal(dir: &Path) -> WalWriter {
    WalWriter::create(dir, WalOptions { segment_size: 4 * PAGE_SIZE, compression: Compression::Snappy }).unwrap()
}

/// Writes checkpoint `index` holding series `refs` (and one scrape of samples at `t`).
pub fn checkpoint(dir: &Path, index: u64, refs: std::ops::Range<u64>, t: i64) {
    let mut cp = CheckpointWriter::create(dir, index, Compression::Snappy).unwrap();
    cp.log(&[series_record(refs.clone()), samples_record(refs, t)]).unwrap();
    cp.commit().unwrap();
}

/// Samples per series, in arrival order.
pub fn by_series(samples: &[(u64, i64, f64, Position)]) -> BTreeMap<u64, Vec<i64>> {
    let mut m: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (r, t, _, _) in samples {
        m.entry(*r).or_default().push(*t);
    }
    m
}

pub fn fast_options(start: wal_watcher::StartMode) -> wal_watcher::WatcherOptions {
    wal_watcher::WatcherOptions {
        start,
        poll_interval: std::time::Duration::from_millis(2),
        segment_check_interval: std::time::Duration::from_millis(10),
        checkpoint_check_interval: std::time::Duration::from_millis(50),
        retry_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    }
}
