//! `QueueManager::last_error` against a real HTTP receiver: set by every failed attempt, with
//! whether its data is retried, marked recovered by the next success, and free of secrets.

mod support;

use remote_queue::{Auth, EndpointConfig, MetricType, QueueManager, RefMetadata, Secret};
use std::time::Duration;
use support::receiver::{Fault, Receiver};
use support::*;

fn config(url: &str) -> EndpointConfig {
    let mut c = EndpointConfig::new(url);
    c.queue.batch_send_deadline = Duration::from_millis(50);
    c.queue.min_backoff = Duration::from_millis(20);
    c.queue.max_backoff = Duration::from_millis(100);
    c.flush_deadline = Duration::from_secs(5);
    c.remote_timeout = Duration::from_secs(5);
    c
}

#[test]
fn a_retried_error_is_kept_then_marked_recovered() {
    // The first three requests fail with 500, then the receiver accepts.
    let rx = Receiver::start(|n, _| if n < 3 { Fault::Status(500, None) } else { Fault::Accept });
    let q = QueueManager::new(config(&rx.url)).unwrap();
    assert_eq!(q.last_error(), None);
    let before = now_ms();
    store_series(&q, 5);
    append_rounds(&q, 5, 0..1, 1_700_000_000_000);
    assert!(wait_for(Duration::from_secs(2), || q.last_error().is_some()), "no error after a 500");
    let e = q.last_error().unwrap();
    assert!(e.message.contains("500") && e.message.contains("injected fault"), "{e:?}");
    assert!(e.retrying && e.at_ms >= before && e.since_ms <= e.at_ms, "{e:?}");
    assert!(wait_for(Duration::from_secs(10), || q.metrics().samples_accepted == 5), "not delivered");
    let done = q.last_error().unwrap();
    assert!(done.recovered_ms.is_some_and(|t| t >= done.at_ms), "{done:?}");
    assert_eq!(done.since_ms, e.since_ms, "one run of failures: {e:?} then {done:?}");
    assert!(rx.log().len() >= 4);
    q.stop();
}

#[test]
fn a_rejected_batch_is_not_retried() {
    let rx = Receiver::start(|_, _| Fault::Status(400, None));
    let mut cfg = config(&rx.url);
    cfg.queue.isolate_rejected_series = false;
    let q = QueueManager::new(cfg).unwrap();
    store_series(&q, 5);
    append_rounds(&q, 5, 0..1, 1_700_000_000_000);
    assert!(wait_for(Duration::from_secs(5), || q.metrics().samples_failed_total == 5));
    let e = q.last_error().unwrap();
    assert!(!e.retrying && e.recovered_ms.is_none() && e.message.contains("400"), "{e:?}");
    q.stop();
}

#[test]
fn a_remote_that_is_down_leaves_no_secret_in_the_text() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cfg = config(&format!("http://walship:pa55w0rd@127.0.0.1:{port}/api/v1/write"));
    cfg.headers = vec![("X-Api-Key".into(), "k3y-s3cret".into())];
    let q = QueueManager::new(cfg).unwrap();
    store_series(&q, 2);
    append_rounds(&q, 2, 0..1, 1_700_000_000_000);
    assert!(wait_for(Duration::from_secs(5), || q.last_error().is_some()));
    let e = q.last_error().unwrap();
    assert!(e.retrying && e.recovered_ms.is_none(), "{e:?}");
    assert!(!e.message.contains("pa55w0rd") && !e.message.contains("k3y-s3cret"), "{e:?}");
    assert!(!e.message.is_empty());
    drop(q);

    // Credentials the remote refuses stop the queue; the error says so, not retried, no secret.
    let rx = Receiver::start(|_, _| Fault::Status(401, None));
    let mut cfg = config(&rx.url);
    cfg.auth = Auth::Credentials { scheme: "Bearer".into(), credentials: Secret::new("t0ken-s3cret") };
    let q = QueueManager::new(cfg).unwrap();
    store_series(&q, 2);
    append_rounds(&q, 2, 0..1, 1_700_000_000_000);
    assert!(wait_for(Duration::from_secs(5), || q.fatal_error().is_some()));
    let e = q.last_error().unwrap();
    assert!(!e.retrying && e.message.contains("401") && !e.message.contains("t0ken-s3cret"), "{e:?}");
}

/// 1.0 metadata requests (sent on their own, no samples here) count too: a receiver that refuses
/// them shows in the last error, and their later success marks it recovered.
#[test]
fn a_failed_metadata_request_is_kept_too() {
    let rx = Receiver::start(|n, _| if n < 2 { Fault::Status(503, None) } else { Fault::Accept });
    let mut cfg = config(&rx.url);
    cfg.metadata.send_interval = Duration::from_millis(50);
    let q = QueueManager::new(cfg).unwrap();
    store_series(&q, 1);
    q.store_metadata(&[RefMetadata { series_ref: 1, metric_type: MetricType::Gauge, unit: b"", help: b"Help." }]);
    assert!(wait_for(Duration::from_secs(5), || q.last_error().is_some()), "no error after a 503");
    let e = q.last_error().unwrap();
    assert!(e.retrying && e.message.contains("503"), "{e:?}");
    assert!(wait_for(Duration::from_secs(10), || q.metrics().metadata_total >= 1), "metadata not delivered");
    let done = q.last_error().unwrap();
    assert!(done.recovered_ms.is_some_and(|t| t >= done.at_ms), "{done:?}");
    assert!(rx.log().iter().all(|r| r.points.is_empty() && !r.metadata.is_empty()), "metadata only");
    q.stop();
}
