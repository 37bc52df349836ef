//! Reads every record of a WAL directory and prints how many of each type there are.
//!
//! `cargo run --release -p wal-reader --example read_all -- DIR`; without `DIR`, a WAL that
//! Prometheus 2.42 wrote, from the repository's `testdata/`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wal_format::record::RecordType;
use wal_reader::Reader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42/snappy-exemplars-checkpoint")
        }
    };
    println!("{}", dir.display());
    let mut reader = Reader::open(&dir)?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(rec) = reader.next_record()? {
        *counts.entry(RecordType::of(rec.data).to_string()).or_default() += 1;
    }
    for (typ, n) in counts {
        println!("{typ:<28} {n}");
    }
    Ok(())
}
