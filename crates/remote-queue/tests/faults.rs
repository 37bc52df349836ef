//! Random faults: every sample ends accepted exactly once or counted failed; per-series order
//! holds; the watermark never passes a sample the receiver has not settled.

mod support;

use remote_queue::{EndpointConfig, Position, Protocol, QueueManager};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::receiver::{Fault, Receiver, Recorded};
use support::*;

const SERIES: u64 = 100;
const ROUNDS: u64 = 100;

fn fault_for(n: u64) -> Fault {
    // A fixed pseudo-random sequence (splitmix64), so failures reproduce.
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    match (z ^ (z >> 31)) % 100 {
        0..=44 => Fault::Accept,
        45..=54 => Fault::Slow(Duration::from_millis(20)),
        55..=64 => Fault::Status(500, None),
        65..=69 => Fault::Status(503, Some("0".into())),
        70..=76 => Fault::Status(429, None),
        77..=81 => Fault::Status(400, None),
        82..=91 => Fault::Reset,
        _ => Fault::Hang,
    }
}

/// (series, round) of every point the receiver settled: accepted or rejected with 400.
/// `(series, round)` keys.
type Keys = Vec<(u64, u64)>;

fn settled(log: &[Recorded]) -> (Keys, Keys) {
    let key = |p: &support::receiver::Point| {
        (p.label("series").and_then(|s| s.parse().ok()).unwrap_or(0), (p.t - 1_000_000) as u64)
    };
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for r in log {
        if r.accepted() {
            accepted.extend(r.points.iter().map(key));
        } else if r.fault == Fault::Status(400, None) {
            rejected.extend(r.points.iter().map(key));
        }
    }
    (accepted, rejected)
}

fn run(protocol: Protocol, isolate: bool) {
    let rx = Arc::new(Receiver::start(|n, _| fault_for(n)));
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.protocol = protocol;
    cfg.queue.isolate_rejected_series = isolate;
    cfg.queue.min_shards = 3;
    cfg.queue.max_samples_per_send = 50;
    cfg.queue.capacity = 200;
    cfg.queue.batch_send_deadline = Duration::from_millis(20);
    cfg.queue.min_backoff = Duration::from_millis(2);
    cfg.queue.max_backoff = Duration::from_millis(20);
    // An accepted answer that reaches walship after its timeout is sent again (at-least-once, as in
    // Prometheus) and would break "accepted exactly once". 300 ms was passed on a loaded machine
    // (2 cores, load 15); a second keeps the hung requests cheap and the answers in time.
    cfg.remote_timeout = Duration::from_secs(1);
    let q = Arc::new(QueueManager::new(cfg).expect("queue"));
    store_series(&q, SERIES);

    // While samples flow, the watermark must never pass a round the receiver has not settled.
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (q, rx, done) = (q.clone(), rx.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks = 0u32;
            while !done.load(Ordering::SeqCst) {
                if let Some(w) = q.low_watermark() {
                    let (acc, rej) = settled(&rx.log());
                    let have: HashSet<(u64, u64)> = acc.into_iter().chain(rej).collect();
                    for round in 0..w.offset {
                        for s in 1..=SERIES {
                            assert!(have.contains(&(s, round)), "watermark {w:?} passed unsettled ({s}, {round})");
                        }
                    }
                    checks += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            checks
        })
    };
    append_rounds(&q, SERIES, 0..ROUNDS, 1_000_000);
    // Nothing follows the last round: the watermark may then move past it.
    let last = Position { segment: 0, offset: ROUNDS };
    q.mark_read(last).expect("mark");
    let finished = wait_for(Duration::from_secs(60), || q.low_watermark() == Some(last));
    done.store(true, Ordering::SeqCst);
    let checks = checker.join().expect("checker");
    assert!(finished, "watermark stuck at {:?}", q.low_watermark());
    assert!(checks > 0);

    let (accepted, rejected) = settled(&rx.log());
    let acc_set: HashSet<_> = accepted.iter().copied().collect();
    assert_eq!(acc_set.len(), accepted.len(), "accepted exactly once");
    // A sample in a request answered 400 may still arrive: isolation resends the batch in parts,
    // and a random fault answers each part anew. What never arrived was in a refused request.
    let rej_set: HashSet<_> = rejected.iter().copied().collect();
    let never: Vec<_> =
        (1..=SERIES).flat_map(|s| (0..ROUNDS).map(move |r| (s, r))).filter(|k| !acc_set.contains(k)).collect();
    for k in &never {
        assert!(rej_set.contains(k), "{k:?} neither accepted nor refused");
    }
    if !isolate {
        assert_eq!(never.len(), rej_set.len(), "without isolation a refused sample is never resent");
    }
    let m = q.metrics();
    assert_eq!(m.samples_failed_total, never.len() as u64, "failed counter counts exactly what never arrived");
    assert_eq!(
        m.samples_total - m.samples_retried_total - m.samples_failed_total,
        accepted.len() as u64,
        "total − retried − failed is what the receiver accepted"
    );
    println!(
        "{protocol:?}: {} samples in refused requests, {} of them never arrived, {} extra requests",
        rej_set.len(),
        never.len(),
        m.isolation_requests_total
    );
    assert!(m.samples_retried_total > 0);
    let mut last_round: HashMap<u64, u64> = HashMap::new();
    for (s, round) in accepted {
        if let Some(prev) = last_round.insert(s, round) {
            assert!(round > prev, "series {s}: round {round} after {prev}");
        }
    }
    q.stop();
}

#[test]
fn random_faults_v1() {
    run(Protocol::V1, true);
}

#[test]
fn random_faults_v2() {
    run(Protocol::V2, true);
}

#[test]
fn random_faults_without_isolation() {
    run(Protocol::V1, false);
}
