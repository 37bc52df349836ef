//! [`SendContext`]: what the shard threads need to send a batch, and nothing of the queue's own
//! bookkeeping (the shard set, resharding, deferred garbage collection, the append buffers).
//!
//! The caller's thread, the shard threads and the metadata thread all hold it. Fields are public
//! to the crate only where the send path reads them as they are; the stop, wait and fault states
//! change only through the methods below, so their protocols (which lock, which order, which
//! condition variable) live in one place.

use crate::ack::AckTracker;
use crate::client::Transport;
use crate::config::{EndpointConfig, Protocol};
use crate::last_error::ErrorSlot;
use crate::lock::lock;
use crate::log_limit::LogLimiter;
use crate::metrics::QueueMetrics;
use crate::reshard::Throughput;
use crate::series::SeriesCache;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// See the module documentation.
pub(crate) struct SendContext {
    pub(crate) cfg: EndpointConfig,
    pub(crate) tracker: AckTracker,
    pub(crate) metrics: QueueMetrics,
    pub(crate) transport: Box<dyn Transport>,
    /// Rates the resharding decision reads; the send path reports finished batches and pauses.
    pub(crate) throughput: Throughput,
    /// Lines about rejected series and batches.
    pub(crate) rejected_log: LogLimiter,
    /// The newest failed attempt, for [`crate::QueueManager::last_error`].
    pub(crate) last_error: ErrorSlot,
    cache: RwLock<SeriesCache>,
    /// 2 while remote write 2.0 is used, 1 after a 415 fallback (or when configured).
    protocol: AtomicU8,
    hard_stop: AtomicBool,
    stopping: AtomicBool,
    /// Why the queue stopped by itself (the remote refused the credentials), if it did.
    fatal: Mutex<Option<String>>,
    /// Wakes retry sleeps early on a hard stop.
    sleeper: (Mutex<()>, Condvar),
    /// A generation counter, bumped whenever shard queues may have room again.
    space: (Mutex<u64>, Condvar),
    /// A request could not be made on this side (see [`SendContext::local_fault`]).
    local_fault: AtomicBool,
}

impl SendContext {
    pub(crate) fn new(
        cfg: EndpointConfig,
        cache: SeriesCache,
        metrics: QueueMetrics,
        transport: Box<dyn Transport>,
    ) -> SendContext {
        let protocol = if cfg.protocol == Protocol::V2 { 2 } else { 1 };
        SendContext {
            cache: RwLock::new(cache),
            tracker: AckTracker::default(),
            metrics,
            transport,
            protocol: AtomicU8::new(protocol),
            hard_stop: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            fatal: Mutex::new(None),
            sleeper: (Mutex::new(()), Condvar::new()),
            space: (Mutex::new(0), Condvar::new()),
            throughput: Throughput::default(),
            local_fault: AtomicBool::new(false),
            rejected_log: LogLimiter::default(),
            last_error: ErrorSlot::new(&cfg),
            cfg,
        }
    }

    pub(crate) fn cache_read(&self) -> RwLockReadGuard<'_, SeriesCache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn cache_write(&self) -> RwLockWriteGuard<'_, SeriesCache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn protocol(&self) -> Protocol {
        if self.protocol.load(Relaxed) == 2 {
            Protocol::V2
        } else {
            Protocol::V1
        }
    }

    /// Remembers a 415 fallback to 1.0 for this endpoint.
    pub(crate) fn downgrade(&self) {
        self.protocol.store(1, Relaxed);
    }

    /// Notes that a request could not be made on this side (a credentials or TLS file missing):
    /// one error line when this starts, however many shards and retries meet it.
    pub(crate) fn local_fault(&self, message: &str) {
        if !self.local_fault.swap(true, SeqCst) {
            log::error!(
                "remote {}: cannot make remote-write requests: {message}; holding the data back and \
                 retrying (nothing is dropped or acknowledged until requests can be made again)",
                self.metrics.remote_name
            );
        }
    }

    /// Notes that a request reached the remote again; one line if it had not been able to.
    pub(crate) fn local_fault_cleared(&self) {
        if self.local_fault.load(Relaxed) && self.local_fault.swap(false, SeqCst) {
            log::info!("remote {}: remote-write requests can be made again; sending resumes", self.metrics.remote_name);
        }
    }

    /// Wakes the append path: shard queues may have room (or the queue is stopping).
    pub(crate) fn notify_space(&self) {
        *lock(&self.space.0) += 1;
        self.space.1.notify_all();
    }

    /// The space generation now; pass it to [`SendContext::wait_for_space`] after trying to push.
    pub(crate) fn space_generation(&self) -> u64 {
        *lock(&self.space.0)
    }

    /// Waits up to `wait` for room, unless room was announced since `generation` was read.
    pub(crate) fn wait_for_space(&self, generation: u64, wait: Duration) {
        let g = lock(&self.space.0);
        if *g == generation {
            let _ = self.space.1.wait_timeout(g, wait);
        }
    }

    /// Whether appends must fail and loops end: [`SendContext::begin_stop`] or a fatal error.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(SeqCst)
    }

    /// Marks the queue stopping; false when it already was.
    pub(crate) fn begin_stop(&self) -> bool {
        !self.stopping.swap(true, SeqCst)
    }

    pub(crate) fn is_hard_stopped(&self) -> bool {
        self.hard_stop.load(SeqCst)
    }

    /// The backoff of a new request: from `min_backoff`, doubling up to `max_backoff`.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff { next: self.cfg.queue.min_backoff, max: self.cfg.queue.max_backoff }
    }

    /// After an attempt that could not be made on this side: notes the fault (see
    /// [`SendContext::local_fault`]) and waits the backoff, which then doubles. False on hard stop.
    pub(crate) fn wait_out_local_fault(&self, message: &str, backoff: &mut Backoff) -> bool {
        self.local_fault(message);
        let wait = backoff.next(None);
        self.sleep_unless_hard_stop(wait)
    }

    /// Sleeps `d` unless a hard stop comes first; false on hard stop.
    pub(crate) fn sleep_unless_hard_stop(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut g = lock(&self.sleeper.0);
        loop {
            if self.hard_stop.load(SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            g = self.sleeper.1.wait_timeout(g, end - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Stops the queue for a reason no retry can fix (HTTP 401/403): nothing more is sent, what
    /// is held is abandoned unacknowledged — so it is read again after the configuration is
    /// fixed — and appends fail. The first reason is kept.
    pub(crate) fn fail_fatally(&self, reason: String) {
        lock(&self.fatal).get_or_insert(reason);
        self.stopping.store(true, SeqCst);
        self.hard_stop_now();
        self.notify_space();
    }

    /// The reason [`SendContext::fail_fatally`] was given, if it was called.
    pub(crate) fn fatal(&self) -> Option<String> {
        lock(&self.fatal).clone()
    }

    pub(crate) fn hard_stop_now(&self) {
        self.hard_stop.store(true, SeqCst);
        let _g = lock(&self.sleeper.0);
        self.sleeper.1.notify_all();
    }
}

/// The wait between the attempts of one request (data or metadata), as Prometheus's queue
/// manager does it: `min_backoff` first, doubled after each failure up to `max_backoff`; a
/// `Retry-After` from the remote replaces the wait, and the doubling goes on from there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The wait before the next attempt: `retry_after` when the remote named one, else the
    /// current backoff. The backoff after it is twice this wait, at most `max_backoff`.
    pub(crate) fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or(self.next);
        self.next = (wait * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_follows_retry_after() {
        let ms = Duration::from_millis;
        let mut b = Backoff { next: ms(30), max: ms(100) };
        assert_eq!([b.next(None), b.next(None), b.next(None), b.next(None)], [ms(30), ms(60), ms(100), ms(100)]);
        // A Retry-After replaces the wait; the backoff doubles from it, still capped.
        assert_eq!(b.next(Some(ms(10))), ms(10));
        assert_eq!(b.next(None), ms(20));
        assert_eq!(b.next(Some(ms(500))), ms(500));
        assert_eq!(b.next(None), ms(100));
    }
}
