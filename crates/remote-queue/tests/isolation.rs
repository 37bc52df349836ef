//! A receiver that rejects one series: only that series is dropped, its samples counted exactly,
//! every other series arrives complete and in order, within the bound on extra requests.

mod support;

use remote_queue::{EndpointConfig, Position, Protocol, QueueManager};
use std::collections::HashMap;
use std::time::Duration;
use support::receiver::{Fault, Receiver};
use support::*;

const SERIES: u64 = 200;
const ROUNDS: u64 = 50;
const BAD: &str = "77";

/// One shard, one round (all 200 series) per batch: every batch holds the bad series once.
fn config(url: &str, protocol: Protocol) -> EndpointConfig {
    let mut c = EndpointConfig::new(url);
    c.protocol = protocol;
    c.queue.max_samples_per_send = SERIES as usize;
    c.queue.capacity = 4 * SERIES as usize;
    c.queue.max_shards = 1;
    // No deadline flush in the middle of a round: batches are exactly one round each.
    c.queue.batch_send_deadline = Duration::from_secs(30);
    c.queue.min_backoff = Duration::from_millis(5);
    c.queue.max_backoff = Duration::from_millis(50);
    c.flush_deadline = Duration::from_secs(10);
    c
}

fn rejects_bad(points: &[support::receiver::Point]) -> Fault {
    if points.iter().any(|p| p.label("series") == Some(BAD)) {
        Fault::Status(400, None)
    } else {
        Fault::Accept
    }
}

fn ceil_log2(n: u64) -> u64 {
    u64::from(u64::BITS - (n - 1).leading_zeros())
}

/// Runs ROUNDS rounds into `rx`, waits until the cursor passed the last one, stops the queue.
fn run(cfg: EndpointConfig) -> remote_queue::MetricsSnapshot {
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, SERIES);
    append_rounds(&q, SERIES, 0..ROUNDS, 1_000_000);
    let last = Position { segment: 0, offset: ROUNDS };
    q.mark_read(last).expect("mark");
    let done = wait_for(Duration::from_secs(60), || q.low_watermark() == Some(last));
    assert!(done, "the cursor moves past rejected samples too; stuck at {:?}", q.low_watermark());
    q.stop();
    q.metrics()
}

/// Every series but the bad one complete, in order, exactly once; the bad one absent.
fn check_innocents_complete(rx: &Receiver) {
    let mut by_series: HashMap<String, Vec<i64>> = HashMap::new();
    for p in rx.accepted() {
        by_series.entry(p.label("series").unwrap_or("").to_string()).or_default().push(p.t);
    }
    assert!(!by_series.contains_key(BAD), "the rejected series never counts as stored");
    assert_eq!(by_series.len() as u64, SERIES - 1, "every other series arrived");
    let want: Vec<i64> = (0..ROUNDS as i64).map(|k| 1_000_000 + k).collect();
    for (s, ts) in by_series {
        assert_eq!(ts, want, "series {s}: complete, once, in order");
    }
}

fn isolates_one_series(protocol: Protocol) {
    let rx = Receiver::start_inspecting(|_, _, points| rejects_bad(points));
    let m = run(config(&rx.url, protocol));
    check_innocents_complete(&rx);
    assert_eq!(m.samples_failed_total, ROUNDS, "exactly the rejected series' samples are counted failed");
    assert_eq!(
        m.samples_total - m.samples_retried_total - m.samples_failed_total,
        (SERIES - 1) * ROUNDS,
        "resends count as retries: total − retried − failed is what the remote accepted"
    );
    let log = rx.log();
    // Each batch: one rejected request, then at most 2·⌈log2 200⌉ = 16 extra requests.
    let bound = 2 * ceil_log2(SERIES);
    let extra = log.len() as u64 - ROUNDS;
    assert_eq!(extra, m.isolation_requests_total, "the metric counts the extra requests");
    assert!(extra <= ROUNDS * bound, "{extra} extra requests for {ROUNDS} batches, bound {bound} each");
    let isolated = log.iter().filter(|r| !r.accepted() && r.distinct("series") == 1).count() as u64;
    assert_eq!(isolated, ROUNDS, "each batch ends with one request holding only the bad series");
    println!(
        "{protocol:?}: {} requests for {ROUNDS} batches: {extra} extra ({:.1} per batch, bound {bound}); failed {}",
        log.len(),
        extra as f64 / ROUNDS as f64,
        m.samples_failed_total
    );
}

#[test]
fn isolates_one_rejected_series_v1() {
    isolates_one_series(Protocol::V1);
}

#[test]
fn isolates_one_rejected_series_v2() {
    isolates_one_series(Protocol::V2);
}

#[test]
fn written_counts_of_a_partial_write_are_used_instead_of_isolating() {
    let rx = Receiver::start_inspecting(|_, _, points| match rejects_bad(points) {
        Fault::Accept => Fault::Accept,
        _ => Fault::PartialWrite(400, "series".into(), BAD.into()),
    });
    let m = run(config(&rx.url, Protocol::V2));
    check_innocents_complete(&rx);
    assert_eq!(m.samples_failed_total, ROUNDS, "sent − written of each refused request");
    assert_eq!(m.isolation_requests_total, 0, "the receiver said what it stored: nothing to resend");
    assert_eq!(rx.log().len() as u64, ROUNDS);
}

#[test]
fn with_isolation_off_the_whole_batch_is_dropped() {
    let rx = Receiver::start_inspecting(|_, _, points| rejects_bad(points));
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.isolate_rejected_series = false;
    let m = run(cfg);
    assert_eq!(m.samples_failed_total, SERIES * ROUNDS, "as Prometheus does: every batch held the bad series");
    assert_eq!(rx.log().len() as u64, ROUNDS);
    assert!(rx.accepted().is_empty());
}

#[test]
fn a_receiver_that_rejects_everything_costs_a_bounded_number_of_requests() {
    let rx = Receiver::start(|_, _| Fault::Status(404, None));
    let m = run(config(&rx.url, Protocol::V1));
    assert_eq!(m.samples_failed_total, SERIES * ROUNDS, "everything refused, everything counted once");
    let budget = 4 * ceil_log2(SERIES);
    let per_batch = rx.log().len() as f64 / ROUNDS as f64;
    assert!(per_batch <= (1 + budget) as f64, "{per_batch} requests per batch, budget 1 + {budget}");
    assert_eq!(m.isolation_requests_total, ROUNDS * budget, "the whole budget is spent, no more");
}
