//! A block's `tombstones` file: decoding never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tsdb_block::Tombstones::decode(data, std::path::Path::new("tombstones"));
});
