//! A block's `meta.json`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{io_err, Error};

/// What `meta.json` says about a block. Unknown fields are ignored, missing optional ones are
/// zero or empty.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockMeta {
    /// The block's ULID (also its directory name).
    pub ulid: String,
    /// Start of the block's time range (ms, inclusive).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// End of the block's time range (ms, exclusive).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// Counts Prometheus computed when it wrote the block.
    #[serde(default)]
    pub stats: BlockStats,
    /// Where the block came from.
    #[serde(default)]
    pub compaction: Compaction,
    /// Format version of `meta.json` (1).
    pub version: u32,
}

impl BlockMeta {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<BlockMeta, Error> {
        let b = std::fs::read(path).map_err(io_err(path))?;
        serde_json::from_slice(&b).map_err(|source| Error::Meta { path: path.to_path_buf(), source })
    }

    /// Whether this block's time range overlaps `other`'s (ranges are half-open).
    pub fn overlaps(&self, other: &BlockMeta) -> bool {
        self.min_time < other.max_time && other.min_time < self.max_time
    }
}

/// A block's sample, series, chunk and tombstone counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BlockStats {
    /// Samples of every kind.
    #[serde(default)]
    pub num_samples: u64,
    /// Float samples (written by newer Prometheus versions only).
    #[serde(default)]
    pub num_float_samples: u64,
    /// Histogram samples (written by newer Prometheus versions only).
    #[serde(default)]
    pub num_histogram_samples: u64,
    /// Series.
    #[serde(default)]
    pub num_series: u64,
    /// Chunks.
    #[serde(default)]
    pub num_chunks: u64,
    /// Tombstone intervals.
    #[serde(default)]
    pub num_tombstones: u64,
}

/// How a block was made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct Compaction {
    /// 1 for a block cut from the head, higher for compacted blocks.
    #[serde(default)]
    pub level: u32,
    /// ULIDs of the level-1 blocks whose data this block holds.
    #[serde(default)]
    pub sources: Vec<String>,
    /// The blocks this one was compacted from.
    #[serde(default)]
    pub parents: Vec<BlockDesc>,
    /// Prometheus will delete this block (a compaction left it empty).
    #[serde(default)]
    pub deletable: bool,
    /// A compaction of this block failed.
    #[serde(default)]
    pub failed: bool,
}

/// A parent block as named in [`Compaction::parents`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct BlockDesc {
    /// The parent's ULID.
    pub ulid: String,
    /// Its time range start (ms).
    #[serde(rename = "minTime", default)]
    pub min_time: i64,
    /// Its time range end (ms, exclusive).
    #[serde(rename = "maxTime", default)]
    pub max_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_meta() {
        let m: BlockMeta = serde_json::from_str(
            r#"{"ulid":"01M8RB4FY3KEB42MSR88DRYGYS","minTime":10,"maxTime":20,
                "stats":{"numSamples":5,"numSeries":2,"numChunks":3},
                "compaction":{"level":2,"sources":["A","B"],"parents":[{"ulid":"A","minTime":10,"maxTime":15}]},
                "version":1}"#,
        )
        .unwrap();
        assert_eq!((m.min_time, m.max_time, m.stats.num_samples, m.stats.num_chunks), (10, 20, 5, 3));
        assert_eq!(m.compaction.parents[0].ulid, "A");
        assert!(!m.compaction.deletable);
    }
}
