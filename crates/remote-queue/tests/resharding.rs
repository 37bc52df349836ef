//! Dynamic resharding against a receiver that slows down and recovers: the shard count rises and
//! falls within min/max, and nothing is lost, duplicated or reordered.

mod support;

use remote_queue::{EndpointConfig, Position, QueueManager, RefSample};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::receiver::{Fault, Receiver};
use support::*;

const SERIES: u64 = 50;

#[test]
fn shards_follow_the_receiver() {
    let delay_ms = Arc::new(AtomicU64::new(20));
    let d = delay_ms.clone();
    let rx = Receiver::start(move |_, _| match d.load(Ordering::SeqCst) {
        0 => Fault::Accept,
        ms => Fault::Slow(Duration::from_millis(ms)),
    });
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.queue.min_shards = 1;
    cfg.queue.max_shards = 6;
    cfg.queue.max_samples_per_send = 50;
    cfg.queue.capacity = 100;
    cfg.queue.batch_send_deadline = Duration::from_millis(20);
    cfg.shard_update_interval = Duration::from_millis(250);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, SERIES);

    let mut round = 0u64;
    let mut append_for = |q: &QueueManager, dur: Duration, every: Duration, max_seen: &mut usize| {
        let end = Instant::now() + dur;
        while Instant::now() < end {
            let t = now_ms();
            let batch: Vec<RefSample> =
                (1..=SERIES).map(|s| RefSample { series_ref: s, st: 0, t, v: round as f64 }).collect();
            q.append_samples(&batch, Position { segment: 0, offset: round }).expect("append");
            round += 1;
            *max_seen = (*max_seen).max(q.shards());
            std::thread::sleep(every);
        }
    };
    // Slow receiver, 5000 samples/s in: one shard manages about 2500/s.
    let mut max_seen = 1;
    append_for(&q, Duration::from_secs(3), Duration::from_millis(10), &mut max_seen);
    assert!(max_seen >= 2, "shards rose: max {max_seen}");
    assert!(max_seen <= 6);
    // Fast receiver, 500 samples/s in.
    delay_ms.store(0, Ordering::SeqCst);
    let mut ignored = 0;
    append_for(&q, Duration::from_secs(3), Duration::from_millis(100), &mut ignored);
    let fell = wait_for(Duration::from_secs(5), || q.shards() < max_seen);
    assert!(fell, "shards fell from {max_seen}: now {}", q.shards());
    let end = Position { segment: 0, offset: round };
    q.mark_read(end).expect("mark");
    assert!(wait_for(Duration::from_secs(20), || q.low_watermark() == Some(end)));
    let mut per_series: HashMap<String, Vec<u64>> = HashMap::new();
    for p in rx.accepted() {
        per_series.entry(p.label("series").unwrap_or("").into()).or_default().push(f64::from_bits(p.v_bits) as u64);
    }
    assert_eq!(per_series.len() as u64, SERIES);
    for (s, rounds) in per_series {
        assert_eq!(rounds, (0..round).collect::<Vec<_>>(), "series {s}: complete, once, in order");
    }
    println!("shards: max {max_seen}, final {}, rounds {round}", q.shards());
}

#[test]
fn reshard_racing_with_stop_never_hangs() {
    let rx = Receiver::accepting();
    for round in 0..15u64 {
        let mut cfg = EndpointConfig::new(rx.url.clone());
        cfg.queue.max_shards = 8;
        cfg.queue.batch_send_deadline = Duration::from_millis(5);
        cfg.flush_deadline = Duration::from_secs(2);
        let q = Arc::new(QueueManager::new(cfg).expect("queue"));
        store_series(&q, 10);
        let q2 = q.clone();
        let resharder = std::thread::spawn(move || {
            for n in 1..=8 {
                q2.reshard((n + round as usize) % 8 + 1);
            }
        });
        let q3 = q.clone();
        let appender = std::thread::spawn(move || {
            let mut k = 0;
            // Appends fail once the queue stops; that is the expected way out.
            while q3
                .append_samples(
                    &[RefSample { series_ref: 1 + k % 10, st: 0, t: k as i64, v: 1.0 }],
                    Position { segment: round, offset: k },
                )
                .is_ok()
                && k < 5000
            {
                k += 1;
            }
        });
        std::thread::sleep(Duration::from_millis(3 * round));
        let t0 = Instant::now();
        q.stop();
        assert!(t0.elapsed() < Duration::from_secs(3), "stop took {:?}", t0.elapsed());
        resharder.join().expect("resharder");
        appender.join().expect("appender");
    }
}

#[test]
fn stop_releases_a_blocked_appender() {
    let rx = Receiver::start(|_, _| Fault::Hang);
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.queue.capacity = 10;
    cfg.queue.max_samples_per_send = 10;
    cfg.flush_deadline = Duration::from_millis(300);
    cfg.remote_timeout = Duration::from_secs(30);
    let q = Arc::new(QueueManager::new(cfg).expect("queue"));
    store_series(&q, 1);
    let q2 = q.clone();
    let appender = std::thread::spawn(move || {
        let batch: Vec<RefSample> = (0..100).map(|k| RefSample { series_ref: 1, st: 0, t: k, v: 1.0 }).collect();
        q2.append_samples(&batch, Position::default())
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!appender.is_finished(), "the appender is blocked by backpressure");
    q.stop();
    let r = appender.join().expect("appender");
    assert!(r.is_err(), "a blocked append fails when the queue stops");
    assert_eq!(q.low_watermark(), Some(Position::default()), "nothing acknowledged");
}
