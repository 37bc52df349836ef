//! Helpers shared by the binary's integration tests: processes, ports, HTTP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn walship() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walship"))
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
