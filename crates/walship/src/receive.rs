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

fn decode(body: &[u8], v2: bool, print: bool) -> Result<(u64, u64, u64), String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
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
