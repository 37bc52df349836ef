//! The benchmark WAL's `Values::Server` mix against the values a real server's WAL holds: the
//! node_exporter and Prometheus series of the real Prometheus 2.42 fixtures (the synthetic
//! target's `synth_*` series left out). The mix decides how well snappy compresses, so a bench on
//! values unlike a real server's would time a different workload.

mod common;

use common::*;
use std::collections::HashMap;
use wal_format::record::{self, RecordType, RefSample};
use wal_format::testing::{sample_value, Values};

/// Shares of integer values, zeros, and integers below 256 among `values`.
fn shares(values: impl Iterator<Item = f64>) -> [f64; 3] {
    let (mut n, mut int, mut zero, mut small) = (0u64, 0u64, 0u64, 0u64);
    for v in values {
        n += 1;
        if v.fract() == 0.0 {
            int += 1;
            zero += (v == 0.0) as u64;
            small += (v.abs() < 256.0) as u64;
        }
    }
    [int, zero, small].map(|k| k as f64 / n as f64)
}

/// The values of every sample of a non-synthetic series in the fixture `dir`.
fn real_values(dir: &std::path::Path) -> Vec<f64> {
    let mut real: HashMap<u64, bool> = HashMap::new();
    let mut values = Vec::new();
    let mut buf: Vec<RefSample> = Vec::new();
    // The checkpoint (a subdirectory) holds the Series records of the older series; read it first.
    let mut dirs: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.push(dir.to_path_buf());
    for (_, rec) in dirs.iter().flat_map(|d| read_all(d)) {
        match RecordType::of(&rec) {
            RecordType::Series => {
                let mut v = Vec::new();
                record::decode_series(&rec, &mut v).unwrap();
                for s in v {
                    let name = s.labels.get(b"__name__").unwrap_or_default();
                    real.insert(s.series_ref, !name.starts_with(b"synth"));
                }
            }
            RecordType::Samples => {
                buf.clear();
                record::decode_samples(&rec, &mut buf).unwrap();
                values.extend(buf.iter().filter(|s| real.get(&s.series_ref) == Some(&true)).map(|s| s.v));
            }
            _ => {}
        }
    }
    values
}

#[test]
fn server_values_have_a_real_servers_shares() {
    let generated = shares((1..=100_000u64).flat_map(|r| (0..10).map(move |i| sample_value(Values::Server, r, i))));
    for name in ["uncompressed-exemplars-checkpoint", "snappy-exemplars-checkpoint"] {
        let values = real_values(&testdata().join("prometheus-2.42").join(name));
        assert!(values.len() > 100_000, "{name}: only {} samples of real series", values.len());
        let real = shares(values.into_iter());
        for (what, (g, r)) in ["integers", "zeros", "integers below 256"].iter().zip(generated.iter().zip(real)) {
            assert!((g - r).abs() < 0.05, "{name}: {what}: Values::Server has {g:.3}, the real server {r:.3}");
        }
    }
    // The old mix, kept as a worst case, is nothing like it.
    let noisy = shares((1..=100_000u64).flat_map(|r| (0..10).map(move |i| sample_value(Values::Noisy, r, i))));
    assert!(noisy[0] < 0.1, "Values::Noisy has {:.3} integers", noisy[0]);
}
