//! Project automation for walship, run as `cargo xtask <command>` (the alias is in
//! `.cargo/config.toml`). Plain Rust on std only, so it builds wherever cargo does, in the style of
//! rust-analyzer's xtask: no shell scripts to rot.
//!
//! - `ci`: everything CI checks, in order, installing what is missing (`ci.rs`).
//! - `cycles`: no two files of a crate depend on each other round a circle (`cycles.rs`).
//! - `fuzz`: the cargo-fuzz targets in `fuzz/`, for a few seconds each (`fuzz.rs`).
//! - `bench`: the crates' benchmarks (`bench.rs`).
//! - `bench-live`: walship beside Prometheus's own remote write on a live WAL (`bench_live.rs`).
//! - `deb`: the Debian package; `--check` installs, proves and purges it (`deb.rs`, `deb_check.rs`).
//! - `msrv`: whether the crates still build with their `rust-version` (`msrv.rs`).
//! - `release`: set the version, check, package, tag and publish every crate (`release.rs`).

#![forbid(unsafe_code)]

mod args;
mod bench;
mod bench_live;
mod changelog;
mod ci;
mod cycles;
mod deb;
mod deb_check;
mod deb_package;
mod debian;
mod error;
mod fuzz;
mod git;
mod json;
mod manifest;
mod msrv;
mod process;
mod release;
mod version;
mod workspace;

use error::Failure;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci [--fuzz-seconds N] [--keep-going]
                                 everything CI runs: Debian packages, cargo-fuzz, fmt, clippy, msrv
                                 (rust-version of dependencies; a build with that toolchain when rustup
                                 can install it), docs (no rustdoc warnings), tests (with
                                 WALSHIP_REQUIRE_PEERS=1), examples, fuzz smoke (N s per target,
                                 default 20; 0 skips it), release dry-run of the current version
  cycles                         fails listing every group of files of a crate that refer to each other
                                 round a circle (`use crate::…`, `crate::…`, `super::…` paths)
  fuzz [--seconds N] [TARGET..]  run the fuzz targets in fuzz/fuzz_targets (all by default) N s each
                                 (default 20); fails on any crash
  bench                          run the crates' benchmarks (wal-format, wal-reader, wal-watcher, remote-queue, tsdb-block, walship)
  bench-live [--seconds N] [--series N]
                                 Prometheus 2.42's remote write and walship side by side on one live WAL
  deb [--check] [--profile release|dev]
                                 build <target>/debian/walship_<version>_<arch>.deb (dev: the debug
                                 build, into <target>/debian/dev/); --check (as root) installs it, checks
                                 every file, runs the unit's ExecStart as the prometheus user against
                                 Debian's Prometheus, verifies the unit, purges it
  msrv                           the msrv step of ci alone (see xtask/src/msrv.rs)
  release <version> [--dry-run] [--no-ci]
                                 in a temporary worktree: set every crate's version, move CHANGELOG.md's
                                 Unreleased notes under it, run ci (--no-ci: the ci steps have just
                                 run), cargo publish --dry-run of every crate, cargo semver-checks
                                 against the previous v* tag, the Debian package (not with --dry-run
                                 --no-ci); then commit, fast-forward the branch, tag
                                 v<version> and publish. --dry-run does all but the last three and
                                 leaves the tree as it was; a real release needs a clean tree
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result = match command.as_str() {
        "ci" => ci::run(rest),
        "cycles" => cycles::run(rest),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        "bench-live" => bench_live::run(rest),
        "release" => release::run(rest),
        "deb" => deb::run(rest),
        "msrv" if rest.is_empty() => msrv::check(),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(Failure(format!("unknown command `{other}`\n\n{USAGE}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
