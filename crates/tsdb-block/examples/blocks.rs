//! Prints the blocks of a Prometheus data directory: time range, series, samples and chunks
//! per encoding, as read from the blocks themselves beside what `meta.json` says.
//!
//! `cargo run -p tsdb-block --example blocks [DATA_DIR]` (default: the Prometheus 2.42 data
//! directory bundled in `testdata/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use tsdb_block::{DataDir, Encoding, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-blocks/data")
    });
    let data = DataDir::open(&dir)?;
    println!("{}: {} blocks", dir.display(), data.blocks().len());
    for (path, why) in data.skipped() {
        println!("  skipped {} ({why:?})", path.display());
    }
    for b in data.blocks() {
        let meta = b.meta();
        let block = b.open()?;
        let (mut series, mut floats, mut histograms, mut stale) = (0u64, 0u64, 0u64, 0u64);
        let mut chunks: BTreeMap<Encoding, u64> = BTreeMap::new();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for s in block.series()? {
            let s = s?;
            series += 1;
            for c in s.chunks() {
                *chunks.entry(block.chunk_files().chunk(c.chunk_ref)?.chunk().encoding()).or_default() += 1;
            }
            for sample in block.samples(&s) {
                let sample = sample?;
                first = first.min(sample.t);
                last = last.max(sample.t);
                stale += u64::from(sample.value.is_stale());
                match sample.value {
                    Value::Float(_) => floats += 1,
                    Value::Histogram(_) | Value::FloatHistogram(_) => histograms += 1,
                }
            }
        }
        println!(
            "{} level {} [{}, {}) samples at [{first}, {last}]",
            meta.ulid, meta.compaction.level, meta.min_time, meta.max_time
        );
        let chunks: Vec<String> = chunks.iter().map(|(e, n)| format!("{n} {e}")).collect();
        println!(
            "  read: {series} series, {floats} float + {histograms} histogram samples ({stale} stale markers), chunks: {}",
            chunks.join(", ")
        );
        let st = meta.stats;
        println!(
            "  meta: {} series, {} samples, {} chunks; {} series with tombstones",
            st.num_series,
            st.num_samples,
            st.num_chunks,
            block.tombstones().len()
        );
    }
    for group in data.overlapping_groups() {
        let ulids: Vec<&str> = group.iter().map(|&i| data.blocks()[i].meta().ulid.as_str()).collect();
        println!("overlapping: {}", ulids.join(", "));
    }
    Ok(())
}
