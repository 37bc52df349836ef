//! Waking the tail loop when the WAL changes: inotify through the `notify` crate, with plain
//! polling as the fallback (and as a safety net: a missed event only delays a read by one poll).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A pending wake-up, set by the event thread and taken by the watcher. A flag under a mutex
/// rather than a channel: the watcher sleeps at once on the condition variable, where a channel's
/// receive spins and yields first — for every one of the WAL writes Prometheus makes each second.
#[derive(Default)]
struct Signal {
    pending: Mutex<bool>,
    changed: Condvar,
}

impl Signal {
    fn raise(&self) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_one();
    }

    /// Waits until raised or `timeout`; once raised, waits `settle` more for the writes that
    /// follow, then lowers the flag.
    fn wait(&self, timeout: Duration, settle: Duration) {
        let deadline = Instant::now() + timeout;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while !*pending {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self.changed.wait_timeout(pending, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        if !settle.is_zero() {
            drop(pending);
            std::thread::sleep(settle);
            pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        }
        // Lowered after the pause: whatever was written before this point is read next, and a
        // write after it raises the flag again.
        *pending = false;
    }
}

/// How long the watcher lets a burst of writes go on after the first one wakes it. Prometheus
/// appends a scrape's records in a burst of page writes, each raising an event; reading after
/// each one cost a wake-up and a read per page. Prometheus's own watcher polls every 10 ms, so
/// 5 ms keeps walship ahead of it.
const SETTLE: Duration = Duration::from_millis(5);

/// Wakes the watcher when files in the WAL directory change.
pub(crate) struct Wakeup {
    // Kept alive for as long as events are wanted.
    _watcher: Option<notify::RecommendedWatcher>,
    signal: Arc<Signal>,
    /// Whether file system events are delivered (else: polling only).
    pub(crate) notifying: bool,
}

impl Wakeup {
    /// Watches `dir` when `use_notify`; falls back to polling when that is off or fails.
    pub(crate) fn new(dir: &Path, use_notify: bool) -> Self {
        let signal = Arc::new(Signal::default());
        let watcher = if use_notify { Self::watch(dir, signal.clone()) } else { None };
        Wakeup { notifying: watcher.is_some(), _watcher: watcher, signal }
    }

    fn watch(dir: &Path, signal: Arc<Signal>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok() {
                signal.raise();
            }
        })
        .ok()?;
        w.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
        Some(w)
    }

    /// Waits for a change or until `timeout`, whichever comes first. After a change it lets
    /// [`SETTLE`] pass before returning, so that one read takes in a burst of writes.
    pub(crate) fn wait(&self, timeout: Duration) {
        self.signal.wait(timeout, SETTLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_ends_the_wait_and_is_taken() {
        let s = Arc::new(Signal::default());
        s.raise();
        let t = Instant::now();
        s.wait(Duration::from_secs(5), Duration::ZERO);
        assert!(t.elapsed() < Duration::from_secs(1), "pending wake-up returns at once");
        let t = Instant::now();
        s.wait(Duration::from_millis(50), Duration::ZERO);
        assert!(t.elapsed() >= Duration::from_millis(50), "taken: the next wait times out");
        s.raise();
        let t = Instant::now();
        s.wait(Duration::from_secs(5), Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30), "a wake-up settles first");
        let raiser = s.clone();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.raise();
        });
        let t = Instant::now();
        s.wait(Duration::from_secs(5), Duration::ZERO);
        assert!(t.elapsed() < Duration::from_secs(4), "woken by another thread");
        th.join().expect("raiser");
    }
}
