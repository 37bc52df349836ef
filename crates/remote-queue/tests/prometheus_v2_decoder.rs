//! Remote write 2.0 requests read by Prometheus's own message types.
//!
//! No receiver on this machine takes 2.0 (Prometheus 2.42 does not), so the proof is made in two
//! steps. `testdata/prometheus-rw2-decoded/` holds request bodies this queue sent (from
//! [`corpus`]) and what a Go program built on Prometheus's generated `io.prometheus.write.v2`
//! types read from them (`make.sh` there says how to make both again). Here:
//!
//! 1. `remote_queue::pb` reads the committed bodies exactly as Prometheus's types did, line for
//!    line: so this crate's test decoder agrees with Prometheus's on these requests;
//! 2. the queue sends [`corpus`] again now, and what `pb` reads from today's requests is the
//!    same set of series and points Prometheus read from the committed ones: so today's encoder
//!    writes what Prometheus reads back as intended, however the requests are cut.

mod support;

use remote_queue::pb::v2;
use remote_queue::{
    EndpointConfig, FloatHistogram, Histogram, Labels, MetricType, Position, Protocol, QueueManager, RefExemplar,
    RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries, Span,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::wait_for;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-rw2-decoded")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bits(f: f64) -> String {
    format!("{:016x}", f.to_bits())
}

fn join<T>(xs: &[T], f: impl Fn(&T) -> String) -> String {
    xs.iter().map(f).collect::<Vec<_>>().join(",")
}

/// What one request holds, in the line format of `decode.go`.
fn canonical(name: &str, body: &[u8]) -> Vec<String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap_or_else(|e| panic!("{name}: snappy: {e}"));
    let req = <v2::Request as prost::Message>::decode(raw.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(req.symbols.first().map(String::as_str), Some(""), "{name}: symbols[0] is the empty string");
    let sym = |r: u32| hex(req.symbols.get(r as usize).unwrap_or_else(|| panic!("{name}: ref {r}")).as_bytes());
    let pairs = |refs: &[u32]| {
        assert!(refs.len().is_multiple_of(2), "{name}: odd label refs");
        refs.chunks(2).map(|p| format!("{}={}", sym(p[0]), sym(p[1]))).collect::<Vec<_>>().join(",")
    };
    let mut out = Vec::new();
    for ts in &req.timeseries {
        let ls = pairs(&ts.labels_refs);
        let m = ts.metadata.clone().unwrap_or_default();
        out.push(format!("series labels={ls} type={} help={} unit={}", m.r#type, sym(m.help_ref), sym(m.unit_ref)));
        for s in &ts.samples {
            out.push(format!("sample labels={ls} t={} st={} v={}", s.timestamp, s.start_timestamp, bits(s.value)));
        }
        for h in &ts.histograms {
            use remote_queue::pb::v1::{Count, ZeroCount};
            let count = match h.count {
                Some(Count::CountInt(n)) => format!("int:{n}"),
                Some(Count::CountFloat(f)) => format!("float:{}", bits(f)),
                None => String::new(),
            };
            let zero = match h.zero_count {
                Some(ZeroCount::ZeroCountInt(n)) => format!("int:{n}"),
                Some(ZeroCount::ZeroCountFloat(f)) => format!("float:{}", bits(f)),
                None => String::new(),
            };
            let spans = |s: &[remote_queue::pb::v1::BucketSpan]| join(s, |s| format!("{}:{}", s.offset, s.length));
            out.push(format!(
                "histogram labels={ls} t={} st={} hint={} schema={} zt={} count={count} zc={zero} sum={} ps={} pd={} pc={} ns={} nd={} nc={} cv={}",
                h.timestamp,
                h.start_timestamp,
                h.reset_hint,
                h.schema,
                bits(h.zero_threshold),
                bits(h.sum),
                spans(&h.positive_spans),
                join(&h.positive_deltas, |d| d.to_string()),
                join(&h.positive_counts, |f| bits(*f)),
                spans(&h.negative_spans),
                join(&h.negative_deltas, |d| d.to_string()),
                join(&h.negative_counts, |f| bits(*f)),
                join(&h.custom_values, |f| bits(*f)),
            ));
        }
        for e in &ts.exemplars {
            out.push(format!(
                "exemplar labels={ls} ex={} t={} v={}",
                pairs(&e.labels_refs),
                e.timestamp,
                bits(e.value)
            ));
        }
    }
    out
}

/// The committed request bodies, in name order.
fn committed_requests() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<_> = std::fs::read_dir(dir().join("requests"))
        .expect("testdata/prometheus-rw2-decoded/requests")
        .map(|e| e.expect("entry").file_name().into_string().expect("name"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), std::fs::read(dir().join("requests").join(&n)).expect("read"))).collect()
}

fn prometheus_decoded() -> Vec<String> {
    std::fs::read_to_string(dir().join("prometheus-decoded.txt"))
        .expect("prometheus-decoded.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn committed_requests_read_as_prometheus_read_them() {
    let requests = committed_requests();
    assert!(requests.len() >= 3, "several requests, so that symbol tables follow one another");
    let ours: Vec<String> = requests.iter().flat_map(|(n, b)| canonical(n, b)).collect();
    let theirs = prometheus_decoded();
    assert_eq!(ours.len(), theirs.len(), "lines");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "line {} differs", i + 1);
    }
}

/// Every kind of data the 2.0 encoder writes, with the values that are easy to get wrong: label
/// values longer than 127 bytes, non-ASCII, stale markers, -0, infinities, negative times,
/// start timestamps, both histogram kinds with negative and custom buckets, exemplars, and
/// metadata with and without help and unit. Sent in requests of at most 25 items, so that the
/// symbol table is rebuilt and kept across requests.
fn corpus(q: &QueueManager) -> u64 {
    let long = "v".repeat(300);
    let mut labels: Vec<Labels> = vec![
        Labels::from_pairs([("__name__", "http_requests_total"), ("job", "api"), ("path", "/ünïcode/π")]),
        Labels::from_pairs([("__name__", "process_resident_memory_bytes"), ("job", "api"), ("long", long.as_str())]),
        Labels::from_pairs([("__name__", "rpc_duration_seconds"), ("job", "api")]),
        Labels::from_pairs([("__name__", "queue_depth"), ("job", "batch"), ("le", "+Inf")]),
        Labels::from_pairs([("__name__", "untyped_thing"), ("job", "")]),
    ];
    for i in 0..40 {
        labels.push(Labels::from_pairs([
            ("__name__", "node_cpu_seconds_total".to_string()),
            ("cpu", (i % 8).to_string()),
            ("instance", format!("host-{}:9100", i / 8)),
            ("job", "node".to_string()),
            ("mode", ["idle", "user", "system", "iowait", "irq"][i % 5].to_string()),
        ]));
    }
    let refs: Vec<RefSeries<'_>> =
        labels.iter().enumerate().map(|(i, l)| RefSeries { series_ref: i as u64 + 1, labels: l.as_ref() }).collect();
    q.store_series(&refs, 0);
    let help = "Resident memory, in \"bytes\".\nA second line, and a long tail: ".to_string() + &"x".repeat(150);
    q.store_metadata(&[
        RefMetadata { series_ref: 1, metric_type: MetricType::Counter, unit: b"", help: b"Total HTTP requests." },
        RefMetadata { series_ref: 2, metric_type: MetricType::Gauge, unit: b"bytes", help: help.as_bytes() },
        RefMetadata { series_ref: 3, metric_type: MetricType::Histogram, unit: b"seconds", help: b"RPC latency." },
        RefMetadata { series_ref: 4, metric_type: MetricType::GaugeHistogram, unit: b"", help: b"" },
    ]);
    let mut items = 0u64;
    let mut pos = 0u64;
    let mut next = || {
        pos += 1;
        Position { segment: 0, offset: pos }
    };
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let special = [0.0, -0.0, 1.5, f64::INFINITY, f64::NEG_INFINITY, stale, f64::MIN_POSITIVE, 1e300];
    for (k, v) in special.iter().enumerate() {
        let t = -5_000 + k as i64 * 15_000;
        let s: Vec<RefSample> = vec![
            RefSample { series_ref: 1, st: if k > 2 { 1_000 } else { 0 }, t, v: *v },
            RefSample { series_ref: 2, st: 0, t, v: 1e9 + k as f64 },
            RefSample { series_ref: 5, st: 0, t, v: -(k as f64) },
        ];
        items += s.len() as u64;
        q.append_samples(&s, next()).expect("samples");
    }
    for round in 0..3i64 {
        let s: Vec<RefSample> = (6..46u64)
            .map(|r| RefSample { series_ref: r, st: 0, t: 1_700_000_000_000 + round * 15_000, v: (r as f64) * 0.25 })
            .collect();
        items += s.len() as u64;
        q.append_samples(&s, next()).expect("samples");
    }
    let trace = Labels::from_pairs([("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("span", "π")]);
    let ex = [
        RefExemplar { series_ref: 1, t: 10_000, v: 0.5, labels: trace.as_ref() },
        RefExemplar { series_ref: 1, t: 25_000, v: stale, labels: trace.as_ref() },
    ];
    items += ex.len() as u64;
    q.append_exemplars(&ex, next()).expect("exemplars");
    let h = |k: u64| Histogram {
        counter_reset_hint: (k % 3) as u8,
        schema: [0, 3, 8, -4][k as usize % 4],
        zero_threshold: [0.0, 2f64.powi(-128), 0.001][k as usize % 3],
        zero_count: k,
        count: 10 + k,
        sum: 12.25 * k as f64,
        positive_spans: vec![Span { offset: -2, length: 2 }, Span { offset: 3, length: 1 }],
        negative_spans: if k.is_multiple_of(2) { vec![Span { offset: 1, length: 2 }] } else { vec![] },
        positive_buckets: vec![1, -1, k as i64],
        negative_buckets: if k.is_multiple_of(2) { vec![2, -2] } else { vec![] },
        custom_values: vec![],
    };
    let hs: Vec<RefHistogramSample> =
        (0..6).map(|k| RefHistogramSample { series_ref: 3, st: 500, t: 30_000 + k as i64 * 1_000, h: h(k) }).collect();
    items += hs.len() as u64;
    q.append_histograms(&hs, next()).expect("histograms");
    let fh = |k: u64| FloatHistogram {
        counter_reset_hint: 3,
        schema: if k.is_multiple_of(2) { -53 } else { 1 },
        zero_threshold: 0.0,
        zero_count: 0.5,
        count: 4.5 + k as f64,
        sum: -3.0,
        positive_spans: vec![Span { offset: 0, length: 3 }],
        negative_spans: vec![],
        positive_buckets: vec![1.0, 0.5, 3.0 + k as f64],
        negative_buckets: vec![],
        custom_values: if k.is_multiple_of(2) { vec![0.1, 1.0, 10.0] } else { vec![] },
    };
    let fhs: Vec<RefFloatHistogramSample> =
        (0..4).map(|k| RefFloatHistogramSample { series_ref: 4, st: 0, t: 40_000 + k as i64, fh: fh(k) }).collect();
    items += fhs.len() as u64;
    q.append_float_histograms(&fhs, next()).expect("float histograms");
    items
}

/// A receiver that keeps every request body, answering 204.
struct Recorder {
    server: Arc<tiny_http::Server>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    fn start() -> Recorder {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (s, b) = (server.clone(), bodies.clone());
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
                b.lock().unwrap().push(body);
                let _ = req.respond(tiny_http::Response::empty(204));
            }
        });
        Recorder { server, bodies, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.server.server_addr())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends [`corpus`] over 2.0 and returns the request bodies, in the order sent.
fn send_corpus() -> Vec<Vec<u8>> {
    let rx = Recorder::start();
    let mut cfg = EndpointConfig::new(rx.url());
    cfg.protocol = Protocol::V2;
    cfg.send_exemplars = true;
    cfg.send_native_histograms = true;
    cfg.queue.max_shards = 1;
    cfg.queue.min_shards = 1;
    cfg.queue.max_samples_per_send = 25;
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    let q = QueueManager::new(cfg).expect("queue");
    let items = corpus(&q);
    let sent = |m: remote_queue::MetricsSnapshot| m.samples_total + m.exemplars_total + m.histograms_total;
    assert!(wait_for(Duration::from_secs(30), || sent(q.metrics()) == items), "{} of {items} sent", sent(q.metrics()));
    q.stop();
    let bodies = rx.bodies.lock().unwrap().clone();
    bodies
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[test]
fn todays_requests_read_as_prometheus_read_the_committed_ones() {
    let bodies = send_corpus();
    if let Some(out) = std::env::var_os("WALSHIP_WRITE_RW2_REQUESTS") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).expect("mkdir");
        for (i, b) in bodies.iter().enumerate() {
            std::fs::write(out.join(format!("{i:03}.bin")), b).expect("write");
        }
    }
    let ours = sorted(bodies.iter().enumerate().flat_map(|(i, b)| canonical(&format!("request {i}"), b)).collect());
    let theirs = sorted(prometheus_decoded());
    let missing: Vec<_> = theirs.iter().filter(|l| ours.binary_search(l).is_err()).collect();
    let extra: Vec<_> = ours.iter().filter(|l| theirs.binary_search(l).is_err()).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing today: {missing:#?}\nnot read by Prometheus: {extra:#?}");
}
