//! Blocks Prometheus 2.42 wrote and then deleted series from (admin API `delete_series`): what
//! we read equals what `promtool tsdb dump` read from the same blocks, tombstones applied.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use tsdb_block::DataDir;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-tombstones")
}

#[test]
fn tombstoned_blocks_read_as_promtool_dumps_them() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("EXPECTED.json")).unwrap()).unwrap();
    let dir = DataDir::open(&fixture().join("data")).unwrap();
    assert_eq!(dir.blocks().len(), 3);
    let mut samples: HashSet<(String, i64)> = HashSet::new();
    let mut series_with_samples: HashSet<String> = HashSet::new();
    let mut per_metric: BTreeMap<String, u64> = BTreeMap::new();
    for (b, want) in dir.blocks().iter().zip(expected["blocks"].as_array().unwrap()) {
        let block = b.open().unwrap();
        assert_eq!(b.meta().ulid, want["ulid"].as_str().unwrap());
        assert_eq!(b.meta().stats.num_tombstones, want["numTombstones"].as_u64().unwrap());
        assert!(!block.tombstones().is_empty());
        let (mut stored, mut kept) = (0u64, 0u64);
        for s in block.series().unwrap() {
            let s = s.unwrap();
            let key = format!("{:?}", s.labels());
            for c in s.chunks() {
                stored += block.chunk_files().chunk(c.chunk_ref).unwrap().chunk().samples().count() as u64;
            }
            let deleted = block.tombstones().get(s.series_ref());
            for sample in block.samples(&s) {
                let t = sample.unwrap().t;
                assert!(!deleted.iter().any(|iv| iv.contains(t)), "{key} {t} is deleted");
                kept += 1;
                if samples.insert((key.clone(), t)) {
                    *per_metric.entry(s.label("__name__").unwrap().to_owned()).or_default() += 1;
                }
                series_with_samples.insert(key.clone());
            }
        }
        // meta.json still counts the samples as written; the tombstones hide some of them.
        assert_eq!(stored, b.meta().stats.num_samples, "{}", b.meta().ulid);
        assert!(kept < stored, "{}", b.meta().ulid);
    }
    let ts = || samples.iter().map(|(_, t)| *t);
    assert_eq!(series_with_samples.len() as u64, expected["series"].as_u64().unwrap(), "series");
    assert_eq!(samples.len() as u64, expected["samples"].as_u64().unwrap(), "samples");
    assert_eq!(ts().min().unwrap(), expected["min_time"].as_i64().unwrap());
    assert_eq!(ts().max().unwrap(), expected["max_time"].as_i64().unwrap());
    assert_eq!(ts().fold(0u64, |a, t| a.wrapping_add(t as u64)), expected["sum_t"].as_u64().unwrap());
    let want: BTreeMap<String, u64> =
        expected["per_metric"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    assert_eq!(per_metric, want);
}
