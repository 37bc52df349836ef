//! Waking the tail loop when the WAL changes: inotify on the WAL directory, read by a thread of
//! our own, with plain polling as the fallback (and as a safety net: a missed event only delays a
//! read by one poll).
//!
//! The `inotify` crate rather than `notify`: walship needs one directory on Linux and one
//! behaviour — wake the watcher once per burst of writes. Prometheus appends a scrape's records
//! as a burst of page writes, one event each. The kernel merges a file's repeated modify events
//! while they wait unread, so a thread that lets [`SETTLE`] pass before reading again turns a
//! burst into one or two wake-ups. With `notify` every event woke two threads and built an
//! event value: together about a tenth of walship's CPU while tailing 30k series a second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the event thread lets a burst of writes go on after its first event before waking
/// the watcher. Prometheus's own watcher polls every 10 ms, so 5 ms keeps walship ahead of it.
const SETTLE: Duration = Duration::from_millis(5);

/// A pending wake-up, set by the event thread and taken by the watcher. A flag under a mutex
/// rather than a channel: the watcher sleeps at once on the condition variable, where a channel's
/// receive spins and yields first.
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

    /// Waits until raised or `timeout`, then lowers the flag.
    fn wait(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while !*pending {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self.changed.wait_timeout(pending, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *pending = false;
    }
}

/// The inotify watch and the thread reading its events.
struct FileEvents {
    watches: inotify::Watches,
    watch: inotify::WatchDescriptor,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileEvents {
    fn start(dir: &Path, signal: Arc<Signal>) -> Option<FileEvents> {
        use inotify::WatchMask;
        let inotify = inotify::Inotify::init().ok()?;
        let mut watches = inotify.watches();
        // Appends, new segments and checkpoints (written under a temporary name, then renamed).
        let mask = WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE;
        let watch = watches.add(dir, mask).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wal-inotify".into())
            .spawn(move || read_events(inotify, &signal, &thread_stop))
            .ok()?;
        Some(FileEvents { watches, watch, stop, thread: Some(thread) })
    }
}

/// Raises `signal` once per burst of events until stopped or the watch goes away.
fn read_events(mut inotify: inotify::Inotify, signal: &Signal, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    loop {
        let gone = match inotify.read_events_blocking(&mut buf) {
            Ok(mut events) => events.any(|e| e.mask.contains(inotify::EventMask::IGNORED)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
            // The watcher still looks for new data every segment-check interval.
            Err(_) => true,
        };
        if gone || stop.load(Ordering::Relaxed) {
            signal.raise();
            return;
        }
        std::thread::sleep(SETTLE);
        // Events that arrived meanwhile are taken with the next read, which then returns at
        // once: one extra wake-up at most, never a lost one.
        signal.raise();
    }
}

impl Drop for FileEvents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Removing the watch queues an IN_IGNORED event, which ends the thread's blocking read.
        // If removing fails, the watch is already gone (and the thread with it) or the thread
        // may stay blocked: then it is left behind rather than joined forever.
        if self.watches.remove(self.watch.clone()).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Wakes the watcher when files in the WAL directory change.
pub(crate) struct Wakeup {
    // Kept alive for as long as events are wanted.
    _events: Option<FileEvents>,
    signal: Arc<Signal>,
    /// Whether file system events are delivered (else: polling only).
    pub(crate) notifying: bool,
}

impl Wakeup {
    /// Watches `dir` when `use_notify`; falls back to polling when that is off or fails.
    pub(crate) fn new(dir: &Path, use_notify: bool) -> Self {
        let signal = Arc::new(Signal::default());
        let events = if use_notify { FileEvents::start(dir, signal.clone()) } else { None };
        Wakeup { notifying: events.is_some(), _events: events, signal }
    }

    /// Waits for a change or until `timeout`, whichever comes first.
    pub(crate) fn wait(&self, timeout: Duration) {
        self.signal.wait(timeout);
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
        s.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1), "pending wake-up returns at once");
        let t = Instant::now();
        s.wait(Duration::from_millis(50));
        assert!(t.elapsed() >= Duration::from_millis(50), "taken: the next wait times out");
        let raiser = s.clone();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.raise();
        });
        let t = Instant::now();
        s.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(4), "woken by another thread");
        th.join().expect("raiser");
    }

    #[test]
    fn writes_wake_the_waiter_and_dropping_ends_the_thread() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wakeup = Wakeup::new(dir.path(), true);
        assert!(wakeup.notifying, "inotify is available on Linux");
        let path = dir.path().join("00000000");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(path, b"page").expect("write");
        });
        let t = Instant::now();
        wakeup.wait(Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(5), "a write wakes the watcher");
        writer.join().expect("writer");
        let t = Instant::now();
        drop(wakeup);
        assert!(t.elapsed() < Duration::from_secs(2), "the event thread ends when the watch is removed");
    }
}
