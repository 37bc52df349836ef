//! Fetching what the next series of a request will read before the encoder gets to it.
//!
//! In a large series cache a shard's requests meet their series scattered over memory (series go
//! to shards by a hash of their reference), and each series costs a few cache misses one after the
//! other: its cache entry, then the label run the entry points to. Asking for the entry some
//! series ahead and for the run a few series ahead (by then the entry is at hand) lets those
//! misses overlap the work on the series before. Measured with `cargo bench -p remote-queue
//! --features bench` (the row over 1M scattered series): about 1.5 times the samples per
//! CPU-second for 1.0 and 2.0 alike, and no change where the cache fits the processor's caches.
//! The encoders ask through `batch_stats::prefetch_ahead`.

/// Asks the processor to fetch the cache line of `p` into its caches: a hint, with no effect on
/// what the program computes; nothing on other architectures.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 processor has. A prefetch reads
    // nothing the program sees and never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
