//! What `ship --once` reports and how it exits: drops the user asked for are counted, not a
//! failure; the summary says per kind what was sent, dropped (by reason) and failed.

mod common;

use common::*;
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
    let out = walship()
        .args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(testdata().join("prometheus-2.42/snappy-exemplars-checkpoint"))
        .arg("--config.file")
        .arg(&config)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let summary = log.lines().find(|l| l.contains("msg=Shipped")).expect("a summary line");
    let field = |name: &str| {
        summary
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {summary}"))
    };
    let sent: u64 = field("samples_sent").parse().unwrap();
    let dropped: u64 = field("samples_dropped").strip_prefix("dropped_series:").expect(summary).parse().unwrap();
    assert!(sent > 0 && dropped > 0, "{summary}");
    assert_eq!(sent + dropped, 493_112, "every sample sent or dropped for its reason: {summary}");
    assert_eq!(field("complete"), "true");
    wait_for("the receiver's count", 10, || r.samples.load(Relaxed) == sent);
}
