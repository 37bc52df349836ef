//! Reads every record of a WAL directory and prints how many of each type there are.
//!
//! `cargo run --release -p wal-reader --example read_all -- DIR`
use std::collections::BTreeMap;
use wal_format::record::RecordType;
use wal_reader::Reader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "testdata/prometheus-2.42/snappy-exemplars-torn".into());
    let mut reader = Reader::open(dir.as_ref())?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(rec) = reader.next_record()? {
        *counts.entry(RecordType::of(rec.data).to_string()).or_default() += 1;
    }
    for (typ, n) in counts {
        println!("{typ:<28} {n}");
    }
    Ok(())
}
