//! Metadata as Prometheus sends it, against real peers: Prometheus 2.42 scrapes node_exporter and
//! a synthetic target, and remote-writes (1.0, metadata every 2 s) to receiver A. Two walships
//! tail the same WAL with `--prometheus.url`:
//!
//! - over remote write 1.0 to receiver B: the metadata B receives must equal what Prometheus sent
//!   A (family, type, help, unit);
//! - over remote write 2.0 to receiver C, with the Prometheus API unreachable for its first
//!   seconds (the URL points at a proxy that is started late): no sample that A received in the
//!   window is missing at C, series sent during the outage carry no metadata, and every series
//!   sent after it carries the type, help and unit of its family as Prometheus sent them to A.
//!
//! Skipped (with a line saying so) without the peers, unless `WALSHIP_REQUIRE_PEERS` is set.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (family, type, help, unit) as the receiver prints them.
type Meta = (String, String, String, String);

/// A line a receiver printed and when it arrived.
type Line = (Instant, String);

/// A `walship receive --print-metadata` (and `--print` of samples) keeping every stdout line.
struct Rx {
    child: Option<Killed>,
    port: u16,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Rx {
    fn start() -> Rx {
        let mut cmd = walship();
        cmd.args(["receive", "--print", "--print-metadata", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped());
        let (mut child, port, errors) = start_receiver(&mut cmd);
        std::thread::spawn(move || errors.for_each(drop));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        Rx { child: Some(Killed(child)), port, lines }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap().clone()
    }

    /// Every 1.0 metadata entry received.
    fn metadata(&self) -> BTreeSet<Meta> {
        self.lines().iter().filter_map(|(_, l)| parse_metadata(l)).collect()
    }

    fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            c.terminate();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads a Rust `{:?}` string at the start of `s`; returns it and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    // \u{XXXX}
                    let rest = &s[i + 2..];
                    let end = rest.find('}')?;
                    out.push(char::from_u32(u32::from_str_radix(&rest[2..end], 16).ok()?)?);
                    for _ in 0..end + 1 {
                        chars.next();
                    }
                }
                o => out.push(o),
            },
            c => out.push(c),
        }
    }
    None
}

/// `# METADATA family type "help" "unit"`.
fn parse_metadata(line: &str) -> Option<Meta> {
    let rest = line.strip_prefix("# METADATA ")?;
    let (family, rest) = rest.split_once(' ')?;
    let (typ, rest) = rest.split_once(' ')?;
    let (help, rest) = quoted(rest)?;
    let (unit, _) = quoted(rest)?;
    Some((family.into(), typ.into(), help, unit))
}

/// `# SERIES {labels} type "help" "unit"`: (labels text, type, help, unit).
fn parse_series(line: &str) -> Option<(String, String, String, String)> {
    let rest = line.strip_prefix("# SERIES ")?;
    let close = rest.find("} ")?;
    let (labels, rest) = (&rest[..=close], &rest[close + 2..]);
    let (typ, rest) = rest.split_once(' ')?;
    let (help, rest) = quoted(rest)?;
    let (unit, _) = quoted(rest)?;
    Some((labels.into(), typ.into(), help, unit))
}

/// A label's value in `{a="1", b="2"}` as the receiver prints labels.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let at = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let end = labels[at..].find('"')?;
    Some(&labels[at..at + end])
}

/// Samples: (labels, timestamp) of every `{labels} value t` line.
fn samples(lines: &[Line]) -> HashSet<(String, i64)> {
    lines
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .filter_map(|(_, l)| {
            let (rest, t) = l.rsplit_once(' ')?;
            let (labels, _) = rest.rsplit_once(' ')?;
            Some((labels.to_string(), t.parse().ok()?))
        })
        .collect()
}

/// The family of a series named `name` among Prometheus's families (as sent to A): the same
/// name, or the name without the suffix of a histogram's or summary's series.
fn family_of<'a>(fams: &'a BTreeMap<String, Meta>, name: &str) -> Option<&'a Meta> {
    if let Some(m) = fams.get(name) {
        return Some(m);
    }
    for (suffix, types) in
        [("_bucket", &["histogram"][..]), ("_sum", &["histogram", "summary"]), ("_count", &["histogram", "summary"])]
    {
        if let Some(m) = name.strip_suffix(suffix).and_then(|b| fams.get(b)) {
            if types.contains(&m.1.as_str()) {
                return Some(m);
            }
        }
    }
    None
}

/// A scrape target with families of every classic kind, each with HELP.
fn synthetic_target() -> (u16, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let s = server.clone();
    std::thread::spawn(move || {
        for (n, req) in s.incoming_requests().enumerate() {
            let body = format!(
                "# HELP synth_jobs_total Jobs done, \"quoted\" and with a \\\\ backslash.\n# TYPE synth_jobs_total counter\n\
                 synth_jobs_total{{kind=\"a\"}} {n}\nsynth_jobs_total{{kind=\"b\"}} {}\n\
                 # HELP synth_queue_length Items waiting.\n# TYPE synth_queue_length gauge\nsynth_queue_length {}\n\
                 # HELP synth_latency_seconds Time per job.\n# TYPE synth_latency_seconds histogram\n\
                 synth_latency_seconds_bucket{{le=\"0.1\"}} {n}\nsynth_latency_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 synth_latency_seconds_sum {}\nsynth_latency_seconds_count {}\n\
                 # HELP synth_size_bytes Sizes seen.\n# TYPE synth_size_bytes summary\n\
                 synth_size_bytes{{quantile=\"0.5\"}} 10\nsynth_size_bytes_sum {}\nsynth_size_bytes_count {n}\n\
                 # TYPE synth_untyped untyped\nsynth_untyped 1\n",
                2 * n,
                n % 7,
                2 * n,
                n / 2,
                2 * n,
                10 * n
            );
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    (port, server)
}

/// Forwards connections on `listener` to `to`, from when it is called on.
fn proxy(listener: TcpListener, to: u16) {
    std::thread::spawn(move || {
        for c in listener.incoming().map_while(Result::ok) {
            let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else { continue };
            let (mut a, mut b) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let (mut c2, mut up2) = (c, up);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut up2);
                let _ = up2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut b, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

#[test]
fn metadata_is_sent_as_prometheus_sends_it() {
    if !have("prometheus") || !have("prometheus-node-exporter") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (synth_port, _synth) = synthetic_target();
    let (node_port, prom_port) = (free_port(), free_port());
    let _node = node_exporter(node_port);
    let mut a = Rx::start();
    let mut b = Rx::start();
    let mut c = Rx::start();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - {{job_name: synth, static_configs: [{{targets: ['127.0.0.1:{synth_port}']}}]}}\n  \
             - {{job_name: node, static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]}}\n\
             remote_write:\n  - url: {}\n    queue_config: {{batch_send_deadline: 1s}}\n    \
             metadata_config: {{send_interval: 2s, max_samples_per_send: 100}}\n",
            a.url()
        ),
    )
    .unwrap();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus", 30, || http(prom_port, "GET", "/-/ready").is_some_and(|r| r.0 == 200));
    // A port reserved for the proxy: nothing answers there until the proxy starts.
    let proxy_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = proxy_listener.local_addr().unwrap().port();
    let ship = |name: &str, url: String, message: &str, prom_url: String| {
        let cfg = dir.join(format!("{name}.yml"));
        std::fs::write(
            &cfg,
            format!(
                "remote_write:\n  - url: {url}\n    protobuf_message: {message}\n    queue_config: {{batch_send_deadline: 1s, max_backoff: 1s}}\n    \
                 metadata_config: {{send_interval: 2s, max_samples_per_send: 100}}\n"
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = walship()
            .arg("ship")
            .arg("--wal-dir")
            .arg(dir.join("data"))
            .arg("--config.file")
            .arg(&cfg)
            .arg(format!("--prometheus.url={prom_url}"))
            .args(["--start=now", "--cursor.save-interval=1s", "--web.listen-address="])
            .arg("--state-dir")
            .arg(dir.join(format!("state-{name}")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (Killed(child), log)
    };
    // Prometheus has scraped (and its API lists metadata) before walship starts.
    wait_for("Prometheus's first metadata request", 30, || !a.metadata().is_empty());
    let (ship_b, log_b) = ship("v1", b.url(), "prometheus.WriteRequest", format!("http://127.0.0.1:{prom_port}"));
    // The proxy's listener is not accepting yet: connections wait in its backlog, so use a port
    // that refuses them outright for the outage, and the proxy after it.
    drop(proxy_listener);
    let (ship_c, log_c) =
        ship("v2", c.url(), "io.prometheus.write.v2.Request", format!("http://127.0.0.1:{proxy_port}"));
    let shipped_from = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let recovered = Instant::now();
    proxy(TcpListener::bind(("127.0.0.1", proxy_port)).unwrap(), prom_port);

    // 1.0: what B receives equals what Prometheus sends A (both are sets over every request).
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.metadata() != b.metadata() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Both keep receiving for two more rounds, so that neither has anything the other lacks.
    std::thread::sleep(Duration::from_secs(5));
    let (meta_a, meta_b) = (a.metadata(), b.metadata());
    let only_a: Vec<_> = meta_a.difference(&meta_b).take(5).collect();
    let only_b: Vec<_> = meta_b.difference(&meta_a).take(5).collect();
    assert!(only_a.is_empty() && only_b.is_empty(), "sent by Prometheus only: {only_a:?}; by walship only: {only_b:?}");
    let fams: BTreeMap<String, Meta> = meta_a.iter().map(|m| (m.0.clone(), m.clone())).collect();
    for f in ["node_cpu_seconds_total", "go_gc_duration_seconds", "synth_jobs_total", "synth_latency_seconds"] {
        assert!(fams.contains_key(f), "{f} in Prometheus's metadata");
    }
    assert_eq!(fams["synth_jobs_total"].2, "Jobs done, \"quoted\" and with a \\ backslash.");
    eprintln!("metadata: 1.0: {} entries, the same from Prometheus and walship", meta_a.len());

    ship_b.terminate();
    let stopped = Instant::now();
    ship_c.terminate();
    std::thread::sleep(Duration::from_secs(2));
    a.stop();
    b.stop();
    c.stop();

    // 2.0: metadata per series, none during the outage, its family's after it.
    let lines_c = c.lines();
    let (mut during, mut after, mut checked) = (0, 0, 0);
    for (at, line) in &lines_c {
        let Some((labels, typ, help, unit)) = parse_series(line) else { continue };
        let name = label(&labels, "__name__").unwrap_or_default();
        let want = family_of(&fams, name);
        if *at < recovered {
            during += 1;
            assert_eq!((typ.as_str(), help.as_str()), ("unknown", ""), "{labels} during the outage");
        } else if *at > recovered + Duration::from_secs(4) {
            after += 1;
            match want {
                Some((_, t, h, u)) => {
                    checked += 1;
                    assert_eq!((&typ, &help, &unit), (t, h, u), "{labels}");
                }
                None => assert_eq!((typ.as_str(), help.as_str()), ("unknown", ""), "{labels}: no family"),
            }
        }
    }
    assert!(during > 0 && checked > 100, "series during the outage {during}, after {after}, with a family {checked}");
    eprintln!("metadata: 2.0: {during} series without metadata during the outage, {checked} of {after} after it with their family's");

    // No sample lost: every sample Prometheus sent A while C's walship ran (leaving its first and
    // last seconds out) reached C.
    let lines_a = a.lines();
    let window = |t0: Instant, t1: Instant| {
        let ms = |i: Instant| {
            let ago = Instant::now().duration_since(i).as_millis() as i64;
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - ago
        };
        (ms(t0), ms(t1))
    };
    let (from, to) = window(shipped_from + Duration::from_secs(2), stopped - Duration::from_secs(3));
    let got = samples(&lines_c);
    let want: Vec<_> = samples(&lines_a).into_iter().filter(|(_, t)| *t >= from && *t <= to).collect();
    let missing: Vec<_> = want.iter().filter(|s| !got.contains(*s)).collect();
    assert!(want.len() > 1000, "{} samples in the window", want.len());
    assert!(missing.is_empty(), "{} of {} samples missing at C, e.g. {:?}", missing.len(), want.len(), missing.first());
    eprintln!("metadata: 2.0: all {} samples of the window arrived", want.len());

    // The outage is told once, and its end once.
    let log = std::fs::read_to_string(&log_c).unwrap();
    assert_eq!(log.matches("Cannot read target metadata").count(), 1, "{log}");
    assert_eq!(log.matches("Prometheus API answers again").count(), 1, "{log}");
    let log = std::fs::read_to_string(&log_b).unwrap();
    assert!(!log.contains("Cannot read target metadata"), "{log}");
}
