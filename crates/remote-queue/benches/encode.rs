//! `cargo bench -p remote-queue`: encode + snappy rates of remote write 1.0 and 2.0
//! side by side (same run, alternated), bytes per cached series, end-to-end samples/s to a null
//! receiver on loopback. Prints two tables.

// The integration tests' support: the same HTTP request reader.
#[path = "../tests/support/mod.rs"]
mod support;

use remote_queue::bench_support::{build_cache, cache_usage, EncodeBench};
use remote_queue::{EndpointConfig, Position, Protocol, QueueManager};
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::read_request;

/// CPU seconds used by the calling thread (the machine is shared: wall time would measure the
/// other tenants too): to the nanosecond from the scheduler's statistics where the kernel keeps
/// them, else in the 10 ms ticks of `stat`.
fn thread_cpu_seconds() -> f64 {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    match ns {
        Some(ns) => ns as f64 / 1e9,
        None => cpu_seconds_in("/proc/thread-self/stat"),
    }
}

/// User + system CPU seconds from a `/proc/…/stat` file (clock ticks are 100/s on Linux).
fn cpu_seconds_in(stat: &str) -> f64 {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `step` (which handles `per_step` samples) for about 2 CPU-seconds; samples per CPU-second.
fn per_cpu_second(mut step: impl FnMut(), per_step: usize) -> f64 {
    let (cpu0, t0) = (thread_cpu_seconds(), Instant::now());
    let mut n = 0usize;
    while thread_cpu_seconds() - cpu0 < 2.0 && t0.elapsed() < Duration::from_secs(20) {
        for _ in 0..20 {
            step();
            n += per_step;
        }
    }
    n as f64 / (thread_cpu_seconds() - cpu0).max(0.01)
}

/// Which series the requests of an encode measurement carry.
#[derive(Clone, Copy, PartialEq)]
enum Case {
    /// Every request the same 2000 series.
    Same,
    /// Requests take turns over 10k series with two label values of their own each (see
    /// [`EncodeBench::rotating`]).
    Rotating,
    /// Requests take turns over 10k series of 100 targets, every label value shared (see
    /// [`EncodeBench::rotating_targets`]).
    Targets,
    /// [`Case::Rotating`] over 1M series, each request's scattered over them (see
    /// [`EncodeBench::scattered`]).
    Scattered,
}

impl Case {
    fn bench(self, p: Protocol) -> EncodeBench {
        match self {
            Case::Same => EncodeBench::new(p, 10_000, 2000),
            Case::Rotating => EncodeBench::rotating(p, 10_000, 2000),
            Case::Targets => EncodeBench::rotating_targets(p, 10_000, 2000),
            Case::Scattered => EncodeBench::scattered(p, 1_000_000, 2000),
        }
    }
}

/// Encode + snappy of 2000-sample requests over 10k series, 1.0 and 2.0: samples per
/// CPU-second and compressed bytes per sample of each. The two are measured in alternating slices
/// of 0.05 CPU-seconds, 2 CPU-seconds each in all, so that both see the same load of a shared
/// machine (the shorter the slices, the less a change of load between them weighs).
fn encode_rates(case: Case) -> [(f64, f64); 2] {
    let protocols = [Protocol::V1, Protocol::V2];
    let mut benches = protocols.map(|p| case.bench(p));
    let mut bytes = [0usize; 2];
    for (b, (p, n)) in benches.iter_mut().zip(protocols.iter().zip(bytes.iter_mut())) {
        for _ in 0..50 {
            *n = b.encode(*p);
        }
    }
    let (mut samples, mut cpu) = ([0usize; 2], [0f64; 2]);
    let t0 = Instant::now();
    for _ in 0..40 {
        for i in 0..2 {
            let per = benches[i].batch_len();
            let c0 = thread_cpu_seconds();
            while thread_cpu_seconds() - c0 < 0.05 && t0.elapsed() < Duration::from_secs(60) {
                for _ in 0..2 {
                    benches[i].encode(protocols[i]);
                    samples[i] += per;
                }
            }
            cpu[i] += thread_cpu_seconds() - c0;
        }
    }
    let per = benches[0].batch_len() as f64;
    [0, 1].map(|i| (samples[i] as f64 / cpu[i].max(0.01), bytes[i] as f64 / per))
}

/// Snappy alone on the same request bytes: the ceiling for encode + compress.
fn snappy_rate(protocol: Protocol, case: Case) -> f64 {
    let mut b = case.bench(protocol);
    b.encode(protocol);
    let per = b.batch_len();
    per_cpu_second(
        || {
            b.compress_only();
        },
        per,
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A receiver that answers 204 to everything without decoding.
fn null_receiver() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/write", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut out = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                while read_request(&mut r).is_some() {
                    if out.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn end_to_end() -> (f64, f64) {
    let url = null_receiver();
    let mut cfg = EndpointConfig::new(url);
    cfg.queue.min_shards = 2;
    cfg.queue.batch_send_deadline = Duration::from_millis(100);
    let q = QueueManager::new(cfg).expect("queue");
    let series = 10_000u64;
    support::store_labels(&q, 0, &(0..series).map(remote_queue::bench_support::typical_labels).collect::<Vec<_>>());
    let rounds = 300u64;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    support::append_grid(&q, 0..series, 0..rounds, |_, k| (1_700_000_000_000 + k as i64 * 1000, k as f64));
    let end = Position { segment: 0, offset: rounds };
    q.mark_read(end).expect("mark");
    while q.low_watermark() != Some(end) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = (series * rounds) as f64;
    let m = q.metrics();
    eprintln!(
        "e2e: {} requests, mean attempt {:?}, enqueue retries {}",
        m.sent_batch_duration_count,
        m.sent_batch_duration_sum / m.sent_batch_duration_count.max(1) as u32,
        m.enqueue_retries_total
    );
    q.stop();
    (n / secs, cpu / (n / 1e6))
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    cpu_seconds_in("/proc/self/stat")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(p) = std::env::var_os("RQ_BENCH_RSS") {
        // Bytes of RSS per series a fresh cache of 1M series adds (see below).
        let n = 1_000_000u64;
        let protocol = if p == "2.0" { Protocol::V2 } else { Protocol::V1 };
        let rss0 = rss_kib();
        let cache = build_cache(n, protocol);
        println!("{:.1}", (rss_kib().saturating_sub(rss0)) as f64 * 1024.0 / n as f64);
        drop(cache);
        return;
    }
    if let Some(case) = std::env::var_os("RQ_BENCH_PROFILE") {
        // One encode case alone for 5 CPU-seconds, to run under a profiler: `1.0` or `2.0`,
        // alone or followed by `-rotating`, `-targets` or `-scattered`.
        let case = case.to_string_lossy().into_owned();
        let protocol = if case.starts_with("2.0") { Protocol::V2 } else { Protocol::V1 };
        let which = if case.ends_with("rotating") {
            Case::Rotating
        } else if case.ends_with("scattered") {
            Case::Scattered
        } else if case.ends_with("targets") {
            Case::Targets
        } else {
            Case::Same
        };
        let mut b = which.bench(protocol);
        let per = b.batch_len();
        let c0 = thread_cpu_seconds();
        let mut n = 0usize;
        while thread_cpu_seconds() - c0 < 5.0 {
            b.encode(protocol);
            n += per;
        }
        println!("{case}: {:.2} M samples per CPU-second", n as f64 / (thread_cpu_seconds() - c0) / 1e6);
        return;
    }
    if std::env::var_os("RQ_BENCH_E2E_ONLY").is_some() {
        let (e2e, cpu_per_m) = end_to_end();
        println!("end to end {:.2} M/s, {cpu_per_m:.3} CPU s per million", e2e / 1e6);
        return;
    }
    let [(v1, v1_bytes), (v2, v2_bytes)] = encode_rates(Case::Same);
    let [(r1, r1_bytes), (r2, r2_bytes)] = encode_rates(Case::Rotating);
    let [(t1, t1_bytes), (t2, t2_bytes)] = encode_rates(Case::Targets);
    let [(w1, w1_bytes), (w2, w2_bytes)] = encode_rates(Case::Scattered);
    let (s1, s2) = (snappy_rate(Protocol::V1, Case::Same), snappy_rate(Protocol::V2, Case::Same));
    let side_by_side = || {
        println!("| encode + snappy, samples per CPU-second | RW 1.0 | RW 2.0 | 2.0 / 1.0 |");
        println!("|---|---|---|---|");
        for (name, a, b, ab, bb) in [
            ("same 2000 series in every request", v1, v2, v1_bytes, v2_bytes),
            ("requests take turns over 10k series, 2 label values of their own each", r1, r2, r1_bytes, r2_bytes),
            ("requests take turns over 10k series of 100 targets", t1, t2, t1_bytes, t2_bytes),
            ("as the second row over 1M series, each request's scattered over them", w1, w2, w1_bytes, w2_bytes),
        ] {
            println!(
                "| {name} | {:.2} M ({ab:.1} B/sample) | {:.2} M ({bb:.1} B/sample) | {:.2} |",
                a / 1e6,
                b / 1e6,
                b / a
            );
        }
        println!();
    };
    if std::env::var_os("RQ_BENCH_ENCODE_ONLY").is_some() {
        side_by_side();
        println!("snappy alone on the same bytes: 1.0 {:.2} M/s, 2.0 {:.2} M/s", s1 / 1e6, s2 / 1e6);
        let (r1, r2) = (snappy_rate(Protocol::V1, Case::Rotating), snappy_rate(Protocol::V2, Case::Rotating));
        println!("… on the bytes of a rotating request: 1.0 {:.2} M/s, 2.0 {:.2} M/s", r1 / 1e6, r2 / 1e6);
        return;
    }
    side_by_side();
    let n = 1_000_000u64;
    // RSS of a fresh cache of 1M series, as a 1.0 and as a 2.0 endpoint keeps it, each in a
    // process of its own (memory freed by the first would be reused by the second).
    let rss = ["1.0", "2.0"].map(|p| {
        let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
            .env("RQ_BENCH_RSS", p)
            .output()
            .expect("run the RSS measurement");
        String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap_or(f64::NAN)
    });
    let heap = [Protocol::V1, Protocol::V2].map(|p| cache_usage(n, p).0);
    let label_bytes = cache_usage(n, Protocol::V1).1;
    let (e2e, cpu_per_m) = end_to_end();
    let label_per_series = label_bytes as f64 / n as f64;
    let row = |name: &str, value: String, target: String| println!("| {name} | {value} | {target} |");
    println!("| remote-queue benchmark (10 labels/series, 2000 samples/request) | value | target |");
    println!("|---|---|---|");
    row(
        "RW 1.0 encode + snappy, samples per CPU-second",
        format!("{:.2} M", v1 / 1e6),
        format!("≥ 5 M ({:.0} %)", v1 / 5e6 * 100.0),
    );
    row(
        "… snappy alone on the same bytes (the limit)",
        format!("{:.2} M", s1 / 1e6),
        format!("encode+snappy = {:.0} % of it", v1 / s1 * 100.0),
    );
    row("RW 1.0 compressed bytes per sample", format!("{v1_bytes:.1}"), String::new());
    row(
        "RW 2.0 encode + snappy, samples per CPU-second",
        format!("{:.2} M", v2 / 1e6),
        format!("≥ RW 1.0 ({:.2} ×)", v2 / v1),
    );
    row(
        "… snappy alone on the same bytes (the limit)",
        format!("{:.2} M", s2 / 1e6),
        format!("encode+snappy = {:.0} % of it", v2 / s2 * 100.0),
    );
    row("RW 2.0 compressed bytes per sample", format!("{v2_bytes:.1}"), String::new());
    row("series cache: label bytes per series (uninterned)", format!("{label_per_series:.0}"), String::new());
    row(
        "series cache: heap bytes per series (estimate, interned), 1.0 / 2.0 endpoint",
        format!("{:.0} / {:.0}", heap[0] as f64 / n as f64, heap[1] as f64 / n as f64),
        String::new(),
    );
    row(
        "series cache: RSS growth per series (1M series), 1.0 / 2.0 endpoint",
        format!("{:.0} / {:.0}", rss[0], rss[1]),
        format!("≤ labels + 100 = {:.0}", label_per_series + 100.0),
    );
    row("end to end, null receiver on loopback, samples/s", format!("{:.2} M", e2e / 1e6), "≥ 2 M".into());
    row("CPU seconds per million samples (end to end)", format!("{cpu_per_m:.3}"), String::new());
}
