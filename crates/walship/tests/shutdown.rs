//! Stopping and saving as an operator who cannot lose data expects: a full disk under the state
//! directory is seen (metric, one log line, its recovery, non-zero `--once`), and never leaves a
//! half-written file; the flush deadline holds; a second signal exits at once without moving the
//! cursor past what the remote acknowledged.

mod common;

use common::*;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const FIXTURE: &str = "prometheus-2.42/snappy-exemplars-checkpoint";
const FIXTURE_SAMPLES: u64 = 493_112;

/// A small tmpfs at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Root can always mount a tmpfs here; CI runs as root.
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
            assert!(!root, "mounting a tmpfs failed although running as root");
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    /// Fills it up.
    fn fill(&self) -> std::path::PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0x55u8; 1024];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn ship(wal: &Path, state: &Path, url: &str, extra: &[&str]) -> Command {
    let mut c = walship();
    c.args(["ship", "--start=beginning"]).arg("--wal-dir").arg(wal).arg(format!("--url={url}")).arg("--state-dir");
    c.arg(state).args(extra);
    c
}

fn stderr_of(mut child: Child) -> String {
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    log
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
}

#[test]
fn a_full_disk_is_seen_counted_and_recovered_from() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let Some(fs) = Tmpfs::mount(&state, "64k") else { return };
    let r = receiver();
    let url = format!("http://127.0.0.1:{}/api/v1/write", r.port);
    let wal = testdata().join(FIXTURE);
    let filler = fs.fill();

    // --once: everything is delivered, but the cursor cannot be saved, so the run fails.
    let out = ship(&wal, &state, &url, &["--once", "--web.listen-address="]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert_eq!(log.matches("Saving the cursor failed").count(), 1, "{log}");
    assert!(log.contains("The cursor could not be saved"), "{log}");
    let leftovers: Vec<_> = std::fs::read_dir(&state).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().contains("tmp")), "{leftovers:?}");
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().starts_with("cursor")), "{leftovers:?}");

    // A daemon: the failure shows in /metrics and in one log line; once there is room again, the
    // cursor is saved and that is logged once too.
    let web = free_port();
    let mut child =
        ship(&wal, &state, &url, &[&format!("--web.listen-address=127.0.0.1:{web}"), "--cursor.save-interval=100ms"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let failures = || {
        let (_, body) = http(web, "GET", "/metrics")?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let line = text.lines().find(|l| l.starts_with("walship_cursor_save_failures_total"))?;
        line.rsplit(' ').next()?.parse::<u64>().ok()
    };
    wait_for("failed saves in /metrics", 60, || failures().is_some_and(|n| n >= 3));
    std::fs::remove_file(&filler).unwrap();
    let cursor_saved =
        || std::fs::read_dir(&state).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("cursor"));
    wait_for("a saved cursor", 30, cursor_saved);
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
    let log = stderr_of(child);
    assert_eq!(log.matches("Saving the cursor failed").count(), 1, "logged once\n{log}");
    assert_eq!(log.matches("Saving the cursor works again").count(), 1, "recovery logged once\n{log}");
    drop(fs);
    assert!(r.samples.load(Relaxed) >= FIXTURE_SAMPLES);
}

#[test]
fn the_flush_deadline_holds_and_a_second_signal_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = testdata().join(FIXTURE);
    // Nothing listens here: every request fails and is retried.
    let dead = format!("http://127.0.0.1:{}/api/v1/write", free_port());

    // One signal: the flush waits for the deadline, then walship exits.
    let mut child = ship(&wal, &tmp.path().join("s1"), &dead, &["--web.listen-address=", "--flush-deadline=2s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    signal(&child, "-INT");
    let t = Instant::now();
    child.wait().unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1500) && took <= Duration::from_secs(3), "exited after {took:?}");

    // Two signals: the second cuts a long flush short.
    let mut child = ship(&wal, &tmp.path().join("s2"), &dead, &["--web.listen-address=", "--flush-deadline=60s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "still flushing after one signal");
    signal(&child, "-INT");
    let t = Instant::now();
    child.wait().unwrap();
    assert!(t.elapsed() <= Duration::from_secs(1), "exited {:?} after the second signal", t.elapsed());
    let log = stderr_of(child);
    assert!(log.contains("Second signal"), "{log}");
}

/// A receiver goes away mid-run and the operator presses Ctrl-C twice: the cursor must not pass
/// what was acknowledged, so a restart delivers everything that was not.
#[test]
fn a_second_signal_keeps_the_cursor_at_what_was_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = testdata().join(FIXTURE);
    let state = tmp.path().join("state");
    let first = Printer::start();
    let port = first.port;
    let extra = ["--web.listen-address=", "--flush-deadline=60s", "--cursor.save-interval=50ms"];
    let mut child = ship(&wal, &state, &first.url(), &[&extra[..], &["--queue.max-samples-per-send=500"]].concat())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("some samples", 60, || first.lines.lock().unwrap().len() > 10_000);
    // Every sample the receiver acknowledged, it printed first.
    let got_first = first.finish();
    assert!((got_first.len() as u64) < FIXTURE_SAMPLES, "the receiver went away too late to test anything");
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-INT");
    child.wait().unwrap();
    // The summary counts what the receiver stored before it went away (the receiver prints a
    // request before it answers, so it may have printed a little more than was acknowledged).
    let log = stderr_of(child);
    let sent: u64 = summary_field(&log, "samples_sent").parse().unwrap();
    assert!(sent > 0 && sent <= got_first.len() as u64, "{sent} vs {} printed: {log}", got_first.len());
    // Restart against a receiver on the same address: what was not acknowledged is sent now.
    let second = Printer::start_at(port);
    let out = ship(&wal, &state, &second.url(), &["--once", "--web.listen-address="]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("Resuming from saved cursor"), "{log}");
    let got_second = second.finish();
    let distinct: std::collections::HashSet<(&str, i64)> =
        got_first.iter().chain(&got_second).map(|(l, t, _)| (l.as_str(), *t)).collect();
    assert_eq!(distinct.len() as u64, FIXTURE_SAMPLES, "samples lost across the double Ctrl-C");
    // And the resume did not start over: the second run sent less than everything.
    assert!((got_second.len() as u64) < FIXTURE_SAMPLES, "{}", got_second.len());
}
