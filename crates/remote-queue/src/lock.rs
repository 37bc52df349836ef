//! Locking that survives a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data even when another thread panicked while holding it: every value
/// the queue keeps behind a mutex is updated in single steps, so a poisoned one is still whole,
/// and one panicking shard must not stop the others from sending.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
