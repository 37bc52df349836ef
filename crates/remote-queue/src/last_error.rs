//! [`LastError`]: the newest failed send attempt of a queue, kept for a status page — so that an
//! operator can read why an endpoint retries, not only that it does.
//!
//! Every attempt of a sample, exemplar or histogram request, or of a 1.0 metadata request, that
//! did not succeed replaces it; the next attempt that succeeds marks it recovered. Its text is
//! the error the attempt met, with secrets taken out (see [`ErrorSlot::failed`]).

use crate::client::StoreError;
use crate::clock::now_ms;
use crate::config::{redact_url, Auth, EndpointConfig};
use crate::lock::lock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Header values shorter than this are not taken out of error texts: replacing every `1` or
/// `eu` of a message would garble it, and values that short are not secrets.
const MIN_SECRET_LEN: usize = 6;

/// The newest failed send attempt of a queue ([`crate::QueueManager::last_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastError {
    /// What went wrong: the server's status and the start of its answer, or the network error.
    /// Passwords, credentials and configured header values are replaced by `xxxxx`.
    pub message: String,
    /// When the attempt failed (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// When the run of failures this one belongs to began: the first failure after the last
    /// success (milliseconds since the Unix epoch).
    pub since_ms: i64,
    /// Whether the data of that attempt is being retried (5xx, 429, network, a request that
    /// could not be made on this side, a 415 fallback) rather than dropped (other 4xx) or held
    /// back for good (401 and 403 stop the queue).
    pub retrying: bool,
    /// When an attempt last succeeded after this failure, if one did (milliseconds since the
    /// Unix epoch). With several shards, one shard's success does not mean another's retries
    /// ended: each failure after it starts a new run.
    pub recovered_ms: Option<i64>,
}

/// Where the queue keeps its [`LastError`], and what to take out of its texts.
pub(crate) struct ErrorSlot {
    last: Mutex<Option<LastError>>,
    /// Set while the last error is not recovered, so that successes take no lock otherwise.
    open: AtomicBool,
    /// Text to replace in messages, with what replaces it.
    scrub: Vec<(String, String)>,
}

impl ErrorSlot {
    pub(crate) fn new(cfg: &EndpointConfig) -> ErrorSlot {
        let mut scrub = Vec::new();
        for url in std::iter::once(&cfg.url).chain(cfg.proxy_url.as_ref()) {
            let redacted = redact_url(url);
            if redacted != *url {
                scrub.push((url.clone(), redacted));
            }
            if let Some(password) = url_password(url) {
                scrub.push((password.to_string(), "xxxxx".into()));
            }
        }
        match &cfg.auth {
            Auth::Basic { password: s, .. } | Auth::Credentials { credentials: s, .. } => {
                scrub.push((s.expose().to_string(), "xxxxx".into()))
            }
            _ => {}
        }
        for (_, value) in &cfg.headers {
            if value.len() >= MIN_SECRET_LEN {
                scrub.push((value.clone(), "xxxxx".into()));
            }
        }
        // Longest first, so that a secret holding another is replaced whole.
        scrub.retain(|(s, _)| !s.is_empty());
        scrub.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        ErrorSlot { last: Mutex::new(None), open: AtomicBool::new(false), scrub }
    }

    /// Notes a failed attempt. `fallback_on_415`: a 415 answer makes the queue retry in 1.0.
    /// The text loses the endpoint's and proxy's passwords, the configured password or
    /// credentials, and the configured header values (a server may quote what it was sent);
    /// secrets read from files are not known here and a server that quotes them is not covered.
    pub(crate) fn failed(&self, e: &StoreError, fallback_on_415: bool) {
        let (message, retrying) = match e {
            StoreError::Recoverable { message, .. } | StoreError::Local { message } => (message, true),
            StoreError::NonRecoverable { status, message, .. } => (message, *status == Some(415) && fallback_on_415),
        };
        let mut text = message.clone();
        for (secret, replacement) in &self.scrub {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), replacement);
            }
        }
        let now = now_ms();
        let mut last = lock(&self.last);
        let since_ms = match &*last {
            Some(l) if l.recovered_ms.is_none() => l.since_ms,
            _ => now,
        };
        *last = Some(LastError { message: text, at_ms: now, since_ms, retrying, recovered_ms: None });
        self.open.store(true, Ordering::Release);
    }

    /// Notes a successful attempt: the last error, if any, is recovered now.
    pub(crate) fn succeeded(&self) {
        if !self.open.load(Ordering::Acquire) {
            return;
        }
        let mut last = lock(&self.last);
        if let Some(l) = last.as_mut() {
            l.recovered_ms.get_or_insert_with(now_ms);
        }
        self.open.store(false, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Option<LastError> {
        lock(&self.last).clone()
    }
}

/// The password of `scheme://user:password@host/…`, as written in the URL.
fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo.split_once(':').map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Written;
    use crate::config::Secret;

    fn rejected(message: &str) -> StoreError {
        StoreError::NonRecoverable { status: Some(400), message: message.into(), written: Written::default() }
    }

    #[test]
    fn keeps_the_newest_failure_and_its_run() {
        let slot = ErrorSlot::new(&EndpointConfig::new("http://127.0.0.1:1/write"));
        assert_eq!(slot.get(), None);
        slot.succeeded();
        assert_eq!(slot.get(), None);
        slot.failed(
            &StoreError::Recoverable { message: "server returned HTTP status 503".into(), retry_after: None },
            false,
        );
        let first = slot.get().unwrap();
        assert!(first.retrying && first.recovered_ms.is_none() && first.since_ms == first.at_ms);
        slot.failed(&rejected("server returned HTTP status 400: out of order"), false);
        let second = slot.get().unwrap();
        assert_eq!(
            (second.message.as_str(), second.retrying),
            ("server returned HTTP status 400: out of order", false)
        );
        assert_eq!(second.since_ms, first.since_ms, "the same run of failures");
        slot.succeeded();
        let recovered = slot.get().unwrap();
        assert!(recovered.recovered_ms.is_some_and(|t| t >= second.at_ms));
        assert_eq!(recovered.message, second.message);
        slot.failed(&StoreError::Local { message: "cannot read credentials file /x".into() }, false);
        let third = slot.get().unwrap();
        assert!(third.retrying && third.recovered_ms.is_none() && third.since_ms == third.at_ms);
    }

    #[test]
    fn a_415_is_retried_only_with_the_fallback() {
        let slot = ErrorSlot::new(&EndpointConfig::new("http://127.0.0.1:1/write"));
        let e = StoreError::NonRecoverable { status: Some(415), message: "415".into(), written: Written::default() };
        slot.failed(&e, true);
        assert!(slot.get().unwrap().retrying);
        slot.failed(&e, false);
        assert!(!slot.get().unwrap().retrying);
    }

    #[test]
    fn secrets_are_taken_out() {
        let mut cfg = EndpointConfig::new("http://user:pa55word@127.0.0.1:1/write");
        cfg.proxy_url = Some("http://proxy:pr0xysecret@127.0.0.1:2".into());
        cfg.auth = Auth::Credentials { scheme: "Bearer".into(), credentials: Secret::new("tok-123456") };
        cfg.headers = vec![("X-Api-Key".into(), "key-abcdef".into()), ("X-Scope-OrgID".into(), "eu".into())];
        let slot = ErrorSlot::new(&cfg);
        slot.failed(
            &rejected(
                "POST http://user:pa55word@127.0.0.1:1/write via http://proxy:pr0xysecret@127.0.0.1:2: \
                 bad token tok-123456, bad key key-abcdef for tenant eu; pa55word",
            ),
            false,
        );
        let m = slot.get().unwrap().message;
        for secret in ["pa55word", "pr0xysecret", "tok-123456", "key-abcdef"] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
        assert!(m.contains("http://user:xxxxx@127.0.0.1:1/write") && m.contains("tenant eu"), "{m}");
    }

    #[test]
    fn finds_url_passwords() {
        assert_eq!(url_password("https://u:p@h/x"), Some("p"));
        assert_eq!(url_password("https://u@h/x"), None);
        assert_eq!(url_password("https://h/x@y"), None);
        assert_eq!(url_password("no url"), None);
    }
}
