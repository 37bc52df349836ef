//! Debian packages the tests need, installed with apt-get when missing.

use crate::error::{Failure, Result};
use crate::process::{self, succeeds};
use std::process::Command;

/// What `cargo xtask ci` needs from Debian:
/// - `prometheus` (for `promtool`), `prometheus-node-exporter` and `victoria-metrics`: the real
///   peers of the end-to-end tests;
/// - `g++`: libfuzzer-sys compiles libFuzzer, which is C++; a machine that only links Rust may
///   lack a C++ compiler;
/// - `chromium` and `chromium-driver`: the status page is checked in a real headless browser;
/// - `systemd`: only for `systemd-analyze verify` of the packaged unit (no systemd runs on CI).
pub const CI_PACKAGES: &[&str] =
    &["prometheus", "prometheus-node-exporter", "victoria-metrics", "g++", "chromium", "chromium-driver", "systemd"];

/// What `cargo xtask bench` needs from Debian for the Go reference row of the wal-format bench:
/// Go and the snappy package Prometheus uses (Prometheus itself cannot be built: no module proxy).
pub const BENCH_PACKAGES: &[&str] = &["golang-go", "golang-github-golang-snappy-dev"];

/// Installs those of `packages` that are missing. Needs root to install; without it, says what to
/// run instead.
pub fn ensure_installed(packages: &[&str]) -> Result {
    if !succeeds(Command::new("dpkg-query").arg("--version")) {
        return Err(Failure(format!(
            "dpkg-query not found: this is not a Debian-based system; install {} by hand",
            packages.join(" ")
        )));
    }
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !is_installed(p)).collect();
    if missing.is_empty() {
        println!("installed: {}", packages.join(" "));
        return Ok(());
    }
    println!("missing: {}", missing.join(" "));
    if !is_root() {
        return Err(Failure(format!(
            "Debian packages missing: {m}; install them with `sudo apt-get install -y {m}`",
            m = missing.join(" ")
        )));
    }
    process::run(Command::new("apt-get").arg("update"))?;
    process::run(
        Command::new("apt-get").args(["install", "-y"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still: Vec<&str> = missing.into_iter().filter(|p| !is_installed(p)).collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(Failure(format!("apt-get ran but these are still not installed: {}", still.join(" "))))
    }
}

/// `dpkg -s` succeeds for a package dpkg merely knows of (e.g. removed with its config files
/// left), so read the status word instead.
fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["--show", "--showformat=${Status}", package])
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).ends_with(" installed"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
