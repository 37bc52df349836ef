//! `cargo xtask bench`: the benchmarks of the crates whose speed the issues set targets for. Each
//! bench is `harness = false` and prints its own table; their output passes through unchanged.

use crate::error::{Failure, Result};
use crate::process::{self, cargo};
use crate::{deb, debian, workspace};

/// Benchmarked crates, in the order their tables are printed.
const CRATES: &[&str] = &["wal-format", "wal-reader", "wal-watcher", "remote-queue", "tsdb-block", "walship"];

pub fn run(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(Failure(format!("bench: unknown argument `{arg}`")));
    }
    // Without them the wal-format bench still runs; it only leaves out its Go reference row.
    if let Err(Failure(why)) = debian::ensure_installed(debian::BENCH_PACKAGES) {
        println!("note: no Go reference row: {why}");
    }
    // The tsdb-block bench compiles Prometheus's own `tsdb/chunkenc` from Debian's source package
    // (nothing of Prometheus is kept in this repository); without it that bench says why and
    // prints its own rows alone.
    let prometheus_src = match debian::prometheus_source(&deb::target_dir().join("prometheus-source")) {
        Ok(dir) => Some(dir),
        Err(Failure(why)) => {
            println!("note: no Prometheus source for the tsdb-block Go reference: {why}");
            None
        }
    };
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
        if let Some(dir) = &prometheus_src {
            cmd.env("PROMETHEUS_SRC", dir);
        }
        let features = krate.bench_features();
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        process::run(&mut cmd)?;
    }
    Ok(())
}
