//! Waking the tail loop when the WAL changes: inotify through the `notify` crate, with plain
//! polling as the fallback (and as a safety net: a missed event only delays a read by one poll).

use crossbeam_channel::{Receiver, Sender};
use std::path::Path;
use std::time::Duration;

/// Wakes the watcher when files in the WAL directory change.
pub(crate) struct Wakeup {
    // Kept alive for as long as events are wanted.
    _watcher: Option<notify::RecommendedWatcher>,
    events: Receiver<()>,
    /// Whether file system events are delivered (else: polling only).
    pub(crate) notifying: bool,
}

impl Wakeup {
    /// Watches `dir` when `use_notify`; falls back to polling when that is off or fails.
    pub(crate) fn new(dir: &Path, use_notify: bool) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let watcher = if use_notify { Self::watch(dir, tx) } else { None };
        Wakeup { notifying: watcher.is_some(), _watcher: watcher, events: rx }
    }

    fn watch(dir: &Path, tx: Sender<()>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok() {
                // One pending wake-up is enough; a full channel means one is already queued.
                let _ = tx.try_send(());
            }
        })
        .ok()?;
        w.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
        Some(w)
    }

    /// Waits for a change or until `timeout`, whichever comes first.
    pub(crate) fn wait(&self, timeout: Duration) {
        let _ = self.events.recv_timeout(timeout);
    }
}
