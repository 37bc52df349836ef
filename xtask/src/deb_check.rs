//! `cargo xtask deb --check`: installs the package on this machine and proves it as an operator
//! would meet it, then purges it. Needs root (CI runs as root).
//!
//! 1. `dpkg -i`; every file of the package is where dpkg says, with its mode; the binary runs and
//!    reports the package's version; the man pages are gzip'd roff; bash accepts the completion
//!    script; `/etc/default/walship` is a conffile.
//! 2. `systemd-analyze verify` of the installed unit, where systemd-analyze exists.
//! 3. The unit's `ExecStart` line with the `ARGS` of the installed `/etc/default/walship`, run as
//!    the `prometheus` user (CI has no systemd to start the unit), ships what a real Prometheus
//!    (Debian's, also as `prometheus`) writes to its WAL, and saves its cursor in
//!    `/var/lib/walship`. Only the Prometheus data directory, the configuration file and the web
//!    port are swapped for the test's own, so that a Prometheus already running here is left
//!    alone; the test checks that nothing else differs.
//! 4. `dpkg --purge` leaves none of its files, nor `/var/lib/walship`.

use crate::deb_package::{Package, REQUIRED_MAN_PAGES};
use crate::error::{Failure, Result};
use crate::process::{self, succeeds};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = "/usr/lib/systemd/system/walship.service";
const DEFAULTS: &str = "/etc/default/walship";
const STATE_DIR: &str = "/var/lib/walship";

pub fn check(package: &Package) -> Result {
    if !Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0") {
        return Err("deb --check installs the package: run it as root".into());
    }
    process::run(Command::new("dpkg").arg("-i").arg(&package.path))?;
    let checked = check_installed(package).and_then(|()| verify_unit()).and_then(|()| run_exec_start());
    // Purged whether or not the checks passed, so that a failed run leaves the machine clean.
    let purged = purge(package);
    checked.and(purged)
}

fn check_installed(package: &Package) -> Result {
    let listed = process::output(Command::new("dpkg").args(["-L", "walship"]))?;
    for file in &package.files {
        if !listed.lines().any(|l| l == file) {
            return Err(Failure(format!("dpkg -L walship does not list {file}")));
        }
        let meta = std::fs::metadata(file).map_err(|e| Failure(format!("installed {file}: {e}")))?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        let want = if file == "/usr/bin/walship" { 0o755 } else { 0o644 };
        if mode != want || meta.len() == 0 {
            return Err(Failure(format!(
                "{file}: mode {mode:o}, {} bytes; expected mode {want:o}, not empty",
                meta.len()
            )));
        }
    }
    let version = process::output(Command::new("/usr/bin/walship").arg("--version"))?;
    if version != format!("walship {}", package.version) {
        return Err(Failure(format!(
            "/usr/bin/walship --version says `{version}`, the package is {}",
            package.version
        )));
    }
    let pages: Vec<&String> = package.files.iter().filter(|f| f.starts_with("/usr/share/man/man1/")).collect();
    for required in REQUIRED_MAN_PAGES {
        if !pages.iter().any(|p| **p == format!("/usr/share/man/man1/{required}.1.gz")) {
            return Err(Failure(format!("no man page {required}(1) in the package")));
        }
    }
    for path in pages {
        let roff = process::output(Command::new("gzip").args(["-dc", path]))?;
        if !roff.contains("\n.TH ") {
            return Err(Failure(format!("{path} is no man page")));
        }
    }
    let ship_page = process::output(Command::new("gzip").args(["-dc", "/usr/share/man/man1/walship-ship.1.gz"]))?;
    if !ship_page.contains("wal\\-dir") {
        return Err("walship-ship(1) does not document --wal-dir".into());
    }
    process::run(Command::new("bash").args(["-n", "/usr/share/bash-completion/completions/walship"]))?;
    let conffiles = process::output(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "walship"]))?;
    if !conffiles.contains(DEFAULTS) {
        return Err(Failure(format!("{DEFAULTS} is not a conffile: {conffiles}")));
    }
    if !succeeds(Command::new("getent").args(["passwd", "prometheus"])) {
        return Err("the prometheus user does not exist after install".into());
    }
    println!("deb: {} files installed as listed, walship {} runs", package.files.len(), package.version);
    Ok(())
}

fn verify_unit() -> Result {
    if !succeeds(Command::new("systemd-analyze").arg("--version")) {
        println!("deb: systemd-analyze not installed; unit not verified (install the systemd package to verify it)");
        return Ok(());
    }
    // verify prints problems as warnings and still exits 0 for some of them: any output is a
    // problem worth failing on.
    let out = Command::new("systemd-analyze")
        .args(["verify", UNIT])
        .output()
        .map_err(|e| Failure(format!("systemd-analyze: {e}")))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Without a running systemd (CI) verify still parses the unit, but says it cannot reach the
    // manager or the prometheus.service it is ordered after; those lines are about the machine.
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !l.contains("prometheus.service")
                && !l.contains("Failed to connect")
                && !l.contains("System has not been booted")
        })
        .collect();
    if !out.status.success() || !problems.is_empty() {
        return Err(Failure(format!("systemd-analyze verify {UNIT} ({}):\n{}", out.status, problems.join("\n"))));
    }
    println!("deb: systemd-analyze verify {UNIT}: no problem");
    Ok(())
}

/// The words of `ExecStart=` with `$ARGS` replaced by the words of `ARGS` from the defaults file.
fn exec_start() -> Result<Vec<String>> {
    let unit = std::fs::read_to_string(UNIT).map_err(|e| Failure(format!("{UNIT}: {e}")))?;
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).ok_or("no ExecStart= in the unit")?;
    let defaults = std::fs::read_to_string(DEFAULTS).map_err(|e| Failure(format!("{DEFAULTS}: {e}")))?;
    let args = defaults
        .lines()
        .find_map(|l| l.strip_prefix("ARGS="))
        .map(|v| v.trim_matches('"'))
        .ok_or("no ARGS= in /etc/default/walship")?;
    let mut words = Vec::new();
    for word in line.split_whitespace() {
        if word == "$ARGS" {
            words.extend(args.split_whitespace().map(str::to_string));
        } else {
            words.push(word.to_string());
        }
    }
    Ok(words)
}

/// `words` with the value after each flag in `swaps` replaced; fails when a flag is missing, so
/// that a changed defaults file cannot make the test run something else unnoticed.
fn swapped(words: &[String], swaps: &[(&str, &str, String)]) -> Result<Vec<String>> {
    let mut out = words.to_vec();
    for (flag, expected, new) in swaps {
        let at = out.iter().position(|w| w == flag).ok_or_else(|| Failure(format!("ExecStart has no {flag}")))?;
        let value = out.get_mut(at + 1).ok_or_else(|| Failure(format!("{flag} has no value")))?;
        if value != expected {
            return Err(Failure(format!("{flag} is {value}, expected Debian's {expected}")));
        }
        *value = new.clone();
    }
    Ok(out)
}

fn run_exec_start() -> Result {
    let words = exec_start()?;
    let expected_start = ["/usr/bin/walship", "ship"];
    if words.len() < 2 || words[..2] != expected_start {
        return Err(Failure(format!("ExecStart is `{}`", words.join(" "))));
    }
    let scratch = Scratch::new()?;
    let (prom_port, web_port, recv_port) = (free_port()?, free_port()?, free_port()?);
    let data = scratch.0.join("metrics2");
    let config = scratch.0.join("prometheus.yml");
    std::fs::create_dir_all(&data).map_err(|e| Failure(format!("{}: {e}", data.display())))?;
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\nremote_write:\n  - url: http://127.0.0.1:{recv_port}/api/v1/write\n    name: deb-check\n"
        ),
    )
    .map_err(|e| Failure(format!("{}: {e}", config.display())))?;
    process::run(Command::new("chown").args(["-R", "prometheus:prometheus"]).arg(&scratch.0))?;
    let command = swapped(
        &words,
        &[
            ("--wal-dir", "/var/lib/prometheus/metrics2", data.display().to_string()),
            ("--config.file", "/etc/prometheus/prometheus.yml", config.display().to_string()),
            ("--web.listen-address", "127.0.0.1:9333", format!("127.0.0.1:{web_port}")),
            ("--prometheus.url", "http://127.0.0.1:9090", format!("http://127.0.0.1:{prom_port}")),
        ],
    )?;
    if !command.iter().any(|w| w == STATE_DIR) {
        return Err(Failure(format!("ExecStart does not keep its state in {STATE_DIR}")));
    }
    // What systemd's StateDirectory= would do before starting the unit.
    std::fs::create_dir_all(STATE_DIR).map_err(|e| Failure(format!("{STATE_DIR}: {e}")))?;
    process::run(Command::new("chown").args(["prometheus:prometheus", STATE_DIR]))?;

    let _receiver = Running::spawn(Command::new("/usr/bin/walship").args([
        "receive",
        "--listen",
        &format!("127.0.0.1:{recv_port}"),
    ]))?;
    let _prometheus = Running::spawn(as_prometheus("prometheus").args([
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{prom_port}"),
    ]))?;
    wait("Prometheus to write its WAL", 60, || data.join("wal/00000000").exists())?;
    println!("$ (as prometheus) {}", command.join(" "));
    let mut walship = Running::spawn(as_prometheus(&command[0]).args(&command[1..]))?;
    let mut sent = 0.0;
    wait("the installed walship to deliver samples and save its cursor", 90, || {
        sent = metric(web_port, "prometheus_remote_storage_samples_total").unwrap_or(0.0);
        sent > 0.0 && std::fs::read_dir(STATE_DIR).is_ok_and(|mut d| d.next().is_some())
    })?;
    let status = walship.terminate()?;
    if !status.success() {
        return Err(Failure(format!("walship exited with {status} after SIGTERM")));
    }
    println!(
        "deb: ExecStart as prometheus shipped {sent} samples from Prometheus's WAL, saved its cursor, stopped cleanly"
    );
    Ok(())
}

fn purge(package: &Package) -> Result {
    process::run(Command::new("dpkg").args(["--purge", "walship"]))?;
    let left: Vec<&str> = package
        .files
        .iter()
        .map(String::as_str)
        .chain([STATE_DIR, "/usr/share/doc/walship"])
        .filter(|f| Path::new(f).exists())
        .collect();
    if !left.is_empty() {
        return Err(Failure(format!("dpkg --purge walship left {}", left.join(" "))));
    }
    if succeeds(Command::new("dpkg-query").args(["-W", "walship"])) {
        return Err("dpkg still knows walship after --purge".into());
    }
    println!("deb: purged; nothing left");
    Ok(())
}

/// `program` run as the prometheus user and group, replacing this process's identity directly
/// (setpriv execs, so signals reach the program itself).
fn as_prometheus(program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=prometheus", "--regid=prometheus", "--init-groups", program]);
    cmd
}

/// A temporary directory the prometheus user can enter, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("walship-deb-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped.
struct Running(Child);

impl Running {
    fn spawn(cmd: &mut Command) -> Result<Running> {
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        cmd.spawn().map(Running).map_err(|e| Failure(format!("cannot start `{}`: {e}", process::display(cmd))))
    }

    /// SIGTERM, as systemd stops the unit, and the exit status.
    fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        process::run(Command::new("kill").args(["-TERM", &self.0.id().to_string()]))?;
        self.0.wait().map_err(|e| Failure(format!("waiting for walship: {e}")))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Failure(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Failure(format!("no free port: {e}")))
}

fn wait(what: &str, secs: u64, mut done: impl FnMut() -> bool) -> Result {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() > deadline {
            return Err(Failure(format!("timed out after {secs}s waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// The sum of a metric family's samples on walship's `/metrics`.
fn metric(port: u16, name: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    let values: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_only_the_named_values() {
        let words: Vec<String> = ["walship", "ship", "--wal-dir", "/a", "--state-dir", "/s"].map(String::from).to_vec();
        let out = swapped(&words, &[("--wal-dir", "/a", "/b".into())]).unwrap();
        assert_eq!(out, ["walship", "ship", "--wal-dir", "/b", "--state-dir", "/s"]);
        assert!(swapped(&words, &[("--wal-dir", "/other", "/b".into())]).is_err());
        assert!(swapped(&words, &[("--config.file", "/a", "/b".into())]).is_err());
    }
}
