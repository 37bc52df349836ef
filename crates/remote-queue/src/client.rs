//! One HTTP attempt: headers, authentication, status classification (spec §1.1, §1.4, §2.5).

use crate::config::{Auth, EndpointConfig, Protocol};
use crate::{Error, Result};
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Written counts a receiver reported (`X-Prometheus-Remote-Write-*-Written`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) samples: Option<u64>,
    pub(crate) histograms: Option<u64>,
    pub(crate) exemplars: Option<u64>,
}

impl Written {
    /// At least one of the three headers was present.
    pub(crate) fn confirmed(&self) -> bool {
        self.samples.is_some() || self.histograms.is_some() || self.exemplars.is_some()
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StoreError {
    /// Retry after the backoff, or after `retry_after` when the server gave a positive hint.
    Recoverable { message: String, retry_after: Option<Duration> },
    /// Give up on this batch; `status` is the HTTP status if there was a response.
    NonRecoverable { status: Option<u16>, message: String },
}

/// Something that can deliver a request body. The HTTP implementation is [`HttpTransport`];
/// tests substitute their own.
pub(crate) trait Transport: Send + Sync {
    /// One attempt; `attempt` is 0 for the first try.
    fn store(&self, body: &[u8], protocol: Protocol, attempt: u32) -> Result<Written, StoreError>;
}

/// Remote write over HTTP with a keep-alive connection pool.
pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    auth: Auth,
    user_agent: String,
    retry_on_429: bool,
}

impl HttpTransport {
    pub(crate) fn new(cfg: &EndpointConfig) -> Result<HttpTransport> {
        let mut b = ureq::AgentBuilder::new()
            .timeout(cfg.remote_timeout)
            .redirects(0)
            .max_idle_connections_per_host(cfg.queue.max_shards.max(1))
            .tls_config(crate::tls::client_config(&cfg.tls)?);
        if let Some(p) = &cfg.proxy_url {
            let proxy = ureq::Proxy::new(p).map_err(|e| Error::Config(format!("proxy_url: {e}")))?;
            b = b.proxy(proxy);
        }
        Ok(HttpTransport {
            agent: b.build(),
            url: cfg.url.clone(),
            headers: cfg.headers.clone(),
            auth: cfg.auth.clone(),
            user_agent: format!("walship/{}", env!("CARGO_PKG_VERSION")),
            retry_on_429: cfg.queue.retry_on_http_429,
        })
    }

    fn authorization(&self) -> std::result::Result<Option<String>, String> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read credentials file {}: {e}", p.display()))
        };
        Ok(match &self.auth {
            Auth::None => None,
            Auth::Basic { username, password } => Some(basic(username, password.expose())),
            Auth::BasicPasswordFile { username, password_file } => Some(basic(username, &read(password_file)?)),
            Auth::Credentials { scheme, credentials } => Some(format!("{scheme} {}", credentials.expose())),
            Auth::CredentialsFile { scheme, credentials_file } => Some(format!("{scheme} {}", read(credentials_file)?)),
        })
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Transport for HttpTransport {
    fn store(&self, body: &[u8], protocol: Protocol, attempt: u32) -> Result<Written, StoreError> {
        let (content_type, version) = match protocol {
            Protocol::V1 => ("application/x-protobuf", "0.1.0"),
            Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
        };
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Encoding", "snappy")
            .set("Content-Type", content_type)
            .set("User-Agent", &self.user_agent)
            .set("X-Prometheus-Remote-Write-Version", version);
        if attempt > 0 {
            req = req.set("Retry-Attempt", &attempt.to_string());
        }
        for (k, v) in &self.headers {
            req = req.set(k, v);
        }
        match self.authorization() {
            Ok(Some(a)) => req = req.set("Authorization", &a),
            Ok(None) => {}
            Err(message) => return Err(StoreError::NonRecoverable { status: None, message }),
        }
        match req.send_bytes(body) {
            Ok(resp) => {
                let written = written_counts(&resp);
                let status = resp.status();
                let text = resp.status_text().to_string();
                let excerpt = drain(resp);
                if (200..300).contains(&status) {
                    Ok(written)
                } else {
                    Err(StoreError::NonRecoverable {
                        status: Some(status),
                        message: status_message(status, &text, &excerpt),
                    })
                }
            }
            Err(ureq::Error::Status(status, resp)) => {
                let hint = resp.header("Retry-After").map(parse_retry_after).unwrap_or(0);
                let text = resp.status_text().to_string();
                let message = status_message(status, &text, &drain(resp));
                let retry_after = (hint > 0).then(|| Duration::from_secs(hint as u64));
                if status >= 500 || (status == 429 && self.retry_on_429) {
                    Err(StoreError::Recoverable { message, retry_after })
                } else {
                    Err(StoreError::NonRecoverable { status: Some(status), message })
                }
            }
            // Connection refused/reset, timeouts, TLS failures: all worth retrying. The error text
            // may quote the URL, which may hold a password: redact it.
            Err(ureq::Error::Transport(t)) => {
                let message = t.to_string().replace(&self.url, &crate::config::redact_url(&self.url));
                Err(StoreError::Recoverable { message, retry_after: None })
            }
        }
    }
}

fn status_message(status: u16, text: &str, excerpt: &str) -> String {
    format!("server returned HTTP status {status} {text}: {excerpt}")
}

/// Reads at most 1024 bytes of the body for the error message, then drains the rest (bounded) so
/// the connection goes back to the pool.
fn drain(resp: ureq::Response) -> String {
    let mut r = resp.into_reader();
    let mut head = Vec::new();
    let _ = r.by_ref().take(1024).read_to_end(&mut head);
    let _ = std::io::copy(&mut r.take(1 << 20), &mut std::io::sink());
    String::from_utf8_lossy(&head).trim_end().to_string()
}

fn written_counts(resp: &ureq::Response) -> Written {
    let get = |name: &str| -> Option<u64> {
        let v = resp.header(name)?.trim();
        if v.is_empty() {
            return None;
        }
        Some(v.parse().unwrap_or(0))
    };
    Written {
        samples: get("X-Prometheus-Remote-Write-Samples-Written"),
        histograms: get("X-Prometheus-Remote-Write-Histograms-Written"),
        exemplars: get("X-Prometheus-Remote-Write-Exemplars-Written"),
    }
}

/// `Retry-After` in seconds: an HTTP-date minus now (may be ≤ 0), else a decimal integer; 0 when
/// absent or unparseable.
pub(crate) fn parse_retry_after(v: &str) -> i64 {
    let v = v.trim();
    if let Some(at) = parse_http_date(v) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        return at - now;
    }
    v.parse().unwrap_or(0)
}

/// Parses `Mon, 02 Jan 2006 15:04:05 GMT` into Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let hms: Vec<i64> = parts.next()?.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if parts.next()? != "GMT" || hms.len() != 3 || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = MONTHS.iter().position(|x| *x == month)? as i64 + 1;
    if !(1..=31).contains(&day) || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    Some(days_from_civil(year, m, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), 120);
        assert_eq!(parse_retry_after(""), 0);
        assert_eq!(parse_retry_after("Mon, 02 Jan 2006 15:04:05 MST"), 0, "layout text, not a date");
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:10 GMT"), Some(10));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT") < 0, "a past date gives a negative wait");
    }

    #[test]
    fn transport_errors_do_not_leak_url_passwords() {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1);
        let cfg = EndpointConfig::new(format!("http://user:secretpw@127.0.0.1:{port}/write"));
        let t = HttpTransport::new(&cfg).expect("transport");
        match t.store(b"x", Protocol::V1, 0) {
            Err(StoreError::Recoverable { message, .. }) => assert!(!message.contains("secretpw"), "{message}"),
            other => panic!("expected a recoverable error, got {other:?}"),
        }
    }

    #[test]
    fn base64_basic_auth() {
        assert_eq!(basic("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
