//! `ship --once --progress`: a bar on a terminal (run under `script`, which gives walship a
//! pseudo-terminal), the plain periodic line when stderr is a pipe.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// A WAL of three segments, and flags that keep the run going for a few seconds (one shard,
/// small requests), so that the once-a-second progress shows more than once.
fn ship_args(receiver: u16, state: &std::path::Path) -> Vec<String> {
    let wal = testdata().join("prometheus-2.42/snappy-exemplars-checkpoint");
    [
        "ship",
        "--once",
        "--start",
        "beginning",
        "--progress",
        "--web.listen-address",
        "",
        "--queue.max-shards",
        "1",
        "--queue.max-samples-per-send",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--wal-dir".into(),
        wal.display().to_string(),
        "--url".into(),
        format!("http://127.0.0.1:{receiver}/api/v1/write"),
        "--state-dir".into(),
        state.display().to_string(),
    ])
    .collect()
}

#[test]
fn a_bar_on_a_terminal() {
    if !have("script") {
        return;
    }
    let r = receiver();
    let dir = tempfile::tempdir().unwrap();
    let quoted: Vec<String> = ship_args(r.port, dir.path()).iter().map(|a| format!("'{}'", a)).collect();
    let line = format!("{} {}", env!("CARGO_BIN_EXE_walship"), quoted.join(" "));
    let out = Command::new("script").args(["-qec", &line, "/dev/null"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    // The bar: a percentage, bytes of the WAL's total, an ETA and the counters in its message.
    assert!(text.contains("/2.84 MiB ETA"), "no bar:\n{text}");
    assert!(text.contains("% ") && text.contains(" sent lag "), "no bar message:\n{text}");
    assert!(text.contains("seg ") && text.contains("/4 "), "no segment of total:\n{text}");
    assert!(!text.contains("samples sent,"), "the plain line on a terminal:\n{text}");
    // The log lines still arrive, whole, around the bar.
    assert!(text.contains("msg=\"Shipped") && text.contains(" samples_read=493112 "), "{text}");
}

#[test]
fn a_plain_line_elsewhere() {
    let r = receiver();
    let dir = tempfile::tempdir().unwrap();
    let out = walship().args(ship_args(r.port, dir.path())).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}:\n{text}", out.status);
    assert!(
        text.lines()
            .any(|l| l.starts_with("walship: ") && l.contains(" samples sent, ") && l.contains(" samples/s, lag ")),
        "{text}"
    );
    assert!(
        !text.contains("ETA") && !text.contains('\r') && !text.contains('\x1b'),
        "terminal codes in a pipe:\n{text}"
    );
}
