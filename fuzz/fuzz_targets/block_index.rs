//! A block's `index` file: opening it, listing every series with labels and chunk metas, and
//! looking up postings never panic, whatever the bytes (TOC and sections are checksummed, so
//! the seeds' checksums are kept valid by a fix-up the target applies first).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    walship_fuzz::read_index(data);
});
