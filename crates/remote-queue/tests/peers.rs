//! Real receivers on 127.0.0.1: VictoriaMetrics and Prometheus (`--web.enable-remote-write-receiver`).
//! 1M samples over 10k series are sent and read back through the receivers' query APIs.
//!
//! When a binary is missing the test prints "skipped: <binary> not installed" and passes, unless
//! `WALSHIP_REQUIRE_PEERS` is set.

mod support;

use remote_queue::{
    EndpointConfig, Histogram, Labels, Position, Protocol, QueueManager, RefExemplar, RefHistogramSample, RefSample,
    RefSeries, Span,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERIES: u64 = 10_000;
const PER_SERIES: u64 = 100;

fn find_binary(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file())
}

fn binary_or_skip(name: &str) -> Option<PathBuf> {
    let found = find_binary(name);
    if found.is_none() {
        assert!(
            std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(),
            "{name} not installed but WALSHIP_REQUIRE_PEERS is set"
        );
        println!("skipped: {name} not installed");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Kills the process and removes its data directory when dropped.
struct Peer {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let d = std::env::temp_dir().join(format!("rq-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn start(bin: PathBuf, args: Vec<String>, dir: PathBuf, port: u16, ready_path: &str) -> Peer {
    let log = std::fs::File::create(dir.join("peer.log")).expect("log file");
    let child =
        Command::new(bin).args(args).current_dir(&dir).stdout(Stdio::null()).stderr(log).spawn().expect("start peer");
    let base = format!("http://127.0.0.1:{port}");
    let peer = Peer { child, dir, base };
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if ureq::get(&format!("{}{ready_path}", peer.base)).call().is_ok() {
            return peer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(peer.dir.join("peer.log")).unwrap_or_default();
    panic!("peer did not become ready: {log}");
}

/// A Prometheus with its remote-write receiver on, scraping nothing, with `extra` flags.
fn prometheus_receiver(bin: PathBuf, tag: &str, extra: &[&str]) -> Peer {
    let dir = temp_dir(tag);
    let port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").expect("config");
    let mut args = vec![
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    start(bin, args, dir, port, "/-/ready")
}

/// The JSON a peer's HTTP API answers `path` with, given query parameters.
fn get_json(peer: &Peer, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    let mut req = ureq::get(&format!("{}{path}", peer.base));
    for (k, v) in params {
        req = req.query(k, v);
    }
    let body = req.call().expect("query").into_string().expect("body");
    serde_json::from_str(&body).expect("json")
}

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn labels(i: u64) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("rq_peer_metric_{}", i % 10)),
        ("job", "rq-peer".to_string()),
        ("instance", format!("host-{}:9100", i % 97)),
        ("series", i.to_string()),
    ])
}

fn value(series: u64, k: u64) -> f64 {
    (series * 1000 + k) as f64 + 0.25
}

/// Sends SERIES × PER_SERIES samples, one second apart, ending 10 s ago; returns the first timestamp (ms).
fn send_all(url: &str, protocol: Protocol) -> i64 {
    let mut cfg = EndpointConfig::new(url);
    cfg.protocol = protocol;
    cfg.queue.min_shards = 4;
    cfg.queue.batch_send_deadline = Duration::from_millis(200);
    let q = QueueManager::new(cfg).expect("queue");
    support::store_labels(&q, 0, &(0..SERIES).map(labels).collect::<Vec<_>>());
    let start_ms = (now_s() - PER_SERIES as i64 - 10) * 1000;
    let t0 = Instant::now();
    support::append_grid(&q, 0..SERIES, 0..PER_SERIES, |s, k| (start_ms + k as i64 * 1000, value(s, k)));
    let done = Position { segment: 0, offset: PER_SERIES };
    q.mark_read(done).expect("mark");
    assert!(support::wait_for(Duration::from_secs(120), || q.low_watermark() == Some(done)), "not all acknowledged");
    let m = q.metrics();
    println!(
        "{protocol:?}: sent {} samples in {:?} ({} requests)",
        m.samples_total,
        t0.elapsed(),
        m.sent_batch_duration_count
    );
    assert_eq!((m.samples_total, m.samples_failed_total), (SERIES * PER_SERIES, 0));
    q.stop();
    start_ms
}

#[test]
fn victoria_metrics_reads_back_exactly() {
    let Some(bin) = binary_or_skip("victoria-metrics") else { return };
    let dir = temp_dir("vm");
    let port = free_port();
    let args = vec![
        format!("-storageDataPath={}", dir.join("data").display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        "-retentionPeriod=100y".into(),
        "-search.disableCache".into(),
    ];
    let vm = start(bin, args, dir, port, "/health");
    let start_ms = send_all(&format!("{}/api/v1/write", vm.base), Protocol::V1);
    let _ = ureq::get(&format!("{}/internal/force_flush", vm.base)).call();
    let url = format!("{}/api/v1/export", vm.base);
    let mut got: HashMap<u64, (Vec<i64>, Vec<f64>)> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let body = ureq::get(&url)
            .query("match[]", "{job=\"rq-peer\"}")
            .query("start", "0")
            .call()
            .ok()
            .and_then(|r| {
                // `into_string` stops at 10 MB; the export is larger.
                let mut s = String::new();
                std::io::Read::read_to_string(&mut r.into_reader(), &mut s).ok().map(|_| s)
            })
            .unwrap_or_default();
        got.clear();
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line");
            let series: u64 = v["metric"]["series"].as_str().and_then(|s| s.parse().ok()).expect("series label");
            let ts: Vec<i64> = v["timestamps"].as_array().expect("ts").iter().filter_map(|t| t.as_i64()).collect();
            let vals: Vec<f64> = v["values"].as_array().expect("values").iter().filter_map(|t| t.as_f64()).collect();
            let e = got.entry(series).or_default();
            e.0.extend(ts);
            e.1.extend(vals);
        }
        if got.len() as u64 == SERIES && got.values().all(|v| v.0.len() as u64 == PER_SERIES) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = ureq::get(&format!("{}/internal/force_flush", vm.base)).call();
    }
    if got.len() as u64 != SERIES {
        let log = std::fs::read_to_string(vm.dir.join("peer.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        panic!("read back {} series; VictoriaMetrics log (newest first):\n{tail}", got.len());
    }
    for (s, (ts, vals)) in &got {
        let mut pairs: Vec<(i64, f64)> = ts.iter().copied().zip(vals.iter().copied()).collect();
        pairs.sort_by_key(|p| p.0);
        let want: Vec<(i64, f64)> = (0..PER_SERIES).map(|k| (start_ms + k as i64 * 1000, value(*s, k))).collect();
        assert_eq!(pairs, want, "series {s}");
    }
}

#[test]
fn prometheus_reads_back_exactly() {
    let Some(bin) = binary_or_skip("prometheus") else { return };
    let prom = prometheus_receiver(bin, "prom", &[]);
    let start_ms = send_all(&format!("{}/api/v1/write", prom.base), Protocol::V1);
    let query = |q: &str, at: i64| get_json(&prom, "/api/v1/query", &[("query", q.into()), ("time", at.to_string())]);
    let at = now_s();
    let scalar = |q: &str| -> f64 {
        let v = query(q, at);
        v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
    };
    let window = format!("{}s", PER_SERIES + 60);
    assert_eq!(scalar(&format!("count(count_over_time({{job=\"rq-peer\"}}[{window}]))")), SERIES as f64);
    assert_eq!(scalar(&format!("sum(count_over_time({{job=\"rq-peer\"}}[{window}]))")), (SERIES * PER_SERIES) as f64);
    // Exact raw samples of a few series.
    for s in [0u64, 1, 4999, 9999] {
        let v = query(&format!("{{job=\"rq-peer\",series=\"{s}\"}}[{window}]"), at);
        let vals = v["data"]["result"][0]["values"].as_array().cloned().unwrap_or_default();
        let got: Vec<(i64, f64)> = vals
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                (t, p[1].as_str().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN))
            })
            .collect();
        let want: Vec<(i64, f64)> = (0..PER_SERIES).map(|k| (start_ms + k as i64 * 1000, value(s, k))).collect();
        assert_eq!(got, want, "series {s}");
    }
}

#[test]
fn prometheus_accepts_native_histograms_and_exemplars() {
    let Some(bin) = binary_or_skip("prometheus") else { return };
    let prom = prometheus_receiver(bin, "prom-hist", &["--enable-feature=exemplar-storage,native-histograms"]);
    let mut cfg = EndpointConfig::new(format!("{}/api/v1/write", prom.base));
    cfg.send_exemplars = true;
    cfg.send_native_histograms = true;
    cfg.queue.batch_send_deadline = Duration::from_millis(100);
    let q = QueueManager::new(cfg).expect("queue");
    let hist_labels = Labels::from_pairs([("__name__", "rq_native_hist"), ("job", "rq-peer")]);
    let counter_labels = Labels::from_pairs([("__name__", "rq_with_exemplars_total"), ("job", "rq-peer")]);
    q.store_series(
        &[
            RefSeries { series_ref: 1, labels: hist_labels.as_ref() },
            RefSeries { series_ref: 2, labels: counter_labels.as_ref() },
        ],
        0,
    );
    let start_ms = (now_s() - 30) * 1000;
    let trace = Labels::from_pairs([("trace_id", "abc123")]);
    for k in 0..10i64 {
        let t = start_ms + k * 1000;
        let h = Histogram {
            counter_reset_hint: 0,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1,
            count: 3 + k as u64,
            sum: 10.5 + k as f64,
            positive_spans: vec![Span { offset: 0, length: 2 }],
            negative_spans: vec![],
            positive_buckets: vec![1, 1 + k],
            negative_buckets: vec![],
            custom_values: vec![],
        };
        let pos = Position { segment: 0, offset: k as u64 };
        q.append_samples(&[RefSample { series_ref: 2, st: 0, t, v: k as f64 }], pos).expect("sample");
        q.append_exemplars(&[RefExemplar { series_ref: 2, t, v: k as f64, labels: trace.as_ref() }], pos).expect("ex");
        q.append_histograms(&[RefHistogramSample { series_ref: 1, st: 0, t, h }], pos).expect("hist");
    }
    let done = Position { segment: 0, offset: 10 };
    q.mark_read(done).expect("mark");
    assert!(support::wait_for(Duration::from_secs(20), || q.low_watermark() == Some(done)));
    let m = q.metrics();
    assert_eq!((m.samples_failed_total, m.exemplars_failed_total, m.histograms_failed_total), (0, 0, 0));
    let at = now_s();
    let get = |path: &str, params: &[(&str, String)]| get_json(&prom, path, params);
    let v = get("/api/v1/query", &[("query", "rq_native_hist[2m]".into()), ("time", at.to_string())]);
    let hs = v["data"]["result"][0]["histograms"].as_array().cloned().unwrap_or_default();
    assert_eq!(hs.len(), 10, "{v}");
    for (k, h) in hs.iter().enumerate() {
        assert_eq!(h[1]["count"].as_str(), Some((3 + k).to_string().as_str()), "{h}");
        assert_eq!(h[1]["sum"].as_str(), Some(format!("{}", 10.5 + k as f64).as_str()), "{h}");
    }
    let v = get(
        "/api/v1/query_exemplars",
        &[("query", "rq_with_exemplars_total".into()), ("start", (at - 120).to_string()), ("end", at.to_string())],
    );
    let ex = v["data"][0]["exemplars"].as_array().cloned().unwrap_or_default();
    assert_eq!(ex.len(), 10, "{v}");
    assert_eq!(ex[0]["labels"]["trace_id"].as_str(), Some("abc123"));
}

/// A real Prometheus 2.42 receiver refuses a whole request for one out-of-order sample (HTTP 400,
/// the request rolled back). One series is made out of order in every batch: only its samples
/// are dropped, every other series is stored complete.
#[test]
fn prometheus_refusing_one_series_drops_only_that_series() {
    let Some(bin) = binary_or_skip("prometheus") else { return };
    let prom = prometheus_receiver(bin, "prom-isolate", &[]);
    const N: u64 = 200; // series, and points per batch: one round per batch
    const ROUNDS: u64 = 20;
    const BAD: u64 = 77;
    let mut cfg = EndpointConfig::new(format!("{}/api/v1/write", prom.base));
    cfg.queue.max_shards = 1;
    cfg.queue.max_samples_per_send = N as usize;
    cfg.queue.capacity = 4 * N as usize;
    cfg.queue.batch_send_deadline = Duration::from_secs(30);
    let q = QueueManager::new(cfg).expect("queue");
    support::store_labels(&q, 0, &(0..N).map(labels).collect::<Vec<_>>());
    let start_ms = (now_s() - ROUNDS as i64 - 30) * 1000;
    support::append_grid(&q, 0..N, 0..ROUNDS, |s, k| {
        // The bad series' first point is later than all its others: each later one is out of order.
        let t = if s == BAD && k == 0 { start_ms + (ROUNDS as i64 + 5) * 1000 } else { start_ms + k as i64 * 1000 };
        (t, value(s, k))
    });
    let done = Position { segment: 0, offset: ROUNDS };
    q.mark_read(done).expect("mark");
    assert!(support::wait_for(Duration::from_secs(60), || q.low_watermark() == Some(done)), "not all settled");
    let m = q.metrics();
    q.stop();
    assert_eq!(m.samples_failed_total, ROUNDS - 1, "exactly the out-of-order samples are dropped");
    let bound = 2 * 8; // 2·⌈log2 200⌉ per rejected batch
    assert!(m.isolation_requests_total <= (ROUNDS - 1) * bound, "{} extra requests", m.isolation_requests_total);
    let at = now_s();
    let count = |sel: &str| -> f64 {
        let q = format!("sum(count_over_time({sel}[10m]))");
        let v = get_json(&prom, "/api/v1/query", &[("query", q), ("time", at.to_string())]);
        v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
    };
    assert_eq!(count("{job=\"rq-peer\"}"), ((N - 1) * ROUNDS + 1) as f64, "every other series complete");
    assert_eq!(count(&format!("{{job=\"rq-peer\",series=\"{BAD}\"}}")), 1.0, "the bad series: its first point only");
    println!(
        "prometheus refusing one series: {} failed, {} extra requests for {} rejected batches",
        m.samples_failed_total,
        m.isolation_requests_total,
        ROUNDS - 1
    );
}
