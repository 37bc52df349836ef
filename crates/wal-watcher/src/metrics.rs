//! What the watcher exposes for observability: counters it updates as it reads.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters and gauges of one watcher, shareable with a metrics endpoint (`Arc<WatcherMetrics>`).
#[derive(Debug, Default)]
pub struct WatcherMetrics {
    records: [AtomicU64; 15],
    /// Index of the segment being read.
    pub current_segment: AtomicU64,
    /// Newest sample timestamp seen in the WAL (ms), for lag.
    pub newest_timestamp_ms: AtomicI64,
    /// Float samples handed to the sink.
    pub samples_sent: AtomicU64,
    /// Records that failed to decode.
    pub decode_failures: AtomicU64,
    /// Damaged spans found (in segments or checkpoints); reading went on after each.
    pub corruptions: AtomicU64,
    /// Bytes of WAL stepped over because they were damaged.
    pub bytes_skipped: AtomicU64,
    /// Records known to be lost to damage.
    pub records_lost: AtomicU64,
    /// Passes of the loop that ended in an error.
    pub errors: AtomicU64,
    /// Gaps in the WAL: segments that should have been read were missing (the start position's
    /// segment deleted by Prometheus, a hole in the numbering), or the cursor was ahead of the WAL.
    pub gaps: AtomicU64,
    /// Checkpoints read for series garbage collection.
    pub checkpoints_gc: AtomicU64,
}

impl WatcherMetrics {
    pub(crate) fn record(&self, type_byte: u8) {
        self.records[(type_byte as usize).min(14)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records read with the given type byte (1 Series, 2 Samples, … 13). Unknown types are
    /// counted under 0 and 14 and above.
    pub fn records_read(&self, type_byte: u8) -> u64 {
        self.records[(type_byte as usize).min(14)].load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
