//! The requests of one batch: encode, retry with backoff, classify how the remote answered, and
//! count what it accepted or refused. [`crate::send`] sends a batch as one request, and
//! [`crate::isolate`] sends parts of it, through the same [`BatchSend`].

use crate::batch_stats::{label_ids_of, BatchStats};
use crate::client::{StoreError, Written};
use crate::clock::now_ms;
use crate::config::Protocol;
use crate::encode::RequestEncoder;
use crate::item::{Item, KindCounts};
use crate::metrics::DropReason;
use crate::send_context::SendContext;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// How one request — a whole batch, or a part of it while isolating — ended.
pub(crate) enum Settled {
    /// The remote accepted it.
    Accepted { sent: KindCounts, written: Written, protocol: Protocol },
    /// The remote (or the encoder) refused it for what it holds.
    Rejected(Rejection),
    /// Nothing was left to send: every item aged out.
    Empty,
    /// Hard stop, or the credentials were refused: leave it unacknowledged.
    Abandoned,
}

/// A refusal of one request.
pub(crate) struct Rejection {
    pub(crate) sent: KindCounts,
    /// HTTP status; `None` when the request body could not even be built.
    pub(crate) status: Option<u16>,
    pub(crate) message: String,
    /// What a 2.0 receiver says it stored despite the refusal.
    pub(crate) written: Written,
}

impl Rejection {
    /// Whether resending parts of the request can tell innocent series from rejected ones: the
    /// remote answered about the content, and did not store part of it already (then we could
    /// not tell which part, and the written counts already say how much was refused).
    pub(crate) fn splittable(&self) -> bool {
        let content = matches!(self.status, Some(s) if (400..500).contains(&s) && !matches!(s, 401 | 403 | 429));
        content && sum(&self.written) == 0
    }
}

fn age_floor(ctx: &SendContext) -> Option<i64> {
    let limit = ctx.cfg.queue.sample_age_limit;
    (!limit.is_zero()).then(|| now_ms() - limit.as_millis() as i64)
}

/// The state of one batch's sending, shared by its requests.
pub(crate) struct BatchSend<'a> {
    pub(crate) ctx: &'a SendContext,
    enc: &'a mut RequestEncoder,
    /// Compressed bytes of the requests the remote answered.
    bytes: u64,
    /// Highest timestamp of the batch (from its first encode).
    highest: i64,
    /// Items of the batch admitted by its first encode.
    admitted: KindCounts,
    encoded_once: bool,
    /// Set while isolating: every request then resends items the remote has already seen.
    pub(crate) resending: bool,
    /// Items of parts of the batch already accepted or dropped (and counted).
    settled: KindCounts,
}

impl<'a> BatchSend<'a> {
    pub(crate) fn new(ctx: &'a SendContext, enc: &'a mut RequestEncoder) -> BatchSend<'a> {
        BatchSend {
            ctx,
            enc,
            bytes: 0,
            highest: 0,
            admitted: KindCounts::default(),
            encoded_once: false,
            resending: false,
            settled: KindCounts::default(),
        }
    }

    /// Highest timestamp of the batch, admitted items and compressed bytes the remote answered.
    pub(crate) fn totals(&self) -> (i64, KindCounts, u64) {
        (self.highest, self.admitted, self.bytes)
    }

    /// Items of parts of the batch already accepted or dropped (and counted).
    pub(crate) fn settled(&self) -> KindCounts {
        self.settled
    }

    /// Encodes `items`, counting too-old items not yet counted. `floor_seen` is the age floor at
    /// which a request holding all of `items` was last encoded: items below it were counted then.
    fn encode(&mut self, protocol: Protocol, items: &[Item], floor_seen: &mut Option<i64>) -> Option<BatchStats> {
        let sh = self.ctx;
        let floor = age_floor(sh);
        let stats = {
            let cache = sh.cache_read();
            match self.enc.encode(protocol, items, &cache, floor) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("cannot compress request: {e}");
                    return None;
                }
            }
        };
        let m = &sh.metrics;
        let counted = match *floor_seen {
            Some(f) => KindCounts::of_older(items, f),
            None => KindCounts::default(),
        };
        m.dropped(DropReason::TooOld).add(&stats.too_old.saturating_sub(&counted));
        if floor.is_some() {
            *floor_seen = floor.max(*floor_seen);
        }
        if !self.encoded_once {
            // A series cannot be collected while its items are in flight, so later encodes of
            // parts of this batch find the same unknown items: count them once.
            self.encoded_once = true;
            m.dropped(DropReason::UnintentionallyDroppedSeries).add(&stats.unknown);
            self.admitted = stats.counts;
            self.highest = stats.highest;
        }
        Some(stats)
    }

    /// Sends `items` as one request until the remote settles it, it ages out, or a hard stop.
    pub(crate) fn request(&mut self, items: &[Item], floor_seen: &mut Option<i64>) -> Settled {
        let sh = self.ctx;
        let m = &sh.metrics;
        let mut protocol = sh.protocol();
        // Compression fails only for inputs beyond snappy's limit: counted failed, as Prometheus
        // counts a request it cannot build.
        let cannot_compress = || {
            Settled::Rejected(Rejection {
                sent: KindCounts::of(items),
                status: None,
                message: "cannot compress the request".into(),
                written: Written::default(),
            })
        };
        let Some(mut stats) = self.encode(protocol, items, floor_seen) else { return cannot_compress() };
        let mut backoff = sh.backoff();
        let mut attempt = 0u32;
        // Whether the next attempt sends items the remote has seen before. Such attempts count in
        // `*_retried_total` as well as `*_total`, so that total − retried − failed stays the
        // number of items the remote accepted, whatever retries, 415 fallbacks and isolation did.
        let mut resent = self.resending;
        loop {
            if stats.counts.is_empty() {
                return Settled::Empty;
            }
            if sh.is_hard_stopped() {
                return Settled::Abandoned;
            }
            if let Some(floor) = age_floor(sh) {
                if stats.lowest < floor {
                    match self.encode(protocol, items, floor_seen) {
                        Some(s) => stats = s,
                        None => return cannot_compress(),
                    }
                    continue;
                }
            }
            let t0 = Instant::now();
            let r = sh.transport.store(self.enc.body(), protocol, attempt);
            if !matches!(r, Err(StoreError::Local { .. })) {
                // These counters count attempts that reached the remote, retries included.
                m.sent.add(&stats.counts);
                if resent {
                    m.retried.add(&stats.counts);
                }
                resent = true;
                if protocol == Protocol::V2 {
                    m.metadata_total.fetch_add(stats.with_metadata, Relaxed);
                }
                m.observe_duration(t0.elapsed());
                sh.local_fault_cleared();
            }
            match &r {
                Ok(_) => sh.last_error.succeeded(),
                Err(e) => sh.last_error.failed(e, protocol == Protocol::V2 && sh.cfg.fallback_on_415),
            }
            match r {
                Ok(written) => {
                    self.bytes += self.enc.body().len() as u64;
                    return Settled::Accepted { sent: stats.counts, written, protocol };
                }
                Err(StoreError::NonRecoverable { status: Some(415), message, .. })
                    if protocol == Protocol::V2 && sh.cfg.fallback_on_415 =>
                {
                    log::warn!("receiver does not accept remote write 2.0 ({message}); falling back to 1.0");
                    sh.downgrade();
                    protocol = Protocol::V1;
                    match self.encode(protocol, items, floor_seen) {
                        Some(s) => stats = s,
                        None => return cannot_compress(),
                    }
                    attempt += 1;
                }
                Err(StoreError::NonRecoverable { status: Some(401 | 403), message, .. }) => {
                    // Wrong or missing credentials: every request would be refused. Dropping would
                    // lose everything until someone noticed; stopping loses nothing.
                    log::error!("the remote refused the credentials; stopping this queue: {message}");
                    sh.fail_fatally(message);
                    return Settled::Abandoned;
                }
                Err(StoreError::NonRecoverable { status, message, written }) => {
                    self.bytes += self.enc.body().len() as u64;
                    return Settled::Rejected(Rejection { sent: stats.counts, status, message, written });
                }
                Err(StoreError::Recoverable { message, retry_after }) => {
                    let sleep = backoff.next(retry_after);
                    sh.throughput.pause(sleep * 2);
                    if !sh.sleep_unless_hard_stop(sleep) {
                        return Settled::Abandoned;
                    }
                    log::warn!("failed to send batch, retrying: {message}");
                    attempt += 1;
                }
                Err(StoreError::Local { message }) => {
                    if !sh.wait_out_local_fault(&message, &mut backoff) {
                        return Settled::Abandoned;
                    }
                }
            }
        }
    }

    /// Counts what an accepted request did not store (2.0 written counts) as failed.
    pub(crate) fn settle_accepted(&mut self, sent: KindCounts, written: Written, protocol: Protocol) {
        self.settled = self.settled.plus(&sent);
        let (stored, why) = if protocol == Protocol::V2 && sum(&written) == 0 {
            (
                KindCounts::default(),
                "remote write 2.0 request answered 2xx but no data was written (is the receiver 1.0-only?)",
            )
        } else if written.confirmed() {
            (
                KindCounts {
                    samples: written.samples.unwrap_or(0),
                    exemplars: written.exemplars.unwrap_or(0),
                    histograms: written.histograms.unwrap_or(0),
                },
                "2xx but not all data written",
            )
        } else {
            (sent, "")
        };
        self.ctx.metrics.accepted.add(&stored);
        let short = sent.saturating_sub(&stored);
        if !short.is_empty() {
            self.ctx.metrics.failed.add(&short);
            log::error!("{why}: {} items missing", short.total());
        }
    }

    /// Drops what a rejection refused: all of it, or what a 2.0 receiver says it did not store.
    /// `items` (the request's items) name the series in the log line when the request held one.
    pub(crate) fn settle_rejected(&mut self, r: &Rejection, items: &[Item], isolated: bool) {
        self.settled = self.settled.plus(&r.sent);
        let stored = KindCounts {
            samples: r.written.samples.unwrap_or(0),
            exemplars: r.written.exemplars.unwrap_or(0),
            histograms: r.written.histograms.unwrap_or(0),
        };
        self.ctx.metrics.accepted.add(&stored);
        let dropped = r.sent.saturating_sub(&stored);
        if dropped.is_empty() {
            return;
        }
        self.ctx.metrics.failed.add(&dropped);
        let first = items.first().map(|i| i.series);
        if isolated && first.is_some() && items.iter().all(|i| Some(i.series) == first) {
            let labels = {
                let cache = self.ctx.cache_read();
                items.first().and_then(|i| label_ids_of(i, &cache).map(|ids| cache.labels_text(ids)))
            };
            let labels = labels.unwrap_or_else(|| "{?}".into());
            self.ctx.rejected_log.log(|suppressed| {
                format!(
                    "the remote rejected series {labels}: {} items dropped{suppressed}: {}",
                    dropped.total(),
                    r.message
                )
            });
        } else {
            self.ctx.rejected_log.log(|suppressed| {
                format!("non-recoverable error sending {} items{suppressed}: {}", dropped.total(), r.message)
            });
        }
    }
}

fn sum(w: &Written) -> u64 {
    w.samples.unwrap_or(0) + w.histograms.unwrap_or(0) + w.exemplars.unwrap_or(0)
}
