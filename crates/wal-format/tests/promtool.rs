//! Prometheus reads what we write: a WAL written by `wal-format` (several segments, a checkpoint,
//! with and without snappy) is replayed by the real `promtool tsdb dump` (Prometheus 2.42, Debian
//! package `prometheus`), and every series and sample we wrote must be in its output.
//!
//! Without promtool on PATH the test says so and passes, unless `WALSHIP_REQUIRE_PEERS` is set
//! (as `cargo xtask ci` does), in which case it fails.

use std::collections::BTreeMap;
use std::process::Command;
use wal_format::record::{encode_samples, encode_series, Labels, RefSample, RefSeries};
use wal_format::{CheckpointWriter, Compression, WalOptions, WalWriter, PAGE_SIZE};

fn promtool_available() -> bool {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(), "promtool is required but not installed");
        eprintln!("skipped: promtool not installed");
    }
    found
}

/// Parses a `promtool tsdb dump` line: `{a="b", c="d"} VALUE TIMESTAMP`.
fn parse_line(line: &str) -> Option<(String, f64, i64)> {
    let (labels, rest) = line.rsplit_once("} ")?;
    let mut parts = rest.split(' ');
    let v = parts.next()?.parse().ok()?;
    let t = parts.next()?.parse().ok()?;
    Some((format!("{labels}}}"), v, t))
}

fn prometheus_text(l: &Labels) -> String {
    let parts: Vec<String> = l.as_ref().iter().map(|l| format!("{}={:?}", l.name_str(), l.value_str())).collect();
    format!("{{{}}}", parts.join(", "))
}

#[test]
fn promtool_reads_every_series_and_sample_we_write() {
    if !promtool_available() {
        return;
    }
    for compression in [Compression::None, Compression::Snappy] {
        let data = tempfile::tempdir().unwrap();
        let wal = data.path().join("wal");
        let n_series = 300u64;
        let labels: Vec<Labels> = (1..=n_series)
            .map(|r| {
                Labels::from_pairs_sorted([
                    ("__name__".to_string(), format!("walship_test_metric_{}", r % 7)),
                    ("instance".to_string(), format!("host-{r}.example:9100")),
                    ("job".to_string(), "walship".to_string()),
                    ("series".to_string(), r.to_string()),
                ])
            })
            .collect();
        let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        let base_t = 1_700_000_000_000i64;
        let scrape = |i: i64| -> Vec<RefSample> {
            (1..=n_series)
                .map(|r| RefSample {
                    series_ref: r,
                    st: 0,
                    t: base_t + i * 15_000,
                    v: (r as f64) * 1.5 + i as f64 * 0.25,
                })
                .collect()
        };
        let mut w = WalWriter::create(&wal, WalOptions { segment_size: 2 * PAGE_SIZE, compression }).unwrap();
        let mut series_rec = Vec::new();
        let series: Vec<RefSeries> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| RefSeries { series_ref: i as u64 + 1, labels: l.as_ref() })
            .collect();
        encode_series(&series, &mut series_rec);
        // Segment 0 will be covered by a checkpoint; what it held goes into the checkpoint.
        w.log(&[&series_rec]).unwrap();
        let mut checkpoint_records = vec![series_rec.clone()];
        for i in 0..3 {
            let mut rec = Vec::new();
            encode_samples(&scrape(i), &mut rec);
            w.log(&[&rec]).unwrap();
            checkpoint_records.push(rec);
        }
        let first_after = w.next_segment().unwrap();
        for i in 3..60 {
            let samples = scrape(i);
            // Several Samples records per scrape, as Prometheus writes one per append commit.
            for chunk in samples.chunks(100) {
                let mut rec = Vec::new();
                encode_samples(chunk, &mut rec);
                w.append(&rec).unwrap();
            }
            w.flush().unwrap();
        }
        w.close().unwrap();
        let mut cp = CheckpointWriter::create(&wal, first_after - 1, compression).unwrap();
        cp.log(&checkpoint_records).unwrap();
        cp.commit().unwrap();
        // Prometheus deletes the segments a checkpoint covers.
        for i in 0..first_after {
            std::fs::remove_file(wal.join(wal_format::segment_file_name(i))).unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(&wal).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.len() >= 3, "want a checkpoint and several segments, got {names:?}");
        for i in 0..60 {
            for s in scrape(i) {
                want.entry(prometheus_text(&labels[s.series_ref as usize - 1])).or_default().push((s.t, s.v));
            }
        }

        let out = Command::new("promtool").args(["tsdb", "dump"]).arg(data.path()).output().unwrap();
        assert!(out.status.success(), "promtool failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((l, v, t)) = parse_line(line) {
                got.entry(l).or_default().push((t, v));
            }
        }
        for v in got.values_mut() {
            v.sort_by_key(|s| s.0);
        }
        assert_eq!(got.len(), n_series as usize, "{compression:?}: series");
        assert_eq!(got.values().map(Vec::len).sum::<usize>(), 60 * n_series as usize, "{compression:?}: samples");
        assert!(got == want, "{compression:?}: promtool read different samples");
    }
}
