//! Sending one batch: encode, retry with backoff, classify, count, acknowledge (Prometheus's
//! `storage/remote/queue_manager.go`, `sendBatch` and `sendWriteRequestWithBackoff`).
//!
//! Every way a request can end has one owner:
//! - accepted: done (a 2.0 receiver's written-count headers say how much of it was stored);
//! - rejected by the remote for its content (4xx other than 401/403/429): the rejected part is
//!   dropped, counted failed and logged with the server's message — after
//!   [`crate::isolate`] has resent the innocent series, when enabled;
//! - remote unavailable or throttling (5xx, 429, network): retried with backoff;
//! - not made on this side (credentials or TLS file unreadable): retried with backoff, one
//!   error line when it starts and one when it ends, never acknowledged as done;
//! - credentials refused (401/403): the queue stops, nothing acknowledged (an OAuth 2 token refused
//!   before it expired is first replaced and the batch retried, see `oauth2.rs`);
//! - hard stop: abandoned, not acknowledged.

use crate::ack::runs;
use crate::batch_send::{BatchSend, Settled};
use crate::clock::now_ms;
use crate::encode::RequestEncoder;
use crate::isolate::isolate;
use crate::item::{Item, KindCounts};
use crate::metrics::QueueMetrics;
use crate::send_context::SendContext;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// How a batch ended.
pub(crate) enum Outcome {
    /// Accepted, or failed and counted: acknowledged.
    Done,
    /// Given up by a hard stop: not acknowledged; the caller counts failed what was not already
    /// settled (`settled`: parts accepted or dropped while isolating, already counted).
    Abandoned { settled: KindCounts },
}

/// Sends `batch` until every item is accepted, dropped for a reason the remote gave, aged out,
/// or abandoned by a hard stop.
pub(crate) fn send_batch(ctx: &SendContext, enc: &mut RequestEncoder, batch: &[Item]) -> Outcome {
    let started = Instant::now();
    let mut s = BatchSend::new(ctx, enc);
    let mut floor_seen = None;
    match s.request(batch, &mut floor_seen) {
        Settled::Abandoned => return Outcome::Abandoned { settled: KindCounts::default() },
        Settled::Empty => {}
        Settled::Accepted { sent, written, protocol } => s.settle_accepted(sent, written, protocol),
        Settled::Rejected(r) => {
            if ctx.cfg.queue.isolate_rejected_series && r.splittable() && batch.len() > 1 {
                if !isolate(&mut s, batch, floor_seen, r) {
                    return Outcome::Abandoned { settled: s.settled() };
                }
            } else {
                s.settle_rejected(&r, batch, false);
            }
        }
    }
    let (highest, admitted, bytes) = s.totals();
    if highest > 0 {
        QueueMetrics::raise(&ctx.metrics.highest_sent_s, highest);
    }
    finish(ctx, batch, &admitted, started, bytes);
    Outcome::Done
}

/// Bookkeeping common to every finished batch: bytes, rates, pending gauges, acknowledgement.
/// Everything in `batch` is settled — accepted, or dropped for a reason the remote (or the age
/// limit) gave — so the cursor may move past all of it.
fn finish(ctx: &SendContext, batch: &[Item], sent: &KindCounts, started: Instant, bytes: u64) {
    let m = &ctx.metrics;
    m.bytes_total.fetch_add(bytes, Relaxed);
    ctx.throughput.data_out.incr(sent.total());
    ctx.throughput.data_out_duration.incr(started.elapsed().as_nanos() as u64);
    ctx.throughput.last_send_s.store(now_ms() / 1000, Relaxed);
    m.pending.add(&KindCounts::of(batch), -1);
    let mut r = Vec::new();
    runs(batch.iter().map(|i| i.ack), &mut r);
    ctx.tracker.done(&r);
}
