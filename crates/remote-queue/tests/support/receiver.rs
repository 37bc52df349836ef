//! A tiny fault-injecting remote-write receiver on 127.0.0.1 (HTTP/1.1, keep-alive).
#![allow(dead_code)]

use super::pb;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 200 (with written-count headers for 2.0 requests).
    Accept,
    /// 200 after a delay.
    Slow(Duration),
    /// This status, with an optional `Retry-After` value; the data is not accepted.
    Status(u16, Option<String>),
    /// Close the connection without answering; not accepted.
    Reset,
    /// Never answer (until the client gives up); not accepted.
    Hang,
    /// 2xx without any written-count header (what a 1.0-only receiver does with a 2.0 body).
    AcceptNoHeaders,
    /// Store every point except those with label `.1` = `.2`, and answer `.0` with written-count
    /// headers counting what was stored (a 2.0 receiver's partial write).
    PartialWrite(u16, String, String),
}

/// One decoded point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub labels: Vec<(String, String)>,
    pub t: i64,
    pub v_bits: u64,
    pub kind: &'static str,
}

impl Point {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: Vec<(String, String)>,
    pub fault: Fault,
    pub points: Vec<Point>,
    pub v2: bool,
    /// Points of a partial write that were not stored (`points` holds the stored ones).
    pub refused: Vec<Point>,
    /// 1.0 `MetricMetadata`: (family, type, help, unit); 2.0: (`__name__`, type, help, unit)
    /// of every series.
    pub metadata: Vec<(String, i32, String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// Whether `points` (all of them, or for a partial write what was kept) were stored.
    pub fn accepted(&self) -> bool {
        matches!(self.fault, Fault::Accept | Fault::Slow(_) | Fault::AcceptNoHeaders | Fault::PartialWrite(..))
    }
    /// Distinct values of label `name` in this request.
    pub fn distinct(&self, name: &str) -> usize {
        let mut v: Vec<&str> = self
            .points
            .iter()
            .filter_map(|p| p.label(name))
            .chain(self.refused.iter().filter_map(|p| p.label(name)))
            .collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    }
}

type Plan = Box<dyn Fn(u64, bool, &[Point]) -> Fault + Send + Sync>;

struct State {
    plan: Plan,
    count: AtomicU64,
    log: Mutex<Vec<Recorded>>,
    stop: AtomicBool,
}

/// Stops the listener thread when dropped.
pub struct Receiver {
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver; `plan(request_number, is_v2)` decides each request's fate.
    pub fn start(plan: impl Fn(u64, bool) -> Fault + Send + Sync + 'static) -> Receiver {
        Receiver::start_inspecting(move |n, v2, _| plan(n, v2))
    }

    /// Starts a receiver whose `plan(request_number, is_v2, points)` also sees what the request holds.
    pub fn start_inspecting(plan: impl Fn(u64, bool, &[Point]) -> Fault + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}/api/v1/write", listener.local_addr().expect("addr"));
        let state = Arc::new(State {
            plan: Box::new(plan),
            count: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            while !st.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let st = st.clone();
                        std::thread::spawn(move || serve(conn, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver { url, state }
    }

    pub fn accepting() -> Receiver {
        Receiver::start(|_, _| Fault::Accept)
    }

    pub fn log(&self) -> Vec<Recorded> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Points of every accepted request, in acceptance order.
    pub fn accepted(&self) -> Vec<Point> {
        self.log().into_iter().filter(|r| r.accepted()).flat_map(|r| r.points).collect()
    }

    pub fn requests(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, st: &State) {
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let n = st.count.fetch_add(1, Ordering::SeqCst);
        let ctype = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.clone());
        let v2 = ctype.as_deref().is_some_and(|c| c.contains("io.prometheus.write.v2.Request"));
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap_or_default();
        let mut points = if v2 { decode_v2(&raw) } else { decode_v1(&raw) };
        let fault = (st.plan)(n, v2, &points);
        let mut refused = Vec::new();
        if let Fault::PartialWrite(_, name, value) = &fault {
            (refused, points) = points.into_iter().partition(|p| p.label(name) == Some(value.as_str()));
        }
        let metadata = if v2 {
            let req = pb::v2::Request::decode(raw.as_slice()).unwrap_or_default();
            let sym = |r: u32| req.symbols.get(r as usize).cloned().unwrap_or_default();
            req.timeseries
                .iter()
                .map(|ts| {
                    let labels = req.resolve(&ts.labels_refs).unwrap_or_default();
                    let name = labels.into_iter().find(|(n, _)| n == "__name__").map(|(_, v)| v).unwrap_or_default();
                    let m = ts.metadata.clone().unwrap_or_default();
                    (name, m.r#type, sym(m.help_ref), sym(m.unit_ref))
                })
                .collect()
        } else {
            pb::v1::WriteRequest::decode(raw.as_slice())
                .unwrap_or_default()
                .metadata
                .into_iter()
                .map(|m| (m.metric_family_name, m.r#type, m.help, m.unit))
                .collect()
        };
        let counts = |k: &str| points.iter().filter(|p| p.kind == k).count();
        let written = format!(
            "X-Prometheus-Remote-Write-Samples-Written: {}\r\nX-Prometheus-Remote-Write-Histograms-Written: {}\r\nX-Prometheus-Remote-Write-Exemplars-Written: {}\r\n",
            counts("sample"),
            counts("histogram"),
            counts("exemplar")
        );
        let response = match &fault {
            Fault::Accept => Some(ok(if v2 { &written } else { "" })),
            Fault::AcceptNoHeaders => Some(ok("")),
            Fault::Slow(d) => {
                std::thread::sleep(*d);
                Some(ok(if v2 { &written } else { "" }))
            }
            Fault::Status(code, retry_after) => {
                let extra = retry_after.as_ref().map(|v| format!("Retry-After: {v}\r\n")).unwrap_or_default();
                let msg = format!("injected fault {code}\n");
                Some(format!("HTTP/1.1 {code} Fault\r\nContent-Length: {}\r\n{extra}\r\n{msg}", msg.len()))
            }
            Fault::PartialWrite(code, ..) => {
                let msg = format!("injected partial write, {} points refused\n", refused.len());
                Some(format!("HTTP/1.1 {code} Fault\r\nContent-Length: {}\r\n{written}\r\n{msg}", msg.len()))
            }
            Fault::Reset | Fault::Hang => None,
        };
        // Record before answering, so an acknowledged request is always in the log.
        if let Ok(mut log) = st.log.lock() {
            log.push(Recorded { headers, fault: fault.clone(), points, v2, refused, metadata });
        }
        match response {
            Some(resp) => {
                if out.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            None => {
                if fault == Fault::Hang {
                    // Hold the connection open until the client gives up.
                    let mut sink = [0u8; 1];
                    let _ = r.read(&mut sink);
                }
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

fn ok(extra: &str) -> String {
    format!("HTTP/1.1 204 No Content\r\n{extra}\r\n")
}

fn labels_v1(l: &[pb::v1::Label]) -> Vec<(String, String)> {
    l.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

pub fn decode_v1(raw: &[u8]) -> Vec<Point> {
    let req = pb::v1::WriteRequest::decode(raw).unwrap_or_default();
    let mut out = Vec::new();
    for ts in req.timeseries {
        let labels = labels_v1(&ts.labels);
        for s in ts.samples {
            out.push(Point { labels: labels.clone(), t: s.timestamp, v_bits: s.value.to_bits(), kind: "sample" });
        }
        for h in ts.histograms {
            out.push(Point { labels: labels.clone(), t: h.timestamp, v_bits: h.sum.to_bits(), kind: "histogram" });
        }
        for e in ts.exemplars {
            out.push(Point { labels: labels.clone(), t: e.timestamp, v_bits: e.value.to_bits(), kind: "exemplar" });
        }
    }
    out
}

pub fn decode_v2(raw: &[u8]) -> Vec<Point> {
    let req = pb::v2::Request::decode(raw).unwrap_or_default();
    let mut out = Vec::new();
    for ts in &req.timeseries {
        let labels = req.resolve(&ts.labels_refs).expect("valid symbol refs");
        for s in &ts.samples {
            out.push(Point { labels: labels.clone(), t: s.timestamp, v_bits: s.value.to_bits(), kind: "sample" });
        }
        for h in &ts.histograms {
            out.push(Point { labels: labels.clone(), t: h.timestamp, v_bits: h.sum.to_bits(), kind: "histogram" });
        }
        for e in &ts.exemplars {
            out.push(Point { labels: labels.clone(), t: e.timestamp, v_bits: e.value.to_bits(), kind: "exemplar" });
        }
    }
    out
}
