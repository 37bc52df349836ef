//! `cargo xtask bench-live`: Prometheus 2.42's own remote write and walship side by side, on the
//! same live WAL, in one run. A synthetic target serves `--series` counters; Prometheus A scrapes
//! it every second and remote-writes to a null receiver; Prometheus B scrapes the same target with
//! no remote write (the baseline that isolates A's remote-write cost); walship tails A's WAL and
//! ships to its own null receiver (`walship receive`). Reported: CPU-seconds per million samples
//! shipped, peak RSS, p99 lag as the remote-write metrics show it (highest timestamp read minus
//! highest timestamp sent, sampled every second: one-second resolution), and the p99 delay from
//! scrape to receiver of every sample, which each null receiver measures on arrival.
//!
//! Needs the Debian package `prometheus` (installed by `cargo xtask ci`).

use crate::error::{Failure, Result};
use crate::process::{self, cargo};
use crate::workspace;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("port: {e}"))?.port())
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body.split_once("\r\n\r\n")?.1.to_string())
}

/// The largest value of any series of metric `name` in an exposition text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::max)
}

/// The cumulative buckets `(le, count)` of the receiver's sample delay histogram.
fn delay_buckets(text: &str) -> Vec<(f64, f64)> {
    let prefix = "walship_receive_sample_delay_seconds_bucket{le=\"";
    text.lines()
        .filter_map(|l| {
            let (le, n) = l.strip_prefix(prefix)?.split_once("\"} ")?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, n.parse().ok()?))
        })
        .collect()
}

/// The `q` quantile (a bucket's upper bound) of what was observed between two readings of the
/// same cumulative histogram; NaN when nothing was.
fn quantile(now: &[(f64, f64)], before: &[(f64, f64)], q: f64) -> f64 {
    let count = |i: usize| now.get(i).map_or(0.0, |b| b.1) - before.get(i).map_or(0.0, |b| b.1);
    let total = count(now.len().saturating_sub(1));
    if now.is_empty() || total <= 0.0 {
        return f64::NAN;
    }
    (0..now.len()).find(|&i| count(i) >= q * total).map_or(f64::NAN, |i| now[i].0)
}

/// CPU seconds (user + system) and resident bytes (now, peak) of `pid`.
fn usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based, counting from the pid); clock ticks are 100/s on Linux.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

/// Serves `series` counters on a free port from a thread; returns the port.
fn synthetic_target(series: usize) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("target: {e}"))?;
    let port = l.local_addr().map_err(|e| format!("target: {e}"))?.port();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let mut s = stream;
            let mut r = BufReader::new(match s.try_clone() {
                Ok(c) => c,
                Err(_) => continue,
            });
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let mut body = String::with_capacity(series * 90);
            for i in 0..series {
                body.push_str(&format!(
                    "bench_requests_total{{service=\"svc-{}\",instance=\"host-{}:9100\",code=\"{}\",idx=\"{i}\"}} {}\n",
                    i % 50,
                    i % 300,
                    200 + i % 4,
                    t as usize * (i % 13 + 1) + i
                ));
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(port)
}

fn spawn(cmd: &mut Command, log: &Path) -> Result<Proc> {
    let f = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let child =
        cmd.stdout(Stdio::null()).stderr(f).spawn().map_err(|e| format!("starting {}: {e}", process::display(cmd)))?;
    Ok(Proc(child))
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| Failure(format!("{name} needs a number")))
        }
        None => Ok(default),
    }
}

pub fn run(args: &[String]) -> Result {
    let secs: u64 = arg(args, "--seconds", 120)?;
    let series: usize = arg(args, "--series", 30_000)?;
    process::run(&mut cargo(["build", "--release", "-p", "walship"]))?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace::root().join("target"), PathBuf::from);
    let walship = target_dir.join("release/walship");
    let dir = std::env::temp_dir().join(format!("walship-bench-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let target = synthetic_target(series)?;
    let (rx_prom, rx_ship, prom_a, prom_b, web) =
        (free_port()?, free_port()?, free_port()?, free_port()?, free_port()?);
    let scrape = format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - {{job_name: bench, static_configs: [{{targets: ['127.0.0.1:{target}']}}]}}\n");
    std::fs::write(
        dir.join("a.yml"),
        format!("{scrape}remote_write: [{{url: 'http://127.0.0.1:{rx_prom}/api/v1/write'}}]\n"),
    )
    .map_err(|e| format!("{e}"))?;
    std::fs::write(dir.join("b.yml"), &scrape).map_err(|e| format!("{e}"))?;
    let receiver = |port: u16, log: &str| {
        spawn(
            Command::new(&walship).args(["receive", "--listen", &format!("127.0.0.1:{port}"), "--threads", "1"]),
            &dir.join(log),
        )
    };
    let _r1 = receiver(rx_prom, "rx-prom.log")?;
    let _r2 = receiver(rx_ship, "rx-walship.log")?;
    let prometheus = |name: &str, port: u16| {
        spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", dir.join(format!("{name}.yml")).display()))
                .arg(format!("--storage.tsdb.path={}", dir.join(name).display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            &dir.join(format!("{name}.log")),
        )
    };
    let a = prometheus("a", prom_a)?;
    let b = prometheus("b", prom_b)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("a/wal/00000000").exists() {
        if Instant::now() > deadline {
            return Err(Failure("Prometheus did not start (is the Debian package `prometheus` installed?)".into()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ship = spawn(
        Command::new(&walship)
            .args(["ship", "--start=now", "--web.listen-address"])
            .arg(format!("127.0.0.1:{web}"))
            .arg("--wal-dir")
            .arg(dir.join("a"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg(format!("--url=http://127.0.0.1:{rx_ship}/api/v1/write")),
        &dir.join("walship.log"),
    )?;
    println!(
        "bench-live: {series} series scraped every second for {secs} s (warm-up 15 s); files in {}",
        dir.display()
    );
    std::thread::sleep(Duration::from_secs(15));
    let sent = |port: u16| {
        get(port, "/metrics").and_then(|m| metric(&m, "prometheus_remote_storage_samples_total")).unwrap_or(0.0)
    };
    let lag = |port: u16| {
        let m = get(port, "/metrics")?;
        Some(
            metric(&m, "prometheus_remote_storage_highest_timestamp_in_seconds")?
                - metric(&m, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")?,
        )
    };
    let delays = |port: u16| get(port, "/metrics").map(|m| delay_buckets(&m)).unwrap_or_default();
    let delays0 = [delays(rx_prom), delays(rx_ship)];
    let start = [usage(a.0.id()), usage(b.0.id()), usage(ship.0.id())];
    let (sent_a0, sent_w0) = (sent(prom_a), sent(web));
    let (mut lag_a, mut lag_w) = (Vec::new(), Vec::new());
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        lag_a.extend(lag(prom_a));
        lag_w.extend(lag(web));
        // B answers the same scrape of its metrics, so that A − B leaves out what serving them costs.
        let _ = get(prom_b, "/metrics");
    }
    let end = [usage(a.0.id()), usage(b.0.id()), usage(ship.0.id())];
    let delay_p99 = [delays(rx_prom), delays(rx_ship)]
        .iter()
        .zip(&delays0)
        .map(|(d, d0)| quantile(d, d0, 0.99))
        .collect::<Vec<_>>();
    let (sent_a, sent_w) = (sent(prom_a) - sent_a0, sent(web) - sent_w0);
    let p99 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * 0.99) as usize).copied().unwrap_or(f64::NAN)
    };
    let prom_cpu = (end[0].0 - start[0].0) - (end[1].0 - start[1].0);
    let ship_cpu = end[2].0 - start[2].0;
    let prom_rss = end[0].2 as f64 - end[1].2 as f64;
    let ship_rss = end[2].2 as f64;
    let per_m = |cpu: f64, n: f64| if n > 0.0 { cpu / n * 1e6 } else { f64::NAN };
    println!("| {:<34} | {:>22} | {:>22} | target for walship", "", "Prometheus 2.42 remote write", "walship");
    println!("|{}|{}|{}|---", "-".repeat(36), "-".repeat(24), "-".repeat(24));
    println!("| {:<34} | {:>22.0} | {:>22.0} |", "samples shipped in the window", sent_a, sent_w);
    println!(
        "| {:<34} | {:>22.2} | {:>22.2} | ≤ 1/5 of Prometheus ({:.2}) → {:.0} %",
        "CPU-seconds per million samples",
        per_m(prom_cpu, sent_a),
        per_m(ship_cpu, sent_w),
        per_m(prom_cpu, sent_a) / 5.0,
        per_m(ship_cpu, sent_w) / per_m(prom_cpu, sent_a) * 100.0
    );
    println!(
        "| {:<34} | {:>19.1} MB | {:>19.1} MB | ≤ 1/3 of Prometheus's extra ({:.1} MB)",
        "peak RSS (Prometheus: A − B)",
        prom_rss / 1e6,
        ship_rss / 1e6,
        prom_rss / 3e6
    );
    println!(
        "| {:<34} | {:>20.1} s | {:>20.1} s | ≤ Prometheus's",
        "p99 lag (metrics, 1 s resolution)",
        p99(&mut lag_a),
        p99(&mut lag_w)
    );
    println!(
        "| {:<34} | {:>19.0} ms | {:>19.0} ms | ≤ Prometheus's",
        "p99 delay, scrape → receiver",
        delay_p99[0] * 1e3,
        delay_p99[1] * 1e3
    );
    drop(ship);
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
