//! The resharding thread: every `shard_update_interval`, tick the rates, ask
//! [`crate::reshard::desired_shards`] and reshard when [`crate::reshard::should_reshard`] agrees.

use crate::clock::now_ms;
use crate::lock::lock;
use crate::queue_state::QueueState;
use crate::reshard::{desired_shards, should_reshard, ReshardInputs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Runs until the queue stops.
pub(crate) fn reshard_loop(state: &Arc<QueueState>) {
    let ctx = &state.ctx;
    let t = &ctx.throughput;
    loop {
        {
            let g = lock(&state.loops_wake.0);
            if ctx.is_stopping() {
                return;
            }
            let _ = state.loops_wake.1.wait_timeout(g, ctx.cfg.shard_update_interval);
        }
        if ctx.is_stopping() {
            return;
        }
        for r in [&t.data_in, &t.data_out, &t.data_dropped, &t.data_out_duration] {
            r.tick(ctx.cfg.shard_update_interval);
        }
        let q = &ctx.cfg.queue;
        let current = state.current_set().len();
        let inputs = ReshardInputs {
            current,
            min_shards: q.min_shards,
            max_shards: q.max_shards,
            in_rate: t.data_in.rate(),
            out_rate: t.data_out.rate(),
            dropped_rate: t.data_dropped.rate(),
            out_duration_rate: t.data_out_duration.rate(),
            highest_recv_s: ctx.metrics.highest_read_s.load(Relaxed),
            highest_sent_s: ctx.metrics.highest_sent_s.load(Relaxed),
        };
        let (n, raw) = desired_shards(&inputs);
        if let Some(raw) = raw {
            ctx.metrics.set_desired(raw);
        }
        let now = now_ms() as f64 / 1000.0;
        let paused_until = t.paused_until_ms.load(Relaxed) as f64 / 1000.0;
        let window = ctx.cfg.shard_update_interval;
        if should_reshard(n, current, t.last_send_s.load(Relaxed), paused_until, now, window) {
            state.reshard(n);
        }
    }
}
