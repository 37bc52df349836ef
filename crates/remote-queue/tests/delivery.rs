//! Delivery through HTTP to the test receiver: content, headers, order, watermark, metrics.

mod support;

use remote_queue::{Auth, DropReason, EndpointConfig, Position, Protocol, QueueManager, RefSample, Secret};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::receiver::{Fault, Receiver};
use support::*;

fn config(url: &str, protocol: Protocol) -> EndpointConfig {
    let mut c = EndpointConfig::new(url);
    c.protocol = protocol;
    c.queue.batch_send_deadline = Duration::from_millis(50);
    c.queue.min_backoff = Duration::from_millis(5);
    c.queue.max_backoff = Duration::from_millis(50);
    c.flush_deadline = Duration::from_secs(10);
    c.remote_timeout = Duration::from_secs(5);
    c
}

/// Every (series, round) exactly once, and per series in round order.
fn check_exact(points: &[support::receiver::Point], series: u64, rounds: u64) {
    let mut by_series: HashMap<String, Vec<i64>> = HashMap::new();
    for p in points {
        by_series.entry(p.label("series").unwrap_or("").to_string()).or_default().push(p.t);
    }
    assert_eq!(by_series.len() as u64, series);
    for (s, ts) in by_series {
        let want: Vec<i64> = (0..rounds as i64).map(|k| 1_000_000 + k).collect();
        assert_eq!(ts, want, "series {s}: complete and in order");
    }
}

fn delivers_everything(protocol: Protocol) {
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url, protocol);
    cfg.headers = vec![("X-Scope-OrgID".into(), "tenant-1".into()), ("Baz".into(), "qux".into())];
    cfg.auth = Auth::Basic { username: "user".into(), password: Secret::new("hunter2") };
    cfg.queue.max_samples_per_send = 500;
    cfg.queue.capacity = 1000;
    cfg.queue.min_shards = 3;
    cfg.external_labels = vec![("cluster".into(), "c1".into())];
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 200);
    append_rounds(&q, 200, 0..50, 1_000_000);
    assert!(wait_for(Duration::from_secs(20), || rx.accepted().len() == 10_000), "got {}", rx.accepted().len());
    let points = rx.accepted();
    check_exact(&points, 200, 50);
    assert!(points.iter().all(|p| p.label("cluster") == Some("c1")));
    assert!(wait_for(Duration::from_secs(5), || q.low_watermark() == Some(Position { segment: 0, offset: 49 })));
    let log = rx.log();
    for r in &log {
        assert_eq!(r.header("Content-Encoding"), Some("snappy"));
        let (ct, ver) = match protocol {
            Protocol::V1 => ("application/x-protobuf", "0.1.0"),
            Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
        };
        assert_eq!(r.header("Content-Type"), Some(ct));
        assert_eq!(r.header("X-Prometheus-Remote-Write-Version"), Some(ver));
        assert!(r.header("User-Agent").is_some_and(|u| u.starts_with("walship/")));
        assert_eq!(r.header("X-Scope-OrgID"), Some("tenant-1"));
        assert_eq!(r.header("Baz"), Some("qux"));
        assert_eq!(r.header("Authorization"), Some("Basic dXNlcjpodW50ZXIy"));
        assert_eq!(r.header("Retry-Attempt"), None, "first attempts carry no Retry-Attempt");
        assert!(r.points.len() <= 500);
    }
    let m = q.metrics();
    assert_eq!((m.samples_total, m.samples_failed_total, m.samples_retried_total), (10_000, 0, 0));
    assert_eq!(m.queue_highest_timestamp_seconds, 1_000_049 / 1000);
    assert!(m.bytes_total > 0 && m.sent_batch_duration_count as usize == log.len());
    let mut text = String::new();
    q.render_metrics(&mut text);
    assert!(!text.contains("hunter2"), "no credential in metrics");
    assert!(text.contains("prometheus_remote_storage_samples_total{"));
    q.stop();
}

#[test]
fn delivers_everything_v1() {
    delivers_everything(Protocol::V1);
}

#[test]
fn delivers_everything_v2() {
    delivers_everything(Protocol::V2);
}

#[test]
fn partial_batch_goes_out_by_deadline() {
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.batch_send_deadline = Duration::from_millis(200);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 100);
    append_rounds(&q, 100, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || rx.accepted().len() == 100));
    append_rounds(&q, 100, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || rx.accepted().len() == 200), "the same samples again are sent again");
}

#[test]
fn drops_are_counted_by_reason() {
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.write_relabel_configs = vec![remote_queue::RelabelConfig {
        source_labels: vec!["series".into()],
        regex: "1".into(),
        action: remote_queue::Action::Drop,
        ..Default::default()
    }];
    cfg.queue.sample_age_limit = Duration::from_secs(60);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 2);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let s = |r, t| RefSample { series_ref: r, st: 0, t, v: 1.0 };
    let batch = [s(1, now), s(2, now), s(3, now), s(2, now - 300_000), s(2, now + 1)];
    q.append_samples(&batch, Position { segment: 3, offset: 7 }).expect("append");
    assert!(wait_for(Duration::from_secs(3), || rx.accepted().len() == 2));
    let m = q.metrics();
    assert_eq!(m.samples_dropped(DropReason::DroppedSeries), 1);
    assert_eq!(m.samples_dropped(DropReason::UnintentionallyDroppedSeries), 1);
    assert_eq!(m.samples_dropped(DropReason::TooOld), 1);
    assert!(wait_for(Duration::from_secs(2), || q.low_watermark() == Some(Position { segment: 3, offset: 7 })));
}

#[test]
fn retries_recoverable_errors_and_counts_them() {
    // First request 503, then 500 with Retry-After, then success.
    let rx = Receiver::start(|n, _| match n {
        0 => Fault::Status(503, None),
        1 => Fault::Status(500, Some("1".into())),
        _ => Fault::Accept,
    });
    let q = QueueManager::new(config(&rx.url, Protocol::V1)).expect("queue");
    store_series(&q, 1);
    let t0 = Instant::now();
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(5), || rx.accepted().len() == 1));
    assert!(t0.elapsed() >= Duration::from_secs(1), "Retry-After honoured on 5xx");
    let log = rx.log();
    let attempts: Vec<_> = log.iter().map(|r| r.header("Retry-Attempt").map(str::to_string)).collect();
    assert_eq!(attempts, vec![None, Some("1".into()), Some("2".into())]);
    let m = q.metrics();
    assert_eq!((m.samples_total, m.samples_retried_total, m.samples_failed_total), (3, 2, 0));
}

#[test]
fn client_errors_drop_the_batch_and_count_it() {
    let rx = Receiver::start(|n, _| if n == 0 { Fault::Status(400, None) } else { Fault::Accept });
    let q = QueueManager::new(config(&rx.url, Protocol::V1)).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || q.metrics().samples_failed_total == 1));
    assert!(wait_for(Duration::from_secs(2), || q.low_watermark() == Some(Position { segment: 0, offset: 0 })));
    assert_eq!(rx.requests(), 1, "not retried");
}

#[test]
fn refused_credentials_stop_the_queue_without_acknowledging() {
    for status in [401, 403] {
        let rx = Receiver::start(move |_, _| Fault::Status(status, None));
        let q = QueueManager::new(config(&rx.url, Protocol::V1)).expect("queue");
        store_series(&q, 1);
        append_rounds(&q, 1, 0..1, 1_000_000);
        assert!(wait_for(Duration::from_secs(3), || q.fatal_error().is_some()), "{status}");
        assert!(q.fatal_error().unwrap().contains(&status.to_string()));
        // Nothing was acknowledged, so a restart sends the sample again; appends now fail.
        assert!(q.low_watermark().is_none_or(|w| w <= Position { segment: 0, offset: 0 }), "{:?}", q.low_watermark());
        let s = RefSample { series_ref: 1, st: 0, t: 2_000_000, v: 1.0 };
        assert!(q.append_samples(&[s], Position { segment: 0, offset: 1 }).is_err());
        assert_eq!(rx.requests(), 1, "{status}: not retried");
        q.stop();
    }
}

#[test]
fn status_429_is_dropped_when_not_retried() {
    let rx = Receiver::start(|_, _| Fault::Status(429, Some("1".into())));
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.retry_on_http_429 = false;
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || q.metrics().samples_failed_total == 1));
    assert_eq!(rx.requests(), 1);
}

#[test]
fn v2_to_v1_only_receiver_counts_failure() {
    // A 1.0 receiver that answers 2xx without written counts: nothing was written.
    let rx = Receiver::start(|_, _| Fault::AcceptNoHeaders);
    let q = QueueManager::new(config(&rx.url, Protocol::V2)).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || q.metrics().samples_failed_total == 1));
}

#[test]
fn v2_falls_back_to_v1_on_415() {
    let rx = Receiver::start(|_, v2| if v2 { Fault::Status(415, None) } else { Fault::Accept });
    let q = QueueManager::new(config(&rx.url, Protocol::V2)).expect("queue");
    store_series(&q, 5);
    append_rounds(&q, 5, 0..3, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || rx.accepted().len() == 15));
    assert_eq!(q.protocol(), Protocol::V1);
    assert_eq!(q.metrics().samples_failed_total, 0);
}

#[test]
fn bearer_token_file_is_read_per_request() {
    let rx = Receiver::accepting();
    let dir = std::env::temp_dir().join(format!("rq-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("token");
    std::fs::write(&file, "s3cr3t\n").expect("write token");
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.auth = Auth::CredentialsFile { scheme: "Bearer".into(), credentials_file: file.clone() };
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(3), || rx.accepted().len() == 1));
    assert_eq!(rx.log()[0].header("Authorization"), Some("Bearer s3cr3t"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stop_with_hanging_receiver_returns_at_flush_deadline() {
    let rx = Receiver::start(|_, _| Fault::Hang);
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.flush_deadline = Duration::from_secs(1);
    cfg.remote_timeout = Duration::from_secs(30);
    cfg.queue.max_samples_per_send = 10;
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..20, 1_000_000);
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    q.stop();
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(950) && took < Duration::from_millis(1500), "stop took {took:?}");
    assert_eq!(q.low_watermark(), Some(Position { segment: 0, offset: 0 }), "nothing acknowledged");
    assert!(q.append_samples(&[], Position::default()).is_err(), "stopped");
    // The 10 in flight are counted when their request ends; the 10 queued at once.
    assert!(q.metrics().samples_failed_total >= 10);
}

#[test]
fn reshard_under_load_loses_and_reorders_nothing() {
    let rx = Receiver::start(|n, _| if n % 7 == 3 { Fault::Status(503, None) } else { Fault::Accept });
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.capacity = 50;
    cfg.queue.max_samples_per_send = 20;
    cfg.queue.max_shards = 8;
    let q = std::sync::Arc::new(QueueManager::new(cfg).expect("queue"));
    store_series(&q, 30);
    let q2 = q.clone();
    let resharder = std::thread::spawn(move || {
        for n in [2, 3, 5, 1, 8, 4, 2, 6, 1, 3] {
            std::thread::sleep(Duration::from_millis(30));
            q2.reshard(n);
        }
    });
    append_rounds(&q, 30, 0..200, 1_000_000);
    let _ = resharder.join();
    assert!(wait_for(Duration::from_secs(20), || rx.accepted().len() == 6000), "got {}", rx.accepted().len());
    check_exact(&rx.accepted(), 30, 200);
    assert!(wait_for(Duration::from_secs(2), || q.low_watermark() == Some(Position { segment: 0, offset: 199 })));
}

#[test]
fn full_queue_blocks_without_dropping() {
    let rx = Receiver::start(|_, _| Fault::Slow(Duration::from_millis(5)));
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.capacity = 20;
    cfg.queue.max_samples_per_send = 10;
    cfg.queue.batch_send_deadline = Duration::from_millis(1);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 50);
    let t0 = Instant::now();
    append_rounds(&q, 50, 0..20, 1_000_000);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(wait_for(Duration::from_secs(10), || rx.accepted().len() == 1000));
    check_exact(&rx.accepted(), 50, 20);
    assert!(q.metrics().enqueue_retries_total > 0, "the caller had to wait");
}

#[test]
fn batches_that_age_while_retried_are_dropped_as_too_old() {
    let start = Instant::now();
    let rx = Receiver::start(move |_, _| {
        if start.elapsed() < Duration::from_millis(1500) {
            Fault::Status(503, None)
        } else {
            Fault::Accept
        }
    });
    let mut cfg = config(&rx.url, Protocol::V1);
    cfg.queue.sample_age_limit = Duration::from_secs(1);
    cfg.queue.min_backoff = Duration::from_millis(100);
    cfg.queue.max_backoff = Duration::from_millis(100);
    cfg.queue.max_samples_per_send = 10;
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    let now = || {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    };
    let mut k = 0u64;
    while start.elapsed() < Duration::from_millis(1400) {
        q.append_samples(
            &[RefSample { series_ref: 1, st: 0, t: now(), v: k as f64 }],
            Position { segment: 0, offset: k },
        )
        .expect("append");
        k += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let end = Position { segment: 0, offset: k };
    q.mark_read(end).expect("mark");
    assert!(wait_for(Duration::from_secs(10), || q.low_watermark() == Some(end)));
    let m = q.metrics();
    let delivered = rx.accepted();
    let too_old = m.samples_dropped(DropReason::TooOld);
    assert!(too_old > 0, "early samples aged out while retried");
    assert!(!delivered.is_empty(), "young samples delivered after recovery");
    assert_eq!(delivered.len() as u64 + too_old, k, "every sample delivered or counted too old");
    assert_eq!(m.samples_failed_total, 0);
    // Delivered ones are the newest: values form a suffix of 0..k.
    let vals: Vec<u64> = delivered.iter().map(|p| f64::from_bits(p.v_bits) as u64).collect();
    assert_eq!(vals, (k - vals.len() as u64..k).collect::<Vec<_>>());
}

#[test]
fn metrics_of_several_queues_share_family_headers() {
    let rx = Receiver::accepting();
    let mut a = config(&rx.url, Protocol::V1);
    a.name = "a".into();
    let mut b = config(&rx.url, Protocol::V1);
    b.name = "b".into();
    let (qa, qb) = (QueueManager::new(a).expect("a"), QueueManager::new(b).expect("b"));
    let mut text = String::new();
    remote_queue::render_metrics(&[&qa, &qb], &mut text);
    assert_eq!(text.matches("# TYPE prometheus_remote_storage_samples_total counter").count(), 1);
    assert_eq!(text.lines().filter(|l| l.starts_with("prometheus_remote_storage_samples_total{")).count(), 2);
    assert!(text.contains("remote_name=\"a\"") && text.contains("remote_name=\"b\""));
    if std::env::var_os("RQ_DUMP_METRICS").is_some() {
        print!("{text}");
    }
    // Prometheus's own linter, when installed.
    let promtool = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("promtool")).find(|p| p.is_file()));
    let Some(promtool) = promtool else {
        println!("skipped: promtool not installed");
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("promtool output");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "lint: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn status_429_is_retried_after_its_retry_after_by_default() {
    let rx = Receiver::start(|n, _| if n == 0 { Fault::Status(429, Some("1".into())) } else { Fault::Accept });
    let q = QueueManager::new(config(&rx.url, Protocol::V1)).expect("queue");
    store_series(&q, 1);
    let t0 = Instant::now();
    append_rounds(&q, 1, 0..1, 1_000_000);
    assert!(wait_for(Duration::from_secs(5), || rx.accepted().len() == 1));
    assert!(t0.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
    let m = q.metrics();
    assert_eq!((m.samples_retried_total, m.samples_failed_total), (1, 0));
}
