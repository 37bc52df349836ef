//! Record decompression on arbitrary bytes: no panic, and no allocation beyond what the input
//! could honestly expand to (libFuzzer's `-rss_limit_mb` / malloc limit catch a bomb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{decompress, Compression};

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    for compression in [Compression::Snappy, Compression::Zstd] {
        let _ = decompress(compression, data, &mut out);
    }
    // And the other way: whatever the input is, its snappy encoding must come back unchanged.
    let packed = snap::raw::Encoder::new().compress_vec(data).expect("snappy compresses any input");
    decompress(Compression::Snappy, &packed, &mut out).expect("our snappy encoding does not decompress");
    assert_eq!(out, data);
});
