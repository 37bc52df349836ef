//! The metadata thread (remote write 1.0 only): every `send_interval`, the metric families known
//! from metadata records, `max_samples_per_send` entries per request, retried like data (as
//! Prometheus's `storage/remote/metadata_watcher.go` does).

use crate::client::StoreError;
use crate::config::Protocol;
use crate::lock::lock;
use crate::metadata;
use crate::queue_state::QueueState;
use crate::send_context::SendContext;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

/// Sends 1.0 metadata every `send_interval` until the queue stops.
pub(crate) fn metadata_loop(state: &Arc<QueueState>) {
    let ctx = &state.ctx;
    loop {
        {
            let g = lock(&state.loops_wake.0);
            if ctx.is_stopping() {
                return;
            }
            let _ = state.loops_wake.1.wait_timeout(g, ctx.cfg.metadata.send_interval);
        }
        if ctx.is_stopping() || !send_all(ctx) {
            return;
        }
    }
}

/// Sends the current families once. Returns false when the queue is stopping.
fn send_all(ctx: &SendContext) -> bool {
    let families = ctx.cache_read().metadata_families();
    let m = &ctx.metrics;
    for chunk in families.chunks(ctx.cfg.metadata.max_samples_per_send.max(1)) {
        let mut raw = Vec::new();
        metadata::encode(chunk, &mut raw);
        let body = match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(b) => b,
            Err(e) => {
                log::error!("cannot compress metadata request: {e}");
                m.metadata_failed.fetch_add(chunk.len() as u64, Relaxed);
                continue;
            }
        };
        let n = chunk.len() as u64;
        let mut backoff = ctx.backoff();
        let mut attempt = 0;
        loop {
            if ctx.is_hard_stopped() {
                return false;
            }
            let t0 = Instant::now();
            let r = ctx.transport.store(&body, Protocol::V1, attempt);
            if !matches!(r, Err(StoreError::Local { .. })) {
                m.observe_duration(t0.elapsed());
                ctx.local_fault_cleared();
            }
            // Shown like a batch's: an endpoint whose metadata fails is not reported healthy.
            match &r {
                Ok(_) => ctx.last_error.succeeded(),
                Err(e) => ctx.last_error.failed(e, false),
            }
            match r {
                Ok(_) => {
                    m.metadata_total.fetch_add(n, Relaxed);
                    m.metadata_bytes.fetch_add(body.len() as u64, Relaxed);
                    break;
                }
                Err(StoreError::NonRecoverable { message, .. }) => {
                    log::error!("non-recoverable error sending {n} metadata entries: {message}");
                    m.metadata_failed.fetch_add(n, Relaxed);
                    break;
                }
                Err(StoreError::Recoverable { message, retry_after }) => {
                    if !ctx.sleep_unless_hard_stop(backoff.next(retry_after)) {
                        return false;
                    }
                    m.metadata_retried.fetch_add(n, Relaxed);
                    log::warn!("failed to send metadata, retrying: {message}");
                    attempt += 1;
                }
                Err(StoreError::Local { message }) => {
                    if !ctx.wait_out_local_fault(&message, &mut backoff) {
                        return false;
                    }
                }
            }
        }
    }
    true
}
