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
    store_labels(q, 1, &labels);
}

/// Stores series with these labels, their refs counting up from `first_ref`.
pub fn store_labels(q: &QueueManager, first_ref: u64, labels: &[Labels]) {
    let refs: Vec<RefSeries<'_>> =
        labels.iter().zip(first_ref..).map(|(l, series_ref)| RefSeries { series_ref, labels: l.as_ref() }).collect();
    q.store_series(&refs, 0);
}

/// Appends `rounds` rounds of one sample per series; round `k` is at timestamp `base + k` and
/// position `(0, k)`; the value encodes (series, round).
pub fn append_rounds(q: &QueueManager, series: u64, rounds: std::ops::Range<u64>, base: i64) {
    append_grid(q, 1..series + 1, rounds, |s, k| (base + k as i64, (s * 1_000_000 + k) as f64));
}

/// Appends one sample of each series in `refs` per round, round `k` at position `(0, k)`;
/// `point(series, k)` gives the sample's timestamp and value.
pub fn append_grid(
    q: &QueueManager,
    refs: std::ops::Range<u64>,
    rounds: std::ops::Range<u64>,
    point: impl Fn(u64, u64) -> (i64, f64),
) {
    let mut buf = Vec::with_capacity(refs.clone().count());
    for k in rounds {
        buf.clear();
        buf.extend(refs.clone().map(|series_ref| {
            let (t, v) = point(series_ref, k);
            RefSample { series_ref, st: 0, t, v }
        }));
        q.append_samples(&buf, Position { segment: 0, offset: k }).expect("append");
    }
}

/// Reads one HTTP/1.1 request from `r`: its header lines, then the body `Content-Length` names.
/// Returns the body; `None` once the connection ends or breaks.
pub fn read_request(r: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let t = line.trim_end();
        if t.is_empty() {
            break;
        }
        if let Some((name, value)) = t.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
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

/// Now, in milliseconds since the Unix epoch (the queue's time unit).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
