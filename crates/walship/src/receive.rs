//! `walship receive`: a remote-write receiver that counts (or prints) what arrives — to try
//! walship without remote storage, and as the null receiver of benchmarks. Accepts remote write
//! 1.0 and 2.0 (chosen by Content-Type), snappy-compressed.

use crate::CliError;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Remote write 1.0 messages, declared by hand after `prompb/types.proto` (only what we count).
mod v1 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub exemplars: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub histograms: Vec<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Remote write 2.0 messages, after `io/prometheus/write/v2/types.proto`.
mod v2 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<super::v1::Sample>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub histograms: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub exemplars: Vec<Vec<u8>>,
    }
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
fn count(raw: &[u8], v2: bool) -> Option<(u64, u64, u64)> {
    let (ts_field, ex_field, h_field) = if v2 { (5, 4, 3) } else { (1, 3, 4) };
    let (mut s, mut e, mut h) = (0, 0, 0);
    each_len_field(raw, |field, series| {
        if field == ts_field {
            each_len_field(series, |f, _| {
                match f {
                    2 => s += 1,
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

fn decode(body: &[u8], v2: bool, print: bool) -> Result<(u64, u64, u64), String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    if !print {
        return count(&raw, v2).ok_or_else(|| "protobuf: malformed request".to_string());
    }
    if v2 {
        let req = v2::Request::decode(&raw[..]).map_err(|e| format!("protobuf: {e}"))?;
        let (mut s, mut e, mut h) = (0, 0, 0);
        for ts in &req.timeseries {
            if print {
                let labels: Vec<String> = ts
                    .labels_refs
                    .chunks(2)
                    .filter_map(|p| {
                        Some(format!(
                            "{}={:?}",
                            req.symbols.get(*p.first()? as usize)?,
                            req.symbols.get(*p.get(1)? as usize)?
                        ))
                    })
                    .collect();
                for x in &ts.samples {
                    println!("{{{}}} {} {}", labels.join(", "), x.value, x.timestamp);
                }
            }
            s += ts.samples.len() as u64;
            e += ts.exemplars.len() as u64;
            h += ts.histograms.len() as u64;
        }
        Ok((s, e, h))
    } else {
        let req = v1::WriteRequest::decode(&raw[..]).map_err(|e| format!("protobuf: {e}"))?;
        let (mut s, mut e, mut h) = (0, 0, 0);
        for ts in &req.timeseries {
            if print {
                let labels: Vec<String> = ts.labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
                for x in &ts.samples {
                    println!("{{{}}} {} {}", labels.join(", "), x.value, x.timestamp);
                }
            }
            s += ts.samples.len() as u64;
            e += ts.exemplars.len() as u64;
            h += ts.histograms.len() as u64;
        }
        Ok((s, e, h))
    }
}

/// Starts a receiver on `addr` with `threads` worker threads; `print` writes every sample to stdout.
pub fn start(addr: &str, threads: usize, print: bool) -> Result<Receiver, CliError> {
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
                    (true, true) => match decode(&body, v2, print) {
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

    #[test]
    fn counting_agrees_with_decoding() {
        let req = v1::WriteRequest {
            timeseries: (0..7)
                .map(|i| v1::TimeSeries {
                    labels: vec![v1::Label { name: "__name__".into(), value: format!("m{i}") }],
                    samples: (0..i).map(|k| v1::Sample { value: k as f64, timestamp: k }).collect(),
                    exemplars: vec![vec![1, 2]; (i % 2) as usize],
                    histograms: vec![vec![]; (i % 3) as usize],
                })
                .collect(),
        };
        let raw = req.encode_to_vec();
        assert_eq!(count(&raw, false), Some((21, 3, 6)));
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert_eq!(decode(&body, false, false), Ok((21, 3, 6)));
        assert_eq!(decode(&body, false, true), Ok((21, 3, 6)));
        assert!(count(&raw[..raw.len() - 1], false).is_none());
    }
}
