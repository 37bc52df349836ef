//! `walship ship` as an operator runs it: against a real VictoriaMetrics (Debian package
//! `victoria-metrics`), against its own receiver, resuming from its cursor, stopping on SIGTERM,
//! and refusing bad input with one clear line.
//!
//! Peer tests pass with a "skipped" line when the binary is missing, unless
//! `WALSHIP_REQUIRE_PEERS` is set (as `cargo xtask ci` does).

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Samples per metric name in VictoriaMetrics (stale markers excluded), via its export API.
fn vm_counts(port: u16) -> BTreeMap<String, u64> {
    let _ = http(port, "GET", "/internal/force_flush");
    let q = "/api/v1/export?match%5B%5D=%7B__name__%21%3D%22%22%7D&start=0";
    let (code, body) = http(port, "GET", q).expect("export");
    assert_eq!(code, 200);
    let mut out = BTreeMap::new();
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let name = v["metric"]["__name__"].as_str().unwrap_or("").to_string();
        let n = v["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| !x.is_null() && !x.as_str().is_some_and(|s| s.contains("NaN")))
            .count();
        *out.entry(name).or_default() += n as u64;
    }
    out
}

/// Samples per metric name that are not NaN, from the fixture via `walship dump`.
/// VictoriaMetrics keeps no NaN values (stale markers or a summary's empty quantiles), so the
/// comparison leaves them out on both sides; walship's own counters show they were sent.
fn wal_counts(wal: &Path) -> BTreeMap<String, u64> {
    let out = walship().args(["dump", "--format", "jsonl"]).arg(wal).output().unwrap();
    let mut names = std::collections::HashMap::new();
    let mut counts = BTreeMap::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        match v["type"].as_str().unwrap() {
            "series" => {
                for s in v["series"].as_array().unwrap() {
                    names
                        .insert(s["ref"].as_u64().unwrap(), s["labels"]["__name__"].as_str().unwrap_or("").to_string());
                }
            }
            "samples" => {
                for s in v["samples"].as_array().unwrap() {
                    if s["v"] != "StaleNaN" && s["v"] != "NaN" {
                        *counts.entry(names[&s["ref"].as_u64().unwrap()].clone()).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
    counts
}

#[test]
fn ship_once_delivers_a_real_wal_to_victoria_metrics() {
    if !have("victoria-metrics") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_vm, port) = victoria_metrics(tmp.path());
    let wal = testdata().join("prometheus-2.42/uncompressed-exemplars-checkpoint");
    let (status, log) =
        ship_once(&wal, &tmp.path().join("state"), [format!("--url=http://127.0.0.1:{port}/api/v1/write")]);
    assert!(status.success(), "{log}");
    assert!(log.contains("complete=true"), "{log}");
    let want = wal_counts(&wal);
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        got = vm_counts(port);
        if got == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let diff: Vec<_> =
        want.iter().filter(|(k, v)| got.get(*k) != Some(v)).take(5).map(|(k, v)| (k, v, got.get(k))).collect();
    assert!(
        got == want,
        "VictoriaMetrics holds {} samples, the WAL {}; e.g. {diff:?}",
        got.values().sum::<u64>(),
        want.values().sum::<u64>()
    );
    assert!(want.values().sum::<u64>() > 900_000);
    // The cursor was saved at the end of the WAL.
    let cursor = std::fs::read_dir(tmp.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("cursor-"))
        .expect("cursor file");
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(cursor).unwrap()).unwrap();
    // The newest segment (00000005, 1 MiB) was read to its end.
    assert_eq!((c["segment"].as_u64(), c["offset"].as_u64()), (Some(5), Some(1_048_576)), "{c}");
}

#[test]
fn cursor_resumes_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let r = receiver();
    let wal = testdata().join("prometheus-2.42/snappy-exemplars-checkpoint");
    let ship = |extra: &[&str]| {
        let mut c = walship();
        c.args(["ship", "--start=beginning", "--web.listen-address=", "--cursor.save-interval=100ms"])
            .arg("--wal-dir")
            .arg(&wal)
            .arg(format!("--url=http://127.0.0.1:{}/api/v1/write", r.port))
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .args(extra);
        c
    };
    // A daemon run: wait until everything arrived, then SIGTERM.
    let mut child = ship(&[]).stderr(Stdio::piped()).spawn().unwrap();
    let total = 493_112;
    wait_for("all samples", 60, || r.samples.load(std::sync::atomic::Ordering::Relaxed) >= total);
    // A second walship on the same state directory is refused while the first runs.
    let second = ship(&["--once"]).output().unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another walship"), "{err}");
    std::thread::sleep(Duration::from_millis(300)); // at least one cursor save
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("Stopping"), "{log}");
    assert_eq!(r.samples.load(std::sync::atomic::Ordering::Relaxed), total);
    // Restarting resumes from the cursor: nothing is sent again.
    let again = ship(&["--once"]).output().unwrap();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("Resuming from saved cursor"), "{log}");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(r.samples.load(std::sync::atomic::Ordering::Relaxed), total, "samples sent twice");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = testdata().join("prometheus-2.42/snappy-exemplars-torn");
    let run = |args: &[&str]| {
        let out = walship()
            .arg("ship")
            .args(args)
            .arg("--state-dir")
            .arg(tmp.path().join("s"))
            .arg("--web.listen-address=")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let last = err.lines().last().unwrap_or("").to_string();
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
        last
    };
    let w = wal.to_str().unwrap();
    assert!(run(&["--wal-dir", "/nonexistent", "--url", "http://127.0.0.1:1/"]).contains("no such directory"));
    assert!(run(&["--wal-dir", tmp.path().to_str().unwrap(), "--url", "http://127.0.0.1:1/"])
        .contains("not a WAL directory"));
    assert!(run(&["--wal-dir", w]).contains("no endpoint"));
    assert!(run(&["--wal-dir", w, "--url", "ftp://x"]).contains("must start with http"));
    let cfg = tmp.path().join("bad.yml");
    std::fs::write(&cfg, "remote_write:\n  - url: http://x\n    queue_config: {max_shards: lots}\n").unwrap();
    assert!(run(&["--wal-dir", w, "--config.file", cfg.to_str().unwrap()]).contains("max_shards"));
    assert!(run(&["--wal-dir", w, "--url", "http://127.0.0.1:1/", "--start", "yesterday"]).contains("--start"));
    // Credentials refused (HTTP 401): walship stops at once instead of dropping data, even
    // without --once, and says why.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port401 = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 20\r\nConnection: close\r\n\r\ninvalid credentials\n",
            );
        }
    });
    let out = walship()
        .args(["ship", "--start=beginning", "--web.listen-address=", "--wal-dir", w])
        .arg(format!("--url=http://127.0.0.1:{port401}/api/v1/write"))
        .arg("--state-dir")
        .arg(tmp.path().join("s401"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("refused walship's credentials") && err.contains("401"), "{err}");
    // An unreachable endpoint with --once: the queue gives up at the flush deadline, the cursor
    // stays where it was, and the exit code says so.
    let port = free_port();
    let last = run(&[
        "--wal-dir",
        w,
        "--url",
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        "--once",
        "--start=beginning",
        "--flush-deadline=2s",
    ]);
    assert!(last.contains("complete=false"), "{last}");
}

/// The sum of the series of `name` in an exposition text whose line contains `with` (`""`: all).
fn metric_sum(text: &str, name: &str, with: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[test]
fn metrics_health_and_readiness_describe_the_shipping() {
    let tmp = tempfile::tempdir().unwrap();
    let r = receiver();
    let web = free_port();
    let wal = testdata().join("prometheus-2.42/snappy-exemplars-checkpoint");
    let child = walship()
        .args(["ship", "--start=beginning", "--web.listen-address"])
        .arg(format!("127.0.0.1:{web}"))
        .arg("--wal-dir")
        .arg(&wal)
        .arg(format!("--url=http://127.0.0.1:{}/api/v1/write", r.port))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let total = 493_112.0; // EXPECTED.json of the fixture: what promtool read from it
    let mut text = String::new();
    wait_for("every sample counted as sent", 60, || {
        text = http(web, "GET", "/metrics").map(|(_, b)| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        metric_sum(&text, "prometheus_remote_storage_samples_total", "") == Some(total)
    });
    assert_eq!(http(web, "GET", "/-/healthy").map(|r| r.0), Some(200));
    assert_eq!(http(web, "GET", "/-/ready").map(|r| r.0), Some(200));
    // The receiver reports its count every 200 ms: give it the time to catch up.
    wait_for("the receiver's count", 10, || r.samples.load(std::sync::atomic::Ordering::Relaxed) as f64 == total);
    // The newest sample of the fixture is at max_time 1795531835564 ms.
    assert_eq!(metric_sum(&text, "prometheus_remote_storage_highest_timestamp_in_seconds", ""), Some(1_795_531_835.0));
    assert_eq!(metric_sum(&text, "prometheus_remote_storage_samples_failed_total", ""), Some(0.0));
    assert_eq!(metric_sum(&text, "walship_wal_segment_current", ""), Some(4.0), "the fixture's last segment");
    assert_eq!(metric_sum(&text, "walship_wal_corruptions_total", ""), Some(0.0));
    let records = |t: &str| metric_sum(&text, "walship_wal_records_read_total", &format!("type=\"{t}\""));
    assert!(records("samples").is_some_and(|n| n > 0.0), "{text}");
    assert!(records("series").is_some_and(|n| n > 0.0), "{text}");
    assert!(metric_sum(&text, "walship_cursor_segment", "").is_some_and(|s| s >= 4.0), "{text}");
    assert!(text.contains("# TYPE prometheus_remote_storage_samples_total counter"), "{text}");
    // The endpoint has no name: the one walship gives it is its `endpoint` label, the queue's
    // `remote_name` label and its cursor file's name alike.
    let values = |label: &str| -> BTreeSet<String> {
        let key = format!("{label}=\"");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| Some(l.split_once(key.as_str())?.1.split('"').next()?.to_string()))
            .collect()
    };
    let names = values("remote_name");
    assert_eq!(names.len(), 1, "{text}");
    assert_eq!(values("endpoint"), names, "{text}");
    child.terminate();
    let name = names.first().unwrap();
    assert!(tmp.path().join("state").join(format!("cursor-{name}.json")).is_file(), "cursor-{name}.json");
}
