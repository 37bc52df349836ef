//! `walship inspect` and `walship dump` on WALs written by a real Prometheus 2.42, compared with
//! what Prometheus itself read from them (`promtool tsdb dump`, in each EXPECTED.json).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn walship(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_walship")).args(args).output().unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

const FIXTURES: [&str; 4] = [
    "uncompressed-exemplars-checkpoint",
    "uncompressed-exemplars-torn",
    "snappy-exemplars-checkpoint",
    "snappy-exemplars-torn",
];

#[test]
fn inspect_matches_what_prometheus_read() {
    for name in FIXTURES {
        let dir = testdata().join("prometheus-2.42").join(name);
        let out = walship(&["inspect", "--format", "json", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = json(&dir.with_extension("EXPECTED.json"));
        assert_eq!(got["series_with_samples"], want["series"], "{name}: series");
        for key in ["samples", "min_time", "max_time"] {
            assert_eq!(got[key], want[key], "{name}: {key}");
        }
        assert_eq!(got["damage"], Value::Array(vec![]), "{name}");
        assert_eq!(got["gaps"], Value::Array(vec![]), "{name}");
        assert!(got["series"].as_u64().unwrap() >= got["series_with_samples"].as_u64().unwrap());
        assert!(got["exemplars"].as_u64().unwrap() > 0, "{name}: exemplar storage was on");
        let has_checkpoint = name.ends_with("checkpoint");
        assert_eq!(got["checkpoint"].is_string(), has_checkpoint, "{name}");
    }
    // The checkpoint fixture declares 5,100 series, 5,040 of them with samples (its README).
    let out = walship(&[
        "inspect",
        "--format",
        "json",
        testdata().join("prometheus-2.42/uncompressed-exemplars-checkpoint").to_str().unwrap(),
    ]);
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((got["series"].as_u64(), got["series_with_samples"].as_u64()), (Some(5100), Some(5040)));
}

/// `dump --format jsonl` gives, for five series, exactly the samples Prometheus printed.
#[test]
fn dump_gives_the_samples_prometheus_holds() {
    for name in FIXTURES {
        let dir = testdata().join("prometheus-2.42").join(name);
        let want = json(&dir.with_extension("EXPECTED.json"));
        let out = walship(&["dump", "--format", "jsonl", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let mut labels_of = std::collections::HashMap::new();
        let mut samples_of: std::collections::HashMap<u64, Vec<(i64, Value)>> = Default::default();
        let mut by_metric: std::collections::BTreeMap<String, u64> = Default::default();
        let mut name_of = std::collections::HashMap::new();
        for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let rec: Value = serde_json::from_slice(line).unwrap();
            assert!(rec["segment"].is_u64() && rec["offset"].is_u64());
            match rec["type"].as_str().unwrap() {
                "series" => {
                    for s in rec["series"].as_array().unwrap() {
                        let l = s["labels"].as_object().unwrap();
                        let text = format!(
                            "{{{}}}",
                            l.iter()
                                .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        let r = s["ref"].as_u64().unwrap();
                        name_of.insert(r, l.get("__name__").and_then(|v| v.as_str()).unwrap_or("").to_string());
                        labels_of.insert(r, text);
                    }
                }
                "samples" => {
                    for s in rec["samples"].as_array().unwrap() {
                        let r = s["ref"].as_u64().unwrap();
                        samples_of.entry(r).or_default().push((s["t"].as_i64().unwrap(), s["v"].clone()));
                        *by_metric.entry(name_of.get(&r).cloned().unwrap_or_default()).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        let want_by_metric: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(want["samples_by_metric_name"].clone()).unwrap();
        assert_eq!(by_metric, want_by_metric, "{name}: samples by metric name");
        for (series, samples) in want["series_samples"].as_object().unwrap() {
            let r = labels_of
                .iter()
                .find(|(_, l)| *l == series)
                .map(|(r, _)| *r)
                .unwrap_or_else(|| panic!("{name}: {series} not found"));
            let got = &samples_of[&r];
            let want = samples.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name}: {series}");
            for ((t, v), w) in got.iter().zip(want) {
                assert_eq!(*t, w[0].as_i64().unwrap());
                // promtool prints Go's %g-ish text; compare as numbers (stale markers print as NaN).
                let wv = w[1].as_str().unwrap();
                match v {
                    Value::Number(n) => {
                        assert_eq!(n.as_f64().unwrap(), wv.parse::<f64>().unwrap(), "{name}: {series} @{t}")
                    }
                    Value::String(s) => assert!(
                        s.contains("NaN") && wv == "NaN" || s.contains("Inf") && wv.contains("Inf"),
                        "{s} vs {wv}"
                    ),
                    other => panic!("{other}"),
                }
            }
        }
    }
}

#[test]
fn dump_filters_by_ref_matcher_and_time() {
    let dir = testdata().join("prometheus-2.42/snappy-exemplars-torn");
    let out = walship(&[
        "dump",
        "--format",
        "jsonl",
        "--match",
        "{job=\"node\"}",
        "--min-time",
        "1795531650000",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let lines: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for rec in &lines {
        let t = rec["type"].as_str().unwrap();
        for e in rec[t].as_array().unwrap() {
            if t == "series" {
                assert_eq!(e["labels"]["job"], "node");
            }
            if let Some(ts) = e.get("t") {
                assert!(ts.as_i64().unwrap() >= 1795531650000);
            }
        }
    }
    let out = walship(&["dump", "--format", "jsonl", "--ref", "1", dir.to_str().unwrap()]);
    for l in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let rec: Value = serde_json::from_slice(l).unwrap();
        let t = rec["type"].as_str().unwrap().to_string();
        assert!(rec[&t].as_array().unwrap().iter().all(|e| e["ref"] == 1));
    }
}

#[test]
fn bad_input_gets_one_clear_line_and_a_non_zero_exit() {
    let missing = walship(&["inspect", "/nonexistent/walship"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/walship: no such directory"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let out = walship(&["inspect", empty.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WAL directory"));
}

/// A damaged segment is reported with its file and offset, and the rest is still read.
#[test]
fn corruption_is_reported_and_reading_goes_on() {
    let src = testdata().join("prometheus-2.42/uncompressed-exemplars-checkpoint");
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("data").join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, wal.join(p.file_name().unwrap())).unwrap();
        }
    }
    let seg = wal.join("00000003");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[100_000] ^= 0x55;
    std::fs::write(&seg, bytes).unwrap();
    // A Prometheus data directory is accepted too.
    let out = walship(&["inspect", "--format", "json", tmp.path().join("data").to_str().unwrap()]);
    // Read to the end, but some data was lost: exit code 2, as dump and ship --once.
    assert_eq!(out.status.code(), Some(2));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = got["damage"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0]["file"].as_str().unwrap().ends_with("00000003"));
    assert!(c[0]["offset"].as_u64().unwrap() > 67_000 && c[0]["offset"].as_u64().unwrap() <= 100_000, "{c:?}");
    assert!(c[0]["bytes_skipped"].as_u64().unwrap() > 0, "{c:?}");
    assert_eq!(c[0]["records_lost"].as_u64(), Some(1), "{c:?}");
    assert!(got["segments"].as_array().unwrap().len() == 4);
    // Segments after the damaged one were still read.
    assert!(got["samples"].as_u64().unwrap() > 0);
    let out = walship(&["dump", tmp.path().join("data").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WAL damage skipped"));
}
