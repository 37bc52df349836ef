//! Turning a batch of queued items into a compressed request body (remote write
//! 1.0: `prompb/remote.proto`; 2.0: `prompb/io/prometheus/write/v2/types.proto`, both snappy block
//! compressed as `storage/remote/codec.go` does).
//!
//! One [`RequestEncoder`] lives in each shard and reuses every buffer, so encoding allocates
//! nothing per sample once the buffers have grown to the batch size.

use crate::batch_stats::BatchStats;
use crate::config::Protocol;
use crate::encode_v1::encode_v1;
use crate::encode_v2::SymbolTable;
use crate::item::Item;
use crate::series::SeriesCache;

/// Per-shard encoder with reusable buffers.
pub(crate) struct RequestEncoder {
    raw: Vec<u8>,
    compressed: Vec<u8>,
    compressed_len: usize,
    snappy: snap::raw::Encoder,
    v2: SymbolTable,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            raw: Vec::new(),
            compressed: Vec::new(),
            compressed_len: 0,
            snappy: snap::raw::Encoder::new(),
            v2: SymbolTable::default(),
        }
    }
}

impl RequestEncoder {
    /// Encodes `items` (skipping those with `t < min_ts`) and compresses the result; the body is
    /// then available from [`RequestEncoder::body`].
    pub(crate) fn encode(
        &mut self,
        protocol: Protocol,
        items: &[Item],
        cache: &SeriesCache,
        min_ts: Option<i64>,
    ) -> Result<BatchStats, snap::Error> {
        self.raw.clear();
        let stats = match protocol {
            Protocol::V1 => encode_v1(items, cache, min_ts, &mut self.raw),
            Protocol::V2 => self.v2.encode(items, cache, min_ts, &mut self.raw),
        };
        let max = snap::raw::max_compress_len(self.raw.len());
        if self.compressed.len() < max {
            self.compressed.resize(max, 0);
        }
        self.compressed_len = 0;
        self.compressed_len = self.snappy.compress(&self.raw, &mut self.compressed)?;
        Ok(stats)
    }

    /// The compressed body of the last [`RequestEncoder::encode`].
    pub(crate) fn body(&self) -> &[u8] {
        &self.compressed[..self.compressed_len]
    }

    /// Compresses the last raw request again (benchmarks: the snappy share of the cost).
    #[cfg(feature = "bench")]
    pub(crate) fn recompress(&mut self) -> usize {
        self.snappy.compress(&self.raw, &mut self.compressed).unwrap_or(0)
    }

    /// The uncompressed protobuf of the last encode (tests and benchmarks).
    #[cfg(test)]
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
