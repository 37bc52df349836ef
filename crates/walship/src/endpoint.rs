//! What the HTTP endpoints (`/metrics`, the status page) read of one running endpoint.

use remote_queue::QueueManager;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;
use wal_watcher::WatcherMetrics;

/// What `/metrics` reports for one endpoint.
pub struct Endpoint {
    /// Cursor key (endpoint name).
    pub key: String,
    /// Its queue.
    pub queue: Arc<QueueManager>,
    /// Its watcher's counters.
    pub watcher: Arc<WatcherMetrics>,
    /// Failed saves of its cursor.
    pub cursor_save_failures: Arc<AtomicU64>,
    /// When its cursor was last saved (ms since the epoch; 0: not in this run).
    pub cursor_saved_ms: Arc<AtomicI64>,
    /// Its URL with any password hidden.
    pub url: String,
    /// Its queue's upper bound of shards.
    pub max_shards: usize,
}
