//! `walship check config`: a Prometheus configuration file as walship will read it.

use crate::config;
use std::path::PathBuf;
use std::process::ExitCode;

/// `walship check config`: one verdict per file, on stdout as promtool prints them; 1 when any
/// file is invalid.
pub fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Checking {}", file.display());
        match config::load(file) {
            Ok(loaded) => {
                println!(
                    " SUCCESS: {} is valid for walship: {} remote_write endpoint(s)",
                    file.display(),
                    loaded.endpoints.len()
                );
                for e in &loaded.endpoints {
                    let q = &e.queue;
                    println!(
                        "  endpoint {:?}: {} (remote write {}), shards {}..{}, {} samples per request, isolate_rejected_series={}",
                        e.name,
                        e.redacted_url(),
                        if e.protocol == remote_queue::Protocol::V2 { "2.0" } else { "1.0" },
                        q.min_shards,
                        q.max_shards,
                        q.max_samples_per_send,
                        q.isolate_rejected_series,
                    );
                }
                for w in &loaded.warnings {
                    println!("  WARNING: {w}");
                }
            }
            Err(e) => {
                failed = true;
                println!("  FAILED: {e}");
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
