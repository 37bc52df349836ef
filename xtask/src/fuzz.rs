//! `cargo xtask fuzz [--seconds N] [TARGET…]`: the cargo-fuzz targets in `fuzz/`, N seconds each.
//!
//! cargo-fuzz builds with nightly-only rustc flags (`-Zsanitizer=address` and friends) and we only
//! have a stable toolchain. `RUSTC_BOOTSTRAP=1` tells stable rustc and cargo to accept them anyway —
//! the same switch the compiler uses to build itself. The AddressSanitizer runtime ships with the
//! stable standard library (`librustc-stable_rt.asan.a`), so nothing else is needed. We set it only
//! on the cargo-fuzz commands, never on normal builds, so the rest of the workspace stays honest
//! stable Rust. `--build-std` / `--careful` are not used: they need the `rust-src` component.

use crate::args::number_option;
use crate::error::{Failure, Result};
use crate::process::{self, cargo, succeeds};
use crate::workspace;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

pub const DEFAULT_SECONDS: u64 = 20;

/// libFuzzer options for every target. 2 GiB of RSS is far more than any decoder needs for inputs
/// of at most a few tens of KiB, so reaching it means an allocation driven by a length field — a
/// bug; 10 s for one input is a hang. `-verbosity=0` drops the line per new coverage point
/// (thousands per CI log) but keeps crash reports; the final stats say how much was fuzzed.
const LIBFUZZER_OPTIONS: &[&str] = &["-rss_limit_mb=2048", "-timeout=10", "-verbosity=0", "-print_final_stats=1"];

/// How long a target may run beyond its time budget before we call it hung: libFuzzer finishes the
/// input at hand, merges and prints stats after `-max_total_time`.
const GRACE: Duration = Duration::from_secs(120);

pub fn run(args: &[String]) -> Result {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(n) = number_option(args, &mut i, "--seconds")? {
            seconds = n;
        } else if args[i].starts_with('-') {
            return Err(Failure(format!("fuzz: unknown option `{}`", args[i])));
        } else {
            targets.push(args[i].clone());
            i += 1;
        }
    }
    ensure_cargo_fuzz()?;
    smoke(&targets, seconds)
}

/// Installs cargo-fuzz when `cargo fuzz` does not run.
pub fn ensure_cargo_fuzz() -> Result {
    if succeeds(&mut cargo(["fuzz", "--version"])) {
        println!("cargo-fuzz is installed");
        return Ok(());
    }
    process::run(&mut cargo(["install", "cargo-fuzz", "--locked"]))
}

/// Runs `targets` (all when empty) for `seconds` each; fails on the first crash, leak, timeout or
/// out-of-memory, naming the input that caused it.
pub fn smoke(targets: &[String], seconds: u64) -> Result {
    if seconds == 0 {
        // libFuzzer reads `-max_total_time=0` as "no limit".
        return Err(Failure("fuzz: --seconds must be at least 1".into()));
    }
    let all = workspace::fuzz_targets();
    if all.is_empty() {
        return Err(Failure("no fuzz targets in fuzz/fuzz_targets".into()));
    }
    let targets: Vec<String> = if targets.is_empty() { all.clone() } else { targets.to_vec() };
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        return Err(Failure(format!("no fuzz target `{unknown}`; there are: {}", all.join(", "))));
    }
    // One build for all targets, so that build time is not taken from the fuzzing budget.
    process::run(&mut cargo_fuzz(&["build"]))?;
    for target in &targets {
        let started = Instant::now();
        let started_at = SystemTime::now();
        let corpus = seed_corpus(target)?;
        let mut cmd = cargo_fuzz(&["run", target]);
        cmd.arg(&corpus).arg("--").arg(format!("-max_total_time={seconds}")).args(LIBFUZZER_OPTIONS);
        process::run_with_time_limit(&mut cmd, Duration::from_secs(seconds) + GRACE).map_err(|e| {
            let artifact = new_artifact(target, started_at)
                .map(|a| format!("\nreproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run {target} {}", a.display()))
                .unwrap_or_default();
            Failure(format!("fuzz target `{target}` failed: {}{artifact}", e.0))
        })?;
        println!("fuzz target `{target}`: no crash in {}", process::format_duration(started.elapsed()));
    }
    Ok(())
}

/// A `cargo fuzz …` command run from the repository root. Builds go to `fuzz/target` whatever
/// `CARGO_TARGET_DIR` says: the fuzz build uses other rustc flags than the workspace build, so
/// sharing a directory would gain nothing.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = cargo(["fuzz"]);
    cmd.args(args).env("RUSTC_BOOTSTRAP", "1").env_remove("CARGO_TARGET_DIR");
    cmd
}

/// Copies `fuzz/seeds/<target>/*` into the libFuzzer corpus `fuzz/corpus/<target>` (kept between
/// runs, not committed) and returns the corpus path.
fn seed_corpus(target: &str) -> Result<PathBuf> {
    let fuzz_dir = workspace::root().join("fuzz");
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus).map_err(|e| Failure(format!("creating {}: {e}", corpus.display())))?;
    let seeds = fuzz_dir.join("seeds").join(target);
    let Ok(entries) = fs::read_dir(&seeds) else {
        println!("no seeds in {}; starting from an empty corpus", seeds.display());
        return Ok(corpus);
    };
    for entry in entries.filter_map(|e| e.ok()).filter(|e| e.path().is_file()) {
        let to = corpus.join(format!("seed-{}", entry.file_name().to_string_lossy()));
        fs::copy(entry.path(), &to).map_err(|e| Failure(format!("copying seed to {}: {e}", to.display())))?;
    }
    Ok(corpus)
}

/// The newest file libFuzzer left in `fuzz/artifacts/<target>` since `since`: the input that failed.
fn new_artifact(target: &str, since: SystemTime) -> Option<PathBuf> {
    let dir = workspace::root().join("fuzz").join("artifacts").join(target);
    fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(modified, _)| *modified >= since)
        .max()
        .map(|(_, path)| relative(&path))
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(workspace::root()).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}
