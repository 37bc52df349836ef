//! Data directory rules and deletions, on copies of the real Prometheus 2.42 blocks: which
//! directories are blocks, tombstones removing samples, overlapping blocks merged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use wal_format::testing::{put_uvarint, put_varint};

use tsdb_block::{merge_samples, merge_series, Block, DataDir, Sample, SkipReason};

const A: &str = "01M8RB4FY3KEB42MSR88DRYGYS";
const B: &str = "01M8RB5G5GSYK3T7G6DK2695R6";

fn real(ulid: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-blocks/data").join(ulid)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Copies block `ulid` into `dir` as `new_ulid`, editing its meta.json with `edit`.
fn copy_block(dir: &Path, ulid: &str, new_ulid: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let to = dir.join(new_ulid);
    copy_dir(&real(ulid), &to);
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(to.join("meta.json")).unwrap()).unwrap();
    meta["ulid"] = new_ulid.into();
    edit(&mut meta);
    std::fs::write(to.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    to
}

/// Samples as (t, value bits): stale markers are NaNs, which `==` never matches.
fn bits(v: &[Sample]) -> Vec<(i64, u64)> {
    v.iter()
        .map(|s| match s.value {
            tsdb_block::Value::Float(f) => (s.t, f.to_bits()),
            _ => panic!("the fixture holds floats only"),
        })
        .collect()
}

fn all_samples(block: &Block) -> Vec<(String, Vec<Sample>)> {
    block
        .series()
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let key = format!("{:?}", s.labels());
            (key, block.samples(&s).collect::<Result<_, _>>().unwrap())
        })
        .collect()
}

#[test]
fn only_live_blocks_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_block(d, A, A, |_| {});
    copy_block(d, B, B, |_| {});
    // Not blocks: the WAL, head chunks, a block being written, a file.
    std::fs::create_dir_all(d.join("wal")).unwrap();
    std::fs::create_dir_all(d.join("chunks_head")).unwrap();
    copy_block(d, A, "01M8RB4FY3KEB42MSR88DRYGYT.tmp-for-creation", |_| {});
    std::fs::write(d.join("01M8RB4FY3KEB42MSR88DRYGYV"), b"a file").unwrap();
    // Going away: marked for deletion, deletable, and superseded by a compacted block.
    let marked = copy_block(d, A, "01M8RB4FY3KEB42MSR88DRYGY0", |_| {});
    std::fs::write(marked.join("deletion-mark.json"), b"{}").unwrap();
    copy_block(d, A, "01M8RB4FY3KEB42MSR88DRYGY1", |m| m["compaction"]["deletable"] = true.into());
    copy_block(d, A, "01M8RB4FY3KEB42MSR88DRYGY2", |_| {});
    copy_block(d, B, "01M8RB4FY3KEB42MSR88DRYGY3", |m| {
        m["compaction"]["level"] = 2.into();
        m["compaction"]["parents"] =
            serde_json::json!([{"ulid": "01M8RB4FY3KEB42MSR88DRYGY2", "minTime": 0, "maxTime": 1}]);
        m["minTime"] = 1796113440000i64.into();
        m["maxTime"] = 1796113500000i64.into();
    });

    let dir = DataDir::open(d).unwrap();
    let listed: Vec<&str> = dir.blocks().iter().map(|b| b.meta().ulid.as_str()).collect();
    assert_eq!(listed, [A, B, "01M8RB4FY3KEB42MSR88DRYGY3"], "sorted by min time");
    let skipped: HashMap<String, SkipReason> =
        dir.skipped().iter().map(|(p, r)| (p.file_name().unwrap().to_str().unwrap().to_owned(), *r)).collect();
    assert_eq!(skipped["01M8RB4FY3KEB42MSR88DRYGY0"], SkipReason::MarkedForDeletion);
    assert_eq!(skipped["01M8RB4FY3KEB42MSR88DRYGY1"], SkipReason::Deletable);
    assert_eq!(skipped["01M8RB4FY3KEB42MSR88DRYGY2"], SkipReason::Superseded);
    assert_eq!(skipped.len(), 3);
    assert!(dir.overlapping_groups().is_empty());
    assert_eq!(dir.blocks_in_range(1796113259999, 1796113260351).count(), 2);
}

/// Tombstones remove exactly the samples in their (inclusive) ranges, also ranges wider than
/// the block or one sample wide; other series are untouched. (`tests/tombstones.rs` reads the
/// tombstones Prometheus itself wrote; here we choose the edge cases.)
#[test]
fn tombstones_remove_their_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_block(tmp.path(), A, A, |_| {});
    let before = all_samples(&Block::open(&dir).unwrap());
    let block = Block::open(&dir).unwrap();
    let refs: Vec<u64> = block.index().all_series().unwrap().collect();
    // Series 0: a middle range; series 1: everything (a range wider than the block); series 2:
    // two ranges, the second touching its last sample exactly.
    let s2: Vec<i64> = before[2].1.iter().map(|s| s.t).collect();
    let (t0, t1) = (before[0].1[3].t, before[0].1[10].t);
    let stones = [
        (refs[0], t0, t1),
        (refs[1], i64::MIN, i64::MAX),
        (refs[2], s2[0], s2[0]),
        (refs[2], s2[s2.len() - 1], s2[s2.len() - 1] + 1000),
    ];
    let mut body = vec![1u8];
    for (r, a, b) in stones {
        put_uvarint(&mut body, r);
        put_varint(&mut body, a);
        put_varint(&mut body, b);
    }
    let mut file = 0x0130_BA30u32.to_be_bytes().to_vec();
    file.extend_from_slice(&body);
    file.extend_from_slice(&crc32c(&body[1..]).to_be_bytes());
    std::fs::write(dir.join("tombstones"), file).unwrap();

    let after = all_samples(&Block::open(&dir).unwrap());
    assert_eq!(after.len(), before.len(), "deleted series are still listed");
    let t = |v: &[Sample]| v.iter().map(|s| s.t).collect::<Vec<_>>();
    let keep0: Vec<i64> = t(&before[0].1).into_iter().filter(|&x| x < t0 || x > t1).collect();
    assert_eq!(t(&after[0].1), keep0);
    assert_eq!(t(&before[0].1).len() - keep0.len(), 8);
    assert!(after[1].1.is_empty());
    assert_eq!(t(&after[2].1), s2[1..s2.len() - 1]);
    for (a, b) in after[3..].iter().zip(&before[3..]) {
        assert_eq!((&a.0, bits(&a.1)), (&b.0, bits(&b.1)));
    }
}

/// CRC32-Castagnoli, bitwise (the test does not need the crate's dependency).
fn crc32c(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// Two blocks holding the same data overlap; merging their series as Prometheus does gives
/// each sample once.
#[test]
fn overlapping_blocks_merge_to_one_copy() {
    let tmp = tempfile::tempdir().unwrap();
    copy_block(tmp.path(), A, A, |_| {});
    copy_block(tmp.path(), A, "01M8RB4FY3KEB42MSR88DRYGY9", |_| {});
    copy_block(tmp.path(), B, B, |_| {});
    let dir = DataDir::open(tmp.path()).unwrap();
    assert_eq!(dir.overlapping_groups(), vec![vec![0, 1]]);
    let blocks: Vec<Block> = [0, 1].iter().map(|&i| dir.blocks()[i].open().unwrap()).collect();
    let single = all_samples(&blocks[0]);
    let (mut a, mut b) = (blocks[0].series().unwrap(), blocks[1].series().unwrap());
    let mut merged_total = 0;
    for (key, want) in &single {
        let (sa, sb) = (a.next().unwrap().unwrap(), b.next().unwrap().unwrap());
        assert_eq!(sa.labels(), sb.labels());
        assert_eq!(&format!("{:?}", sa.labels()), key);
        let merged: Vec<Sample> =
            merge_samples(vec![blocks[0].samples(&sa), blocks[1].samples(&sb)]).collect::<Result<_, _>>().unwrap();
        assert_eq!(bits(&merged), bits(want));
        merged_total += merged.len();
    }
    assert_eq!(merged_total as u64, blocks[0].meta().stats.num_samples);
}

/// `merge_series` over overlapping copies gives every series once with one copy of its
/// samples; over two disjoint blocks it gives the union of their series, samples of both.
#[test]
fn merge_series_joins_blocks_by_labels() {
    let tmp = tempfile::tempdir().unwrap();
    copy_block(tmp.path(), A, A, |_| {});
    copy_block(tmp.path(), A, "01M8RB4FY3KEB42MSR88DRYGY9", |_| {});
    copy_block(tmp.path(), B, B, |_| {});
    let dir = DataDir::open(tmp.path()).unwrap();
    let blocks: Vec<Block> = dir.blocks().iter().map(|b| b.open().unwrap()).collect();

    let single = all_samples(&blocks[0]);
    let merged: Vec<(String, Vec<Sample>, usize)> = merge_series(&blocks[..2])
        .unwrap()
        .map(|item| {
            let item = item.unwrap();
            let (key, n) = (format!("{:?}", item.labels()), item.block_count());
            (key, item.samples().collect::<Result<_, _>>().unwrap(), n)
        })
        .collect();
    assert_eq!(merged.len(), single.len());
    for ((k, got, n), (key, want)) in merged.iter().zip(&single) {
        assert_eq!((k, *n), (key, 2));
        assert_eq!(bits(got), bits(want));
    }

    // A (copy) and B: disjoint in time, most series in both.
    let a = all_samples(&blocks[1]);
    let b = all_samples(&blocks[2]);
    let union: std::collections::BTreeSet<&String> = a.iter().chain(&b).map(|(k, _)| k).collect();
    let mut keys = Vec::new();
    let mut total = 0;
    for item in merge_series(&blocks[1..]).unwrap() {
        let item = item.unwrap();
        keys.push(format!("{:?}", item.labels()));
        let samples: Vec<Sample> = item.samples().collect::<Result<_, _>>().unwrap();
        assert!(samples.windows(2).all(|w| w[0].t < w[1].t));
        total += samples.len() as u64;
    }
    assert_eq!(keys.len(), union.len());
    assert!(keys.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(total, blocks[1].meta().stats.num_samples + blocks[2].meta().stats.num_samples);
}
