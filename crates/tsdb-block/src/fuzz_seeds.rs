//! Writes the starting inputs of the `block_*` fuzz targets into `fuzz/seeds/`:
//! `cargo test -p tsdb-block --lib write_fuzz_seeds -- --ignored`.

use std::path::{Path, PathBuf};

use crate::chunkenc::test_encoder::{self as enc, Layout};
use crate::chunkenc::{FloatHistogram, Histogram, Span};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
#[ignore = "writes files into fuzz/seeds; run by hand"]
fn write_fuzz_seeds() {
    // block_index: small index files in both formats.
    write("block_index", "synthetic-format1", &crate::index_tests::build(1, &crate::index_tests::sample_series()));
    write("block_index", "synthetic-format2", &crate::index_tests::build(2, &crate::index_tests::sample_series()));

    // block_chunks: the first byte picks the encoding (byte % 6 + 1).
    let data = root().join("testdata/prometheus-2.42-blocks/data/01M8RB4FY3KEB42MSR88DRYGYS");
    let block = crate::Block::open(&data).unwrap();
    let series = block.series().unwrap().nth(7).unwrap().unwrap();
    let chunk = block.chunk_files().chunk(series.chunks()[0].chunk_ref).unwrap().chunk();
    write("block_chunks", "real-xor-prometheus-2.42", &[&[0u8][..], chunk.data()].concat());
    let go: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("testdata/prometheus-go-chunks/chunks-v2.42.0.json")).unwrap(),
    )
    .unwrap();
    for c in go.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        if ["int-counter-schema-4-notreset-header", "float-counter-schema-3-reset-header"].contains(&name) {
            let pick = c["encoding"].as_u64().unwrap() as u8 - 1;
            write("block_chunks", &format!("go-{name}"), &[&[pick][..], &hex(c["bytes"].as_str().unwrap())].concat());
        }
    }
    let go3: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("testdata/prometheus-go-chunks/chunks-v3.14.0.json")).unwrap(),
    )
    .unwrap();
    for c in go3.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        if [
            "xor2-st-changes-at-5",
            "histogram-st-custom-buckets-changes-at-1",
            "float-histogram-st-gauge-first-unknown",
        ]
        .contains(&name)
        {
            let pick = c["encoding"].as_u64().unwrap() as u8 - 1;
            write("block_chunks", &format!("go-{name}"), &[&[pick][..], &hex(c["bytes"].as_str().unwrap())].concat());
        }
    }
    let xor2: Vec<(i64, i64, f64)> = (0..20)
        .map(|i| (if i < 5 { 1000 } else { 2000 }, 5000 + i * 15_000 + i % 3, f64::from(i as i32 % 4)))
        .collect();
    write("block_chunks", "synthetic-xor2", &[&[3u8][..], &enc::xor2(&xor2)].concat());
    let layout = Layout {
        schema: CUSTOM,
        zero_threshold: 0.0,
        positive_spans: vec![Span { offset: 0, length: 3 }],
        negative_spans: vec![],
        custom_values: vec![0.5, 1.0, 2.5],
    };
    let h = |i: u64| Histogram {
        count: 6 * i,
        sum: i as f64 * 1.5,
        positive_spans: layout.positive_spans.clone(),
        positive_buckets: vec![i as i64, i as i64, 0],
        custom_values: layout.custom_values.clone(),
        schema: CUSTOM,
        ..Histogram::default()
    };
    let hs: Vec<(i64, i64, Histogram)> = (1..8).map(|i| (10, i as i64 * 1000, h(i))).collect();
    write(
        "block_chunks",
        "synthetic-histogram-st-custom-buckets",
        &[&[4u8][..], &enc::histogram(&layout, 0x40, &hs, true)].concat(),
    );
    let fh = |i: u64| FloatHistogram {
        count: 2.5 * i as f64,
        sum: i as f64,
        positive_spans: layout.positive_spans.clone(),
        positive_buckets: vec![i as f64, 0.5, 1.0],
        custom_values: layout.custom_values.clone(),
        schema: CUSTOM,
        ..FloatHistogram::default()
    };
    let fhs: Vec<(i64, i64, FloatHistogram)> = (1..8).map(|i| (0, i as i64 * 1000, fh(i))).collect();
    write(
        "block_chunks",
        "synthetic-float-histogram-st",
        &[&[5u8][..], &enc::float_histogram(&layout, 0xc0, &fhs, true)].concat(),
    );

    // Every chunk seed decodes completely: the fuzzer starts from valid chunks of each encoding.
    for e in std::fs::read_dir(root().join("fuzz/seeds/block_chunks")).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        let chunk = crate::Chunk::new(crate::Encoding::from_byte(b[0] % 6 + 1).unwrap(), &b[1..]);
        assert!(chunk.samples().all(|s| s.is_ok()));
        assert!(chunk.num_samples().unwrap() > 0);
    }

    // block_tombstones: the real (empty) file of a 2.42 block and one with stones.
    write("block_tombstones", "real-empty-prometheus-2.42", &std::fs::read(data.join("tombstones")).unwrap());
    write(
        "block_tombstones",
        "synthetic-three-stones",
        &crate::tombstones::tests::file(&[(1, 10, 20), (5, -3, 3), (1, 15, 40)]),
    );
}

const CUSTOM: i32 = crate::chunkenc::CUSTOM_BUCKETS_SCHEMA;
