//! One HTTP attempt: headers, authentication, status classification (Prometheus's
//! `storage/remote/client.go`, `Store`; the 2.0 written-count headers of `storage/remote/stats.go`).
//!
//! Nothing secret is handed to the HTTP library in a form it might log: ureq 2 logs the request
//! URL and every header except `Authorization` at debug level through the `log` crate, so a
//! password in the URL's userinfo is taken out of the URL here and sent as an `Authorization`
//! header instead. Custom header values still reach ureq's debug line "writing prelude"; see
//! [`crate::logging`] for the filter an application installs against that.

use crate::config::{Auth, EndpointConfig, Protocol};
use crate::oauth2::Refusal;
use crate::{Error, Result};
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

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

/// Why an attempt failed. Each variant has one owner of what happens to the data next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StoreError {
    /// The remote is unavailable or throttling (5xx, 429, network): retry after the backoff, or
    /// after `retry_after` when the server gave a positive hint.
    Recoverable { message: String, retry_after: Option<Duration> },
    /// The remote answered and refused the request; `status` is the HTTP status, `written` what a
    /// remote write 2.0 receiver says it stored of it anyway.
    NonRecoverable { status: Option<u16>, message: String, written: Written },
    /// The request could not be made on this side (a credentials or TLS file unreadable, the
    /// client not built): nothing reached the remote, so nothing may be dropped for it. Retried.
    Local { message: String },
}

/// Something that can deliver a request body. The HTTP implementation is [`HttpTransport`];
/// tests substitute their own.
pub(crate) trait Transport: Send + Sync {
    /// One attempt; `attempt` is 0 for the first try.
    fn store(&self, body: &[u8], protocol: Protocol, attempt: u32) -> Result<Written, StoreError>;
}

/// Remote write over HTTP with a keep-alive connection pool.
pub(crate) struct HttpTransport {
    /// Built at the first request that can build it: a TLS file that is missing at start must
    /// hold the data back (and be retried), not lose it or stop the queue.
    agent: OnceLock<ureq::Agent>,
    cfg: EndpointConfig,
    /// The URL without userinfo: what ureq sees (and may log).
    url: String,
    /// Basic credentials taken from the URL's userinfo, used when no other auth is configured
    /// (as Go's HTTP client does for Prometheus).
    url_auth: Option<crate::config::Secret>,
    user_agent: String,
    /// `sigv4`: signs each request.
    signer: Option<crate::sigv4::Signer>,
    /// `oauth2`: the endpoint's token.
    tokens: Option<crate::oauth2::TokenSource>,
}

impl HttpTransport {
    pub(crate) fn new(cfg: &EndpointConfig) -> Result<HttpTransport> {
        if let Some(p) = &cfg.proxy_url {
            // A malformed proxy URL is a configuration error no retry can fix: refuse it now.
            ureq::Proxy::new(p).map_err(|e| Error::Config(format!("proxy_url: {e}")))?;
        }
        let (url, userinfo) = split_userinfo(&cfg.url);
        let url_auth = userinfo.map(|(user, pass)| crate::config::Secret::new(basic(&user, &pass)));
        let t = HttpTransport {
            agent: OnceLock::new(),
            cfg: cfg.clone(),
            url,
            url_auth,
            user_agent: format!("walship/{}", env!("CARGO_PKG_VERSION")),
            signer: match &cfg.auth {
                Auth::SigV4(s) => Some(crate::sigv4::Signer::new(s, cfg.remote_timeout)),
                _ => None,
            },
            tokens: match &cfg.auth {
                Auth::OAuth2(o) => Some(crate::oauth2::TokenSource::new(o, cfg.remote_timeout)),
                _ => None,
            },
        };
        // A failure here (a TLS file missing) is reported, once, by the first request that meets it.
        let _ = t.agent();
        Ok(t)
    }

    fn agent(&self) -> std::result::Result<&ureq::Agent, String> {
        if let Some(a) = self.agent.get() {
            return Ok(a);
        }
        let tls = crate::tls::client_config(&self.cfg.tls).map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut b = ureq::AgentBuilder::new()
            .timeout(self.cfg.remote_timeout)
            .redirects(0)
            .max_idle_connections_per_host(self.cfg.queue.max_shards.max(1))
            .tls_config(tls);
        if let Some(p) = &self.cfg.proxy_url {
            b = b.proxy(ureq::Proxy::new(p).map_err(|e| format!("proxy_url: {e}"))?);
        }
        // Two shards racing here both build; one agent wins and the other is dropped.
        Ok(self.agent.get_or_init(|| b.build()))
    }

    fn authorization(&self) -> std::result::Result<Option<String>, String> {
        match &self.cfg.auth {
            Auth::OAuth2(_) => self.tokens.as_ref().map(|t| t.authorization()).transpose(),
            // Signed once every other header is set (see `store`).
            Auth::SigV4(_) => Ok(None),
            auth => static_authorization(auth, self.url_auth.as_ref()),
        }
    }
}

/// The `Authorization` header of the kinds of `auth` that need no token endpoint or signing:
/// basic (credentials in the URL when `auth` is none), or a scheme with credentials, files
/// read on every call so that rotated secrets are picked up. `None` for OAuth 2 and SigV4,
/// which their callers handle.
pub(crate) fn static_authorization(
    auth: &Auth,
    url_auth: Option<&crate::config::Secret>,
) -> std::result::Result<Option<String>, String> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read credentials file {}: {e}", p.display()))
    };
    Ok(match auth {
        Auth::None => url_auth.map(|s| s.expose().to_string()),
        Auth::Basic { username, password } => Some(basic(username, password.expose())),
        Auth::BasicPasswordFile { username, password_file } => Some(basic(username, &read(password_file)?)),
        Auth::Credentials { scheme, credentials } => Some(format!("{scheme} {}", credentials.expose())),
        Auth::CredentialsFile { scheme, credentials_file } => Some(format!("{scheme} {}", read(credentials_file)?)),
        Auth::OAuth2(_) | Auth::SigV4(_) => None,
    })
}

/// Splits `scheme://user:pass@host/…` into the URL without userinfo and the percent-decoded user
/// and password.
pub(crate) fn split_userinfo(url: &str) -> (String, Option<(String, String)>) {
    let Some(scheme_end) = url.find("://") else { return (url.to_string(), None) };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return (url.to_string(), None) };
    let (user, pass) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
    let stripped = format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]);
    (stripped, Some((percent_decode(user), percent_decode(pass))))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

impl Transport for HttpTransport {
    fn store(&self, body: &[u8], protocol: Protocol, attempt: u32) -> Result<Written, StoreError> {
        let (content_type, version) = match protocol {
            Protocol::V1 => ("application/x-protobuf", "0.1.0"),
            Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
        };
        let agent = self.agent().map_err(|message| StoreError::Local { message })?;
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Encoding".into(), "snappy".into()),
            ("Content-Type".into(), content_type.into()),
            ("X-Prometheus-Remote-Write-Version".into(), version.into()),
        ];
        if attempt > 0 {
            headers.push(("Retry-Attempt".into(), attempt.to_string()));
        }
        headers.extend(self.cfg.headers.iter().cloned());
        let authorization = self.authorization().map_err(|message| StoreError::Local { message })?;
        if let Some(a) = &authorization {
            headers.push(("Authorization".into(), a.clone()));
        }
        if let Some(signer) = &self.signer {
            // Every header above is signed; the User-Agent is not (proxies may change it).
            let signed = signer
                .sign(&self.url, &headers, body, std::time::SystemTime::now())
                .map_err(|message| StoreError::Local { message })?;
            headers.extend(signed);
        }
        let mut req = agent.post(&self.url).set("User-Agent", &self.user_agent);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        match req.send_bytes(body) {
            Ok(resp) => {
                let written = written_counts(&resp);
                let status = resp.status();
                let text = resp.status_text().to_string();
                let excerpt = drain(resp);
                if (200..300).contains(&status) {
                    if let (Some(tokens), Some(a)) = (&self.tokens, &authorization) {
                        tokens.accepted(a);
                    }
                    Ok(written)
                } else {
                    Err(StoreError::NonRecoverable {
                        status: Some(status),
                        message: status_message(status, &text, &excerpt),
                        written,
                    })
                }
            }
            Err(ureq::Error::Status(status, resp)) => {
                let written = written_counts(&resp);
                let hint = resp.header("Retry-After").map(parse_retry_after).unwrap_or(0);
                let text = resp.status_text().to_string();
                let message = status_message(status, &text, &drain(resp));
                let retry_after = (hint > 0).then(|| Duration::from_secs(hint as u64));
                let token_revoked = status == 401
                    && matches!((&self.tokens, &authorization), (Some(t), Some(a)) if t.refused(a) == Refusal::Retry);
                if token_revoked {
                    Err(StoreError::Recoverable { message, retry_after: None })
                } else if status >= 500 || (status == 429 && self.cfg.queue.retry_on_http_429) {
                    Err(StoreError::Recoverable { message, retry_after })
                } else {
                    Err(StoreError::NonRecoverable { status: Some(status), message, written })
                }
            }
            Err(ureq::Error::Transport(t)) => {
                // The URL given to ureq has no userinfo; redact anyway, in case a proxy URL's does.
                let message = t.to_string().replace(&self.cfg.url, &crate::config::redact_url(&self.cfg.url));
                match t.kind() {
                    // The request was never made: nothing the remote said, so nothing to drop.
                    ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme | ureq::ErrorKind::InvalidProxyUrl => {
                        Err(StoreError::Local { message })
                    }
                    // Connection refused/reset, timeouts, TLS failures: the remote is unavailable.
                    _ => Err(StoreError::Recoverable { message, retry_after: None }),
                }
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
        return at - crate::clock::now_ms() / 1000;
    }
    v.parse().unwrap_or(0)
}

/// Parses an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, or the two obsolete forms RFC 9110
/// asks recipients to accept) into Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
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
    fn userinfo_leaves_the_url() {
        let (url, auth) = split_userinfo("https://us%40er:p%3Aw%zz@h:1/p?a=b@c");
        assert_eq!(url, "https://h:1/p?a=b@c");
        assert_eq!(auth, Some(("us@er".to_string(), "p:w%zz".to_string())));
        assert_eq!(
            split_userinfo("http://h/p@x"),
            ("http://h/p@x".to_string(), None),
            "an @ in the path is not userinfo"
        );
        assert_eq!(split_userinfo("http://u@h/").1, Some(("u".to_string(), String::new())));
    }

    #[test]
    fn base64_basic_auth() {
        assert_eq!(basic("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(basic("a", ""), "Basic YTo=");
    }
}
