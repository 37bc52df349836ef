//! `cargo xtask bench`: the benchmarks of the crates whose speed the issues set targets for. Each
//! bench is `harness = false` and prints its own table; their output passes through unchanged.

use crate::error::{Failure, Result};
use crate::process::{self, cargo};
use crate::{debian, workspace};

/// Benchmarked crates, in the order their tables are printed.
const CRATES: &[&str] = &["wal-format", "wal-reader", "wal-watcher", "remote-queue"];

pub fn run(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(Failure(format!("bench: unknown argument `{arg}`")));
    }
    // Without them the wal-format bench still runs; it only leaves out its Go reference row.
    if let Err(Failure(why)) = debian::ensure_installed(debian::BENCH_PACKAGES) {
        println!("note: no Go reference row: {why}");
    }
    for name in CRATES {
        let krate = workspace::find_crate(name).ok_or_else(|| format!("bench: no crate `{name}` in crates/"))?;
        if krate.benches().is_empty() {
            println!("==> {name}: no benches yet, skipped");
            continue;
        }
        println!("==> {name}");
        // `--bench '*'` (a glob cargo expands) selects the bench targets only: plain `cargo bench`,
        // and `--benches` too, also runs the library's unit tests in bench mode, a page of
        // "ignored" lines above the tables.
        let mut cmd = cargo(["bench", "-p", name, "--bench", "*"]);
        let features = krate.bench_features();
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        process::run(&mut cmd)?;
    }
    Ok(())
}
