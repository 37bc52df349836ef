//! The chunk decoders against chunks written by Prometheus's own `tsdb/chunkenc`: v2.42.0's
//! integer and float histogram chunks (counter and gauge, several schemas and zero thresholds,
//! bucket layouts that grew and made Prometheus recode the chunk, stale markers) and XOR chunks;
//! v3.14.0's start-timestamp encodings XOR2, histogramST and floathistogramST (start timestamps
//! absent, constant, changing at various samples and on every sample; custom buckets).
//! `testdata/prometheus-go-chunks/` says how they were made; each comes with what Prometheus's
//! own iterator read back from it.

use std::path::PathBuf;

use serde_json::Value as Json;
use tsdb_block::{Chunk, Encoding, Sample, Span, Value};

fn u(j: &Json) -> u64 {
    j.as_u64().unwrap_or_else(|| panic!("not a u64: {j}"))
}

fn spans(j: &Json) -> Vec<Span> {
    j.as_array()
        .unwrap()
        .iter()
        .map(|s| Span { offset: s["offset"].as_i64().unwrap() as i32, length: u(&s["length"]) as u32 })
        .collect()
}

fn list(j: &Json) -> Vec<u64> {
    j.as_array().unwrap().iter().map(u).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn floats(j: &Json) -> Vec<u64> {
    j.as_array().map_or(Vec::new(), |a| a.iter().map(u).collect())
}

/// Checks every chunk of `file`; returns how many samples each encoding had.
fn check(file: &str) -> std::collections::BTreeMap<Encoding, usize> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-go-chunks").join(file);
    let chunks: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut seen = std::collections::BTreeMap::<Encoding, usize>::new();
    // One sample every chunk of the file is also decoded into, through `next_into`.
    let mut reused = Sample::default();
    for c in chunks.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let bytes = hex(c["bytes"].as_str().unwrap());
        let encoding = Encoding::from_byte(u(&c["encoding"]) as u8).unwrap();
        let want = c["samples"].as_array().unwrap();
        let got: Vec<_> = Chunk::new(encoding, &bytes).samples().collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        let mut into = Chunk::new(encoding, &bytes).samples();
        for (i, g) in got.iter().enumerate() {
            assert!(into.next_into(&mut reused).unwrap(), "{name}: next_into ended before sample {i}");
            // Debug output shows every field; NaNs print alike, so staleness is compared apart.
            assert_eq!(format!("{reused:?}"), format!("{g:?}"), "{name} sample {i} through next_into");
            assert_eq!(reused.value.is_stale(), g.value.is_stale(), "{name} sample {i} through next_into");
        }
        assert!(!into.next_into(&mut reused).unwrap(), "{name}: next_into read past the end");
        *seen.entry(encoding).or_default() += got.len();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let at = format!("{name} sample {i}");
            assert_eq!(g.t, w["t"].as_i64().unwrap(), "{at}");
            assert_eq!(g.st, w["st"].as_i64().unwrap_or(0), "{at}");
            let h = &w["h"];
            // Prometheus 2.42 hinted "counter reset" for the first histogram of a chunk whose
            // header says so; Prometheus 3 (commit c599d37668) says "unknown" there, because
            // the previous chunk may be gone or written later. We follow Prometheus 3.
            let want_hint = |i: usize| match u(&h["hint"]) {
                1 if i == 0 => 0,
                x => x,
            };
            match &g.value {
                Value::Float(v) => assert_eq!(v.to_bits(), u(&w["v"]), "{at}"),
                Value::Histogram(x) => {
                    assert_eq!(u64::from(x.counter_reset_hint.as_u8()), want_hint(i), "{at}");
                    assert_eq!(i64::from(x.schema), h["schema"].as_i64().unwrap(), "{at}");
                    assert_eq!(x.zero_threshold.to_bits(), u(&h["zero_threshold"]), "{at}");
                    assert_eq!((x.zero_count, x.count), (u(&h["zero_count"]), u(&h["count"])), "{at}");
                    assert_eq!(x.sum.to_bits(), u(&h["sum"]), "{at}");
                    assert_eq!(x.positive_spans, spans(&h["positive_spans"]), "{at}");
                    assert_eq!(x.negative_spans, spans(&h["negative_spans"]), "{at}");
                    let buckets = |b: &[i64]| b.iter().map(|&v| v as u64).collect::<Vec<_>>();
                    assert_eq!(buckets(&x.positive_buckets), list(&h["positive_buckets"]), "{at}");
                    assert_eq!(buckets(&x.negative_buckets), list(&h["negative_buckets"]), "{at}");
                    let custom: Vec<u64> = x.custom_values.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(custom, floats(&h["custom_values"]), "{at}");
                }
                Value::FloatHistogram(x) => {
                    assert_eq!(u64::from(x.counter_reset_hint.as_u8()), want_hint(i), "{at}");
                    assert_eq!(i64::from(x.schema), h["schema"].as_i64().unwrap(), "{at}");
                    assert_eq!(x.zero_threshold.to_bits(), u(&h["zero_threshold"]), "{at}");
                    assert_eq!(x.zero_count.to_bits(), u(&h["zero_count"]), "{at}");
                    assert_eq!(x.count.to_bits(), u(&h["count"]), "{at}");
                    assert_eq!(x.sum.to_bits(), u(&h["sum"]), "{at}");
                    assert_eq!(x.positive_spans, spans(&h["positive_spans"]), "{at}");
                    assert_eq!(x.negative_spans, spans(&h["negative_spans"]), "{at}");
                    let buckets = |b: &[f64]| b.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(buckets(&x.positive_buckets), list(&h["positive_buckets"]), "{at}");
                    assert_eq!(buckets(&x.negative_buckets), list(&h["negative_buckets"]), "{at}");
                }
            }
        }
    }
    seen
}

#[test]
fn decoders_read_what_prometheus_2_42_wrote() {
    let seen = check("chunks-v2.42.0.json");
    // Every encoding Prometheus 2.42 writes is covered.
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        [Encoding::Xor, Encoding::Histogram, Encoding::FloatHistogram]
    );
}

#[test]
fn st_decoders_read_what_prometheus_3_14_wrote() {
    let seen = check("chunks-v3.14.0.json");
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        [Encoding::Xor2, Encoding::HistogramSt, Encoding::FloatHistogramSt]
    );
}
