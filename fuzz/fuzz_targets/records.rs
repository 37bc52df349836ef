//! One decoded record, as the assembler would hand it over: every decoder must reject or accept
//! it without panicking, and what a decoder accepts must survive encode → decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|rec: &[u8]| {
    walship_fuzz::decode_all_and_round_trip(rec);
});
