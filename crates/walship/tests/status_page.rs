//! The status page at `/`, loaded from a running `walship ship` in a real headless Chromium:
//! its figures agree with `/metrics`, what comes from configuration is escaped (the browser's
//! DOM holds the endpoint name as text, not as an element), and a screenshot is kept under the
//! target directory for a person to look at; and an endpoint whose remote is down shows as
//! retrying with its last error, then as recovered.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An endpoint name that would be an element with an event handler if it were not escaped. No
/// slash: the name is also the cursor's file name.
const HOSTILE_NAME: &str = r#"<img src=x onerror="alert(1)">&co"#;

/// The WAL these tests ship.
fn wal() -> PathBuf {
    testdata().join("prometheus-2.42/snappy-exemplars-checkpoint")
}

/// `walship ship` of [`wal`] from the beginning, configured by `config` (written to `dir`), its
/// state in `dir/state`, its web server on `web`, its cursor saved every second.
fn ship(dir: &Path, config: &str, web: u16) -> Command {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = walship();
    cmd.args(["ship", "--start", "beginning", "--cursor.save-interval", "1s"])
        .arg("--wal-dir")
        .arg(wal())
        .arg("--config.file")
        .arg(file)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--web.listen-address", &format!("127.0.0.1:{web}")]);
    cmd
}

/// `name{labels} value` lines of an exposition, summed by name.
fn metrics(port: u16) -> HashMap<String, f64> {
    let Some((_, body)) = http(port, "GET", "/metrics") else { return HashMap::new() };
    let mut out = HashMap::new();
    for line in String::from_utf8(body).unwrap().lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap().to_string();
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *out.entry(name).or_default() += value;
    }
    out
}

/// The text of every element with a `data-check` attribute in the DOM Chromium serialised.
fn checks(dom: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for part in dom.split("data-check=\"").skip(1) {
        let (key, rest) = part.split_once('"').unwrap();
        let text = rest.split_once('>').unwrap().1.split('<').next().unwrap();
        out.insert(key.to_string(), text.to_string());
    }
    out
}

#[test]
fn status_page_in_a_real_browser_agrees_with_metrics() {
    if !have("chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let receiver = receiver();
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    name: '{}'\n    queue_config:\n      max_shards: 7\n",
        receiver.port, HOSTILE_NAME
    );
    let web = free_port();
    let _ship = Killed(ship(dir.path(), &config, web).spawn().unwrap());
    // Everything read and acknowledged, the cursor saved: from then on the figures stand still,
    // so the page and /metrics can be compared.
    let mut before = HashMap::new();
    wait_for("walship to deliver the WAL and save its cursor", 60, || {
        let now = metrics(web);
        let settled = now.get("prometheus_remote_storage_samples_pending") == Some(&0.0)
            && now.get("prometheus_remote_storage_samples_total").is_some_and(|n| *n > 0.0)
            && now.get("walship_cursor_offset") == before.get("walship_cursor_offset")
            && std::fs::read_dir(dir.path().join("state")).is_ok_and(|d| d.count() > 1);
        before = now;
        settled
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // In /metrics the name is a label value, escaped as the exposition format wants it.
    let (_, exposition) = http(web, "GET", "/metrics").unwrap();
    let exposition = String::from_utf8(exposition).unwrap();
    let escaped = HOSTILE_NAME.replace('\\', "\\\\").replace('"', "\\\"");
    assert!(exposition.contains(&format!("walship_cursor_segment{{endpoint=\"{escaped}\"}} ")), "{exposition}");
    let url = format!("http://127.0.0.1:{web}/");
    let profile = tempfile::tempdir().unwrap();
    // The queue may still reshard once the sends stop: compare the page with /metrics as they
    // were just before and just after it was made, unchanged in between.
    let (m, dom) = (0..5)
        .find_map(|_| {
            let before = metrics(web);
            let dom = String::from_utf8(chromium(&["--dump-dom"], &url, profile.path())).unwrap();
            (metrics(web).get("prometheus_remote_storage_shards") == before.get("prometheus_remote_storage_shards"))
                .then_some((before, dom))
        })
        .expect("the shard count stands still");
    let page = checks(&dom);
    let got = |k: &str| page.get(k).unwrap_or_else(|| panic!("no {k} on the page:\n{dom}")).as_str();

    assert_eq!(got("state"), "shipping");
    assert_eq!(got("url"), format!("http://127.0.0.1:{}/api/v1/write", receiver.port));
    assert_eq!(got("error"), "none");
    assert_eq!(got("error_when"), "–");
    assert_eq!(got("retried"), m["prometheus_remote_storage_samples_retried_total"].to_string());
    assert_eq!(got("failed"), m["prometheus_remote_storage_samples_failed_total"].to_string());
    let cursor = format!("{:08}:{}", m["walship_cursor_segment"], m["walship_cursor_offset"]);
    assert_eq!(got("cursor"), cursor);
    assert_eq!(got("shards"), m["prometheus_remote_storage_shards"].to_string());
    assert_eq!(got("shards_max"), m["prometheus_remote_storage_shards_max"].to_string());
    assert_eq!(got("shards_max"), "7");
    assert_eq!(got("pending"), m["prometheus_remote_storage_samples_pending"].to_string());
    // The page shows what the remote accepted, as the queue counts it; with nothing retried or
    // failed, every attempt /metrics counts was accepted.
    assert_eq!(m["prometheus_remote_storage_samples_retried_total"], 0.0);
    assert_eq!(m["prometheus_remote_storage_samples_failed_total"], 0.0);
    assert_eq!(got("delivered"), m["prometheus_remote_storage_samples_total"].to_string());
    assert!(m["prometheus_remote_storage_samples_total"] > 0.0);
    assert_eq!(got("reading"), format!("{:08}", m["walship_wal_segment_current"]));
    assert_eq!(got("damage"), m["walship_wal_corruptions_total"].to_string());
    assert_eq!(got("gaps"), m["walship_cursor_gaps_total"].to_string());
    assert_eq!(got("save_failures"), m["walship_cursor_save_failures_total"].to_string());
    assert!(got("saved").contains("ago"), "cursor saved: {}", got("saved"));
    let wal_bytes: u64 =
        ["00000002", "00000003", "00000004"].iter().map(|s| wal().join(s).metadata().unwrap().len()).sum();
    assert_eq!(got("segments"), format!("3 (00000002 … 00000004, {:.1} MiB)", wal_bytes as f64 / 1048576.0));
    assert_eq!(got("checkpoint"), "checkpoint.00000001");

    // Escaped: the browser parsed the name as text, so no <img> element exists, and the text it
    // shows is the name as configured.
    assert!(!dom.contains("<img"), "the endpoint name became markup:\n{dom}");
    assert!(dom.contains("&lt;img src=x onerror=\"alert(1)\"&gt;&amp;co"), "{dom}");
    assert!(dom.contains("<svg class=\"chart\""));

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[&format!("--screenshot={}", shot.display()), "--window-size=1100,1300", "--hide-scrollbars"],
        &url,
        profile.path(),
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "screenshot of {} bytes", png.len());
    println!("status page screenshot: {}", shot.display());
    eprintln!("status page screenshot: {}", shot.display());
}

/// An endpoint whose remote is down shows as retrying, with the error's text (the password of
/// its URL and its header's secret hidden, markup escaped) and when it happened; once the remote
/// is up the same endpoint shows as shipping, the error marked as recovered. The samples the
/// page calls delivered are those the remote says it received.
#[test]
fn a_remote_that_is_down_shows_as_retrying_with_its_error() {
    if !have("chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on yet: bound, then closed; the receiver takes it later.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = format!(
        "remote_write:\n  - url: http://walship:pa55w0rd@127.0.0.1:{port}/api/v1/write\n    name: down\n    headers:\n      X-Api-Key: k3y-s3cret\n    queue_config:\n      min_backoff: 50ms\n      max_backoff: 200ms\n"
    );
    let web = free_port();
    let _ship = Killed(ship(dir.path(), &config, web).stderr(Stdio::null()).spawn().unwrap());
    wait_for("walship to retry", 60, || {
        metrics(web).get("prometheus_remote_storage_samples_retried_total").is_some_and(|n| *n > 0.0)
    });
    let url = format!("http://127.0.0.1:{web}/");
    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(chromium(&["--dump-dom"], &url, profile.path())).unwrap();
    let page = checks(&dom);
    let got = |k: &str| page.get(k).unwrap_or_else(|| panic!("no {k} on the page:\n{dom}")).clone();
    assert_eq!(got("state"), "retrying");
    assert_eq!(got("url"), format!("http://walship:xxxxx@127.0.0.1:{port}/api/v1/write"));
    let error = got("error");
    assert!(error.contains(&format!("127.0.0.1:{port}")) && error.to_lowercase().contains("connect"), "{error}");
    assert!(!dom.contains("pa55w0rd") && !dom.contains("k3y-s3cret"), "a secret on the page:\n{dom}");
    let error_when = got("error_when");
    assert!(error_when.contains(" ago), its data is being retried; failing since "), "{error_when}");
    assert!(!error_when.contains("works again"), "{error_when}");
    assert_eq!(got("delivered"), "0");
    // The queue is full, so reading waits inside the first segment, which has not ended: the
    // segment being read is still known, on the page and in /metrics.
    let m = metrics(web);
    assert_eq!(got("reading"), "00000002");
    assert_eq!(m["walship_wal_segment_current"], 2.0);
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page-retrying.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[&format!("--screenshot={}", shot.display()), "--window-size=1100,1300", "--hide-scrollbars"],
        &url,
        profile.path(),
    );
    assert!(std::fs::read(&shot).is_ok_and(|png| png.starts_with(b"\x89PNG")), "no screenshot");
    eprintln!("status page screenshot (retrying): {}", shot.display());

    // The remote comes up: the retried batch goes through and the error is marked recovered.
    let rx = walship().args(["receive", "--listen", &format!("127.0.0.1:{port}")]).stderr(Stdio::null()).spawn();
    let _rx = Killed(rx.unwrap());
    let mut last = HashMap::new();
    wait_for("walship to deliver the WAL", 60, || {
        let now = metrics(web);
        let settled = now.get("prometheus_remote_storage_samples_pending") == Some(&0.0)
            && now.get("prometheus_remote_storage_samples_total")
                == last.get("prometheus_remote_storage_samples_total");
        last = now;
        settled
    });
    // One minute without a retry ends "retrying"; until then the page may still say so.
    let dom = String::from_utf8(chromium(&["--dump-dom"], &url, profile.path())).unwrap();
    let page = checks(&dom);
    let error_when = &page["error_when"];
    assert!(error_when.contains("; sending works again since "), "{error_when}");
    assert!(page["error"].contains(&format!("127.0.0.1:{port}")), "{}", page["error"]);
    let m = metrics(web);
    let retried = m["prometheus_remote_storage_samples_retried_total"];
    assert!(retried > 0.0);
    assert_eq!(m["prometheus_remote_storage_samples_failed_total"], 0.0);
    // Each sample reached the remote once (a refused connection is an attempt that carried no
    // data), so what it accepted is what was sent less what was retried.
    let accepted = m["prometheus_remote_storage_samples_total"] - retried;
    assert_eq!(page["delivered"], accepted.to_string());
    assert!(accepted > 0.0);
}
