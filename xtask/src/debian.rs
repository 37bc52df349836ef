//! Debian packages the tests need, installed with apt-get when missing.

use crate::error::{Failure, Result};
use crate::process::{self, succeeds};
use std::path::{Path, PathBuf};
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

/// What `cargo xtask bench` needs from Debian for the Go reference rows: Go, the snappy package
/// Prometheus uses (wal-format bench) and `github.com/pkg/errors`, the one library Prometheus
/// 2.42's `tsdb/chunkenc` imports (tsdb-block bench, which compiles that package from Debian's
/// `prometheus` source package: see [`prometheus_source`]).
pub const BENCH_PACKAGES: &[&str] = &["golang-go", "golang-github-golang-snappy-dev", "golang-github-pkg-errors-dev"];

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

/// Debian's source package of `prometheus` (2.42 on Debian 12), unpacked under `dir`: the directory
/// of the source tree. Fetched once with `apt-get source` through source entries of our own, made
/// from the machine's Debian archive entries (`deb` turned into `deb-src`), with apt's lists and
/// cache kept under `dir` too, so the machine's apt configuration is left as it is. Only the
/// upstream tarball is unpacked: none of Debian's patches of 2.42.0+ds-5 touches `tsdb/chunkenc`,
/// `model/histogram` or `model/value`, the packages the bench compiles.
pub fn prometheus_source(dir: &Path) -> Result<PathBuf> {
    if let Some(tree) = unpacked_tree(dir) {
        return Ok(tree);
    }
    let lists = dir.join("lists");
    let cache = dir.join("cache");
    for d in [lists.join("partial"), cache.join("archives/partial"), dir.join("parts")] {
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let sources = dir.join("parts/debian-src.sources");
    let entries = debian_source_entries()?;
    std::fs::write(&sources, entries).map_err(|e| format!("{}: {e}", sources.display()))?;
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", sources.display()))
            .arg("-o")
            .arg(format!("Dir::Etc::SourceParts={}", dir.join("parts/none").display()))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", lists.display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", cache.display()))
            .args(args)
            .current_dir(dir);
        cmd
    };
    process::run(&mut apt(&["update"]))?;
    process::run(&mut apt(&["source", "--download-only", "prometheus"]))?;
    let tarball = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("prometheus_") && n.contains(".orig.tar."))
        })
        .ok_or_else(|| format!("apt-get source left no prometheus_*.orig.tar.* in {}", dir.display()))?;
    let unpack = dir.join("unpacked");
    std::fs::create_dir_all(&unpack).map_err(|e| format!("{}: {e}", unpack.display()))?;
    process::run(Command::new("tar").arg("-xf").arg(&tarball).arg("-C").arg(&unpack))?;
    unpacked_tree(dir).ok_or_else(|| Failure(format!("{} holds no tsdb/chunkenc", tarball.display())))
}

/// The unpacked source tree under `dir`, if there is one.
fn unpacked_tree(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir.join("unpacked"))
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.join("tsdb/chunkenc").is_dir())
}

/// Source entries (deb822) for the machine's Debian archives: each `deb` entry of
/// `/etc/apt/sources.list.d/*.sources` signed by Debian's archive key, and each one-line `deb`
/// entry of `/etc/apt/sources.list` naming that key or a `debian` path, turned into `deb-src`.
fn debian_source_entries() -> Result<String> {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sources")) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for stanza in text.split("\n\n") {
            let debian = stanza.lines().any(|l| l.starts_with("Signed-By:") && l.contains("debian-archive-keyring"));
            let binary = stanza.lines().any(|l| l.split_whitespace().eq(["Types:", "deb"]));
            if debian && binary {
                let lines: Vec<&str> =
                    stanza.lines().map(|l| if l.starts_with("Types:") { "Types: deb-src" } else { l }).collect();
                out += &lines.join("\n");
                out += "\n\n";
            }
        }
    }
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for line in list.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("deb ") else { continue };
        if rest.contains("debian-archive-keyring") || rest.split_whitespace().any(|w| w.ends_with("/debian")) {
            out += "# from /etc/apt/sources.list\n";
            out += &one_line_to_deb822(rest);
        }
    }
    if out.is_empty() {
        return Err(Failure("no Debian archive found in /etc/apt/sources.list{,.d}".into()));
    }
    Ok(out)
}

/// A one-line `deb` entry (what follows `deb `) as a deb822 `deb-src` stanza.
fn one_line_to_deb822(rest: &str) -> String {
    let mut words = rest.split_whitespace().peekable();
    let mut options = Vec::new();
    if words.peek().is_some_and(|w| w.starts_with('[')) {
        for w in words.by_ref() {
            options.push(w.trim_matches(|c| c == '[' || c == ']').to_string());
            if w.ends_with(']') {
                break;
            }
        }
    }
    let uri = words.next().unwrap_or_default();
    let suite = words.next().unwrap_or_default();
    let components: Vec<&str> = words.collect();
    let mut s = format!("Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: {}\n", components.join(" "));
    for o in options.iter().filter(|o| !o.is_empty()) {
        if let Some(key) = o.strip_prefix("signed-by=") {
            s += &format!("Signed-By: {key}\n");
        }
    }
    s + "\n"
}
