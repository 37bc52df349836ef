//! What `ship --once` reports and how it exits: drops the user asked for are counted, not a
//! failure; the summary says per kind what was sent, dropped (by reason) and failed.

mod common;

use common::*;
use std::ffi::OsStr;
use std::sync::atomic::Ordering::Relaxed;

#[test]
fn drops_the_user_asked_for_are_counted_not_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let r = receiver();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'node_.*'\n        action: keep\n",
            r.port
        ),
    )
    .unwrap();
    let wal = testdata().join("prometheus-2.42/snappy-exemplars-checkpoint");
    let (status, log) = ship_once(&wal, &tmp.path().join("state"), [OsStr::new("--config.file"), config.as_os_str()]);
    assert_eq!(status.code(), Some(0), "{log}");
    let field = |name: &str| summary_field(&log, name);
    let sent: u64 = field("samples_sent").parse().unwrap();
    let dropped: u64 =
        field("samples_dropped").strip_prefix("dropped_series:").expect("drops by reason").parse().unwrap();
    assert!(sent > 0 && dropped > 0, "{log}");
    assert_eq!(sent + dropped, 493_112, "every sample sent or dropped for its reason: {log}");
    assert_eq!(field("complete"), "true");
    wait_for("the receiver's count", 10, || r.samples.load(Relaxed) == sent);
}

/// Custom-bucket native histograms cannot travel in remote write 1.0: they are dropped as
/// Prometheus 3 drops them, but said once in the log and counted in the summary by reason.
#[test]
fn custom_bucket_histograms_on_remote_write_1_are_logged_and_counted() {
    use wal_format::record::{
        encode_histogram_samples, encode_series, Histogram, Labels, RecordType, RefHistogramSample, RefSeries, Span,
        CUSTOM_BUCKETS_SCHEMA,
    };
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("wal");
    let mut w = wal_format::WalWriter::create(&wal, wal_format::WalOptions::default()).unwrap();
    let labels = Labels::from_pairs_sorted([("__name__", "latency_seconds"), ("job", "api")]);
    let mut series = Vec::new();
    encode_series(&[RefSeries { series_ref: 1, labels: labels.as_ref() }], &mut series);
    let h = Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3,
        sum: 1.5,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        positive_buckets: vec![1, 1],
        custom_values: vec![0.5, 1.0],
        ..Default::default()
    };
    let samples: Vec<RefHistogramSample> =
        (0..7).map(|i| RefHistogramSample { series_ref: 1, st: 0, t: 1_000 + i, h: h.clone() }).collect();
    let mut rec = Vec::new();
    encode_histogram_samples(RecordType::CustomBucketsHistogramSamples, &samples, &mut rec).unwrap();
    w.log(&[series, rec]).unwrap();
    w.close().unwrap();
    let r = receiver();
    let url = format!("--url=http://127.0.0.1:{}/api/v1/write", r.port);
    let (status, log) = ship_once(&wal, &tmp.path().join("state"), [url.as_str(), "--send-native-histograms"]);
    assert_eq!(status.code(), Some(0), "a reason the protocol gives: {log}");
    assert_eq!(log.matches("cannot travel in remote write 1.0").count(), 1, "{log}");
    assert_eq!(summary_field(&log, "histograms_dropped"), "nhcb_in_rw1_not_supported:7", "{log}");
}

/// `samples_sent` is what the remote stored in this run, retries included: the receiver is not
/// there at first (every request fails and is retried), then comes up.
#[test]
fn samples_sent_counts_what_was_stored_after_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = walship()
        .args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(testdata().join("prometheus-2.42/snappy-exemplars-checkpoint"))
        .arg(format!("--url=http://127.0.0.1:{port}/api/v1/write"))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let printer = Printer::start_at(port);
    let status = child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("retrying"), "requests were retried: {log}");
    let sent: u64 = summary_field(&log, "samples_sent").parse().unwrap();
    let got = printer.finish();
    assert_eq!(sent, 493_112, "{log}");
    assert_eq!(got.len() as u64, sent, "the receiver stored what the summary says");
}
