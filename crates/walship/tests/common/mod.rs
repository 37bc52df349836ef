//! Helpers shared by the binary's integration tests: processes, ports, HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn walship() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walship"))
}

/// `walship ship --once --start=beginning` with no web server: ships `wal`, its cursor in
/// `state`, to what `args` name (`--url=…`, `--config.file=…`, and any other flag). Returns the
/// exit status and the log.
pub fn ship_once<S: AsRef<std::ffi::OsStr>>(
    wal: &Path,
    state: &Path,
    args: impl IntoIterator<Item = S>,
) -> (std::process::ExitStatus, String) {
    let out = walship()
        .args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(wal)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Killed(pub Child);

impl Killed {
    /// Stops the process gracefully (SIGTERM) and waits for it, as an operator stops a service.
    pub fn terminate(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn have(bin: &str) -> bool {
    let found = Command::new(bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        assert!(std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(), "{bin} is required but not installed");
        eprintln!("skipped: {bin} not installed");
    }
    found
}

/// Runs headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=…`), its profile in
/// `profile`, kept from reaching for a network; returns what it printed, asserting it succeeded.
pub fn chromium(args: &[&str], url: &str, profile: &Path) -> Vec<u8> {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium {args:?} failed: {}", out.status);
    out.stdout
}

/// Starts `prometheus-node-exporter` on `port`.
pub fn node_exporter(port: u16) -> Killed {
    Killed(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let code = std::str::from_utf8(buf.get(9..12)?).ok()?.parse().ok()?;
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((code, buf[at + 4..].to_vec()))
}

pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn victoria_metrics(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    (victoria_metrics_at(dir, port), port)
}

/// Starts VictoriaMetrics on `port` with its data in `dir/vm` (so a restart keeps the data).
pub fn victoria_metrics_at(dir: &Path, port: u16) -> Killed {
    let child = Command::new("victoria-metrics")
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", dir.join("vm").display()))
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vm = Killed(child);
    wait_for("VictoriaMetrics", 30, || http(port, "GET", "/health").is_some_and(|r| r.0 == 200));
    vm
}

/// A `walship receive` child and the sample count it reports on stderr.
pub struct Receiver {
    pub child: Killed,
    pub port: u16,
    pub samples: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

pub fn receiver() -> Receiver {
    let (child, port, lines) = start_receiver(walship().args(["receive", "--listen", "127.0.0.1:0"]));
    let samples = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s = samples.clone();
    std::thread::spawn(move || {
        for line in lines {
            // "walship: N requests, M samples received"
            if let Some(m) = line.strip_suffix(" samples received").and_then(|l| l.rsplit(' ').next()) {
                s.store(m.parse().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    Receiver { child: Killed(child), port, samples }
}

/// The port in the receiver's "receiving remote write on http://127.0.0.1:PORT/api/v1/write".
/// Starts `cmd`, a `walship receive` listening on port 0 or another, with its stderr piped.
/// Returns the child, the port it names on its first line (it binds a port the OS picks: one
/// picked here and bound later could be taken in between by a test running alongside), and the
/// rest of its stderr, which the caller must keep reading so the child never blocks on a full pipe.
pub fn start_receiver(cmd: &mut Command) -> (Child, u16, impl Iterator<Item = String> + Send + 'static) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("walship receive starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines().map_while(Result::ok);
    let first = lines.next().unwrap_or_default();
    let port = listening_port(&first).unwrap_or_else(|| panic!("receiver did not start: {first:?}"));
    (child, port, lines)
}

fn listening_port(line: &str) -> Option<u16> {
    let addr = line.split("http://").nth(1)?.split('/').next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Value bits, with every NaN (stale markers among them) as one: the receiver prints values as
/// text, which keeps every other value's bits.
pub fn value_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// A `walship receive --print` collecting every sample it prints.
pub struct Printer {
    child: Option<Killed>,
    pub port: u16,
    pub lines: Arc<Mutex<Vec<(String, i64, u64)>>>,
    /// The `# METADATA` and `# SERIES` lines, with `--print-metadata`.
    pub meta: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Printer {
    /// A printing receiver on a port the OS picks.
    pub fn start() -> Printer {
        Self::start_at(0)
    }

    /// A printing receiver on `port` (0: one the OS picks).
    pub fn start_at(port: u16) -> Printer {
        Self::start_with(port, &[])
    }

    /// A printing receiver on `port` with more `receive` arguments (`--print-metadata`: its
    /// `# …` lines go to [`Printer::meta`]).
    pub fn start_with(port: u16, extra: &[&str]) -> Printer {
        let mut cmd = walship();
        cmd.args(["receive", "--print", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::piped());
        let (mut child, port, errors) = start_receiver(&mut cmd);
        // Drained so the child never blocks on a full pipe.
        std::thread::spawn(move || errors.for_each(drop));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let meta = Arc::new(Mutex::new(Vec::new()));
        let (sink, meta_sink) = (lines.clone(), meta.clone());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("# ") {
                    meta_sink.lock().unwrap().push(line);
                    continue;
                }
                // `{labels} value timestamp`
                let (rest, t) = line.rsplit_once(' ').unwrap();
                let (labels, v) = rest.rsplit_once(' ').unwrap();
                let v: f64 = v.parse().unwrap();
                sink.lock().unwrap().push((labels.to_string(), t.parse().unwrap(), value_bits(v)));
            }
        });
        Printer { child: Some(Killed(child)), port, lines, meta, reader: Some(reader) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Stops the receiver and returns everything it printed.
    pub fn finish(mut self) -> Vec<(String, i64, u64)> {
        if let Some(c) = self.child.take() {
            c.terminate();
        }
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// What a receiver got, with the copies of a sample removed when walship's `log` says it resent
/// a batch: a batch whose answer came later than the remote timeout is sent again (at least once,
/// as in Prometheus), which a loaded machine can provoke. Without such a line every copy counts,
/// so a sample sent twice for any other reason still shows.
pub fn without_resent(mut samples: Vec<(String, i64, u64)>, log: &str) -> Vec<(String, i64, u64)> {
    if log.contains("failed to send batch, retrying") {
        let mut seen = std::collections::HashSet::new();
        samples.retain(|s| seen.insert(s.clone()));
    }
    samples
}

/// The value of `name` in the `--once` summary line (`msg="Shipped …"`) of `log`; panics when
/// the line or the field is missing.
pub fn summary_field<'a>(log: &'a str, name: &str) -> &'a str {
    let summary = log.lines().find(|l| l.contains("msg=\"Shipped")).unwrap_or_else(|| panic!("no summary in {log}"));
    summary
        .split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{name} in {summary}"))
}
