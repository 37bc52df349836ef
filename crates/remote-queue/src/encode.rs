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
use crate::proto::{uvarint_len, write_uvarint};
use crate::series::SeriesCache;

/// Per-shard encoder with reusable buffers.
pub(crate) struct RequestEncoder {
    /// A 1.0 request (a 2.0 one stays in its two parts in `v2`).
    raw: Vec<u8>,
    /// Protocol of the last request.
    protocol: Protocol,
    compressed: Vec<u8>,
    compressed_len: usize,
    snappy: snap::raw::Encoder,
    v2: SymbolTable,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            raw: Vec::new(),
            protocol: Protocol::V1,
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
        self.protocol = protocol;
        let stats = match protocol {
            Protocol::V1 => encode_v1(items, cache, min_ts, &mut self.raw),
            Protocol::V2 => self.v2.encode(items, cache, min_ts),
        };
        self.compressed_len = 0;
        self.compressed_len = self.compress()?;
        Ok(stats)
    }

    /// Compresses the last request into `compressed`; returns the compressed length.
    fn compress(&mut self) -> Result<usize, snap::Error> {
        match self.protocol {
            Protocol::V1 => {
                let max = snap::raw::max_compress_len(self.raw.len());
                if self.compressed.len() < max {
                    self.compressed.resize(max, 0);
                }
                self.snappy.compress(&self.raw, &mut self.compressed)
            }
            Protocol::V2 => compress_parts(&mut self.snappy, self.v2.parts(), &mut self.compressed),
        }
    }

    /// The compressed body of the last [`RequestEncoder::encode`].
    pub(crate) fn body(&self) -> &[u8] {
        &self.compressed[..self.compressed_len]
    }

    /// Compresses the last raw request again (benchmarks: the snappy share of the cost).
    #[cfg(feature = "bench")]
    pub(crate) fn recompress(&mut self) -> usize {
        self.compress().unwrap_or(0)
    }

    /// The uncompressed protobuf of the last encode (tests).
    #[cfg(test)]
    pub(crate) fn raw(&self) -> Vec<u8> {
        match self.protocol {
            Protocol::V1 => self.raw.clone(),
            Protocol::V2 => self.v2.parts().concat(),
        }
    }
}

/// Compresses `parts` one after the other into `out` as one snappy block stream; returns its
/// length. A snappy stream is its uncompressed length (a varint) followed by elements, each a
/// literal or a copy of bytes decoded before it; compressing each part on its own and writing
/// their elements one after the other under the total length is therefore a valid stream of the
/// parts' concatenation (the second part's copies just never reach into the first). This saves
/// copying a 2.0 request's two parts together, a few percent of its cost.
fn compress_parts(
    snappy: &mut snap::raw::Encoder,
    [a, b]: [&[u8]; 2],
    out: &mut Vec<u8>,
) -> Result<usize, snap::Error> {
    let total = a.len() + b.len();
    let (head, head_a, head_b) = (uvarint_len(total as u64), uvarint_len(a.len() as u64), uvarint_len(b.len() as u64));
    let max = head + snap::raw::max_compress_len(a.len()) + snap::raw::max_compress_len(b.len());
    if out.len() < max {
        out.resize(max, 0);
    }
    // The first part's stream is placed so that its own length prefix ends where the total's
    // does (`head >= head_a`, the total being the longer), then the total is written over it.
    let n = snappy.compress(a, out.get_mut(head - head_a..).unwrap_or_default())?;
    let end_a = head - head_a + n;
    let mut prefix = [0u8; 10];
    let w = write_uvarint(&mut prefix, total as u64);
    out.get_mut(..head).unwrap_or_default().copy_from_slice(prefix.get(..w).unwrap_or_default());
    if b.is_empty() {
        return Ok(end_a);
    }
    // The second part's length prefix lands on the last bytes of the first part (`end_a >= head
    // >= head_b`): they are kept aside and put back.
    let at = end_a - head_b;
    let mut kept = [0u8; 10];
    kept.get_mut(..head_b).unwrap_or_default().copy_from_slice(out.get(at..end_a).unwrap_or_default());
    let n = snappy.compress(b, out.get_mut(at..).unwrap_or_default())?;
    out.get_mut(at..end_a).unwrap_or_default().copy_from_slice(kept.get(..head_b).unwrap_or_default());
    Ok(at + n)
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
