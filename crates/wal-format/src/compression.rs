//! Whole-record compression: snappy block format and zstd frames.

use crate::error::Error;
use crate::fragment::Compression;
use std::io::Read;

/// Snappy turns at most 3 input bytes into 64 output bytes (a 2-byte-offset copy of 64); a claim
/// beyond that bound is corruption, and checking it first keeps a corrupt header from making us
/// allocate gigabytes.
fn snappy_bound(compressed: usize) -> usize {
    compressed.saturating_mul(22).saturating_add(64)
}

/// Largest record we decompress from zstd; no Prometheus segment can hold a larger one.
const MAX_ZSTD_RECORD: u64 = 1 << 30;

/// Decompresses `src` into `dst` (cleared first), reusing `dst`'s allocation.
pub fn decompress(compression: Compression, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Error> {
    dst.clear();
    match compression {
        Compression::None => dst.extend_from_slice(src),
        Compression::Snappy => {
            if src.is_empty() {
                // Prometheus keeps an empty compressed record empty.
                return Ok(());
            }
            crate::snappy::decompress(src, dst, snappy_bound(src.len()))?;
        }
        Compression::Zstd => {
            if src.is_empty() {
                return Ok(());
            }
            let mut dec = ruzstd::decoding::StreamingDecoder::new(src).map_err(|e| Error::Zstd(e.to_string()))?;
            let mut limited = (&mut dec).take(MAX_ZSTD_RECORD + 1);
            limited.read_to_end(dst).map_err(|e| Error::Zstd(e.to_string()))?;
            if dst.len() as u64 > MAX_ZSTD_RECORD {
                return Err(Error::DecompressedSize { compressed: src.len(), claimed: dst.len() });
            }
        }
    }
    Ok(())
}

/// Snappy-compresses `src` into `dst` (cleared first), as Prometheus's writer does.
pub(crate) fn snappy_compress(enc: &mut snap::raw::Encoder, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Error> {
    dst.clear();
    dst.resize(snap::raw::max_compress_len(src.len()), 0);
    let n = enc.compress(src, dst).map_err(|e| Error::Compress(e.to_string()))?;
    dst.truncate(n);
    Ok(())
}
