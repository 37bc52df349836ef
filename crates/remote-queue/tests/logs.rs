//! What the queue logs, captured at trace level: a client-side fault (a credentials file missing
//! at run time) is one error line and one recovery line, holds the data back and loses nothing;
//! no secret reaches any log record that [`remote_queue::logging::may_hold_secrets`] lets through,
//! and a URL password reaches no record at all.

mod support;

use remote_queue::{Auth, EndpointConfig, Position, Protocol, QueueManager};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use support::receiver::Receiver;
use support::*;

/// Every record of this test binary: (target, level, text).
static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if let Ok(mut v) = RECORDS.lock() {
            v.push((r.target().to_string(), r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

fn capture() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = log::set_logger(&Capture);
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn records() -> Vec<(String, log::Level, String)> {
    RECORDS.lock().map(|v| v.clone()).unwrap_or_default()
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let d = std::env::temp_dir().join(format!("rq-logs-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn config(url: &str) -> EndpointConfig {
    let mut c = EndpointConfig::new(url);
    c.queue.batch_send_deadline = Duration::from_millis(50);
    c.queue.min_backoff = Duration::from_millis(5);
    c.queue.max_backoff = Duration::from_millis(100);
    c.queue.max_samples_per_send = 100;
    c.queue.min_shards = 2;
    c.flush_deadline = Duration::from_secs(5);
    c
}

/// A credentials file missing at run time, then created: everything arrives, nothing is counted
/// failed, the cursor waits; one error line and one recovery line.
fn missing_then_created(name: &str, auth: impl Fn(PathBuf) -> Auth, secret: &str, header: &str) {
    capture();
    let dir = temp_dir(name);
    let file = dir.join("secret");
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url);
    cfg.name = name.to_string();
    cfg.auth = auth(file.clone());
    let q = QueueManager::new(cfg).expect("a missing credentials file does not stop the queue from starting");
    store_series(&q, 100);
    append_rounds(&q, 100, 0..20, 1_000_000);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(rx.requests(), 0, "no request without the credentials");
    let m = q.metrics();
    assert_eq!((m.samples_failed_total, m.samples_total), (0, 0), "nothing dropped, nothing counted sent");
    // The watermark names the oldest position not yet done: still the first round.
    let first = Position { segment: 0, offset: 0 };
    assert!(q.low_watermark().is_none_or(|w| w <= first), "nothing acknowledged: {:?}", q.low_watermark());
    std::fs::write(&file, format!("{secret}\n")).expect("write credentials");
    assert!(wait_for(Duration::from_secs(10), || rx.accepted().len() == 2000), "got {}", rx.accepted().len());
    assert!(wait_for(Duration::from_secs(5), || q.low_watermark() == Some(Position { segment: 0, offset: 19 })));
    let m = q.metrics();
    assert_eq!(m.samples_failed_total, 0);
    for r in rx.log() {
        assert_eq!(r.header("Authorization"), Some(header));
    }
    q.stop();
    let mine: Vec<_> = records().into_iter().filter(|(_, _, t)| t.contains(&format!("remote {name}:"))).collect();
    let errors: Vec<_> = mine.iter().filter(|(_, l, _)| *l == log::Level::Error).collect();
    let recoveries: Vec<_> = mine.iter().filter(|(_, l, t)| *l == log::Level::Info && t.contains("again")).collect();
    assert_eq!(errors.len(), 1, "one error line for the fault, however many shards and retries: {mine:?}");
    assert!(errors[0].2.contains(&file.display().to_string()), "{}", errors[0].2);
    assert_eq!(recoveries.len(), 1, "one line for the recovery: {mine:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn basic_auth_password_file_missing_then_created() {
    missing_then_created(
        "pwfile",
        |f| Auth::BasicPasswordFile { username: "user".into(), password_file: f },
        "hunter2",
        "Basic dXNlcjpodW50ZXIy",
    );
}

#[test]
fn bearer_token_file_missing_then_created() {
    missing_then_created(
        "tokenfile",
        |f| Auth::CredentialsFile { scheme: "Bearer".into(), credentials_file: f },
        "tok3n",
        "Bearer tok3n",
    );
}

#[test]
fn tls_ca_file_missing_holds_the_data_back() {
    capture();
    let dir = temp_dir("ca");
    let rx = Receiver::accepting();
    let mut cfg = config(&rx.url.replace("http://", "https://"));
    cfg.name = "cafile".into();
    cfg.tls.ca_file = Some(dir.join("ca.pem"));
    let q = QueueManager::new(cfg).expect("a missing CA file does not stop the queue from starting");
    store_series(&q, 10);
    append_rounds(&q, 10, 0..3, 1_000_000);
    std::thread::sleep(Duration::from_millis(400));
    let m = q.metrics();
    assert_eq!((m.samples_failed_total, m.samples_total, rx.requests()), (0, 0, 0));
    let first = Position { segment: 0, offset: 0 };
    assert!(q.low_watermark().is_none_or(|w| w <= first), "held back, not acknowledged: {:?}", q.low_watermark());
    q.stop();
    let lines = records().into_iter().filter(|(_, _, t)| t.contains("ca.pem") && t.contains("remote cafile:")).count();
    assert_eq!(lines, 1, "one line naming the file");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_secret_in_any_log_record_at_trace_level() {
    capture();
    // A receiver that fails some requests, so that retries and errors are logged too.
    let rx = Receiver::start(|n, _| match n % 3 {
        0 => support::receiver::Fault::Status(500, None),
        1 => support::receiver::Fault::Reset,
        _ => support::receiver::Fault::Accept,
    });
    let url = rx.url.replace("http://", "http://walship:pa55w0rd-in-url@");
    for protocol in [Protocol::V1, Protocol::V2] {
        let mut cfg = config(&url);
        cfg.protocol = protocol;
        cfg.headers = vec![("X-Api-Key".into(), "header-s3cret".into())];
        let q = QueueManager::new(cfg).expect("queue");
        store_series(&q, 10);
        append_rounds(&q, 10, 0..5, 1_000_000);
        assert!(wait_for(Duration::from_secs(10), || q.low_watermark() == Some(Position { segment: 0, offset: 4 })));
        q.stop();
    }
    let log = rx.log();
    assert_eq!(log.last().and_then(|r| r.header("Authorization")), Some("Basic d2Fsc2hpcDpwYTU1dzByZC1pbi11cmw="));
    assert_eq!(log.last().and_then(|r| r.header("X-Api-Key")), Some("header-s3cret"));
    let recs = records();
    assert!(recs.iter().any(|(t, _, _)| t.starts_with("ureq")), "the HTTP library's records were captured");
    assert!(recs.iter().any(|(_, l, t)| *l == log::Level::Warn && t.contains("retrying")), "errors were logged");
    for (target, level, text) in &recs {
        assert!(!text.contains("pa55w0rd-in-url"), "URL password in a {level} record of {target}: {text}");
        assert!(!text.contains("d2Fsc2hpcDpwYTU1dzByZC1pbi11cmw"), "encoded credentials in {target}: {text}");
        let meta = log::Metadata::builder().target(target).level(*level).build();
        if !remote_queue::logging::may_hold_secrets(&meta) {
            assert!(!text.contains("header-s3cret"), "header value in a {level} record of {target}: {text}");
        }
    }
    let flagged = recs.iter().filter(|(t, l, x)| {
        x.contains("header-s3cret")
            && remote_queue::logging::may_hold_secrets(&log::Metadata::builder().target(t).level(*l).build())
    });
    // ureq does quote header values at debug level: the filter is what keeps them out.
    assert!(flagged.count() > 0, "the filter is needed (if this fails, ureq stopped logging headers)");
}

#[test]
fn a_rejected_series_is_logged_with_its_labels_and_the_servers_message_rate_limited() {
    capture();
    let rx = Receiver::start_inspecting(|_, _, points| {
        if points.iter().any(|p| p.label("series") == Some("7") && p.label("job") == Some("walship-test")) {
            support::receiver::Fault::Status(400, None)
        } else {
            support::receiver::Fault::Accept
        }
    });
    let mut cfg = config(&rx.url);
    cfg.queue.min_shards = 1;
    cfg.queue.max_shards = 1;
    cfg.queue.max_samples_per_send = 20;
    cfg.queue.batch_send_deadline = Duration::from_secs(30);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 20);
    append_rounds(&q, 20, 0..30, 1_000_000);
    let last = Position { segment: 0, offset: 30 };
    q.mark_read(last).expect("mark");
    assert!(wait_for(Duration::from_secs(20), || q.low_watermark() == Some(last)));
    assert_eq!(q.metrics().samples_failed_total, 30);
    q.stop();
    let lines: Vec<String> = records()
        .into_iter()
        .filter(|(_, l, t)| *l == log::Level::Error && t.contains("rejected series") && t.contains("series=\"7\""))
        .map(|(_, _, t)| t)
        .collect();
    assert!(!lines.is_empty());
    assert!(lines[0].contains("job=\"walship-test\"") && lines[0].contains("injected fault 400"), "{}", lines[0]);
    assert!(lines.len() <= 10, "30 rejections within 10 s make at most 10 lines, got {}", lines.len());
}
