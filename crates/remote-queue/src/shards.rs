//! A set of shards: bounded per-shard queues and one sending thread per shard (Prometheus's
//! `storage/remote/queue_manager.go`, `shards` and `queue`).
//!
//! Each shard holds a partial batch and a FIFO of full batches with room for
//! `max(1, capacity / max_samples_per_send)` batches. Pushing never waits: it reports how many
//! items it took and the caller (the append path) waits for space, which is how backpressure
//! reaches the WAL reader. A closed shard takes nothing; its thread sends what is left and exits.

use crate::encode::RequestEncoder;
use crate::item::{Item, KindCounts};
use crate::send::{send_batch, Outcome};
use crate::send_context::SendContext;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct ShardQueue {
    partial: Vec<Item>,
    full: VecDeque<Vec<Item>>,
    pool: Vec<Vec<Item>>,
    closed: bool,
}

pub(crate) struct Shard {
    q: Mutex<ShardQueue>,
    /// Wakes the shard's thread.
    wake: Condvar,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardQueue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `n` shards and their threads.
pub(crate) struct ShardSet {
    pub(crate) shards: Vec<Shard>,
    max_batch: usize,
    slots: usize,
    live: Mutex<usize>,
    exited: Condvar,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl ShardSet {
    /// Starts `n` shard threads.
    pub(crate) fn start(ctx: &Arc<SendContext>, n: usize) -> Arc<ShardSet> {
        let q = &ctx.cfg.queue;
        let set = Arc::new(ShardSet {
            shards: (0..n).map(|_| Shard { q: Mutex::default(), wake: Condvar::new() }).collect(),
            max_batch: q.max_samples_per_send,
            slots: (q.capacity / q.max_samples_per_send).max(1),
            live: Mutex::new(n),
            exited: Condvar::new(),
            handles: Mutex::new(Vec::new()),
        });
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (set2, ctx2) = (set.clone(), ctx.clone());
            let h = std::thread::Builder::new().name(format!("rq-shard-{i}")).spawn(move || {
                let _guard = ExitGuard(&set2);
                run_shard(&ctx2, &set2, i);
            });
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Without a thread the shard would never drain; fail loudly rather than hang.
                    log::error!("cannot start shard thread: {e}");
                    *set.live.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                }
            }
        }
        *set.handles.lock().unwrap_or_else(|p| p.into_inner()) = handles;
        ctx.metrics.shards.store(n as u64, Relaxed);
        set
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Moves items from the front of `items` into shard `i` until it is full; returns how many it took.
    pub(crate) fn push(&self, i: usize, items: &mut VecDeque<Item>) -> usize {
        let shard = &self.shards[i];
        let mut q = shard.lock();
        if q.closed {
            return 0;
        }
        let mut taken = 0;
        let mut wake = false;
        while let Some(item) = items.pop_front() {
            if q.partial.len() >= self.max_batch {
                if q.full.len() >= self.slots {
                    items.push_front(item);
                    break;
                }
                let fresh = q.pool.pop().unwrap_or_default();
                let batch = std::mem::replace(&mut q.partial, fresh);
                q.full.push_back(batch);
                wake = true;
            }
            q.partial.push(item);
            taken += 1;
        }
        if q.partial.len() >= self.max_batch && q.full.len() < self.slots {
            let fresh = q.pool.pop().unwrap_or_default();
            let batch = std::mem::replace(&mut q.partial, fresh);
            q.full.push_back(batch);
            wake = true;
        }
        drop(q);
        if wake {
            shard.wake.notify_one();
        }
        taken
    }

    /// Soft stop: no more pushes; threads send what is queued and exit.
    pub(crate) fn close(&self) {
        for s in &self.shards {
            s.lock().closed = true;
            s.wake.notify_all();
        }
    }

    /// Waits until every thread has exited or `deadline` passes; true when all exited.
    pub(crate) fn wait_exited(&self, deadline: Option<Instant>) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        while *live > 0 {
            match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    live = self.exited.wait_timeout(live, d - now).unwrap_or_else(|p| p.into_inner()).0;
                }
                None => live = self.exited.wait(live).unwrap_or_else(|p| p.into_inner()),
            }
        }
        drop(live);
        for h in self.handles.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = h.join();
        }
        true
    }

    /// Hard stop: takes every item still queued (not in flight) out of the shards.
    pub(crate) fn take_all(&self) -> Vec<Item> {
        let mut out = Vec::new();
        for s in &self.shards {
            let mut q = s.lock();
            q.closed = true;
            while let Some(mut b) = q.full.pop_front() {
                out.append(&mut b);
            }
            out.append(&mut q.partial);
            drop(q);
            s.wake.notify_all();
        }
        out
    }

    pub(crate) fn wake_all(&self) {
        for s in &self.shards {
            s.wake.notify_all();
        }
    }
}

struct ExitGuard<'a>(&'a ShardSet);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let mut live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
        *live = live.saturating_sub(1);
        self.0.exited.notify_all();
    }
}

/// Counts items abandoned by a hard stop as failed, except `settled` ones (parts of the batch
/// accepted or dropped while isolating, counted then). None is acknowledged: the watermark stays
/// behind them and a restart reads them again.
pub(crate) fn abandon(ctx: &SendContext, items: &[Item], settled: &KindCounts) {
    if items.is_empty() {
        return;
    }
    let c = KindCounts::of(items);
    let unsettled = c.saturating_sub(settled);
    ctx.metrics.failed.add(&unsettled);
    ctx.metrics.pending.add(&c, -1);
    log::error!("failed to flush all samples on shutdown: {} items abandoned, will be re-read", unsettled.total());
}

fn run_shard(ctx: &SendContext, set: &ShardSet, i: usize) {
    let shard = &set.shards[i];
    let deadline_every = ctx.cfg.queue.batch_send_deadline;
    let mut encoder = RequestEncoder::default();
    let mut next_deadline = Instant::now() + deadline_every;
    loop {
        let mut batch = {
            let mut q = shard.lock();
            loop {
                if ctx.is_hard_stopped() {
                    let mut left: Vec<Item> = q.full.drain(..).flatten().collect();
                    left.append(&mut q.partial);
                    drop(q);
                    abandon(ctx, &left, &KindCounts::default());
                    return;
                }
                if let Some(b) = q.full.pop_front() {
                    break b;
                }
                let now = Instant::now();
                // A partial batch that filled up while the FIFO had no room is a full batch: it
                // must not wait for the deadline.
                if q.closed || now >= next_deadline || q.partial.len() >= set.max_batch {
                    if !q.partial.is_empty() {
                        let fresh = q.pool.pop().unwrap_or_default();
                        break std::mem::replace(&mut q.partial, fresh);
                    }
                    if q.closed {
                        return;
                    }
                    next_deadline = now + deadline_every;
                }
                let wait = next_deadline.saturating_duration_since(now).max(Duration::from_micros(100));
                q = shard.wake.wait_timeout(q, wait).unwrap_or_else(|p| p.into_inner()).0;
            }
        };
        ctx.notify_space();
        match send_batch(ctx, &mut encoder, &batch) {
            Outcome::Done => {}
            Outcome::Abandoned { settled } => abandon(ctx, &batch, &settled),
        }
        batch.clear();
        next_deadline = Instant::now() + deadline_every;
        let mut q = shard.lock();
        if q.pool.len() < set.slots + 1 {
            q.pool.push(batch);
        }
    }
}

impl ShardSet {
    /// A set without shards, used only as a placeholder while the first real set starts.
    pub(crate) fn empty() -> ShardSet {
        ShardSet {
            shards: Vec::new(),
            max_batch: 1,
            slots: 1,
            live: Mutex::new(0),
            exited: Condvar::new(),
            handles: Mutex::new(Vec::new()),
        }
    }
}
