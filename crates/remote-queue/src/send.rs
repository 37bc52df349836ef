//! Sending one batch: encode once, retry with backoff, classify, count, acknowledge (spec §3.5).

use crate::ack::runs;
use crate::client::{StoreError, Written};
use crate::config::Protocol;
use crate::encode::{BatchStats, RequestEncoder};
use crate::item::{Item, KindCounts};
use crate::metrics::DropReason;
use crate::shared::{now_ms, Shared};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

/// How a batch ended.
pub(crate) enum Outcome {
    /// Accepted, or failed and counted: acknowledged.
    Done,
    /// Given up by a hard stop: counted failed by the caller, not acknowledged.
    Abandoned,
}

fn age_floor(shared: &Shared) -> Option<i64> {
    let limit = shared.cfg.queue.sample_age_limit;
    (!limit.is_zero()).then(|| now_ms() - limit.as_millis() as i64)
}

fn encode(shared: &Shared, enc: &mut RequestEncoder, batch: &[Item], min_ts: Option<i64>) -> Option<BatchStats> {
    let protocol = shared.protocol();
    let cache = shared.cache_read();
    match enc.encode(protocol, batch, &cache, min_ts) {
        Ok(s) => Some(s),
        Err(e) => {
            log::error!("cannot compress request: {e}");
            None
        }
    }
}

/// Sends `batch` until it is accepted, fails non-recoverably, ages out, or a hard stop comes.
pub(crate) fn send_batch(shared: &Shared, enc: &mut RequestEncoder, batch: &[Item]) -> Outcome {
    let started = Instant::now();
    let all = KindCounts::of(batch);
    let m = &shared.metrics;
    let Some(mut stats) = encode(shared, enc, batch, age_floor(shared)) else {
        m.failed.add(&all);
        finish(shared, batch, &all, started, 0);
        return Outcome::Done;
    };
    m.dropped(DropReason::TooOld).add(&stats.too_old);
    m.dropped(DropReason::UnintentionallyDroppedSeries).add(&stats.unknown);
    let mut protocol = shared.protocol();
    let mut backoff = shared.cfg.queue.min_backoff;
    let mut attempt = 0u32;
    let mut written = Written::default();
    let mut result: Result<(), String> = Ok(());
    while !stats.counts.is_empty() {
        if shared.hard_stop.load(SeqCst) {
            return Outcome::Abandoned;
        }
        if let Some(floor) = age_floor(shared) {
            if stats.lowest < floor {
                let Some(s) = encode(shared, enc, batch, Some(floor)) else { break };
                // Items the first encode already counted as too old are counted again only if new.
                m.dropped(DropReason::TooOld).add(&s.too_old.saturating_sub(&stats.too_old));
                stats = BatchStats { too_old: s.too_old.plus(&stats.too_old.saturating_sub(&s.too_old)), ..s };
                if stats.counts.is_empty() {
                    break;
                }
            }
        }
        m.sent.add(&stats.counts);
        if protocol == Protocol::V2 {
            m.metadata_total.fetch_add(stats.with_metadata, Relaxed);
        }
        let t0 = Instant::now();
        let r = shared.transport.store(enc.body(), protocol, attempt);
        m.observe_duration(t0.elapsed());
        match r {
            Ok(w) => {
                accumulate(&mut written, &w);
                if protocol == Protocol::V2 && sum(&written) == 0 {
                    result = Err("remote write 2.0 request answered 2xx but no data was written \
                                  (is the receiver 1.0-only?)"
                        .into());
                }
                break;
            }
            Err(StoreError::NonRecoverable { status: Some(415), message })
                if protocol == Protocol::V2 && shared.cfg.fallback_on_415 =>
            {
                log::warn!("receiver does not accept remote write 2.0 ({message}); falling back to 1.0");
                shared.downgrade();
                protocol = Protocol::V1;
                match encode(shared, enc, batch, age_floor(shared)) {
                    Some(s) => stats = s,
                    None => break,
                }
                attempt += 1;
            }
            Err(StoreError::NonRecoverable { status: Some(401 | 403), message }) => {
                // Wrong or missing credentials: every request would be refused. Dropping would
                // lose everything until someone noticed; stopping loses nothing.
                log::error!("the remote refused the credentials; stopping this queue: {message}");
                shared.fail_fatally(message);
                return Outcome::Abandoned;
            }
            Err(StoreError::NonRecoverable { message, .. }) => {
                result = Err(message);
                break;
            }
            Err(StoreError::Recoverable { message, retry_after }) => {
                let sleep = retry_after.unwrap_or(backoff);
                shared.pause_resharding(sleep * 2);
                if !shared.sleep_unless_hard_stop(sleep) {
                    return Outcome::Abandoned;
                }
                m.retried.add(&stats.counts);
                log::warn!("failed to send batch, retrying: {message}");
                backoff = (sleep * 2).min(shared.cfg.queue.max_backoff);
                attempt += 1;
            }
        }
    }
    let sent = stats.counts;
    let written_counts = match &result {
        Ok(()) if !written.confirmed() => sent,
        Ok(()) => KindCounts {
            samples: written.samples.unwrap_or(0),
            exemplars: written.exemplars.unwrap_or(0),
            histograms: written.histograms.unwrap_or(0),
        },
        Err(_) => KindCounts::default(),
    };
    let short = sent.saturating_sub(&written_counts);
    if !short.is_empty() {
        m.failed.add(&short);
        match &result {
            Err(msg) => log::error!("non-recoverable error sending {} items: {msg}", short.total()),
            Ok(()) => log::error!("2xx but not all data written: {} items missing", short.total()),
        }
    }
    if stats.highest > 0 {
        crate::metrics::QueueMetrics::raise(&m.highest_sent_s, stats.highest);
    }
    finish(shared, batch, &sent, started, enc.body().len());
    Outcome::Done
}

fn accumulate(total: &mut Written, w: &Written) {
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    *total = Written {
        samples: add(total.samples, w.samples),
        histograms: add(total.histograms, w.histograms),
        exemplars: add(total.exemplars, w.exemplars),
    };
}

fn sum(w: &Written) -> u64 {
    w.samples.unwrap_or(0) + w.histograms.unwrap_or(0) + w.exemplars.unwrap_or(0)
}

/// Bookkeeping common to every finished batch: bytes, rates, pending gauges, acknowledgement.
fn finish(shared: &Shared, batch: &[Item], sent: &KindCounts, started: Instant, bytes: usize) {
    let m = &shared.metrics;
    m.bytes_total.fetch_add(bytes as u64, Relaxed);
    shared.data_out.incr(sent.total());
    shared.data_out_duration.incr(started.elapsed().as_nanos() as u64);
    shared.last_send_s.store(now_ms() / 1000, Relaxed);
    m.pending.add(&KindCounts::of(batch), -1);
    let mut r = Vec::new();
    runs(batch.iter().map(|i| i.ack), &mut r);
    shared.tracker.done(&r);
}
