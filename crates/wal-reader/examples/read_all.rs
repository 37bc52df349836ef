//! Replays a WAL directory — the last checkpoint, then every segment — and prints how many
//! records of each type there are, and any damage or missing segments it stepped over.
//!
//! `cargo run --release -p wal-reader --example read_all -- DIR`; without `DIR`, a WAL that
//! Prometheus 2.42 wrote, from the repository's `testdata/`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wal_format::record::RecordType;
use wal_reader::{Replay, ReplayItem, ReplayOptions, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42/snappy-exemplars-checkpoint")
        }
    };
    println!("{}", dir.display());
    let mut replay = Replay::open(&dir, ReplayOptions::default())?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(item) = replay.next()? {
        match item {
            ReplayItem::Record { source, record } => {
                let from = if matches!(source, Source::Checkpoint(_)) { "checkpoint " } else { "" };
                *counts.entry(format!("{from}{}", RecordType::of(record.data))).or_default() += 1;
            }
            ReplayItem::Damage { error, .. } => println!("damage: {error}"),
            ReplayItem::Gap(gap) => println!("missing segments: {:?}", gap.missing),
            _ => {}
        }
    }
    for (typ, n) in counts {
        println!("{typ:<40} {n}");
    }
    Ok(())
}
