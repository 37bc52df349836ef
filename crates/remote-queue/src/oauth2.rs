//! OAuth 2.0 client credentials for remote write (`oauth2` in `remote_write`): a token from
//! `token_url`, kept until shortly before it expires, then replaced.
//!
//! The grant is one form POST and one JSON answer (RFC 6749 section 4.4), made here with the
//! HTTP client and JSON parser this crate already has. The `oauth2` crate would do the same
//! POST but brings its own HTTP client choices (reqwest or a callback for ours), a second
//! `http` crate version and types for grants walship never uses; for one grant, a plain
//! request is shorter to read and to audit.
//!
//! What Prometheus (Go's `clientcredentials` package) does and this does too: the client id
//! and secret are sent as HTTP Basic credentials, form-encoded first; `scopes` become one
//! space-separated `scope` parameter; `endpoint_params` are added to the form; a token is
//! replaced 10 seconds before its `expires_in` runs out, and one without `expires_in` is kept.
//! Unlike Go's package, a token that lives 20 seconds or less is replaced at half its life
//! rather than fetched for every request, and when the token endpoint fails while the current
//! token is still valid, that token goes on being used until 5 seconds (a quarter of its life,
//! if shorter) before it expires.
//!
//! A failing token endpoint is a fault on this side of the remote: the request is not made,
//! and the batch is retried with backoff, never dropped.
//!
//! A token the remote refuses (HTTP 401) before it expires — revoked, or the issuer's keys
//! rotated — is thrown away and the batch is retried with a new one. Only when a token fetched
//! after such a refusal is refused too, before any request with it succeeded, are the
//! credentials taken to be wrong, and the queue stops (Go's `oauth2` package keeps a refused
//! token until it expires, and Prometheus drops the batches refused meanwhile).

use crate::config::{OAuth2Config, Secret};
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long before its expiry a token is replaced (Go's `oauth2` package: 10 s).
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// While no new token can be had, the current one is sent until this long before it expires
/// (a quarter of its life for a short-lived one).
const IN_FLIGHT_MARGIN: Duration = Duration::from_secs(5);

/// While a refresh fails and the current token is still valid, how long until the next try.
const RETRY_WHILE_VALID: Duration = Duration::from_secs(1);

/// A token and when to replace it.
struct Token {
    /// `<type> <access_token>`, the `Authorization` value.
    authorization: Secret,
    /// The last moment it is sent while no new one can be had: a request in flight must not
    /// arrive with an expired token. `None`: no `expires_in` given.
    usable_until: Option<Instant>,
    /// When to ask for the next one.
    refresh_at: Option<Instant>,
    /// A failed refresh was logged (once per token).
    warned: bool,
    /// Fetched because the remote refused the token before it, and not yet accepted.
    after_refusal: bool,
}

/// What to do after the remote refused a request's token (HTTP 401).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The token was thrown away: retry, with a new one.
    Retry,
    /// A token fetched after an earlier refusal was refused too: the credentials are wrong.
    CredentialsRefused,
}

/// Fetches, caches and refreshes the token of one endpoint. Shared by the endpoint's shards:
/// one fetches while the others wait for its result.
pub(crate) struct TokenSource {
    cfg: OAuth2Config,
    timeout: Duration,
    agent: OnceLock<ureq::Agent>,
    token: Mutex<Option<Token>>,
    /// The next token fetched follows a refusal (see [`Token::after_refusal`]).
    refused: std::sync::atomic::AtomicBool,
}

impl TokenSource {
    /// `timeout` bounds one token request (the endpoint's `remote_timeout`).
    pub(crate) fn new(cfg: &OAuth2Config, timeout: Duration) -> TokenSource {
        TokenSource {
            cfg: cfg.clone(),
            timeout,
            agent: OnceLock::new(),
            token: Mutex::new(None),
            refused: Default::default(),
        }
    }

    fn agent(&self) -> Result<&ureq::Agent, String> {
        if let Some(a) = self.agent.get() {
            return Ok(a);
        }
        let tls = crate::tls::client_config(&self.cfg.tls)
            .map_err(|e| format!("oauth2: cannot build the token endpoint's HTTP client: {e}"))?;
        let mut b = ureq::AgentBuilder::new().timeout(self.timeout).redirects(0).tls_config(tls);
        if let Some(p) = &self.cfg.proxy_url {
            b = b.proxy(ureq::Proxy::new(p).map_err(|e| format!("oauth2 proxy_url: {e}"))?);
        }
        Ok(self.agent.get_or_init(|| b.build()))
    }

    /// The `Authorization` header value for a request made now: the cached token, or a new one.
    /// An error means no valid token could be had; the request must not be made.
    pub(crate) fn authorization(&self) -> Result<String, String> {
        let now = Instant::now();
        let mut slot = crate::lock::lock(&self.token);
        if let Some(t) = slot.as_ref() {
            if t.refresh_at.is_none_or(|r| now < r) {
                return Ok(t.authorization.expose().to_string());
            }
        }
        match self.fetch() {
            Ok(mut t) => {
                t.after_refusal = self.refused.swap(false, std::sync::atomic::Ordering::Relaxed);
                let a = t.authorization.expose().to_string();
                *slot = Some(t);
                Ok(a)
            }
            Err(e) => match slot.as_mut() {
                // Still valid: use it, and ask again a little later (not at every request, which
                // would wait on a hanging endpoint each time).
                Some(t) if t.usable_until.is_some_and(|x| now < x) => {
                    if !t.warned {
                        log::warn!("{e}; using the current token until shortly before it expires");
                        t.warned = true;
                    }
                    let left = t.usable_until.map_or(Duration::ZERO, |x| x - now);
                    t.refresh_at = Some(now + RETRY_WHILE_VALID.min(left / 2));
                    Ok(t.authorization.expose().to_string())
                }
                _ => Err(e),
            },
        }
    }

    /// The remote refused a request sent with `authorization` (HTTP 401).
    pub(crate) fn refused(&self, authorization: &str) -> Refusal {
        let mut slot = crate::lock::lock(&self.token);
        match slot.as_ref() {
            // Another shard already replaced it: retry with the replacement.
            Some(t) if t.authorization.expose() != authorization => Refusal::Retry,
            Some(t) if t.after_refusal => Refusal::CredentialsRefused,
            _ => {
                log::warn!("oauth2: the remote refused the token (HTTP 401) before it expired; fetching a new one");
                *slot = None;
                self.refused.store(true, std::sync::atomic::Ordering::Relaxed);
                Refusal::Retry
            }
        }
    }

    /// The remote accepted a request sent with `authorization`: a later refusal of it is a
    /// revocation again, not wrong credentials.
    pub(crate) fn accepted(&self, authorization: &str) {
        let mut slot = crate::lock::lock(&self.token);
        if let Some(t) = slot.as_mut().filter(|t| t.after_refusal && t.authorization.expose() == authorization) {
            t.after_refusal = false;
        }
    }

    /// One token request.
    fn fetch(&self) -> Result<Token, String> {
        let url = crate::config::redact_url(&self.cfg.token_url);
        let secret = match &self.cfg.client_secret_file {
            Some(f) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("oauth2: cannot read client_secret_file {}: {e}", f.display()))?,
            None => self.cfg.client_secret.expose().to_string(),
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !self.cfg.scopes.is_empty() {
            form.append_pair("scope", &self.cfg.scopes.join(" "));
        }
        for (k, v) in &self.cfg.endpoint_params {
            form.append_pair(k, v);
        }
        let body = form.finish();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = {
            use base64::Engine as _;
            let pair = format!("{}:{}", enc(&self.cfg.client_id), enc(&secret));
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
        };
        let started = Instant::now();
        let resp = self
            .agent()?
            .post(&self.cfg.token_url)
            .set("Content-Type", "application/x-www-form-urlencoded")
            .set("Accept", "application/json")
            .set("Authorization", &basic)
            .send_string(&body);
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let mut excerpt = String::new();
                let _ = r.into_reader().take(512).read_to_string(&mut excerpt);
                return Err(format!(
                    "oauth2: token endpoint {url} answered HTTP {status}: {}",
                    excerpt.trim().replace(secret.as_str(), "<secret>")
                ));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(format!(
                    "oauth2: token endpoint {url}: {}",
                    t.to_string().replace(&self.cfg.token_url, &url)
                ))
            }
        };
        let mut text = String::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| format!("oauth2: reading the answer of {url}: {e}"))?;
        parse_token(&text, started).map_err(|e| format!("oauth2: token endpoint {url}: {e}"))
    }
}

/// Reads a token response (RFC 6749 section 5.1) received at `at`.
fn parse_token(text: &str, at: Instant) -> Result<Token, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Option<String>,
        token_type: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let a: Answer = serde_json::from_str(text).map_err(|e| format!("the answer is not a JSON token response: {e}"))?;
    let access = a.access_token.filter(|t| !t.is_empty()).ok_or("the answer has no access_token")?;
    // Some servers send the number as a string; both are seconds.
    let expires_in = match a.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .map(|s| Duration::from_secs_f64(s.min(1e9)));
    let refresh_at = expires_in.map(|d| at + d - EXPIRY_MARGIN.min(d / 2));
    let usable_until = expires_in.map(|d| at + d - IN_FLIGHT_MARGIN.min(d / 4));
    Ok(Token {
        authorization: Secret::new(format!("{} {access}", token_type(a.token_type.as_deref()))),
        usable_until,
        refresh_at,
        warned: false,
        after_refusal: false,
    })
}

/// The scheme for a `token_type`, spelled as the `Authorization` header expects it (Go's
/// `oauth2.Token.Type`): `bearer` → `Bearer`; none → `Bearer`.
fn token_type(t: Option<&str>) -> String {
    match t.unwrap_or("") {
        "" => "Bearer".into(),
        t if t.eq_ignore_ascii_case("bearer") => "Bearer".into(),
        t if t.eq_ignore_ascii_case("mac") => "MAC".into(),
        t if t.eq_ignore_ascii_case("basic") => "Basic".into(),
        t => t.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let at = Instant::now();
        let t = parse_token(r#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#, at).unwrap();
        assert_eq!(t.authorization.expose(), "Bearer abc");
        assert_eq!(t.usable_until, Some(at + Duration::from_secs(3595)), "sent until 5 s before expiry");
        assert_eq!(t.refresh_at, Some(at + Duration::from_secs(3590)), "10 s early");

        let t = parse_token(r#"{"access_token":"abc","expires_in":"4"}"#, at).unwrap();
        assert_eq!(t.refresh_at, Some(at + Duration::from_secs(2)), "a short-lived token at half its life");
        assert_eq!(t.usable_until, Some(at + Duration::from_secs(3)), "and not sent in its last quarter");

        let t = parse_token(r#"{"access_token":"abc","token_type":"MAC"}"#, at).unwrap();
        assert_eq!((t.authorization.expose(), t.usable_until, t.refresh_at), ("MAC abc", None, None));

        assert!(parse_token(r#"{"error":"invalid_client"}"#, at).is_err());
        assert!(parse_token("access_token=abc", at).is_err());
    }

    #[test]
    fn an_unreachable_token_endpoint_is_an_error_naming_it() {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1);
        let cfg = OAuth2Config {
            client_id: "id".into(),
            client_secret: Secret::new("s3cret"),
            token_url: format!("http://127.0.0.1:{port}/token"),
            ..Default::default()
        };
        let err = TokenSource::new(&cfg, Duration::from_secs(2)).authorization().unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}/token")) && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_missing_ca_file_of_the_token_endpoint_is_an_error_naming_it() {
        let cfg = OAuth2Config {
            client_id: "id".into(),
            token_url: "https://127.0.0.1:1/token".into(),
            tls: crate::config::TlsConfig { ca_file: Some("/nonexistent/oauth-ca.pem".into()), ..Default::default() },
            ..Default::default()
        };
        let err = TokenSource::new(&cfg, Duration::from_secs(2)).authorization().unwrap_err();
        assert!(err.contains("/nonexistent/oauth-ca.pem"), "{err}");
    }
}
