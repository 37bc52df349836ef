//! What the tests reading Prometheus's blocks share.

use tsdb_block::{Block, DataDir, Series};

/// Opens every block of `dir` and hands each of its series to `read`, which reads the series'
/// samples and returns how many it read; then checks that the block's series, sample and chunk
/// counts equal what Prometheus wrote into its `meta.json` when it made the block.
pub fn read_every_series(dir: &DataDir, mut read: impl FnMut(&Block, &Series<'_>) -> u64) {
    for b in dir.blocks() {
        let block = b.open().unwrap();
        let (mut series, mut samples, mut chunks) = (0u64, 0u64, 0u64);
        for s in block.series().unwrap() {
            let s = s.unwrap();
            series += 1;
            chunks += s.chunks().len() as u64;
            samples += read(&block, &s);
        }
        let stats = b.meta().stats;
        let counted = (series, samples, chunks);
        assert_eq!(counted, (stats.num_series, stats.num_samples, stats.num_chunks), "{}", b.meta().ulid);
    }
}
