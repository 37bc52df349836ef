//! Blocks and WAL together hold everything Prometheus holds: the union of the samples read
//! from the four blocks and from the WAL (checkpoint and segments) equals what
//! `promtool tsdb dump` (Prometheus 2.42) read from the same data directory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use tsdb_block::DataDir;
use wal_format::record::{self, RecordType};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-blocks")
}

/// Distinct series (by their labels), each with its distinct sample timestamps.
#[derive(Default)]
struct Union {
    ids: HashMap<Vec<(String, String)>, usize>,
    names: Vec<String>,
    samples: HashSet<(usize, i64)>,
}

impl Union {
    fn id(&mut self, labels: Vec<(String, String)>) -> usize {
        let n = self.ids.len();
        let name = labels.iter().find(|(k, _)| k == "__name__").map(|(_, v)| v.clone()).unwrap_or_default();
        *self.ids.entry(labels).or_insert_with(|| {
            self.names.push(name);
            n
        })
    }
}

fn add_blocks(u: &mut Union, data: &Path) -> u64 {
    let mut n = 0;
    for b in DataDir::open(data).unwrap().blocks() {
        let block = b.open().unwrap();
        for s in block.series().unwrap() {
            let s = s.unwrap();
            let id = u.id(s.labels().iter().map(|l| (l.name.to_owned(), l.value.to_owned())).collect());
            for sample in block.samples(&s) {
                u.samples.insert((id, sample.unwrap().t));
                n += 1;
            }
        }
    }
    n
}

fn add_wal_dir(u: &mut Union, dir: &Path, refs: &mut HashMap<u64, usize>) -> u64 {
    let mut n = 0;
    let mut reader = wal_reader::Reader::open(dir).unwrap();
    let mut samples = Vec::new();
    while let Some(rec) = reader.next_record().unwrap() {
        match RecordType::of(rec.data) {
            RecordType::Series => {
                let mut series = Vec::new();
                record::decode_series(rec.data, &mut series).unwrap();
                for s in &series {
                    let labels =
                        s.labels.iter().map(|l| (l.name_str().into_owned(), l.value_str().into_owned())).collect();
                    refs.insert(s.series_ref, u.id(labels));
                }
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                samples.clear();
                record::decode_samples(rec.data, &mut samples).unwrap();
                for s in &samples {
                    u.samples.insert((refs[&s.series_ref], s.t));
                    n += 1;
                }
            }
            _ => {}
        }
    }
    n
}

#[test]
fn blocks_and_wal_hold_what_promtool_dumped() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("EXPECTED.json")).unwrap()).unwrap();
    let data = fixture().join("data");
    let mut u = Union::default();
    let from_blocks = add_blocks(&mut u, &data);
    let wal = data.join("wal");
    let mut refs = HashMap::new();
    let checkpoint = wal_reader::last_checkpoint(&wal).unwrap().expect("the fixture has a checkpoint");
    let mut from_wal = add_wal_dir(&mut u, &checkpoint.path, &mut refs);
    from_wal += add_wal_dir(&mut u, &wal, &mut refs);
    // The WAL alone no longer holds most of the history (its README: 328,044 samples).
    assert!(from_blocks > 0 && from_wal > 0);

    let with_samples: HashSet<usize> = u.samples.iter().map(|&(id, _)| id).collect();
    let mut per_metric: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut min_t, mut max_t, mut sum_t) = (i64::MAX, i64::MIN, 0u64);
    for &(id, t) in &u.samples {
        *per_metric.entry(u.names[id].as_str()).or_default() += 1;
        min_t = min_t.min(t);
        max_t = max_t.max(t);
        sum_t = sum_t.wrapping_add(t as u64);
    }
    assert_eq!(with_samples.len() as u64, expected["series"].as_u64().unwrap(), "series");
    assert_eq!(u.samples.len() as u64, expected["samples"].as_u64().unwrap(), "samples");
    assert_eq!(min_t, expected["min_time"].as_i64().unwrap(), "min_time");
    assert_eq!(max_t, expected["max_time"].as_i64().unwrap(), "max_time");
    assert_eq!(sum_t, expected["sum_t"].as_u64().unwrap(), "sum_t");
    let want: BTreeMap<&str, u64> =
        expected["per_metric"].as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_u64().unwrap())).collect();
    assert_eq!(per_metric, want, "per_metric");
}

/// Without the blocks, most of the history is missing: the WAL alone holds 328,044 distinct
/// samples (the fixture's README), 238,129 fewer than Prometheus holds.
#[test]
fn wal_alone_misses_history() {
    let wal = fixture().join("data/wal");
    let mut u = Union::default();
    let mut refs = HashMap::new();
    let checkpoint = wal_reader::last_checkpoint(&wal).unwrap().unwrap();
    add_wal_dir(&mut u, &checkpoint.path, &mut refs);
    add_wal_dir(&mut u, &wal, &mut refs);
    assert_eq!(u.samples.len(), 328_044);
}
