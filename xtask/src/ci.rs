//! `cargo xtask ci`: every check CI makes, in order, stopping at the first failure. `.ci/run`
//! calls exactly this, so a green run here is a green CI run.

use crate::args::number_option;
use crate::error::{Failure, Result};
use crate::process::{self, cargo, format_duration, succeeds};
use crate::{cycles, deb, debian, fuzz, manifest, msrv, release, workspace};
use std::process::Command;
use std::time::{Duration, Instant};

/// Tests that need a real Prometheus or VictoriaMetrics skip when they cannot find one, so that
/// `cargo test` works on any laptop; with this variable set they fail instead, so that CI cannot
/// pass by skipping them.
const REQUIRE_PEERS: (&str, &str) = ("WALSHIP_REQUIRE_PEERS", "1");

/// Longest an example may run once built: examples are demonstrations that end on their own, so
/// one still running is hung.
const EXAMPLE_TIME_LIMIT: Duration = Duration::from_secs(120);

type Step = (&'static str, fn(&Options) -> Result);

const STEPS: &[Step] = &[
    ("debian packages", |_| debian::ensure_installed(debian::CI_PACKAGES)),
    ("cargo-fuzz", |_| fuzz::ensure_cargo_fuzz()),
    ("botocore", |_| ensure_botocore()),
    ("fmt", |_| fmt()),
    ("cycles", |_| cycles::check()),
    ("clippy", |_| clippy()),
    ("msrv", |_| msrv::check()),
    ("docs", |_| docs()),
    ("tests", |_| tests()),
    ("examples", |_| examples()),
    ("debian package", |_| deb::run(&["--check".into(), "--profile".into(), "dev".into()])),
    ("fuzz smoke", |o| if o.fuzz_seconds == 0 { skip("--fuzz-seconds 0") } else { fuzz::smoke(&[], o.fuzz_seconds) }),
    ("release dry-run", |_| release_dry_run()),
];

struct Options {
    fuzz_seconds: u64,
    /// Run the remaining steps after one fails (to see every problem at once); still fails.
    keep_going: bool,
}

pub fn run(args: &[String]) -> Result {
    let mut options = Options { fuzz_seconds: fuzz::DEFAULT_SECONDS, keep_going: false };
    let mut i = 0;
    while i < args.len() {
        if let Some(n) = number_option(args, &mut i, "--fuzz-seconds")? {
            options.fuzz_seconds = n;
        } else if args[i] == "--keep-going" {
            options.keep_going = true;
            i += 1;
        } else {
            return Err(Failure(format!("ci: unknown argument `{}`", args[i])));
        }
    }
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (n, (name, step)) in STEPS.iter().enumerate() {
        println!("\n==> ci step {}/{}: {name}", n + 1, STEPS.len());
        let step_started = Instant::now();
        let result = step(&options);
        let failed =
            result.as_ref().err().map(|Failure(message)| format!("step {}/{} ({name}): {message}", n + 1, STEPS.len()));
        outcomes.push(Outcome { name, took: step_started.elapsed(), failed });
        if outcomes.last().is_some_and(|o| o.failed.is_some()) && !options.keep_going {
            break;
        }
    }
    print_outcomes(&outcomes);
    let total = format_duration(started.elapsed());
    let failures: Vec<&str> = outcomes.iter().filter_map(|o| o.failed.as_deref()).collect();
    if failures.is_empty() {
        println!("ci: all {} steps passed in {total}", STEPS.len());
        Ok(())
    } else {
        Err(Failure(format!("ci failed after {total} at {}", failures.join("\n  and at "))))
    }
}

struct Outcome {
    name: &'static str,
    took: Duration,
    failed: Option<String>,
}

/// Python's `botocore` (PyPI), with which walship's SigV4 test (`crates/walship/tests/auth.rs`)
/// checks every signature against AWS's own implementation. Installed with pip; where pip cannot
/// install into the system Python (a Debian "externally managed" one), Debian's package instead.
fn ensure_botocore() -> Result {
    let importable = || succeeds(Command::new("python3").args(["-c", "import botocore"]));
    if importable() {
        println!("botocore is installed");
        return Ok(());
    }
    if !succeeds(Command::new("python3").arg("--version")) {
        debian::ensure_installed(&["python3"])?;
    }
    if process::run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "botocore"])).is_err() {
        debian::ensure_installed(&["python3-botocore"])?;
    }
    if importable() {
        Ok(())
    } else {
        Err(Failure("botocore was installed but `python3 -c 'import botocore'` still fails".into()))
    }
}

/// The fuzz crate is a workspace of its own, so `--all` does not reach it: check it by name.
const FUZZ_MANIFEST: &str = "fuzz/Cargo.toml";

fn fmt() -> Result {
    process::run(&mut cargo(["fmt", "--all", "--check"]))?;
    process::run(&mut cargo(["fmt", "--all", "--check", "--manifest-path", FUZZ_MANIFEST]))
}

fn clippy() -> Result {
    // `--all-features` so the benches behind feature gates (`testing`, `bench`) are linted too.
    process::run(&mut cargo(["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]))?;
    process::run(&mut cargo(["clippy", "--manifest-path", FUZZ_MANIFEST, "--all-targets", "--", "-D", "warnings"]))
}

/// The API docs build without a warning: broken intra-doc links, bad HTML, missing docs where a
/// crate asks for them (`#![warn(missing_docs)]`).
fn docs() -> Result {
    process::run(cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
}

fn tests() -> Result {
    let env = [REQUIRE_PEERS];
    process::run(cargo(["test", "--workspace", "--all-targets"]).envs(env))?;
    // `--all-targets` leaves out doc tests; they need a run of their own.
    process::run(cargo(["test", "--workspace", "--doc"]).envs(env))?;
    // The crash tests: fail points at each step of a segment rollover, a checkpoint commit and a
    // cursor save, compiled in only with the `failpoints` features.
    process::run(&mut cargo(["test", "-p", "wal-format", "--features", "failpoints", "--test", "crash"]))?;
    process::run(&mut cargo(["test", "-p", "walship", "--features", "failpoints", "--bins", "crash"]))
}

/// Builds and runs every example of every crate, so that the code README and docs point people to
/// keeps working.
fn examples() -> Result {
    let examples: Vec<(String, String)> = workspace::crates()
        .into_iter()
        .flat_map(|krate| krate.examples().into_iter().map(move |example| (krate.name.clone(), example)))
        .collect();
    if examples.is_empty() {
        println!("no examples in crates/*/examples yet");
        return Ok(());
    }
    for (krate, example) in &examples {
        // Built first, with the same `-p` as the run so that features resolve alike and the run
        // does not rebuild: the time limit is then the example's own running time.
        process::run(&mut cargo(["build", "-p", krate, "--example", example]))?;
        process::run_with_time_limit(&mut cargo(["run", "-p", krate, "--example", example]), EXAMPLE_TIME_LIMIT)?;
    }
    Ok(())
}

/// `cargo xtask release <this version> --dry-run --no-ci`: the release would go through (every
/// crate packages and builds from its package alone) without running the steps above twice.
fn release_dry_run() -> Result {
    let root_manifest = std::fs::read_to_string(workspace::root().join("Cargo.toml"))
        .map_err(|e| Failure(format!("reading Cargo.toml: {e}")))?;
    let version = manifest::workspace_version(&root_manifest).ok_or("Cargo.toml: no [workspace.package] version")?;
    release::run(&[version, "--dry-run".into(), "--no-ci".into()])
}

fn skip(why: &str) -> Result {
    println!("skipped ({why})");
    Ok(())
}

fn print_outcomes(outcomes: &[Outcome]) {
    println!("\n==> ci summary");
    for o in outcomes {
        let verdict = if o.failed.is_some() { "FAILED" } else { "ok" };
        println!("  {:<16} {:>8}  {verdict}", o.name, format_duration(o.took));
    }
}
