//! Index format 1, the format Prometheus 2.0 wrote, against a block written by the index, chunk
//! and XOR writers of Prometheus's tsdb library from before format 2 existed
//! (`testdata/prometheus-tsdb-index-v1/`, made by `make.sh` there): every series and every sample
//! equal what that library's own readers read back from the block.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tsdb_block::{DataDir, Value};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-tsdb-index-v1")
}

type Series = (BTreeMap<String, String>, Vec<(i64, String)>);

#[test]
fn a_format_1_index_reads_as_prometheus_read_it() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("EXPECTED.json")).unwrap()).unwrap();
    let want: Vec<Series> = expected["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["labels"].as_object().unwrap();
            let labels = labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
            let samples = s["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["t"].as_i64().unwrap(), p["v"].as_str().unwrap().to_string()))
                .collect();
            (labels, samples)
        })
        .collect();

    let dir = DataDir::open(&fixture().join("data")).unwrap();
    assert_eq!(dir.blocks().len(), 1);
    let block = dir.blocks()[0].open().unwrap();
    assert_eq!(block.index().version(), 1, "the fixture is a format 1 index");
    assert_eq!(block.meta().ulid, expected["block"].as_str().unwrap());
    let mut got: Vec<Series> = Vec::new();
    let mut chunks = 0u64;
    for s in block.series().unwrap() {
        let s = s.unwrap();
        chunks += s.chunks().len() as u64;
        let labels = s.labels().iter().map(|l| (l.name.to_owned(), l.value.to_owned())).collect();
        let samples = block
            .samples(&s)
            .map(|p| {
                let p = p.unwrap();
                match p.value {
                    Value::Float(v) => (p.t, format!("{:016x}", v.to_bits())),
                    other => panic!("a format 1 block holds floats only: {other:?}"),
                }
            })
            .collect();
        got.push((labels, samples));
    }
    // Prometheus's reader listed the series by name, then label order: ours yields label order.
    assert_eq!(got.len(), want.len(), "series");
    assert_eq!(chunks, expected["chunks"].as_u64().unwrap(), "chunks");
    let samples: usize = got.iter().map(|s| s.1.len()).sum();
    assert_eq!(samples as u64, expected["samples"].as_u64().unwrap(), "samples");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0, "series in the same order");
        assert_eq!(g.1, w.1, "samples of {:?}", g.0);
    }
    let stats = block.meta().stats;
    assert_eq!((stats.num_series, stats.num_samples, stats.num_chunks), (48, samples as u64, chunks));
}
