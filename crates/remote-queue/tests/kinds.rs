//! Exemplars, native histograms and metadata through the whole queue, and small behaviours of
//! the append path (catalogue items 2, 4, 7, 9).

mod support;

use remote_queue::{
    DropReason, EndpointConfig, FloatHistogram, Histogram, Labels, MetricType, Position, Protocol, QueueManager,
    RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, Span,
};
use std::time::Duration;
use support::receiver::Receiver;
use support::*;

fn config(url: &str, protocol: Protocol) -> EndpointConfig {
    let mut c = EndpointConfig::new(url);
    c.protocol = protocol;
    c.send_exemplars = true;
    c.send_native_histograms = true;
    c.queue.capacity = 3;
    c.queue.max_samples_per_send = 1;
    c.queue.batch_send_deadline = Duration::from_millis(100);
    c
}

fn hist(schema: i32) -> Histogram {
    Histogram {
        counter_reset_hint: 0,
        schema,
        zero_threshold: 0.0,
        zero_count: 1,
        count: 3,
        sum: 4.5,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        negative_spans: vec![],
        positive_buckets: vec![1, 0],
        negative_buckets: vec![],
        custom_values: if schema == -53 { vec![1.0, 2.0] } else { vec![] },
    }
}

fn fhist(schema: i32) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: 0,
        schema,
        zero_threshold: 0.0,
        zero_count: 1.0,
        count: 3.0,
        sum: 7.5,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        negative_spans: vec![],
        positive_buckets: vec![1.0, 1.0],
        negative_buckets: vec![],
        custom_values: if schema == -53 { vec![1.0, 2.0] } else { vec![] },
    }
}

fn mixed(protocol: Protocol) {
    let rx = Receiver::start(|_, _| support::receiver::Fault::Slow(Duration::from_millis(10)));
    let q = QueueManager::new(config(&rx.url, protocol)).expect("queue");
    store_series(&q, 3);
    q.store_metadata(&[RefMetadata { series_ref: 1, metric_type: MetricType::Counter, unit: b"s", help: b"Help." }]);
    assert_eq!(q.metrics().queue_highest_timestamp_seconds, 0);
    let ex_labels = Labels::from_pairs([("trace_id", "t1")]);
    for half in 0..2i64 {
        let t = 36_000 + half * 500;
        q.append_samples(&[RefSample { series_ref: 1, st: 0, t, v: 1.0 }], Position { segment: 0, offset: 0 })
            .expect("samples");
        q.append_exemplars(
            &[RefExemplar { series_ref: 2, t, v: 2.0, labels: ex_labels.as_ref() }],
            Position { segment: 0, offset: 1 },
        )
        .expect("exemplars");
        q.append_histograms(
            &[
                RefHistogramSample { series_ref: 3, st: 100, t, h: hist(0) },
                RefHistogramSample { series_ref: 3, st: 100, t: t + 1, h: hist(-53) },
            ],
            Position { segment: 0, offset: 2 },
        )
        .expect("histograms");
        q.append_float_histograms(
            &[
                RefFloatHistogramSample { series_ref: 2, st: 101, t, fh: fhist(1) },
                RefFloatHistogramSample { series_ref: 2, st: 101, t: t + 1, fh: fhist(-53) },
            ],
            Position { segment: 0, offset: 3 },
        )
        .expect("float histograms");
    }
    assert_eq!(q.metrics().queue_highest_timestamp_seconds, 36, "ms / 1000, whole seconds");
    let (want_h, nhcb_dropped) = if protocol == Protocol::V1 { (4, 4) } else { (8, 0) };
    // The queue counts a request sent once the remote's answer is back, a moment after the
    // receiver has recorded the points: wait for both.
    let counted = |m: remote_queue::MetricsSnapshot| m.samples_total + m.exemplars_total + m.histograms_total;
    assert!(
        wait_for(Duration::from_secs(10), || rx.accepted().len() == 2 + 2 + want_h
            && counted(q.metrics()) == 4 + want_h as u64),
        "{:?}",
        rx.accepted().len()
    );
    let pts = rx.accepted();
    let count = |k: &str| pts.iter().filter(|p| p.kind == k).count();
    assert_eq!((count("sample"), count("exemplar"), count("histogram")), (2, 2, want_h));
    let m = q.metrics();
    assert_eq!((m.samples_total, m.exemplars_total, m.histograms_total), (2, 2, want_h as u64));
    assert_eq!(m.histograms_dropped(DropReason::NhcbInRw1NotSupported), nhcb_dropped);
    assert_eq!(m.histograms_failed_total, 0);
    assert!(m.sent_batch_duration_sum >= Duration::from_millis(10));
    // Per series, in order.
    let ts = |series: &str, kind: &str| -> Vec<i64> {
        pts.iter().filter(|p| p.label("series") == Some(series) && p.kind == kind).map(|p| p.t).collect()
    };
    assert_eq!(ts("1", "sample"), vec![36_000, 36_500]);
    assert_eq!(ts("2", "exemplar"), vec![36_000, 36_500]);
    q.stop();
}

#[test]
fn mixed_delivery_v1() {
    mixed(Protocol::V1);
}

#[test]
fn mixed_delivery_v2() {
    mixed(Protocol::V2);
}

#[test]
fn exemplars_and_histograms_ignored_unless_enabled() {
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.send_exemplars = false;
    cfg.send_native_histograms = false;
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    let l = Labels::from_pairs([("a", "b")]);
    q.append_exemplars(&[RefExemplar { series_ref: 1, t: 1, v: 1.0, labels: l.as_ref() }], Position::default())
        .expect("ok");
    q.append_histograms(&[RefHistogramSample { series_ref: 1, st: 0, t: 1, h: hist(0) }], Position::default())
        .expect("ok");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests(), 0);
    assert_eq!(q.low_watermark(), Some(Position::default()));
}

#[test]
fn proxy_url_is_used() {
    // The test receiver accepts absolute-form request targets, so it can stand in for a proxy.
    let proxy = Receiver::accepting();
    let mut cfg = EndpointConfig::new("http://remote-write.invalid/api/v1/write");
    cfg.proxy_url = Some(proxy.url.trim_end_matches("/api/v1/write").to_string());
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..3, 1_000_000);
    assert!(wait_for(Duration::from_secs(5), || proxy.accepted().len() == 3));
}

#[test]
fn series_reset_waits_for_queued_points() {
    // A hanging receiver keeps the first batch in flight; the reset must not take its labels.
    let rx = Receiver::start(|n, _| {
        if n == 0 {
            support::receiver::Fault::Status(503, None)
        } else {
            support::receiver::Fault::Accept
        }
    });
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.queue.batch_send_deadline = Duration::from_millis(20);
    cfg.queue.min_backoff = Duration::from_millis(300);
    cfg.queue.max_backoff = Duration::from_millis(300);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 5);
    append_rounds(&q, 5, 0..1, 1_000_000);
    std::thread::sleep(Duration::from_millis(100));
    q.series_reset(1);
    assert_eq!(q.series_cache_usage().0, 5, "collection deferred while points are queued");
    assert!(wait_for(Duration::from_secs(5), || rx.accepted().len() == 5));
    assert!(wait_for(Duration::from_secs(2), || {
        let _ = q.low_watermark();
        q.series_cache_usage().0 == 0
    }));
    // Points for collected series are now dropped and counted.
    append_rounds(&q, 5, 1..2, 1_000_000);
    assert_eq!(q.metrics().samples_dropped(DropReason::UnintentionallyDroppedSeries), 5);
}

#[test]
fn metadata_requests_carry_every_family() {
    let rx = Receiver::accepting();
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.metadata.send_interval = Duration::from_millis(200);
    cfg.metadata.max_samples_per_send = 500;
    let q = QueueManager::new(cfg).expect("queue");
    let n = 1532u64;
    let owned: Vec<Labels> =
        (0..n).map(|i| Labels::from_pairs([("__name__", format!("family_{i:04}")), ("job", "j".into())])).collect();
    let refs: Vec<remote_queue::RefSeries<'_>> = owned
        .iter()
        .enumerate()
        .map(|(i, l)| remote_queue::RefSeries { series_ref: i as u64, labels: l.as_ref() })
        .collect();
    q.store_series(&refs, 0);
    let helps: Vec<String> = (0..n).map(|i| format!("Help of {i}.")).collect();
    let md: Vec<RefMetadata<'_>> = (0..n)
        .map(|i| RefMetadata {
            series_ref: i,
            metric_type: MetricType::Gauge,
            unit: b"bytes",
            help: helps[i as usize].as_bytes(),
        })
        .collect();
    q.store_metadata(&md);
    assert!(wait_for(Duration::from_secs(5), || q.metrics().metadata_total >= n));
    q.stop();
    let log = rx.log();
    let first: Vec<_> = log.iter().take(4).collect();
    assert_eq!(
        first.iter().map(|r| r.metadata.len()).collect::<Vec<_>>(),
        vec![500, 500, 500, 32],
        "ceil(1532/500) requests"
    );
    let all: Vec<_> = first.iter().flat_map(|r| r.metadata.clone()).collect();
    assert_eq!(all.last().map(|m| m.0.as_str()), Some("family_1531"), "last family intact");
    assert_eq!(all[7], ("family_0007".to_string(), 2, "Help of 7.".to_string(), "bytes".to_string()));
    assert!(first.iter().all(|r| r.points.is_empty()));
    assert_eq!(q.metrics().metadata_failed_total, 0);
}

/// The scrape targets' metadata (as a Prometheus API lists it) through the queue: 1.0 sends its
/// families after the WAL's, which win; `send: false` sends none; 2.0 gives each series its
/// family's, by job, instance and name.
#[test]
fn target_metadata_is_sent_like_prometheus() {
    use remote_queue::{RefSeries, TargetEntry, TargetMetadata};
    use std::sync::Arc;
    let entry = |job: &str, family: &str, t, help: &str| TargetEntry {
        job: job.into(),
        instance: "h:1".into(),
        family: family.into(),
        metric_type: t,
        help: help.into(),
        unit: String::new(),
    };
    let targets = Arc::new(TargetMetadata::new([
        entry("a", "lat_seconds", MetricType::Histogram, "Latency."),
        entry("a", "temp", MetricType::Gauge, "From the API."),
        entry("b", "temp", MetricType::Gauge, "From the API."),
        entry("b", "jobs_total", MetricType::Counter, "Jobs."),
    ]));
    let names = [("lat_seconds_bucket", "a"), ("temp", "a"), ("jobs_total", "b"), ("jobs_total", "c")];
    let owned: Vec<Labels> =
        names.iter().map(|(n, j)| Labels::from_pairs([("__name__", *n), ("instance", "h:1"), ("job", *j)])).collect();
    let series: Vec<RefSeries<'_>> =
        owned.iter().enumerate().map(|(i, l)| RefSeries { series_ref: i as u64 + 1, labels: l.as_ref() }).collect();
    let wal = [RefMetadata { series_ref: 2, metric_type: MetricType::Gauge, unit: b"", help: b"From the WAL." }];
    let feed = |q: &QueueManager| {
        q.store_series(&series, 0);
        q.store_metadata(&wal);
        q.set_target_metadata(targets.clone());
        for r in 1..=4 {
            q.append_samples(
                &[RefSample { series_ref: r, st: 0, t: 1_000, v: 1.0 }],
                Position { segment: 0, offset: r },
            )
            .expect("append");
        }
    };

    // 1.0: families, the WAL's first; at most max_samples_per_send a request.
    let rx = Receiver::accepting();
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.metadata.send_interval = Duration::from_millis(100);
    cfg.metadata.max_samples_per_send = 2;
    let q = QueueManager::new(cfg).expect("queue");
    feed(&q);
    assert!(wait_for(Duration::from_secs(5), || q.metrics().metadata_total >= 3));
    q.stop();
    let reqs: Vec<_> = rx.log().into_iter().filter(|r| !r.metadata.is_empty()).collect();
    let first: Vec<_> = reqs.iter().take(2).flat_map(|r| r.metadata.clone()).collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        first,
        [
            (s("temp"), 2, s("From the WAL."), s("")),
            (s("lat_seconds"), 3, s("Latency."), s("")),
            (s("jobs_total"), 1, s("Jobs."), s(""))
        ],
    );
    assert!(reqs.iter().all(|r| r.metadata.len() <= 2 && r.points.is_empty()));

    // send: false: no metadata request at all.
    let rx = Receiver::accepting();
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.metadata.send = false;
    cfg.metadata.send_interval = Duration::from_millis(50);
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    let q = QueueManager::new(cfg).expect("queue");
    feed(&q);
    std::thread::sleep(Duration::from_millis(400));
    q.stop();
    assert_eq!(rx.accepted().len(), 4, "the samples went");
    assert!(rx.log().iter().all(|r| r.metadata.is_empty()));
    assert_eq!(q.metrics().metadata_total, 0);

    // 2.0: every series with its family's metadata; the WAL's wins; another job's is not taken.
    let rx = Receiver::accepting();
    let mut cfg = EndpointConfig::new(rx.url.clone());
    cfg.protocol = Protocol::V2;
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    let q = QueueManager::new(cfg).expect("queue");
    feed(&q);
    assert!(wait_for(Duration::from_secs(5), || rx.accepted().len() == 4));
    q.stop();
    let mut got: Vec<_> = rx.log().into_iter().flat_map(|r| r.metadata).collect();
    got.sort();
    assert_eq!(
        got,
        [
            (s("jobs_total"), 0, s(""), s("")),
            (s("jobs_total"), 1, s("Jobs."), s("")),
            (s("lat_seconds_bucket"), 3, s("Latency."), s("")),
            (s("temp"), 2, s("From the WAL."), s("")),
        ]
    );
}
