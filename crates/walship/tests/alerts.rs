//! The shipped alerting rules and Grafana dashboard, proved on a real Prometheus: `promtool
//! check rules` accepts the rules; a Prometheus that scrapes two running walships, with the
//! rules loaded, fires every one of the eight alerts from conditions the test creates (a remote
//! that fails, a cursor that cannot be saved, an old WAL, a damaged segment, a missing segment,
//! one shard at most) and resolves each once its condition ends; and every dashboard panel's
//! query returns data from that Prometheus.
//!
//! One walship ships that same Prometheus's WAL, so the WAL grows as the test runs and sends
//! keep happening. The rules are loaded from a test copy whose `for:` durations (to 5 s) and range
//! windows (to 20 s) are shortened, so that the test takes minutes rather than hours; the test
//! checks that the copy differs from the shipped file in nothing else: thresholds, expressions,
//! labels and annotations are the shipped ones.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
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
    chromium(
        &[
            "--hide-scrollbars",
            "--window-size=1200,1400",
            "--virtual-time-budget=5000",
            &format!("--screenshot={}", shot.display()),
        ],
        &format!("http://127.0.0.1:{prom_port}/classic/alerts"),
        profile.path(),
    );
    assert!(shot.exists(), "chromium did not take the alert list's screenshot");
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

/// What `/api/v1/alerts` says, by (alert, instance): `pending` or `firing`; inactive ones are absent.
type Active = HashMap<(String, String), String>;

fn active(port: u16) -> Active {
    let v = api(port, "/api/v1/alerts");
    let mut out = Active::new();
    for a in v["data"]["alerts"].as_array().unwrap() {
        let label = |k: &str| a["labels"][k].as_str().unwrap_or_default().to_string();
        out.insert((label("alertname"), label("instance")), a["state"].as_str().unwrap_or_default().to_string());
    }
    out
}

/// Polls Prometheus's alerts and keeps every change of state with the time since the start, for
/// the log (and the report of a run).
struct Watch {
    port: u16,
    started: std::time::Instant,
    last: Active,
    changes: Vec<String>,
}

impl Watch {
    fn poll(&mut self) -> &Active {
        let now = active(self.port);
        let t = self.started.elapsed().as_secs_f64();
        for (key, state) in &now {
            if self.last.get(key) != Some(state) {
                self.changes.push(format!("{t:6.1}s {} {} {state}", key.0, key.1));
            }
        }
        for key in self.last.keys().filter(|k| !now.contains_key(*k)) {
            self.changes.push(format!("{t:6.1}s {} {} resolved", key.0, key.1));
        }
        self.last = now;
        &self.last
    }

    /// Waits until `cond` holds for the alerts, polling twice a second.
    fn until(&mut self, what: &str, secs: u64, cond: impl Fn(&Active) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while !cond(self.poll()) {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; changes so far:\n{}",
                self.changes.join("\n")
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn firing(a: &Active, alert: &str, instance: &str) -> bool {
    a.get(&(alert.to_string(), instance.to_string())).is_some_and(|s| s == "firing")
}

fn quiet(a: &Active, alert: &str, instance: &str) -> bool {
    !a.contains_key(&(alert.to_string(), instance.to_string()))
}

/// A copy of segment `index` of the test WAL, with `damage` bytes inverted in its middle.
fn segment(index: u64, damage: usize) -> Vec<u8> {
    let mut bytes =
        std::fs::read(testdata().join(format!("prometheus-2.42/snappy-exemplars-checkpoint/{index:08}"))).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + damage] {
        *b ^= 0xff;
    }
    bytes
}

/// Puts segment files into `wal` the way a writer would: each whole, in order of their index.
fn add_segments(wal: &Path, segments: &[(u64, Vec<u8>)]) {
    let staging = wal.parent().unwrap().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for (index, bytes) in segments {
        std::fs::write(staging.join(format!("{index:08}")), bytes).unwrap();
    }
    for (index, _) in segments {
        std::fs::rename(staging.join(format!("{index:08}")), wal.join(format!("{index:08}"))).unwrap();
    }
}

/// Every alert of the shipped file fires on a real Prometheus, from conditions the test creates,
/// and resolves. Two walships are scraped:
///
/// - `live` ships that Prometheus's own WAL to a remote that answers 503 and 400 in turn
///   (WalshipRetrying, WalshipFailingSends), while a directory where its cursor's temporary file
///   goes keeps it from saving its cursor (WalshipCursorNotSaved); then the remote recovers and
///   the directory goes, and the three resolve.
/// - `old` ships a copy of a WAL written days ago, with one shard at most, to a working receiver:
///   its newest sample is days old (WalshipFallingBehind), it has sent everything and sends
///   nothing while its lag grows (WalshipNotSending), and it runs at max_shards
///   (WalshipShardsMaxed). A damaged segment added to its WAL fires WalshipWalDamage, and sending
///   its good records resolves WalshipNotSending; a segment added after a missing one fires
///   WalshipWalGap. Both resolve once their (shortened) window has passed. Stopping `old` resolves
///   the rest: its series go stale.
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
    let (prom_port, web, old_web) = (free_port(), free_port(), free_port());
    let (live, old) = (format!("127.0.0.1:{web}"), format!("127.0.0.1:{old_web}"));
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("rules.yml"), &short).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: walship\n    static_configs:\n      - targets: ['{live}', '{old}']\n"
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
    let state = dir.path().join("state");
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
            .arg(&state)
            .args(["--web.listen-address", &live])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The old WAL: its checkpoint and first segment now, more segments later.
    let old_wal = dir.path().join("old/wal");
    std::fs::create_dir_all(&old_wal).unwrap();
    let source = testdata().join("prometheus-2.42/snappy-exemplars-checkpoint");
    std::fs::create_dir(old_wal.join("checkpoint.00000001")).unwrap();
    for f in std::fs::read_dir(source.join("checkpoint.00000001")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), old_wal.join("checkpoint.00000001").join(f.file_name())).unwrap();
    }
    std::fs::copy(source.join("00000002"), old_wal.join("00000002")).unwrap();
    let receiver = receiver();
    let old_config = dir.path().join("old.yml");
    std::fs::write(
        &old_config,
        format!(
            "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config:\n      max_shards: 1\n      batch_send_deadline: 200ms\n",
            receiver.port
        ),
    )
    .unwrap();
    let old_walship = Killed(
        walship()
            .args(["ship", "--start", "beginning", "--cursor.save-interval", "1s"])
            .arg("--wal-dir")
            .arg(&old_wal)
            .arg("--config.file")
            .arg(&old_config)
            .arg("--state-dir")
            .arg(dir.path().join("old/state"))
            .args(["--web.listen-address", &old])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The live walship's cursor cannot be saved: where its temporary file goes, a directory.
    let mut blocker = None;
    wait_for("the live walship's first cursor save", 60, || {
        let saved = std::fs::read_dir(&state).ok().and_then(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "json"))
        });
        blocker = saved.map(|p| p.with_extension("json.tmp"));
        blocker.is_some()
    });
    let blocker = blocker.unwrap();
    std::fs::create_dir(&blocker).unwrap();

    let mut watch =
        Watch { port: prom_port, started: std::time::Instant::now(), last: Active::new(), changes: Vec::new() };
    let live_alerts = ["WalshipCursorNotSaved", "WalshipFailingSends", "WalshipRetrying"];
    let old_alerts = ["WalshipFallingBehind", "WalshipNotSending", "WalshipShardsMaxed"];
    watch.until("the first six alerts to fire", 180, |a| {
        live_alerts.iter().all(|n| firing(a, n, &live)) && old_alerts.iter().all(|n| firing(a, n, &old))
    });
    let a = watch.poll().clone();
    for n in ["WalshipWalDamage", "WalshipWalGap", "WalshipShardsMaxed", "WalshipFallingBehind", "WalshipNotSending"] {
        assert!(quiet(&a, n, &live), "{n} is active for the live walship: {a:?}");
    }
    for n in ["WalshipWalDamage", "WalshipWalGap", "WalshipRetrying", "WalshipFailingSends", "WalshipCursorNotSaved"] {
        assert!(quiet(&a, n, &old), "{n} is active for the old walship: {a:?}");
    }
    assert!(remote.requests.load(Ordering::Relaxed) > 0);
    // walship's own status page says the same, in words.
    let (_, page) = http(web, "GET", "/").unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("data-check=\"state\">retrying<"), "{page}");
    assert!(page.contains("data-check=\"error\">server returned HTTP status "), "{page}");

    // A damaged segment, and a good one after it so that the damaged one is finished.
    add_segments(&old_wal, &[(3, segment(3, 64)), (4, segment(4, 0))]);
    watch.until("WalshipWalDamage to fire, and sending to resolve WalshipNotSending", 120, |a| {
        firing(a, "WalshipWalDamage", &old) && quiet(a, "WalshipNotSending", &old)
    });
    // A segment after a missing one.
    add_segments(&old_wal, &[(6, segment(4, 0))]);
    watch.until("WalshipWalGap to fire", 120, |a| firing(a, "WalshipWalGap", &old));
    screenshot_alerts(prom_port);

    // Recovered: the remote accepts, the cursor can be saved; damage and gap leave the window.
    remote.failing.store(false, Ordering::Relaxed);
    std::fs::remove_dir(&blocker).unwrap();
    watch.until("the live walship's alerts, damage and gap to resolve", 180, |a| {
        live_alerts.iter().all(|n| quiet(a, n, &live))
            && quiet(a, "WalshipWalDamage", &old)
            && quiet(a, "WalshipWalGap", &old)
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

    // The old walship stops: its series go stale, and what it still fired resolves.
    drop(old_walship);
    watch.until("the old walship's alerts to resolve", 120, |a| old_alerts.iter().all(|n| quiet(a, n, &old)));
    let fired: std::collections::BTreeSet<&str> =
        watch.changes.iter().filter(|c| c.ends_with(" firing")).filter_map(|c| c.split_whitespace().nth(1)).collect();
    assert_eq!(fired.len(), 8, "not every alert fired: {fired:?}");
    eprintln!("alert changes (seconds since the walships started):\n{}", watch.changes.join("\n"));
    eprintln!("every alert fired and resolved; {queries} dashboard queries returned data");
}
