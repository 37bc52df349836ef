//! The wall clock, as remote write counts time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (sample timestamps count the same way); 0 if the clock is
/// set before 1970.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
