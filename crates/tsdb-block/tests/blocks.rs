//! The reader against the real Prometheus 2.42 data directory in `testdata/`.

mod common;

use std::path::PathBuf;

use tsdb_block::{Block, DataDir};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-blocks/data")
}

/// Every block's series, sample and chunk counts equal what Prometheus wrote into its
/// `meta.json` when it made the block.
#[test]
fn counts_equal_meta_stats() {
    let dir = DataDir::open(&data_dir()).unwrap();
    assert_eq!(dir.blocks().len(), 4);
    common::read_every_series(&dir, |block, s| {
        let mut samples = 0;
        for sample in block.samples(s) {
            sample.unwrap();
            samples += 1;
        }
        samples
    });
    for b in dir.blocks() {
        assert!(b.open().unwrap().tombstones().is_empty());
    }
}

/// The metas we parse are the ones `EXPECTED.json` lists (taken when the fixture was made).
#[test]
fn metas_equal_the_fixture_record() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir().parent().unwrap().join("EXPECTED.json")).unwrap()).unwrap();
    let dir = DataDir::open(&data_dir()).unwrap();
    let got: Vec<serde_json::Value> = dir
        .blocks()
        .iter()
        .map(|b| {
            let m = b.meta();
            serde_json::json!({
                "ulid": m.ulid, "min_time": m.min_time, "max_time": m.max_time, "numSamples": m.stats.num_samples,
                "numSeries": m.stats.num_series, "numChunks": m.stats.num_chunks,
            })
        })
        .collect();
    assert_eq!(serde_json::Value::Array(got), expected["blocks"]);
    for b in dir.blocks() {
        assert_eq!((b.meta().version, b.meta().compaction.level), (1, 1));
        assert_eq!(b.meta().compaction.sources, [b.meta().ulid.clone()]);
    }
}

/// Series come in label order and each series' samples in strictly increasing time order,
/// inside the block's time range.
#[test]
fn series_sorted_and_samples_in_range() {
    for b in DataDir::open(&data_dir()).unwrap().blocks() {
        let block = Block::open(b.path()).unwrap();
        let mut prev: Option<Vec<(String, String)>> = None;
        for s in block.series().unwrap() {
            let s = s.unwrap();
            let labels: Vec<(String, String)> =
                s.labels().iter().map(|l| (l.name.to_owned(), l.value.to_owned())).collect();
            assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "labels sorted by name");
            if let Some(p) = &prev {
                assert!(*p < labels, "{p:?} then {labels:?}");
            }
            let mut last = i64::MIN;
            for sample in block.samples(&s) {
                let t = sample.unwrap().t;
                assert!(t > last);
                assert!(b.meta().min_time <= t && t < b.meta().max_time, "{t}");
                last = t;
            }
            prev = Some(labels);
        }
    }
}

/// `samples_between` yields exactly the samples of `samples` inside the range, both ends
/// included, and skips chunks outside it.
#[test]
fn samples_between_takes_a_time_range() {
    let dir = DataDir::open(&data_dir()).unwrap();
    let block = dir.blocks()[1].open().unwrap();
    for s in block.series().unwrap().step_by(97) {
        let s = s.unwrap();
        let all: Vec<i64> = block.samples(&s).map(|r| r.unwrap().t).collect();
        if all.len() < 10 {
            continue;
        }
        let (a, b) = (all[3], all[all.len() - 4]);
        let got: Vec<i64> = block.samples_between(&s, a, b).map(|r| r.unwrap().t).collect();
        assert_eq!(got, all[3..all.len() - 3]);
        let none: Vec<i64> =
            block.samples_between(&s, all[all.len() - 1] + 1, i64::MAX).map(|r| r.unwrap().t).collect();
        assert!(none.is_empty());
    }
}
