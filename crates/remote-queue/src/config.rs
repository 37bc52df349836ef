//! Endpoint and queue configuration, with Prometheus's current defaults (Prometheus's
//! `config/config.go`: `DefaultRemoteWriteConfig`, `DefaultQueueConfig`, `DefaultMetadataConfig`).
//!
//! These are plain structs: parsing a Prometheus YAML file into them is the binary's job. Every
//! struct implements [`Default`] with the values Prometheus uses, except where walship decides
//! otherwise (`retry_on_http_429` defaults to `true`, see [`QueueConfig::retry_on_http_429`]).

use crate::relabel::RelabelConfig;
use crate::{Error, Result};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which remote-write protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    #[default]
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request` (symbols table, metadata per series).
    V2,
}

impl Protocol {
    /// The `protobuf_message` value Prometheus uses in its configuration for this protocol.
    pub fn message_name(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// Parses a `protobuf_message` configuration value.
    pub fn from_message_name(name: &str) -> Result<Protocol> {
        match name {
            "prometheus.WriteRequest" => Ok(Protocol::V1),
            "io.prometheus.write.v2.Request" => Ok(Protocol::V2),
            other => Err(Error::Config(format!("unknown protobuf_message {other:?}"))),
        }
    }
}

/// `queue_config`: shard count bounds, batching and retry timing.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Items buffered per shard before appends block. Default 10000.
    pub capacity: usize,
    /// Upper bound for resharding. Default 50.
    pub max_shards: usize,
    /// Lower bound for resharding, and the number of shards at start. Default 1.
    pub min_shards: usize,
    /// Items (samples, exemplars and histograms together) per request. Default 2000.
    pub max_samples_per_send: usize,
    /// Longest wait, since a shard's previous send, before a partial batch goes out. Default 5 s.
    pub batch_send_deadline: Duration,
    /// First retry wait. Default 30 ms.
    pub min_backoff: Duration,
    /// Cap of the doubling retry wait. Default 5 s.
    pub max_backoff: Duration,
    /// Whether HTTP 429 is retried. Prometheus defaults to `false` (drop the batch); walship defaults
    /// to `true` because dropping loses data and the protocol allows retrying.
    pub retry_on_http_429: bool,
    /// Items older than this are dropped at append and before every retry (reason `too_old`).
    /// `Duration::ZERO` (the default) turns the check off.
    pub sample_age_limit: Duration,
    /// walship extension, YAML `isolate_rejected_series` (default true): when the remote rejects
    /// a whole batch for its content (a 4xx other than 401, 403 and 429), resend it in halves,
    /// recursively and split by series, so that only the series the remote refuses are dropped
    /// (counted under `*_failed_total` and logged with the server's message). One bad series in
    /// a batch of `s` series costs at most `2·⌈log2 s⌉` extra requests; a batch never costs more
    /// than `4·⌈log2 s⌉`, and what is still unresolved then is dropped as rejected. With `false`
    /// a rejected batch is dropped whole, as Prometheus does.
    pub isolate_rejected_series: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            sample_age_limit: Duration::ZERO,
            isolate_rejected_series: true,
        }
    }
}

impl QueueConfig {
    /// Applies Prometheus's (newest) validation rules.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: &str| Err(Error::Config(m.to_string()));
        if self.max_shards == 0 {
            return fail("max_shards must be greater than 0");
        }
        if self.min_shards == 0 {
            return fail("min_shards must be greater than 0");
        }
        if self.min_shards > self.max_shards {
            return fail("min_shards must not be greater than max_shards");
        }
        if self.max_samples_per_send == 0 {
            return fail("max_samples_per_send must be greater than 0");
        }
        if self.capacity == 0 {
            return fail("capacity must be greater than 0");
        }
        if self.max_backoff < self.min_backoff {
            return fail("max_backoff must be greater than or equal to min_backoff");
        }
        Ok(())
    }
}

/// `metadata_config`: periodic metadata requests of remote write 1.0.
///
/// Prometheus takes this metadata from its scrape targets; a WAL holds it only in metadata
/// records (Prometheus ≥ 2.49 with `--enable-feature=metadata-wal-records`), so what is sent is
/// what [`crate::QueueManager::store_metadata`] received, one entry per metric family (`__name__`),
/// and the families of [`crate::QueueManager::set_target_metadata`] that no WAL record named.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataConfig {
    /// Whether to send metadata. Default true.
    pub send: bool,
    /// How often. Default 1 min.
    pub send_interval: Duration,
    /// Entries per request. Default 2000.
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { send: true, send_interval: Duration::from_secs(60), max_samples_per_send: 2000 }
    }
}

/// A secret string: its `Debug` and `Display` print `<secret>` so that it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// How requests authenticate. Files are re-read for every request, as Prometheus does, so a
/// rotated token is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic auth with an inline password.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// HTTP basic auth with the password read from a file (trailing newline removed).
    BasicPasswordFile {
        /// User name.
        username: String,
        /// File holding the password.
        password_file: PathBuf,
    },
    /// `Authorization: <scheme> <credentials>`; `bearer_token` is `scheme = "Bearer"`.
    Credentials {
        /// The scheme, `Bearer` unless configured otherwise.
        scheme: String,
        /// The credentials.
        credentials: Secret,
    },
    /// Like [`Auth::Credentials`] with the credentials read from a file (`bearer_token_file`,
    /// `authorization.credentials_file`).
    CredentialsFile {
        /// The scheme, `Bearer` unless configured otherwise.
        scheme: String,
        /// File holding the credentials.
        credentials_file: PathBuf,
    },
    /// AWS Signature Version 4 (`sigv4`): every request is signed, as Amazon Managed Service
    /// for Prometheus requires.
    SigV4(SigV4Config),
    /// OAuth 2.0 client credentials (`oauth2`): a token is fetched from `token_url`, cached and
    /// refreshed before it expires, and sent as `Authorization: Bearer …`.
    OAuth2(OAuth2Config),
}

/// `sigv4`: how requests are signed. Empty values are taken from the standard AWS places
/// (see the `sigv4` module).
#[derive(Debug, Clone, PartialEq)]
pub struct SigV4Config {
    /// AWS region; empty: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region` in
    /// the shared config file.
    pub region: String,
    /// Access key id; with `secret_key`, used instead of the credential chain.
    pub access_key: String,
    /// Secret access key belonging to `access_key`.
    pub secret_key: Secret,
    /// Profile of the shared credentials and config files; empty: `AWS_PROFILE`, else `default`.
    pub profile: String,
    /// ARN of a role to assume through STS; empty: sign with the credentials found.
    pub role_arn: String,
    /// Call STS at its FIPS endpoint (`sts-fips.REGION.amazonaws.com`).
    pub use_fips_sts_endpoint: bool,
    /// The signing name of the service. Prometheus signs for `aps` (Amazon Managed Service for
    /// Prometheus); newer Prometheus versions call the setting `service_name`.
    pub service: String,
}

impl Default for SigV4Config {
    fn default() -> Self {
        SigV4Config {
            region: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            use_fips_sts_endpoint: false,
            service: "aps".into(),
        }
    }
}

/// `oauth2`: the client-credentials grant (RFC 6749 section 4.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OAuth2Config {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, used when `client_secret_file` is not set.
    pub client_secret: Secret,
    /// File holding the client secret, read again for every token request (trailing whitespace removed).
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for (`scope`, space-separated); none: no `scope` parameter.
    pub scopes: Vec<String>,
    /// The token endpoint.
    pub token_url: String,
    /// Extra form parameters of the token request.
    pub endpoint_params: Vec<(String, String)>,
    /// TLS settings for an `https` token endpoint.
    pub tls: TlsConfig,
    /// HTTP proxy for the token endpoint.
    pub proxy_url: Option<String>,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Skip verification of the server's certificate and name. Dangerous; for tests and labs.
    pub insecure_skip_verify: bool,
}

/// One `remote_write` entry: where to send and how.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The URL requests are POSTed to.
    pub url: String,
    /// The `remote_name` label of the self-metrics; Prometheus derives a hash when it is empty.
    pub name: String,
    /// Timeout of one HTTP attempt (connect, send, response). Default 30 s.
    pub remote_timeout: Duration,
    /// Extra headers set on every request (replace semantics).
    pub headers: Vec<(String, String)>,
    /// Authentication.
    pub auth: Auth,
    /// TLS settings for `https` URLs.
    pub tls: TlsConfig,
    /// HTTP proxy (`http://host:port`, optionally with user:password).
    pub proxy_url: Option<String>,
    /// Protocol spoken to this endpoint.
    pub protocol: Protocol,
    /// walship: when a 2.0 request is answered with 415, resend the batch as 1.0 and keep using 1.0.
    pub fallback_on_415: bool,
    /// Forward exemplars. Default false (exemplar appends are ignored).
    pub send_exemplars: bool,
    /// Forward native histograms. Default false (histogram appends are ignored).
    pub send_native_histograms: bool,
    /// `queue_config`.
    pub queue: QueueConfig,
    /// `metadata_config` (remote write 1.0 only; 2.0 sends metadata with every series).
    pub metadata: MetadataConfig,
    /// `write_relabel_configs`, applied in order after external labels were merged.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// `global.external_labels`, added to every series that lacks the label.
    pub external_labels: Vec<(String, String)>,
    /// Bound on flushing at stop and at every reshard (`--storage.remote.flush-deadline`). Default 1 min.
    pub flush_deadline: Duration,
    /// How often rates are updated and resharding is considered. Prometheus fixes this at 10 s;
    /// only tests should change it.
    #[doc(hidden)]
    pub shard_update_interval: Duration,
}

impl EndpointConfig {
    /// A configuration with every default and the given URL.
    pub fn new(url: impl Into<String>) -> EndpointConfig {
        EndpointConfig {
            url: url.into(),
            name: String::new(),
            remote_timeout: Duration::from_secs(30),
            headers: Vec::new(),
            auth: Auth::None,
            tls: TlsConfig::default(),
            proxy_url: None,
            protocol: Protocol::V1,
            fallback_on_415: true,
            send_exemplars: false,
            send_native_histograms: false,
            queue: QueueConfig::default(),
            metadata: MetadataConfig::default(),
            write_relabel_configs: Vec::new(),
            external_labels: Vec::new(),
            flush_deadline: Duration::from_secs(60),
            shard_update_interval: crate::reshard::SHARD_UPDATE_DURATION,
        }
    }

    /// Checks everything that can be checked without I/O.
    pub fn validate(&self) -> Result<()> {
        if self.url.is_empty() {
            return Err(Error::Config("url for remote_write is empty".into()));
        }
        let parsed = url::Url::parse(&self.url)
            .map_err(|e| Error::Config(format!("url {:?} does not parse: {e}", redact_url(&self.url))))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config(format!(
                "url {:?} must start with http:// or https:// and name a host",
                redact_url(&self.url)
            )));
        }
        if let Some(p) = &self.proxy_url {
            url::Url::parse(p)
                .map_err(|e| Error::Config(format!("proxy_url {:?} does not parse: {e}", redact_url(p))))?;
        }
        // Prometheus 2.42 reads 0 as "no timeout"; a request that can hang forever would stall
        // its shard (and the cursor) without a word, so walship asks for a real bound.
        if self.remote_timeout.is_zero() {
            return Err(Error::Config("remote_timeout must be greater than 0".into()));
        }
        self.queue.validate()?;
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(Error::Config("tls_config: cert_file and key_file must be given together".into()));
        }
        match &self.auth {
            Auth::SigV4(s) => {
                if s.access_key.is_empty() != s.secret_key.expose().is_empty() {
                    return Err(Error::Config(
                        "sigv4: access_key and secret_key must be given together (or neither, for the AWS credential chain)"
                            .into(),
                    ));
                }
                if s.service.is_empty() {
                    return Err(Error::Config("sigv4: the service name is empty".into()));
                }
            }
            Auth::OAuth2(o) => {
                if o.client_id.is_empty() {
                    return Err(Error::Config("oauth2 client_id must be configured".into()));
                }
                let parsed = url::Url::parse(&o.token_url).map_err(|e| {
                    Error::Config(format!("oauth2 token_url {:?} does not parse: {e}", redact_url(&o.token_url)))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
                    return Err(Error::Config(format!(
                        "oauth2 token_url {:?} must start with http:// or https:// and name a host",
                        redact_url(&o.token_url)
                    )));
                }
                if let Some(p) = &o.proxy_url {
                    url::Url::parse(p).map_err(|e| {
                        Error::Config(format!("oauth2 proxy_url {:?} does not parse: {e}", redact_url(p)))
                    })?;
                }
                if o.tls.cert_file.is_some() != o.tls.key_file.is_some() {
                    return Err(Error::Config(
                        "oauth2 tls_config: cert_file and key_file must be given together".into(),
                    ));
                }
            }
            _ => {}
        }
        for (name, _) in &self.headers {
            if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(Error::Config(format!("{name} is a reserved header; it cannot be set in headers")));
            }
            if name.eq_ignore_ascii_case("authorization") {
                return Err(Error::Config(
                    "authorization header must be changed via the basic_auth, authorization or bearer_token option"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The URL with any password replaced by `xxxxx`, as used in the `url` metric label and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Headers a user may not set (Prometheus's list, compared case-insensitively).
const RESERVED_HEADERS: &[&str] = &[
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Replaces the password of `scheme://user:password@host/…` with `xxxxx`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let redacted = if userinfo.contains(':') { format!("{user}:xxxxx") } else { user.to_string() };
            format!("{}{}@{}", &url[..scheme_end + 3], redacted, &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_prometheus() {
        let q = QueueConfig::default();
        assert_eq!((q.capacity, q.max_shards, q.min_shards, q.max_samples_per_send), (10_000, 50, 1, 2000));
        assert_eq!(q.batch_send_deadline, Duration::from_secs(5));
        assert_eq!((q.min_backoff, q.max_backoff), (Duration::from_millis(30), Duration::from_secs(5)));
        assert!(q.validate().is_ok());
    }

    #[test]
    fn validation() {
        let bad = [
            QueueConfig { max_shards: 0, ..Default::default() },
            QueueConfig { min_shards: 0, ..Default::default() },
            QueueConfig { min_shards: 60, ..Default::default() },
            QueueConfig { capacity: 0, ..Default::default() },
            QueueConfig { max_samples_per_send: 0, ..Default::default() },
            QueueConfig { max_backoff: Duration::from_millis(1), ..Default::default() },
        ];
        for q in bad {
            assert!(q.validate().is_err(), "{q:?}");
        }
        let mut e = EndpointConfig::new("http://x/api");
        e.headers.push(("content-type".into(), "x".into()));
        assert!(e.validate().is_err());
        e.headers = vec![("Authorization".into(), "x".into())];
        assert!(e.validate().is_err());
        e.headers = vec![("X-Scope-OrgID".into(), "t".into())];
        assert!(e.validate().is_ok());
        assert!(EndpointConfig::new("").validate().is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("https://u:pw@h:1/p?a=b"), "https://u:xxxxx@h:1/p?a=b");
        assert_eq!(redact_url("http://h/p"), "http://h/p");
        assert_eq!(format!("{:?}", Secret::new("pw")), "<secret>");
        assert_eq!(Protocol::from_message_name(Protocol::V2.message_name()).ok(), Some(Protocol::V2));
    }
}
