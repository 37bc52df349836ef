//! `walship receive`: a remote-write receiver that counts (or prints) what arrives — to try
//! walship without remote storage, and as the null receiver of benchmarks. Accepts remote write
//! 1.0 and 2.0 (chosen by Content-Type), snappy-compressed.
//!
//! `GET /metrics` reports the counts and, for every sample, its delivery delay: arrival time
//! minus the sample's own timestamp, as a histogram. For scraped samples that is scrape-to-remote
//! storage latency, the lag an operator feels; `cargo xtask bench-live` compares shippers by it.

use crate::error::CliError;
use prost::Message;
use remote_queue::pb::{v1, v2};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The name of a metric type number (the same in 1.0 and 2.0), as the text format writes it.
fn type_name(t: i32) -> &'static str {
    match t {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

/// What a receiver prints to stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Print {
    /// Every sample: `{labels} value timestamp`.
    pub samples: bool,
    /// Metadata: `# METADATA …` (1.0) and `# SERIES …` (2.0) lines.
    pub metadata: bool,
}

/// What the receiver has accepted so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests accepted.
    pub requests: AtomicU64,
    /// Float samples.
    pub samples: AtomicU64,
    /// Exemplars.
    pub exemplars: AtomicU64,
    /// Native histograms.
    pub histograms: AtomicU64,
    /// Requests refused as malformed.
    pub bad_requests: AtomicU64,
    /// Delivery delay of float samples (counted only when not printing).
    pub delay: DelayHistogram,
}

/// Number of delay buckets (besides the one for delays beyond every bound).
const DELAY_BUCKETS: usize = 53;

/// Sample delivery delays, bucketed.
#[derive(Debug)]
pub struct DelayHistogram {
    bounds_ms: [u64; DELAY_BUCKETS],
    /// Counts per bucket (not cumulative), the last one for delays beyond every bound.
    counts: [AtomicU64; DELAY_BUCKETS + 1],
    sum_ms: AtomicU64,
}

impl Default for DelayHistogram {
    /// Upper bounds from 1 ms to about 2 minutes, each a quarter above the last (at least 1 ms
    /// above), so that a p99 read off them is within 25 % of the true value.
    fn default() -> Self {
        let mut bounds_ms = [0; DELAY_BUCKETS];
        let mut last = 0;
        for (i, b) in bounds_ms.iter_mut().enumerate() {
            last = (1.25f64.powi(i as i32).round() as u64).max(last + 1);
            *b = last;
        }
        DelayHistogram { bounds_ms, counts: std::array::from_fn(|_| AtomicU64::new(0)), sum_ms: AtomicU64::new(0) }
    }
}

impl DelayHistogram {
    /// Adds the delays of one request's samples, given as a local histogram (see `observe_into`).
    fn add(&self, local: &[u64; DELAY_BUCKETS + 1], sum_ms: u64) {
        for (c, &n) in self.counts.iter().zip(local) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.sum_ms.fetch_add(sum_ms, Ordering::Relaxed);
    }

    /// The bucket of a delay (negative delays, from clocks apart, count as 0).
    fn bucket(&self, delay_ms: i64) -> usize {
        let d = delay_ms.max(0) as u64;
        self.bounds_ms.partition_point(|&b| b < d)
    }

    /// Writes the histogram in the Prometheus text format, as `name`.
    fn render(&self, name: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut total = 0;
        for (b, c) in self.bounds_ms.iter().zip(&self.counts) {
            total += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {total}", *b as f64 / 1000.0);
        }
        total += self.counts[DELAY_BUCKETS].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

impl Counts {
    /// The counts in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, v) in [
            ("walship_receive_requests_total", &self.requests),
            ("walship_receive_samples_total", &self.samples),
            ("walship_receive_exemplars_total", &self.exemplars),
            ("walship_receive_histograms_total", &self.histograms),
            ("walship_receive_bad_requests_total", &self.bad_requests),
        ] {
            out.push_str(&format!("# TYPE {name} counter\n{name} {}\n", v.load(Ordering::Relaxed)));
        }
        self.delay.render("walship_receive_sample_delay_seconds", &mut out);
        out
    }
}

/// A running receiver.
pub struct Receiver {
    server: Arc<tiny_http::Server>,
    /// Its counts.
    pub counts: Arc<Counts>,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        for _ in 1..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads a protobuf varint at `b[*i..]`.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        x |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return Some(x);
        }
    }
    None
}

/// Calls `f(field, payload)` for each length-delimited field of the message `b`, skipping the
/// others; `None` if the message is malformed.
fn each_len_field(b: &[u8], mut f: impl FnMut(u64, &[u8]) -> Option<()>) -> Option<()> {
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        match key & 7 {
            0 => drop(varint(b, &mut i)?),
            1 => i = i.checked_add(8)?,
            5 => i = i.checked_add(4)?,
            2 => {
                let n = varint(b, &mut i)? as usize;
                let payload = b.get(i..i.checked_add(n)?)?;
                i += n;
                f(key >> 3, payload)?;
            }
            _ => return None,
        }
    }
    (i == b.len()).then_some(())
}

/// Counts samples, exemplars and histograms without decoding labels: what a null receiver needs,
/// at the speed of reading the bytes once. In both protocols the series are field `ts_field` of
/// the request, and within a series samples are field 2; exemplars and histograms are 3 and 4 in
/// 1.0, 4 and 3 in 2.0.
///
/// `on_sample` gets each sample's timestamp (field 2 of `Sample` in both protocols; 0 if absent).
fn count(raw: &[u8], v2: bool, mut on_sample: impl FnMut(i64)) -> Option<(u64, u64, u64)> {
    let (ts_field, ex_field, h_field) = if v2 { (5, 4, 3) } else { (1, 3, 4) };
    let (mut s, mut e, mut h) = (0, 0, 0);
    each_len_field(raw, |field, series| {
        if field == ts_field {
            each_len_field(series, |f, sample| {
                match f {
                    2 => {
                        s += 1;
                        on_sample(sample_timestamp(sample)?);
                    }
                    f if f == ex_field => e += 1,
                    f if f == h_field => h += 1,
                    _ => {}
                }
                Some(())
            })?;
        }
        Some(())
    })?;
    Some((s, e, h))
}

/// The timestamp of a `Sample` message: field 2, a varint (0 when absent, as protobuf has it).
fn sample_timestamp(b: &[u8]) -> Option<i64> {
    let mut i = 0;
    let mut t = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        match (key >> 3, key & 7) {
            (2, 0) => t = varint(b, &mut i)? as i64,
            (_, 0) => drop(varint(b, &mut i)?),
            (_, 1) => i = i.checked_add(8)?,
            (_, 5) => i = i.checked_add(4)?,
            _ => return None,
        }
    }
    (i == b.len()).then_some(t)
}

fn decode(body: &[u8], v2: bool, out: Print, delay: &DelayHistogram) -> Result<(u64, u64, u64), String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    if !out.samples && !out.metadata {
        let now = crate::time::now_ms();
        let mut local = [0u64; DELAY_BUCKETS + 1];
        let mut sum_ms = 0u64;
        let counts = count(&raw, v2, |t| {
            let d = now.saturating_sub(t);
            local[delay.bucket(d)] += 1;
            sum_ms = sum_ms.saturating_add(d.max(0) as u64);
        })
        .ok_or_else(|| "protobuf: malformed request".to_string())?;
        delay.add(&local, sum_ms);
        return Ok(counts);
    }
    // Printing: every sample decoded, with its labels, and/or the metadata.
    let mut tally = Tally { print: out.samples, ..Tally::default() };
    if v2 {
        let req = v2::Request::decode(&raw[..]).map_err(|e| format!("protobuf: {e}"))?;
        let symbol = |r: u32| req.symbols.get(r as usize);
        for ts in &req.timeseries {
            let pair = |p: &[u32]| Some(format!("{}={:?}", symbol(*p.first()?)?, symbol(*p.get(1)?)?));
            let labels: Vec<String> = ts.labels_refs.chunks(2).filter_map(pair).collect();
            if out.metadata {
                let text = |r: u32| symbol(r).map_or("", String::as_str);
                let md = ts.metadata.clone().unwrap_or_default();
                let (kind, help, unit) = (type_name(md.r#type), text(md.help_ref), text(md.unit_ref));
                println!("# SERIES {{{}}} {kind} {help:?} {unit:?}", labels.join(", "));
            }
            let samples = ts.samples.iter().map(|x| (x.value, x.timestamp));
            tally.series(labels, samples, ts.exemplars.len(), ts.histograms.len());
        }
    } else {
        let req = v1::WriteRequest::decode(&raw[..]).map_err(|e| format!("protobuf: {e}"))?;
        if out.metadata {
            for m in &req.metadata {
                println!("# METADATA {} {} {:?} {:?}", m.metric_family_name, type_name(m.r#type), m.help, m.unit);
            }
        }
        for ts in &req.timeseries {
            let labels = ts.labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
            let samples = ts.samples.iter().map(|x| (x.value, x.timestamp));
            tally.series(labels, samples, ts.exemplars.len(), ts.histograms.len());
        }
    }
    Ok((tally.samples, tally.exemplars, tally.histograms))
}

/// What `decode` printed and counted of a request.
#[derive(Default)]
struct Tally {
    /// Whether each sample is printed.
    print: bool,
    samples: u64,
    exemplars: u64,
    histograms: u64,
}

impl Tally {
    /// Prints each sample of one series and counts its points.
    fn series(
        &mut self,
        labels: Vec<String>,
        samples: impl ExactSizeIterator<Item = (f64, i64)>,
        exemplars: usize,
        histograms: usize,
    ) {
        self.samples += samples.len() as u64;
        if self.print {
            let labels = labels.join(", ");
            for (value, t) in samples {
                println!("{{{labels}}} {value} {t}");
            }
        }
        self.exemplars += exemplars as u64;
        self.histograms += histograms as u64;
    }
}

/// `walship receive`: receives on `listen` until SIGINT or SIGTERM, saying on stderr how much
/// arrived whenever that changes (unless every sample is printed).
pub fn run(listen: &str, threads: usize, print: Print) -> Result<std::process::ExitCode, CliError> {
    let r = start(listen, threads, print)?;
    eprintln!("walship: receiving remote write on http://{}/api/v1/write", r.addr);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| CliError::Usage(format!("signals: {e}")))?;
    }
    let mut last = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let n = r.counts.samples.load(Ordering::Relaxed);
        if n != last && !print.samples {
            eprintln!("walship: {} requests, {n} samples received", r.counts.requests.load(Ordering::Relaxed));
            last = n;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Starts a receiver on `addr` with `threads` worker threads; `print` says what it writes to stdout.
pub fn start(addr: &str, threads: usize, print: Print) -> Result<Receiver, CliError> {
    let server = Arc::new(tiny_http::Server::http(addr).map_err(|e| CliError::Usage(format!("receive: {addr}: {e}")))?);
    let local =
        server.server_addr().to_ip().ok_or_else(|| CliError::Usage(format!("receive: {addr} is not an IP address")))?;
    let counts = Arc::new(Counts::default());
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let (s, c) = (server.clone(), counts.clone());
        handles.push(std::thread::spawn(move || {
            let mut body = Vec::new();
            for mut req in s.incoming_requests() {
                body.clear();
                let v2 = req.headers().iter().any(|h| {
                    h.field.equiv("Content-Type") && h.value.as_str().contains("io.prometheus.write.v2.Request")
                });
                let ok = req.as_reader().read_to_end(&mut body).is_ok();
                let resp = match (ok, req.url().starts_with("/api/v1/write")) {
                    (true, true) => match decode(&body, v2, print, &c.delay) {
                        Ok((samples, exemplars, histograms)) => {
                            c.requests.fetch_add(1, Ordering::Relaxed);
                            c.samples.fetch_add(samples, Ordering::Relaxed);
                            c.exemplars.fetch_add(exemplars, Ordering::Relaxed);
                            c.histograms.fetch_add(histograms, Ordering::Relaxed);
                            let mut r = tiny_http::Response::empty(204);
                            if v2 {
                                for (name, n) in [
                                    ("X-Prometheus-Remote-Write-Samples-Written", samples),
                                    ("X-Prometheus-Remote-Write-Exemplars-Written", exemplars),
                                    ("X-Prometheus-Remote-Write-Histograms-Written", histograms),
                                ] {
                                    if let Ok(h) = tiny_http::Header::from_bytes(name, n.to_string()) {
                                        r.add_header(h);
                                    }
                                }
                            }
                            let _ = req.respond(r);
                            continue;
                        }
                        Err(e) => {
                            c.bad_requests.fetch_add(1, Ordering::Relaxed);
                            tiny_http::Response::from_string(e + "\n").with_status_code(400)
                        }
                    },
                    (_, false) if req.url() == "/metrics" => tiny_http::Response::from_string(c.render()),
                    (_, false) => tiny_http::Response::from_string("not found\n").with_status_code(404),
                    (false, true) => tiny_http::Response::from_string("cannot read body\n").with_status_code(400),
                };
                let _ = req.respond(resp);
            }
        }));
    }
    Ok(Receiver { server, counts, addr: local, threads: handles })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl DelayHistogram {
        fn render_string(&self) -> String {
            let mut s = String::new();
            self.render("d", &mut s);
            s
        }
    }

    #[test]
    fn counting_agrees_with_decoding() {
        let req = v1::WriteRequest {
            timeseries: (0..7)
                .map(|i| v1::TimeSeries {
                    labels: vec![v1::Label { name: "__name__".into(), value: format!("m{i}") }],
                    samples: (0..i).map(|k| v1::Sample { value: k as f64, timestamp: k }).collect(),
                    exemplars: vec![v1::Exemplar { value: 1.0, ..Default::default() }; (i % 2) as usize],
                    histograms: vec![v1::Histogram::default(); (i % 3) as usize],
                })
                .collect(),
            ..Default::default()
        };
        let raw = req.encode_to_vec();
        let mut stamps = Vec::new();
        assert_eq!(count(&raw, false, |t| stamps.push(t)), Some((21, 3, 6)));
        let want: Vec<i64> = (0..7).flat_map(|i| 0..i).collect();
        assert_eq!(stamps, want);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let delay = DelayHistogram::default();
        assert_eq!(decode(&body, false, Print::default(), &delay), Ok((21, 3, 6)));
        assert_eq!(decode(&body, false, Print { samples: true, metadata: true }, &delay), Ok((21, 3, 6)));
        assert!(count(&raw[..raw.len() - 1], false, |_| {}).is_none());
    }

    #[test]
    fn delays_land_in_their_buckets() {
        let h = DelayHistogram::default();
        assert_eq!(h.bounds_ms[0], 1);
        assert!(h.bounds_ms.windows(2).all(|w| w[0] < w[1]));
        assert!(h.bounds_ms[DELAY_BUCKETS - 1] > 100_000);
        assert_eq!(h.bucket(-5), 0);
        assert_eq!(h.bucket(1), 0);
        assert_eq!(h.bucket(2), 1);
        let mut local = [0u64; DELAY_BUCKETS + 1];
        for d in [0, 3, 3, 1_000, 10_000_000] {
            local[h.bucket(d)] += 1;
        }
        h.add(&local, 10_001_006);
        let text = h.render_string();
        assert!(text.contains("d_bucket{le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("d_bucket{le=\"0.004\"} 3\n"), "{text}");
        assert!(text.contains("d_bucket{le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("d_count 5\n"), "{text}");
    }
}
