//! End to end, against real peers (Debian packages `prometheus`, `prometheus-node-exporter`,
//! `victoria-metrics`), all on 127.0.0.1: Prometheus 2.42 scrapes a synthetic target,
//! node_exporter and itself every second, writing its WAL with 10 MB segments and 1-minute blocks.
//! walship tails that WAL into two endpoints at once — VictoriaMetrics and a second Prometheus
//! with its remote-write receiver — while walship is killed with SIGKILL and restarted, and
//! VictoriaMetrics is stopped for 20 s and restarted. Afterwards every sample the first Prometheus
//! holds for the window must be in both receivers: zero missing.
//!
//! `WALSHIP_E2E_SECONDS` (default 240, as `../shared/lab/e2e.sh` runs) sets the length: walship is
//! killed at 40 s and VictoriaMetrics stopped at 60 s (earlier in shorter runs). From 240 s on,
//! the test also requires that segments rolled over and a checkpoint appeared while walship read:
//! Prometheus 2.42 truncates its head (new segment, checkpoint) only after about four minutes.
//! Skipped (with a line saying so) without the peers, unless `WALSHIP_REQUIRE_PEERS` is set.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

type Key = BTreeMap<String, String>;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `q` as a URL query value.
fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// A scrape target with `n` series (counters and gauges); a tenth of them exist only during
/// alternate 30-second periods, so series die and come back as in real life.
fn synthetic_target(n: usize) -> (u16, std::thread::JoinHandle<()>, std::sync::Arc<tiny_http::Server>) {
    let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let s = server.clone();
    let h = std::thread::spawn(move || {
        for req in s.incoming_requests() {
            let t = now_ms();
            let mut body = String::with_capacity(n * 80);
            body.push_str("# TYPE synth_requests_total counter\n");
            for i in 0..n {
                if i % 10 == 0 && (t / 30_000) % 2 == 1 {
                    continue;
                }
                let v = (t / 1000) as usize * (i % 7 + 1) + i;
                body.push_str(&format!(
                    "synth_requests_total{{path=\"/api/v{}/item\",code=\"{}\",shard=\"{i}\"}} {v}\n",
                    i % 5,
                    200 + i % 3
                ));
            }
            body.push_str(&format!("synth_temperature_celsius {}\n", (t % 10_000) as f64 / 100.0));
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    (port, h, server)
}

/// Samples of every series in (t0, t1] held by Prometheus at `port` (NaN values left out).
fn prometheus_samples(port: u16, t0: i64, t1: i64) -> HashMap<Key, HashSet<i64>> {
    let q = encode(&format!("{{__name__=~\".+\"}}[{}ms]", t1 - t0 + 5_000));
    let (code, body) =
        http(port, "GET", &format!("/api/v1/query?query={q}&time={}.{:03}", t1 / 1000, t1 % 1000)).expect("query");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut out: HashMap<Key, HashSet<i64>> = HashMap::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let key: Key = serde_json::from_value(r["metric"].clone()).unwrap();
        let set = out.entry(key).or_default();
        for x in r["values"].as_array().unwrap() {
            let t = (x[0].as_f64().unwrap() * 1000.0).round() as i64;
            if x[1] != "NaN" && t > t0 && t <= t1 {
                set.insert(t);
            }
        }
    }
    out
}

fn vm_samples(port: u16, t0: i64, t1: i64) -> HashMap<Key, HashSet<i64>> {
    let _ = http(port, "GET", "/internal/force_flush");
    let q = format!(
        "/api/v1/export?match%5B%5D={}&start={}&end={}",
        encode("{__name__=~\".+\"}"),
        t0 / 1000,
        t1 / 1000 + 1
    );
    let (code, body) = http(port, "GET", &q).expect("export");
    assert_eq!(code, 200);
    let mut out: HashMap<Key, HashSet<i64>> = HashMap::new();
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r: serde_json::Value = serde_json::from_slice(line).unwrap();
        let key: Key = serde_json::from_value(r["metric"].clone()).unwrap();
        let set = out.entry(key).or_default();
        for (t, v) in r["timestamps"].as_array().unwrap().iter().zip(r["values"].as_array().unwrap()) {
            let t = t.as_i64().unwrap();
            if !v.is_null() && t > t0 && t <= t1 {
                set.insert(t);
            }
        }
    }
    out
}

/// (series, samples, missing, extra) of `got` against `want`.
fn compare(
    want: &HashMap<Key, HashSet<i64>>,
    got: &HashMap<Key, HashSet<i64>>,
    name: &str,
) -> (usize, usize, usize, usize) {
    let (mut total, mut missing, mut extra) = (0, 0, 0);
    let mut worst: Vec<(usize, String)> = Vec::new();
    for (k, ts) in want {
        total += ts.len();
        let g = got.get(k);
        let miss = ts.iter().filter(|t| !g.is_some_and(|g| g.contains(t))).count();
        if miss > 0 {
            worst.push((miss, k.get("__name__").cloned().unwrap_or_default()));
        }
        missing += miss;
    }
    for (k, ts) in got {
        extra += ts.iter().filter(|t| !want.get(k).is_some_and(|w| w.contains(t))).count();
    }
    worst.sort_by(|a, b| b.cmp(a));
    for (n, m) in worst.iter().take(5) {
        eprintln!("e2e ({name}): missing {n} samples of {m}");
    }
    (want.len(), total, missing, extra)
}

#[test]
fn ships_a_live_prometheus_wal_through_a_crash_and_an_outage() {
    if !have("prometheus") || !have("prometheus-node-exporter") || !have("victoria-metrics") {
        return;
    }
    let secs: u64 = std::env::var("WALSHIP_E2E_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(240);
    let (kill_at, stop_vm_at, outage) = ((secs * 4 / 9).min(40), (secs * 6 / 9).min(60), (secs * 2 / 9).min(20));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (synth_port, _synth, synth) = synthetic_target(2_000);
    let (node_port, prom_port, rx_port, vm_port) = (free_port(), free_port(), free_port(), free_port());
    let mut vm = Some(victoria_metrics_at(dir, vm_port));
    let _node = node_exporter(node_port);
    let config = scrape_config(dir, &[("synth", synth_port), ("node", node_port), ("prometheus", prom_port)]);
    // The receiving Prometheus scrapes nothing.
    std::fs::write(dir.join("rx.yml"), "global: {scrape_interval: 1m}\n").unwrap();
    let _rx = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("rx.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("rx").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{rx_port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("rx.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // The source Prometheus: small segments and short blocks, so segments roll over.
    let prom = source_prometheus(dir, &config, prom_port, "2m");
    wait_for("receiving Prometheus", 30, || http(rx_port, "GET", "/-/ready").is_some_and(|r| r.0 == 200));
    std::thread::sleep(Duration::from_secs(3));
    let t0 = now_ms();
    let queue = "{batch_send_deadline: 1s, max_backoff: 1s}";
    let args = from_the_beginning(dir, &[("vm", vm_port, queue), ("prometheus", rx_port, queue)]);
    let start_walship = || shipper(dir, &args);
    let mut ship = start_walship();
    // Every segment and checkpoint the WAL directory held while walship read it.
    let mut wal_seen = BTreeSet::new();
    let look_at_wal = |seen: &mut BTreeSet<String>| {
        for e in std::fs::read_dir(dir.join("data/wal")).into_iter().flatten().flatten() {
            seen.insert(e.file_name().to_string_lossy().into_owned());
        }
    };
    for s in 1..=secs {
        std::thread::sleep(Duration::from_secs(1));
        look_at_wal(&mut wal_seen);
        if s == kill_at {
            let _ = ship.0.kill(); // SIGKILL
            let _ = ship.0.wait();
            std::thread::sleep(Duration::from_secs(2));
            ship = start_walship();
            eprintln!("e2e: walship killed with SIGKILL and restarted at {s}s");
        }
        if s == stop_vm_at {
            if let Some(v) = vm.take() {
                v.terminate();
            }
            eprintln!("e2e: VictoriaMetrics stopped at {s}s");
        }
        if s == stop_vm_at + outage {
            vm = Some(victoria_metrics_at(dir, vm_port));
            eprintln!("e2e: VictoriaMetrics restarted at {s}s");
        }
    }
    // Prometheus checkpoints at its second head truncation or so, which in some runs comes a little
    // after four minutes: keep scraping (up to 3 more minutes) until it has.
    let is_checkpoint = |n: &&String| n.starts_with("checkpoint.") && !n.ends_with(".tmp");
    let mut extra = 0;
    while secs >= 240 && !wal_seen.iter().any(|n| is_checkpoint(&n)) && extra < 180 {
        std::thread::sleep(Duration::from_secs(1));
        look_at_wal(&mut wal_seen);
        extra += 1;
    }
    if extra > 0 {
        eprintln!("e2e: scraped {extra} s longer, until Prometheus wrote a checkpoint");
    }
    // Stop scraping (the WAL stops growing), then let walship drain.
    let t1 = stop_scraping_and_drain(&config, prom_port);
    look_at_wal(&mut wal_seen);
    let segments = wal_seen.iter().filter(|n| n.bytes().all(|b| b.is_ascii_digit())).count();
    let checkpoints: Vec<&String> = wal_seen.iter().filter(is_checkpoint).collect();
    eprintln!("e2e: WAL during the run: {segments} segments, checkpoints {checkpoints:?}");
    if secs >= 240 {
        assert!(segments >= 2, "no segment rollover during the run: {wal_seen:?}");
        assert!(!checkpoints.is_empty(), "no checkpoint during the run: {wal_seen:?}");
    }
    let want = prometheus_samples(prom_port, t0, t1);
    let from_vm = vm_samples(vm_port, t0, t1);
    let from_rx = prometheus_samples(rx_port, t0, t1);
    drop((ship, prom, vm));
    synth.unblock();
    let log = walship_log(dir);
    let mut failed = false;
    for (name, got) in [("victoria-metrics", &from_vm), ("prometheus receiver", &from_rx)] {
        let (series, samples, missing, extra) = compare(&want, got, name);
        eprintln!("e2e: {name}: {series} series, {samples} samples, missing {missing}, extra {extra}");
        failed |= missing > 0;
        assert!(samples > 1_000 * secs as usize, "too few samples in the window: {samples}");
    }
    if failed {
        eprintln!(
            "{}",
            log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    assert!(!failed, "samples missing");
}

/// The checkpoint indices in a WAL directory.
fn checkpoints(wal: &std::path::Path) -> Vec<u64> {
    std::fs::read_dir(wal)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("checkpoint.").filter(|s| s.bytes().all(|b| b.is_ascii_digit())).and_then(|s| s.parse().ok())
        })
        .collect()
}

/// walship is SIGKILLed and kept down until Prometheus has deleted the WAL segments its cursor
/// points into (head truncations with 1-minute blocks: about four minutes), then restarted:
/// the time range those segments held comes from the persisted blocks, and VictoriaMetrics
/// holds every sample Prometheus holds for the whole run.
#[test]
fn a_shipper_down_longer_than_the_wal_loses_nothing() {
    let Some(OneVm { tmp, synth, _synth_thread, prom_port, vm_port, config, prom, vm, t0 }) = one_vm() else {
        return;
    };
    let dir = tmp.path();
    let start_walship = || {
        let url = format!("--url=http://127.0.0.1:{vm_port}/api/v1/write");
        shipper(dir, &[url, "--start=oldest".into(), "--queue.batch-send-deadline=1s".into()])
    };
    let mut ship = start_walship();
    std::thread::sleep(Duration::from_secs(30));
    let _ = ship.0.kill(); // SIGKILL
    let _ = ship.0.wait();
    let (cursor, segment) = saved_cursor(dir);
    eprintln!("e2e: walship killed with SIGKILL at 30 s, cursor {cursor}");
    // Down until a checkpoint replaced the cursor's segment (it is deleted then).
    let down = wait_for_checkpoint(dir, segment);
    eprintln!("e2e: walship down {down} s, until Prometheus checkpointed {:?}", checkpoints(&dir.join("data/wal")));
    ship = start_walship();
    std::thread::sleep(Duration::from_secs(30));
    let Shipped { log, samples, missing } =
        stop_and_compare(dir, &config, (prom_port, vm_port), t0, (ship, prom, vm), &synth);
    let gap = log.lines().find(|l| l.contains("WAL segments missing")).unwrap_or_else(|| panic!("no gap line: {log}"));
    eprintln!("e2e: {gap}");
    assert!(gap.contains("shipped from the persisted blocks"), "{gap}");
    // The restarted walship did take samples from the blocks (without them, the range of the
    // deleted segments older than the checkpoint's would be missing).
    let from_blocks = log
        .lines()
        .rfind(|l| l.contains("Persisted blocks shipped"))
        .and_then(|l| l.split("samples=").nth(1))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    eprintln!("e2e: samples shipped from blocks after the restart: {from_blocks:?}");
    assert!(from_blocks.is_some_and(|n| n > 0), "{log}");
    assert!(samples > 1_000 * 200, "too few samples in the window: {samples}");
    assert_eq!(missing, 0, "samples missing; walship log:\n{log}");
}

/// The peers of the tests with one VictoriaMetrics: a synthetic target of 1,000 series, a
/// source Prometheus scraping it and itself every second with 1-minute blocks (each head
/// truncation starts a segment, and from the fourth one on, checkpoints delete old segments),
/// and a VictoriaMetrics for walship to ship to. `None` (the test skips) without the peers.
struct OneVm {
    /// Holds everything: the source's `data`, walship's `state` and the logs.
    tmp: tempfile::TempDir,
    /// The synthetic target, to stop it.
    synth: std::sync::Arc<tiny_http::Server>,
    /// The synthetic target's thread.
    _synth_thread: std::thread::JoinHandle<()>,
    /// The source Prometheus's port.
    prom_port: u16,
    /// VictoriaMetrics's port.
    vm_port: u16,
    /// The source Prometheus's configuration file.
    config: std::path::PathBuf,
    /// The source Prometheus.
    prom: Killed,
    /// VictoriaMetrics.
    vm: Killed,
    /// When the source Prometheus had been ready for 3 s: the start of the compared window.
    t0: i64,
}

/// Starts the peers of [`OneVm`], or `None` without them.
fn one_vm() -> Option<OneVm> {
    if !have("prometheus") || !have("victoria-metrics") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (synth_port, _synth_thread, synth) = synthetic_target(1_000);
    let (prom_port, vm_port) = (free_port(), free_port());
    let vm = victoria_metrics_at(dir, vm_port);
    let config = scrape_config(dir, &[("synth", synth_port), ("prometheus", prom_port)]);
    let prom = source_prometheus(dir, &config, prom_port, "1m");
    std::thread::sleep(Duration::from_secs(3));
    let t0 = now_ms();
    Some(OneVm { tmp, synth, _synth_thread, prom_port, vm_port, config, prom, vm, t0 })
}

/// `walship ship` of the WAL of [`source_prometheus`] in `dir/data` with `args`, its cursor saved
/// every second in `dir/state`, its log appended to `dir/walship.log`, no web server.
fn shipper(dir: &Path, args: &[String]) -> Killed {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("walship.log")).unwrap();
    Killed(
        walship()
            .arg("ship")
            .arg("--wal-dir")
            .arg(dir.join("data"))
            .args(args)
            .args(["--cursor.save-interval=1s", "--web.listen-address="])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Stops the scrapes of the Prometheus on `port` (its WAL stops growing) by reloading it with an
/// empty `config`, then gives walship 20 s to drain. Returns the time scraping stopped, in ms.
fn stop_scraping_and_drain(config: &Path, port: u16) -> i64 {
    std::fs::write(config, "global: {scrape_interval: 1s}\n").unwrap();
    let _ = http(port, "POST", "/-/reload");
    std::thread::sleep(Duration::from_secs(2));
    let t1 = now_ms();
    std::thread::sleep(Duration::from_secs(20));
    t1
}

/// What every walship of the test logged; none of them panicked.
fn walship_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("walship.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    log
}

/// Writes `dir/prometheus.yml`: every second, scrape each `(job, port)` on 127.0.0.1.
fn scrape_config(dir: &Path, jobs: &[(&str, u16)]) -> std::path::PathBuf {
    let mut text = String::from("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n");
    for (job, port) in jobs {
        text.push_str(&format!("  - {{job_name: {job}, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n"));
    }
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, text).unwrap();
    config
}

/// Writes `dir/walship.yml` with one remote-write endpoint per `(name, port, queue_config)` (a
/// receiver on 127.0.0.1) and returns the [`shipper`] arguments that ship the WAL from its
/// beginning to them.
fn from_the_beginning(dir: &Path, endpoints: &[(&str, u16, &str)]) -> [String; 2] {
    let mut text = String::from("remote_write:\n");
    for (name, port, queue) in endpoints {
        text.push_str(&format!(
            "  - url: http://127.0.0.1:{port}/api/v1/write\n    name: {name}\n    queue_config: {queue}\n"
        ));
    }
    let config = dir.join("walship.yml");
    std::fs::write(&config, text).unwrap();
    [format!("--config.file={}", config.display()), "--start=beginning".into()]
}

/// The cursor walship saved in `dir/state` (it must have saved one), and the WAL segment it
/// points into.
fn saved_cursor(dir: &Path) -> (serde_json::Value, u64) {
    let cursor_file = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("cursor-"))
        .expect("a cursor after 30 s");
    let cursor: serde_json::Value = serde_json::from_slice(&std::fs::read(cursor_file.path()).unwrap()).unwrap();
    let segment = cursor["segment"].as_u64().expect("a WAL cursor");
    (cursor, segment)
}

/// Waits (8 minutes at most) until the source Prometheus in `dir` wrote a checkpoint numbered
/// `segment` or higher, that is, deleted every segment up to `segment`. Returns the seconds waited.
fn wait_for_checkpoint(dir: &Path, segment: u64) -> u64 {
    let wal = dir.join("data/wal");
    let mut waited = 0;
    while !checkpoints(&wal).iter().any(|&c| c >= segment) {
        assert!(waited < 480, "Prometheus deleted no segment in 8 minutes");
        std::thread::sleep(Duration::from_secs(1));
        waited += 1;
    }
    waited
}

/// What one VictoriaMetrics received of what the source Prometheus holds.
struct Shipped {
    /// What every walship of the test logged.
    log: String,
    /// Samples the source Prometheus holds for the window.
    samples: usize,
    /// How many of those VictoriaMetrics lacks.
    missing: usize,
}

/// The common end of the tests with one VictoriaMetrics: stops the scrapes of the source
/// Prometheus and lets walship drain ([`stop_scraping_and_drain`]), reads what the source
/// Prometheus (`ports.0`) and VictoriaMetrics (`ports.1`) hold since `t0`, stops the `running`
/// processes and the synthetic target, and compares.
fn stop_and_compare<T>(
    dir: &Path,
    config: &Path,
    ports: (u16, u16),
    t0: i64,
    running: T,
    synth: &tiny_http::Server,
) -> Shipped {
    let (prom_port, vm_port) = ports;
    let t1 = stop_scraping_and_drain(config, prom_port);
    let want = prometheus_samples(prom_port, t0, t1);
    let got = vm_samples(vm_port, t0, t1);
    drop(running);
    synth.unblock();
    let log = walship_log(dir);
    let (series, samples, missing, extra) = compare(&want, &got, "victoria-metrics");
    eprintln!("e2e: victoria-metrics: {series} series, {samples} samples, missing {missing}, extra {extra}");
    Shipped { log, samples, missing }
}

/// A Prometheus scraping as `config` says, into `dir/data`, its log in `dir/prometheus.log`: the
/// smallest WAL segments it allows (10 MB) and blocks of 1 minute up to `max_block`, so that
/// segments roll over and head truncations come within a test's minutes. Returns once it is ready.
fn source_prometheus(dir: &Path, config: &Path, port: u16, max_block: &str) -> Killed {
    let prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--storage.tsdb.wal-segment-size=10MB", "--storage.tsdb.min-block-duration=1m"])
            .arg(format!("--storage.tsdb.max-block-duration={max_block}"))
            .arg("--web.enable-lifecycle")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus", 30, || http(port, "GET", "/-/ready").is_some_and(|r| r.0 == 200));
    prom
}

/// The remote is down longer than the WAL keeps its segments, while walship runs: its queue
/// fills, the watcher waits, and Prometheus deletes segments walship has not read yet (head
/// truncations with 1-minute blocks). When the remote comes back, walship meets the gap while
/// running, ships the time range the deleted segments held from the persisted blocks (and what
/// the checkpoint kept), then goes on with the WAL: VictoriaMetrics holds every sample
/// Prometheus holds for the whole run. Prometheus's own remote write loses that range.
#[test]
fn a_remote_down_longer_than_the_wal_loses_nothing() {
    let Some(OneVm { tmp, synth, _synth_thread, prom_port, vm_port, config, prom, vm, t0 }) = one_vm() else {
        return;
    };
    let dir = tmp.path();
    let mut vm = Some(vm);
    // A small queue, so that the watcher stops reading soon after the remote goes away.
    let queue = "{capacity: 2000, max_shards: 2, batch_send_deadline: 1s, max_backoff: 1s}";
    let ship = shipper(dir, &from_the_beginning(dir, &[("vm", vm_port, queue)]));
    std::thread::sleep(Duration::from_secs(30));
    if let Some(v) = vm.take() {
        v.terminate();
    }
    std::thread::sleep(Duration::from_secs(5));
    let (cursor, segment) = saved_cursor(dir);
    eprintln!("e2e: VictoriaMetrics stopped at 30 s; walship's cursor {cursor}");
    // Down until Prometheus deleted the segment after the one walship was reading.
    let down = wait_for_checkpoint(dir, segment + 1);
    eprintln!(
        "e2e: remote down {} s, until Prometheus checkpointed {:?}",
        down + 5,
        checkpoints(&dir.join("data/wal"))
    );
    vm = Some(victoria_metrics_at(dir, vm_port));
    std::thread::sleep(Duration::from_secs(40));
    let Shipped { log, samples, missing } =
        stop_and_compare(dir, &config, (prom_port, vm_port), t0, (ship, prom, vm), &synth);
    let filled = log.lines().find(|l| l.contains("Gap filled from the persisted blocks"));
    eprintln!("e2e: {filled:?}");
    assert!(filled.is_some(), "the gap was met while running and filled: {log}");
    assert!(samples > 1_000 * 200, "too few samples in the window: {samples}");
    assert_eq!(missing, 0, "samples missing; walship log:\n{log}");
}
