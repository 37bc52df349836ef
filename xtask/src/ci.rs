//! `cargo xtask ci`: every check CI makes, in order, stopping at the first failure. `.ci/run`
//! calls exactly this, so a green run here is a green CI run.

use crate::process::{self, cargo, format_duration};
use crate::{debian, fuzz, number_option, workspace, Failure, Result};
use std::time::{Duration, Instant};

/// Tests that need a real Prometheus or VictoriaMetrics skip when they cannot find one, so that
/// `cargo test` works on any laptop; with this variable set they fail instead, so that CI cannot
/// pass by skipping them.
const REQUIRE_PEERS: (&str, &str) = ("WALSHIP_REQUIRE_PEERS", "1");

/// Longest an example may run: examples are demonstrations that end on their own.
const EXAMPLE_TIME_LIMIT: Duration = Duration::from_secs(300);

type Step = (&'static str, fn(&Options) -> Result);

const STEPS: &[Step] = &[
    ("debian packages", |_| debian::ensure_installed(debian::CI_PACKAGES)),
    ("cargo-fuzz", |_| fuzz::ensure_cargo_fuzz()),
    ("fmt", |_| fmt()),
    ("clippy", |_| clippy()),
    ("tests", |_| tests()),
    ("examples", |_| examples()),
    ("fuzz smoke", |o| if o.fuzz_seconds == 0 { skip("--fuzz-seconds 0") } else { fuzz::smoke(&[], o.fuzz_seconds) }),
];

struct Options {
    fuzz_seconds: u64,
}

pub fn run(args: &[String]) -> Result {
    let mut options = Options { fuzz_seconds: fuzz::DEFAULT_SECONDS };
    let mut i = 0;
    while i < args.len() {
        match number_option(args, &mut i, "--fuzz-seconds")? {
            Some(n) => options.fuzz_seconds = n,
            None => return Err(Failure(format!("ci: unknown argument `{}`", args[i]))),
        }
    }
    let started = Instant::now();
    let mut timings = Vec::new();
    for (n, (name, step)) in STEPS.iter().enumerate() {
        println!("\n==> ci step {}/{}: {name}", n + 1, STEPS.len());
        let step_started = Instant::now();
        let result = step(&options);
        timings.push((*name, step_started.elapsed()));
        if let Err(Failure(message)) = result {
            print_timings(&timings);
            return Err(Failure(format!(
                "ci failed at step {}/{} ({name}) after {}: {message}",
                n + 1,
                STEPS.len(),
                format_duration(started.elapsed())
            )));
        }
    }
    print_timings(&timings);
    println!("ci: all {} steps passed in {}", STEPS.len(), format_duration(started.elapsed()));
    Ok(())
}

/// The fuzz crate is a workspace of its own, so `--all` does not reach it: check it by name.
const FUZZ_MANIFEST: &str = "fuzz/Cargo.toml";

fn fmt() -> Result {
    process::run(&mut cargo(["fmt", "--all", "--check"]))?;
    process::run(&mut cargo(["fmt", "--all", "--check", "--manifest-path", FUZZ_MANIFEST]))
}

fn clippy() -> Result {
    process::run(&mut cargo(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    process::run(&mut cargo(["clippy", "--manifest-path", FUZZ_MANIFEST, "--all-targets", "--", "-D", "warnings"]))
}

fn tests() -> Result {
    let env = [REQUIRE_PEERS];
    process::run(cargo(["test", "--workspace", "--all-targets"]).envs(env))?;
    // `--all-targets` leaves out doc tests; they need a run of their own.
    process::run(cargo(["test", "--workspace", "--doc"]).envs(env))
}

/// Builds and runs every example of every crate, so that the code README and docs point people to
/// keeps working.
fn examples() -> Result {
    let mut ran = 0;
    for krate in workspace::crates() {
        for example in krate.examples() {
            process::run_with_time_limit(
                &mut cargo(["run", "--quiet", "-p", &krate.name, "--example", &example]),
                EXAMPLE_TIME_LIMIT,
            )?;
            ran += 1;
        }
    }
    if ran == 0 {
        println!("no examples in crates/*/examples yet");
    }
    Ok(())
}

fn skip(why: &str) -> Result {
    println!("skipped ({why})");
    Ok(())
}

fn print_timings(timings: &[(&str, Duration)]) {
    println!("\n==> ci timings");
    for (name, took) in timings {
        println!("  {name:<16} {:>8}", format_duration(*took));
    }
}
