//! [`QueueState`]: what the caller's thread and the two background loops share beyond the
//! [`SendContext`] of the shards — the current shard set, the loops' wake-up, deferred series
//! garbage collection and the append path's buffers.

use crate::item::Item;
use crate::lock::lock;
use crate::send_context::SendContext;
use crate::shards::ShardSet;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex};

/// Buffers of the append path: items still to enqueue, per-shard buckets.
pub(crate) type AppendScratch = (VecDeque<Item>, Vec<VecDeque<Item>>);

/// See the module documentation.
pub(crate) struct QueueState {
    pub(crate) ctx: Arc<SendContext>,
    /// The running shard set; replaced whole by [`QueueState::reshard`].
    pub(crate) shards: Mutex<Arc<ShardSet>>,
    reshard_lock: Mutex<()>,
    /// Wakes the resharding and metadata loops early when the queue stops.
    pub(crate) loops_wake: (Mutex<()>, Condvar),
    /// Series collections asked for, as `(segment, next ack sequence then)`: each runs once every
    /// item appended before it is finished.
    pub(crate) pending_resets: Mutex<VecDeque<(u64, u64)>>,
    pub(crate) scratch: Mutex<AppendScratch>,
}

impl QueueState {
    /// State around `ctx`, with no shards yet (a set of zero shards has no threads).
    pub(crate) fn new(ctx: Arc<SendContext>) -> QueueState {
        QueueState {
            ctx,
            shards: Mutex::new(Arc::new(ShardSet::empty())),
            reshard_lock: Mutex::new(()),
            loops_wake: (Mutex::new(()), Condvar::new()),
            pending_resets: Mutex::new(VecDeque::new()),
            scratch: Mutex::new((VecDeque::new(), Vec::new())),
        }
    }

    pub(crate) fn current_set(&self) -> Arc<ShardSet> {
        lock(&self.shards).clone()
    }

    /// Stops the current shard set completely, then starts `n` shards. Nothing queued is lost and
    /// per-series order holds: the new set starts only after the old one sent everything.
    pub(crate) fn reshard(&self, n: usize) {
        let _one_at_a_time = lock(&self.reshard_lock);
        let old = self.current_set();
        if old.len() == n || self.ctx.is_stopping() {
            return;
        }
        log::info!("remote storage resharding from {} to {}", old.len(), n);
        old.close();
        old.wait_exited(None);
        let mut cur = lock(&self.shards);
        if self.ctx.is_stopping() {
            return;
        }
        *cur = ShardSet::start(&self.ctx, n);
        drop(cur);
        self.ctx.notify_space();
    }

    /// Runs deferred series garbage collection whose items have all been finished.
    pub(crate) fn run_gc(&self) {
        let oldest = self.ctx.tracker.oldest_outstanding();
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
            let mut c = self.ctx.cache_write();
            c.reset(segment);
            self.ctx.metrics.series_cached.store(c.len() as u64, Relaxed);
        }
    }
}
