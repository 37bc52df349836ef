//! One chunk of a block: the first byte picks the encoding (all six), the rest is the chunk's
//! data. Decoding never panics, never yields more samples than the header declares, and ends
//! after its first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_block::{Chunk, Encoding};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let encoding = Encoding::from_byte(pick % 6 + 1).expect("1 to 6 are all encodings");
    walship_fuzz::decode_chunk(Chunk::new(encoding, data));
});
