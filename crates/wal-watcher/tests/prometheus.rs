//! Against a real Prometheus 2.42 (Debian package): it scrapes itself and node_exporter every
//! second while the watcher tails its WAL; afterwards every sample Prometheus holds for the window
//! must have been delivered — zero missing.
//!
//! Needs `prometheus` and `prometheus-node-exporter` on PATH; without them the test says so and
//! passes, unless `WALSHIP_REQUIRE_PEERS` is set (as `cargo xtask ci` does). It runs for
//! `WALSHIP_PROM_SECONDS` (default 65) seconds.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wal_format::record::{RefSample, RefSeries, STALE_NAN_BITS};
use wal_format::Position;
use wal_watcher::{Sink, StartMode, Watcher, WatcherOptions};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(bin: &str) -> bool {
    let found = Command::new(bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        assert!(std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(), "{bin} is required but not installed");
        eprintln!("skipped: {bin} not installed");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(buf[at + 4..].to_vec())
}

/// `q` as a URL query value.
fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[derive(Default)]
struct Collected {
    labels: HashMap<u64, BTreeMap<String, String>>,
    samples: Vec<(u64, i64, u64)>,
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Collected>>);

impl Sink for Collect {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, series: &[RefSeries<'_>], _segment: u64) -> Result<bool, Self::Error> {
        let mut c = self.0.lock().unwrap();
        for s in series {
            let l = s.labels.iter().map(|l| (l.name_str().into_owned(), l.value_str().into_owned())).collect();
            c.labels.insert(s.series_ref, l);
        }
        Ok(true)
    }
    fn append_samples(&mut self, samples: &[RefSample], _at: Position) -> Result<bool, Self::Error> {
        let mut c = self.0.lock().unwrap();
        c.samples.extend(samples.iter().map(|s| (s.series_ref, s.t, s.v.to_bits())));
        Ok(true)
    }
}

#[test]
fn tails_a_real_prometheus_wal_with_nothing_missing() {
    if !have("prometheus") || !have("prometheus-node-exporter") {
        return;
    }
    let seconds: u64 = std::env::var("WALSHIP_PROM_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(65);
    let dir = tempfile::tempdir().unwrap();
    let (prom_port, node_port) = (free_port(), free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
        ),
    )
    .unwrap();
    let _node = Killed(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let data = dir.path().join("data");
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--storage.tsdb.wal-segment-size=10MB")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let wal = data.join("wal");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !wal.join("00000000").exists() {
        assert!(Instant::now() < deadline, "Prometheus did not create its WAL");
        std::thread::sleep(Duration::from_millis(50));
    }

    let sink = Collect::default();
    let opts = WatcherOptions { start: StartMode::Now, ..Default::default() };
    let started = now_ms();
    let mut watcher = Watcher::new(&data, opts, sink.clone());
    let stop = watcher.stop_handle();
    let handle = std::thread::spawn(move || {
        watcher.run(|e| eprintln!("watcher: {e:?}")).unwrap();
        watcher
    });
    std::thread::sleep(Duration::from_secs(seconds));
    // The window ends a few seconds before we stop, so every sample in it has been written.
    let end = now_ms() - 3_000;
    std::thread::sleep(Duration::from_secs(5));
    stop.stop();
    let watcher = handle.join().unwrap();

    let range = end - started;
    let q = encode(&format!("{{__name__=~\".+\"}}[{range}ms]"));
    let body = http_get(prom_port, &format!("/api/v1/query?query={q}&time={}.{:03}", end / 1000, end % 1000))
        .expect("query Prometheus");
    let resp: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(resp["status"], "success", "{resp}");

    let c = sink.0.lock().unwrap();
    let mut ours: HashSet<(BTreeMap<String, String>, i64, u64)> = HashSet::new();
    for &(r, t, bits) in &c.samples {
        // Prometheus's range selectors leave out stale markers; so does the comparison.
        if t > started && t <= end && bits != STALE_NAN_BITS {
            ours.insert((c.labels[&r].clone(), t, bits));
        }
    }
    let (mut theirs, mut missing) = (0usize, 0usize);
    for series in resp["data"]["result"].as_array().unwrap() {
        let labels: BTreeMap<String, String> = serde_json::from_value(series["metric"].clone()).unwrap();
        for v in series["values"].as_array().unwrap() {
            let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            let value: f64 = match v[1].as_str().unwrap() {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap(),
            };
            theirs += 1;
            let found = ours.contains(&(labels.clone(), t, value.to_bits()))
                || (value.is_nan()
                    && ours.iter().any(|(l, tt, b)| l == &labels && *tt == t && f64::from_bits(*b).is_nan()));
            if !found {
                missing += 1;
                if missing <= 5 {
                    eprintln!("missing: {labels:?} @{t} = {value}");
                }
            }
        }
    }
    eprintln!(
        "real Prometheus: {theirs} samples in {range} ms, {} delivered in the window, {missing} missing; {} segments",
        ours.len(),
        watcher.metrics().current_segment.load(std::sync::atomic::Ordering::Relaxed) + 1
    );
    assert!(theirs > 200 * seconds as usize, "too few samples from Prometheus: {theirs}");
    assert_eq!(missing, 0);
    assert_eq!(ours.len(), theirs, "delivered samples that Prometheus does not hold");
}
