//! State shared by the caller's thread, the shard threads, the resharding thread and the
//! metadata thread, and the two background loops.

use crate::ack::AckTracker;
use crate::client::Transport;
use crate::clock::now_ms;
use crate::config::{EndpointConfig, Protocol};
use crate::item::Item;
use crate::lock::lock;
use crate::metrics::QueueMetrics;
use crate::reshard::{desired_shards, should_reshard, EwmaRate, ReshardInputs};
use crate::series::SeriesCache;
use crate::shards::ShardSet;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// Buffers of the append path: items still to enqueue, per-shard buckets.
pub(crate) type AppendScratch = (VecDeque<Item>, Vec<VecDeque<Item>>);

/// State shared by the caller's thread, the shard threads and the resharding thread.
pub(crate) struct Shared {
    pub(crate) cfg: EndpointConfig,
    pub(crate) cache: RwLock<SeriesCache>,
    pub(crate) tracker: AckTracker,
    pub(crate) metrics: QueueMetrics,
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) protocol: AtomicU8,
    pub(crate) hard_stop: AtomicBool,
    pub(crate) stopping: AtomicBool,
    /// Why the queue stopped by itself (the remote refused the credentials), if it did.
    pub(crate) fatal: Mutex<Option<String>>,
    pub(crate) sleeper: (Mutex<()>, Condvar),
    pub(crate) space: (Mutex<u64>, Condvar),
    pub(crate) shards: Mutex<Arc<ShardSet>>,
    pub(crate) reshard_lock: Mutex<()>,
    pub(crate) reshard_wake: (Mutex<()>, Condvar),
    pub(crate) data_in: EwmaRate,
    pub(crate) data_out: EwmaRate,
    pub(crate) data_dropped: EwmaRate,
    pub(crate) data_out_duration: EwmaRate,
    pub(crate) last_send_s: AtomicI64,
    pub(crate) reshard_paused_until_ms: AtomicI64,
    pub(crate) pending_resets: Mutex<VecDeque<(u64, u64)>>,
    pub(crate) scratch: Mutex<AppendScratch>,
    /// A request could not be made on this side (see [`Shared::local_fault`]).
    pub(crate) local_fault: AtomicBool,
    /// Lines about rejected series and batches.
    pub(crate) rejected_log: crate::log_limit::LogLimiter,
}

impl Shared {
    pub(crate) fn cache_read(&self) -> RwLockReadGuard<'_, SeriesCache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn cache_write(&self) -> std::sync::RwLockWriteGuard<'_, SeriesCache> {
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

    pub(crate) fn notify_space(&self) {
        *lock(&self.space.0) += 1;
        self.space.1.notify_all();
    }

    pub(crate) fn pause_resharding(&self, d: Duration) {
        self.reshard_paused_until_ms.fetch_max(now_ms() + d.as_millis() as i64, Relaxed);
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

    pub(crate) fn current_set(&self) -> Arc<ShardSet> {
        lock(&self.shards).clone()
    }

    /// Stops the current shard set completely, then starts `n` shards. Nothing queued is lost and
    /// per-series order holds: the new set starts only after the old one sent everything.
    pub(crate) fn reshard(self: &Arc<Self>, n: usize) {
        let _one_at_a_time = lock(&self.reshard_lock);
        let old = self.current_set();
        if old.len() == n || self.stopping.load(SeqCst) {
            return;
        }
        log::info!("remote storage resharding from {} to {}", old.len(), n);
        old.close();
        old.wait_exited(None);
        let mut cur = lock(&self.shards);
        if self.stopping.load(SeqCst) {
            return;
        }
        *cur = ShardSet::start(self, n);
        drop(cur);
        self.notify_space();
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

    pub(crate) fn hard_stop_now(&self) {
        self.hard_stop.store(true, SeqCst);
        let _g = lock(&self.sleeper.0);
        self.sleeper.1.notify_all();
    }

    /// Runs deferred series garbage collection whose items have all been finished.
    pub(crate) fn run_gc(&self) {
        let oldest = self.tracker.oldest_outstanding();
        let mut due = Vec::new();
        {
            let mut p = lock(&self.pending_resets);
            while p.front().is_some_and(|&(_, seq)| seq <= oldest) {
                if let Some((segment, _)) = p.pop_front() {
                    due.push(segment);
                }
            }
        }
        if let Some(&segment) = due.iter().max() {
            let mut c = self.cache_write();
            c.reset(segment);
            self.metrics.series_cached.store(c.len() as u64, Relaxed);
        }
    }
}

/// Sends 1.0 metadata every `send_interval` until the queue stops.
pub(crate) fn metadata_loop(sh: &Arc<Shared>) {
    loop {
        {
            let g = lock(&sh.reshard_wake.0);
            if sh.stopping.load(SeqCst) {
                return;
            }
            let _ = sh.reshard_wake.1.wait_timeout(g, sh.cfg.metadata.send_interval);
        }
        if sh.stopping.load(SeqCst) || !crate::metadata::send_all(sh) {
            return;
        }
    }
}

pub(crate) fn reshard_loop(sh: &Arc<Shared>) {
    loop {
        {
            let g = lock(&sh.reshard_wake.0);
            if sh.stopping.load(SeqCst) {
                return;
            }
            let _ = sh.reshard_wake.1.wait_timeout(g, sh.cfg.shard_update_interval);
        }
        if sh.stopping.load(SeqCst) {
            return;
        }
        for r in [&sh.data_in, &sh.data_out, &sh.data_dropped, &sh.data_out_duration] {
            r.tick(sh.cfg.shard_update_interval);
        }
        let q = &sh.cfg.queue;
        let current = sh.current_set().len();
        let inputs = ReshardInputs {
            current,
            min_shards: q.min_shards,
            max_shards: q.max_shards,
            in_rate: sh.data_in.rate(),
            out_rate: sh.data_out.rate(),
            dropped_rate: sh.data_dropped.rate(),
            out_duration_rate: sh.data_out_duration.rate(),
            highest_recv_s: sh.metrics.highest_read_s.load(Relaxed),
            highest_sent_s: sh.metrics.highest_sent_s.load(Relaxed),
        };
        let (n, raw) = desired_shards(&inputs);
        if let Some(raw) = raw {
            sh.metrics.set_desired(raw);
        }
        let now = now_ms() as f64 / 1000.0;
        let paused_until = sh.reshard_paused_until_ms.load(Relaxed) as f64 / 1000.0;
        let window = sh.cfg.shard_update_interval;
        if should_reshard(n, current, sh.last_send_s.load(Relaxed), paused_until, now, window) {
            sh.reshard(n);
        }
    }
}
