//! Shared test support: the independent decoders (`remote_queue::pb`) and a fault-injecting receiver.
#![allow(dead_code)]

pub mod receiver;

pub use remote_queue::pb;

use remote_queue::{Labels, Position, QueueManager, RefSample, RefSeries};

/// Labels of test series `i`: 10 labels like a typical scrape.
pub fn series_labels(i: u64) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("test_metric_{}", i % 7)),
        ("job", "walship-test".to_string()),
        ("instance", format!("host-{}:9100", i % 13)),
        ("series", i.to_string()),
        ("env", "prod".to_string()),
        ("region", "eu-west-1".to_string()),
        ("az", format!("eu-west-1{}", ["a", "b", "c"][(i % 3) as usize])),
        ("service", "api".to_string()),
        ("version", "1.2.3".to_string()),
        ("team", "observability".to_string()),
    ])
}

/// Stores `n` series with refs `1..=n`.
pub fn store_series(q: &QueueManager, n: u64) {
    let labels: Vec<Labels> = (1..=n).map(series_labels).collect();
    let refs: Vec<RefSeries<'_>> =
        labels.iter().enumerate().map(|(i, l)| RefSeries { series_ref: i as u64 + 1, labels: l.as_ref() }).collect();
    q.store_series(&refs, 0);
}

/// Appends `rounds` rounds of one sample per series; round `k` is at timestamp `base + k` and
/// position `(0, k)`; the value encodes (series, round).
pub fn append_rounds(q: &QueueManager, series: u64, rounds: std::ops::Range<u64>, base: i64) {
    let mut buf = Vec::with_capacity(series as usize);
    for k in rounds {
        buf.clear();
        for s in 1..=series {
            buf.push(RefSample { series_ref: s, st: 0, t: base + k as i64, v: (s * 1_000_000 + k) as f64 });
        }
        q.append_samples(&buf, Position { segment: 0, offset: k }).expect("append");
    }
}

/// Waits until `f` holds or `timeout` passes.
pub fn wait_for(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}
