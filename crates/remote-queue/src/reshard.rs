//! Dynamic resharding: EWMA rates and the desired-shards decision (Prometheus's
//! `storage/remote/queue_manager.go`: `calculateDesiredShards`, `shouldReshard`, and `ewma.go`).

use crate::clock::now_ms;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Tick of the resharding loop and of every rate.
pub const SHARD_UPDATE_DURATION: Duration = Duration::from_secs(10);
/// Weight of a new observation in the moving averages.
pub const EWMA_WEIGHT: f64 = 0.2;
/// No reshard while the desired count is within this fraction of the current one.
pub const SHARD_TOLERANCE_FRACTION: f64 = 0.3;
/// Part of the backlog to catch up each second.
const BACKLOG_CATCHUP: f64 = 0.05;
/// Never shrink while more than this many seconds behind.
const MAX_DELAY_TO_SHRINK_S: i64 = 10;

/// An exponentially weighted moving rate of events per second, ticked every [`SHARD_UPDATE_DURATION`].
#[derive(Debug, Default)]
pub(crate) struct EwmaRate {
    new_events: AtomicU64,
    /// `(rate, initialised)`
    state: Mutex<(f64, bool)>,
}

impl EwmaRate {
    pub(crate) fn incr(&self, n: u64) {
        self.new_events.fetch_add(n, Relaxed);
    }

    /// Folds the events since the last tick, `interval` ago, into the rate.
    pub(crate) fn tick(&self, interval: Duration) {
        let events = self.new_events.swap(0, Relaxed);
        let instant = events as f64 / interval.as_secs_f64();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.1 {
            s.0 += EWMA_WEIGHT * (instant - s.0);
        } else if events > 0 {
            *s = (instant, true);
        }
    }

    pub(crate) fn rate(&self) -> f64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

/// What the resharding decision measures: rates fed by the append path and the shards, when a
/// batch last finished, and how long recoverable errors pause resharding.
#[derive(Debug, Default)]
pub(crate) struct Throughput {
    /// Items handed to the queue.
    pub(crate) data_in: EwmaRate,
    /// Items in finished batches.
    pub(crate) data_out: EwmaRate,
    /// Items dropped for unknown or relabel-dropped series.
    pub(crate) data_dropped: EwmaRate,
    /// Nanoseconds spent sending.
    pub(crate) data_out_duration: EwmaRate,
    /// Unix seconds when a batch last finished.
    pub(crate) last_send_s: AtomicI64,
    /// Unix milliseconds until which resharding waits (see [`Throughput::pause`]).
    pub(crate) paused_until_ms: AtomicI64,
}

impl Throughput {
    /// Holds resharding back for `d` from now: a remote that throttles or fails is not helped by
    /// more shards.
    pub(crate) fn pause(&self, d: Duration) {
        self.paused_until_ms.fetch_max(now_ms() + d.as_millis() as i64, Relaxed);
    }
}

/// Everything the desired-shards formula looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ReshardInputs {
    pub(crate) current: usize,
    pub(crate) min_shards: usize,
    pub(crate) max_shards: usize,
    /// Items/s handed to the queue.
    pub(crate) in_rate: f64,
    /// Items/s in finished batches.
    pub(crate) out_rate: f64,
    /// Items/s dropped for unknown series.
    pub(crate) dropped_rate: f64,
    /// Nanoseconds spent sending per second.
    pub(crate) out_duration_rate: f64,
    /// Highest timestamp read, in whole seconds.
    pub(crate) highest_recv_s: i64,
    /// Highest timestamp of a finished batch, in whole seconds.
    pub(crate) highest_sent_s: i64,
}

/// The number of shards to run, and the raw (unrounded) estimate for the `shards_desired` gauge.
pub(crate) fn desired_shards(i: &ReshardInputs) -> (usize, Option<f64>) {
    if i.out_rate <= 0.0 {
        return (i.current, None);
    }
    let kept = i.out_rate / (i.dropped_rate + i.out_rate);
    let busy = i.out_duration_rate / 1e9;
    let delay = i.highest_recv_s - i.highest_sent_s;
    let pending = delay as f64 * i.in_rate * kept;
    let time_per_item = busy / i.out_rate;
    let raw = time_per_item * (i.in_rate * kept + BACKLOG_CATCHUP * pending);
    let current = i.current as f64;
    let (lower, upper) = (current * (1.0 - SHARD_TOLERANCE_FRACTION), current * (1.0 + SHARD_TOLERANCE_FRACTION));
    let rounded = raw.ceil();
    if lower <= rounded && rounded <= upper {
        return (i.current, Some(raw));
    }
    let n = rounded.max(0.0) as usize;
    if n < i.current && delay > MAX_DELAY_TO_SHRINK_S {
        return (i.current, Some(raw));
    }
    (n.clamp(i.min_shards, i.max_shards), Some(raw))
}

/// Whether to act on a desired count: not when unchanged, not when nothing was sent in the last
/// [`SHARD_UPDATE_DURATION`], not while paused after recoverable errors.
pub(crate) fn should_reshard(
    desired: usize,
    current: usize,
    last_send_s: i64,
    paused_until_s: f64,
    now: f64,
    window: Duration,
) -> bool {
    if desired == current {
        return false;
    }
    if last_send_s < now as i64 - window.as_secs().max(1) as i64 {
        log::warn!("skipping resharding, last successful send was beyond threshold");
        return false;
    }
    if now < paused_until_s {
        log::warn!("skipping resharding, resharding is paused after recoverable errors");
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(prev: usize, in_rate: f64, out: f64, dur_s: f64, backlog: i64) -> ReshardInputs {
        ReshardInputs {
            current: prev,
            min_shards: 1,
            max_shards: 200,
            in_rate,
            out_rate: out,
            dropped_rate: 0.0,
            out_duration_rate: dur_s * 1e9,
            highest_recv_s: 1000 + backlog,
            highest_sent_s: 1000,
        }
    }

    #[test]
    fn golden_table() {
        #[rustfmt::skip]
        let cases: &[(&str, usize, f64, f64, f64, i64, usize)] = &[
            ("nothing in/out", 1, 0.0, 0.0, 0.0, 0, 1),
            ("nothing in/out", 10, 0.0, 0.0, 0.0, 0, 10),
            ("steady", 1, 10.0, 10.0, 1.0, 0, 1),
            ("scale down", 10, 10.0, 10.0, 5.0, 0, 5),
            ("scale down constrained", 7, 10.0, 10.0, 5.0, 0, 7),
            ("scale up", 1, 10.0, 10.0, 10.0, 0, 10),
            ("scale up constrained", 8, 10.0, 10.0, 10.0, 0, 8),
            ("backlogged 20 s", 2, 10.0, 10.0, 2.0, 20, 4),
            ("backlogged 90 s", 4, 10.0, 10.0, 4.0, 90, 22),
            ("backlog reduced", 22, 10.0, 20.0, 4.0, 10, 3),
            ("backlog eliminated", 3, 10.0, 10.0, 2.0, 0, 2),
            ("slight slowdown", 1, 10.0, 10.0, 1.2, 0, 2),
            ("bigger slowdown", 1, 10.0, 10.0, 1.4, 0, 2),
            ("speed up", 2, 10.0, 10.0, 1.2, 0, 2),
            ("speed up more", 2, 10.0, 10.0, 0.9, 0, 1),
            ("marginal A", 3, 10.0, 10.0, 2.01, 0, 3),
            ("marginal B", 3, 10.0, 10.0, 1.99, 0, 2),
        ];
        for &(name, prev, inr, out, dur, backlog, want) in cases {
            // Feed the rates through real EWMAs: one tick of exactly rate × 10 s events.
            let rate = |r: f64| {
                let e = EwmaRate::default();
                e.incr((r * 10.0).round() as u64);
                e.tick(SHARD_UPDATE_DURATION);
                e.rate()
            };
            let mut i = inputs(prev, rate(inr), rate(out), dur, backlog);
            i.out_duration_rate = {
                let e = EwmaRate::default();
                e.incr((dur * 10.0 * 1e9) as u64);
                e.tick(SHARD_UPDATE_DURATION);
                e.rate()
            };
            assert_eq!(desired_shards(&i).0, want, "{name}");
        }
    }

    #[test]
    fn should_reshard_rules() {
        let now = 10_000.0;
        assert!(!should_reshard(10, 10, 10_000, 0.0, now, SHARD_UPDATE_DURATION));
        assert!(!should_reshard(11, 10, 10_000 - 11, 0.0, now, SHARD_UPDATE_DURATION), "last send too long ago");
        assert!(should_reshard(11, 10, 10_000, 0.0, now, SHARD_UPDATE_DURATION));
        assert!(!should_reshard(11, 10, 10_000, now + 1.0, now, SHARD_UPDATE_DURATION), "paused");
    }

    #[test]
    fn ewma_smooths() {
        let e = EwmaRate::default();
        e.tick(SHARD_UPDATE_DURATION);
        assert_eq!(e.rate(), 0.0);
        e.incr(100);
        e.tick(SHARD_UPDATE_DURATION);
        assert_eq!(e.rate(), 10.0);
        e.incr(200);
        e.tick(SHARD_UPDATE_DURATION);
        assert!((e.rate() - 12.0).abs() < 1e-9);
    }

    #[test]
    fn simulation_stays_in_bounds() {
        // 50 000 items/s in; each tick sends at most shards × 2000 per 100 ms and reports
        // shards × 10 s of sending per tick.
        let (in_rate, max_per_send) = (50_000.0, 2000.0);
        let mut shards = 1usize;
        let (mut recv_ms, mut sent_ms) = (0i64, 0i64);
        let (data_in, data_out, dur) = (EwmaRate::default(), EwmaRate::default(), EwmaRate::default());
        let mut backlog = 0.0f64;
        for tick in 0..90 {
            data_in.incr((in_rate * 10.0) as u64);
            recv_ms += 10_000;
            backlog += in_rate * 10.0;
            if tick >= 12 {
                let can = shards as f64 * max_per_send * 100.0;
                let sent = backlog.min(can);
                backlog -= sent;
                data_out.incr(sent as u64);
                dur.incr((shards as f64 * 10.0 * 1e9) as u64);
                sent_ms = recv_ms - (backlog / in_rate * 1000.0) as i64;
            }
            data_in.tick(SHARD_UPDATE_DURATION);
            data_out.tick(SHARD_UPDATE_DURATION);
            dur.tick(SHARD_UPDATE_DURATION);
            let i = ReshardInputs {
                current: shards,
                min_shards: 1,
                max_shards: 200,
                in_rate: data_in.rate(),
                out_rate: data_out.rate(),
                dropped_rate: 0.0,
                out_duration_rate: dur.rate(),
                highest_recv_s: recv_ms / 1000,
                highest_sent_s: sent_ms / 1000,
            };
            shards = desired_shards(&i).0;
            if tick < 12 {
                assert_eq!(shards, 1, "nothing sent yet");
            } else {
                assert!((2..=200).contains(&shards), "tick {tick}: {shards}");
            }
        }
        assert!(backlog < 1.0, "backlog {backlog}");
    }
}
