//! The shipped alerting rules and Grafana dashboard, proved on a real Prometheus: `promtool
//! check rules` accepts the rules; a Prometheus that scrapes a running walship, with the rules
//! loaded, fires the expected alerts while the remote fails and resolves them once it recovers;
//! and every dashboard panel's query returns data from that Prometheus.
//!
//! walship ships that same Prometheus's WAL, so the WAL grows as the test runs and sends keep
//! happening. The rules are loaded from a test copy whose `for:` durations and range windows are
//! shortened, so that the test takes a minute or two rather than an hour; the test checks that
//! the copy differs from the shipped file in nothing else.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(path)
}

/// The shortened copy: every `for:` becomes 5s and every range window `[…]` 20s (with a 1 s
/// scrape and evaluation interval, 20 s holds plenty of points for rate and increase).
fn shortened(rules: &str) -> String {
    let windows = regex::Regex::new(r"\[\d+[smhd]\]").unwrap();
    let fors = regex::Regex::new(r"(?m)^(\s*for: )\S+$").unwrap();
    let text = windows.replace_all(rules, "[20s]");
    fors.replace_all(&text, "${1}5s").into_owned()
}

/// The rules as (alert, expr with windows masked, labels, annotations); `for` left out.
fn comparable(text: &str) -> Vec<(String, String, String, String)> {
    let windows = regex::Regex::new(r"\[\d+[smhd]\]").unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(text).unwrap();
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let s = |k: &str| serde_norway::to_string(&rule[k]).unwrap();
            let expr = windows.replace_all(rule["expr"].as_str().unwrap(), "[W]").into_owned();
            assert!(rule["for"].as_str().is_some(), "{} has no for:", s("alert"));
            out.push((s("alert"), expr, s("labels"), s("annotations")));
        }
    }
    out
}

/// A remote-write receiver that fails on purpose until told to recover: while failing it
/// answers every other request 503 (retried) and the others 400 (failed for good).
struct FlakyRemote {
    port: u16,
    failing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
}

impl FlakyRemote {
    fn start() -> FlakyRemote {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let (failing, stop, requests) =
            (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (f, s, n) = (failing.clone(), stop.clone(), Arc::clone(&requests));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(100)) else { continue };
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
                let i = n.fetch_add(1, Ordering::Relaxed);
                let code = match (f.load(Ordering::Relaxed), i % 2) {
                    (false, _) => 204,
                    (true, 0) => 503,
                    (true, _) => 400,
                };
                let _ = req.respond(tiny_http::Response::empty(code));
            }
        });
        FlakyRemote { port, failing, stop, requests }
    }
}

impl Drop for FlakyRemote {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api(port: u16, path: &str) -> Value {
    let (code, body) = http(port, "GET", path).unwrap_or_else(|| panic!("Prometheus answers {path}"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{path}: {v}");
    v
}

/// The alerts in the given state (`firing`, `pending`).
fn alerts(port: u16, state: &str) -> Vec<String> {
    let v = api(port, "/api/v1/alerts");
    let mut names: Vec<String> = v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == state)
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Prometheus's own alert list while the alerts fire, kept for a person to look at. Debian builds
/// Prometheus without its React UI, so this is the classic page; the virtual time budget lets
/// its scripts finish drawing first.
fn screenshot_alerts(prom_port: u16) {
    if !have("chromium") {
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alerts-firing.png");
    let _ = std::fs::remove_file(&shot);
    let status = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,1400",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("http://127.0.0.1:{prom_port}/classic/alerts"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success() && shot.exists(), "chromium did not take the alert list's screenshot");
    eprintln!("alert list screenshot: {}", shot.display());
}

#[test]
fn rules_check_with_promtool() {
    if !have("promtool") {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(deploy("prometheus/walship-alerts.yml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool check rules failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
}

#[test]
fn alerts_fire_and_resolve_and_dashboard_queries_return_data() {
    if !have("prometheus") {
        return;
    }
    let rules = std::fs::read_to_string(deploy("prometheus/walship-alerts.yml")).unwrap();
    let short = shortened(&rules);
    assert_ne!(short, rules);
    assert_eq!(comparable(&short), comparable(&rules), "the test copy differs in more than for: and range windows");

    let dir = tempfile::tempdir().unwrap();
    let remote = FlakyRemote::start();
    let (prom_port, web) = (free_port(), free_port());
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("rules.yml"), &short).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: walship\n    static_configs:\n      - targets: ['127.0.0.1:{web}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus to be ready", 60, || http(prom_port, "GET", "/-/ready").is_some_and(|r| r.0 == 200));
    wait_for("Prometheus's WAL", 60, || data.join("wal/00000000").exists());
    let _walship = Killed(
        walship()
            .args([
                "ship",
                "--start",
                "beginning",
                "--cursor.save-interval",
                "1s",
                "--queue.batch-send-deadline",
                "200ms",
            ])
            .arg("--wal-dir")
            .arg(&data)
            .args(["--url", &format!("http://127.0.0.1:{}/api/v1/write", remote.port)])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["--web.listen-address", &format!("127.0.0.1:{web}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // While the remote fails: 503s are retried, 400s are failures.
    let expected = ["WalshipFailingSends".to_string(), "WalshipRetrying".to_string()];
    wait_for("the retry and failure alerts to fire", 120, || {
        let firing = alerts(prom_port, "firing");
        expected.iter().all(|a| firing.contains(a))
    });
    let firing = alerts(prom_port, "firing");
    for quiet in ["WalshipWalDamage", "WalshipWalGap", "WalshipCursorNotSaved", "WalshipShardsMaxed"] {
        assert!(!firing.iter().any(|a| a == quiet), "{quiet} fired: {firing:?}");
    }
    assert!(remote.requests.load(Ordering::Relaxed) > 0);
    screenshot_alerts(prom_port);
    // walship's own status page says the same, in words.
    let (_, page) = http(web, "GET", "/").unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("data-check=\"state\">retrying<"), "{page}");
    assert!(page.contains("the remote answered with errors: "), "{page}");

    // Recovered: both resolve once their windows hold no failure.
    remote.failing.store(false, Ordering::Relaxed);
    wait_for("the alerts to resolve", 120, || {
        let active = [alerts(prom_port, "firing"), alerts(prom_port, "pending")].concat();
        !expected.iter().any(|a| active.contains(a))
    });

    // Every panel's query returns data; Grafana's interval variables as Grafana would fill them.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/walship.json")).unwrap()).unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "1m");
            let v = api(prom_port, &format!("/api/v1/query?query={}", percent_encode(&expr)));
            let result = v["data"]["result"].as_array().unwrap();
            assert!(!result.is_empty(), "panel {:?}: `{expr}` returned nothing", panel["title"]);
            queries += 1;
        }
    }
    assert!(queries >= 10, "{queries} queries");
    eprintln!("alerts fired and resolved; {queries} dashboard queries returned data");
}
