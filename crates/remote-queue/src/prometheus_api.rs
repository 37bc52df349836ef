//! A client of a Prometheus server's HTTP API for the one call the queue needs from it:
//! `GET /api/v1/targets/metadata`, the metadata of every active scrape target's metric families.

use crate::client::{basic, split_userinfo, static_authorization};
use crate::config::{Auth, Secret, TlsConfig};
use crate::target_metadata::{metric_type_of, TargetEntry, TargetMetadata};
use crate::{Error, Result};
use std::io::Read;
use std::time::Duration;

/// Where the Prometheus server is and how to reach it: the same TLS and authentication options
/// as a `remote_write` entry.
#[derive(Debug, Clone)]
pub struct PrometheusApiConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:9090` (a path prefix such as
    /// `--web.route-prefix` is kept). A `user:password@` in it is sent as basic auth.
    pub url: String,
    /// Authentication.
    pub auth: Auth,
    /// TLS settings for an `https` URL.
    pub tls: TlsConfig,
    /// Timeout of one call.
    pub timeout: Duration,
}

impl PrometheusApiConfig {
    /// A configuration with no authentication, default TLS and a 10 s timeout.
    pub fn new(url: impl Into<String>) -> PrometheusApiConfig {
        PrometheusApiConfig {
            url: url.into(),
            auth: Auth::None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A client of one Prometheus server's API.
pub struct PrometheusApi {
    agent: ureq::Agent,
    /// `…/api/v1/targets/metadata`, without userinfo.
    metadata_url: String,
    /// The URL as logged: without userinfo.
    base: String,
    auth: Auth,
    url_auth: Option<Secret>,
}

impl PrometheusApi {
    /// Checks the URL and builds the HTTP client (reading the TLS files).
    pub fn new(cfg: &PrometheusApiConfig) -> Result<PrometheusApi> {
        let parsed = url::Url::parse(&cfg.url).map_err(|e| {
            Error::Config(format!("Prometheus URL {:?} does not parse: {e}", crate::config::redact_url(&cfg.url)))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config(format!(
                "Prometheus URL {:?} must start with http:// or https:// and name a host",
                crate::config::redact_url(&cfg.url)
            )));
        }
        let (base, userinfo) = split_userinfo(&cfg.url);
        let base = base.trim_end_matches('/').to_string();
        let tls = crate::tls::client_config(&cfg.tls)?;
        let agent = ureq::AgentBuilder::new().timeout(cfg.timeout).tls_config(tls).build();
        Ok(PrometheusApi {
            agent,
            metadata_url: format!("{base}/api/v1/targets/metadata"),
            base,
            auth: cfg.auth.clone(),
            url_auth: userinfo.map(|(u, p)| Secret::new(basic(&u, &p))),
        })
    }

    /// The base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Reads the metadata of every active target. The error says what failed, for one log line.
    pub fn targets_metadata(&self) -> std::result::Result<TargetMetadata, String> {
        let mut req = self.agent.get(&self.metadata_url).set("Accept", "application/json");
        if let Some(a) = self.authorization()? {
            req = req.set("Authorization", &a);
        }
        let resp = req.call().map_err(|e| match e {
            ureq::Error::Status(code, r) => {
                format!("{} answered HTTP {code} {}", self.metadata_url, r.status_text())
            }
            ureq::Error::Transport(t) => format!("{}: {t}", self.metadata_url),
        })?;
        let mut body = Vec::new();
        resp.into_reader()
            .take(256 << 20)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading {}: {e}", self.metadata_url))?;
        parse_targets_metadata(&body).map_err(|e| format!("{}: {e}", self.metadata_url))
    }

    fn authorization(&self) -> std::result::Result<Option<String>, String> {
        match &self.auth {
            // walship's flags for the API give neither; a library caller is told, not ignored.
            Auth::SigV4(_) | Auth::OAuth2(_) => {
                Err("SigV4 and OAuth 2 are not supported for the Prometheus API".to_string())
            }
            auth => static_authorization(auth, self.url_auth.as_ref()),
        }
    }
}

/// Parses an `/api/v1/targets/metadata` answer: `{"status":"success","data":[{"target":
/// {"job":…,"instance":…},"metric":…,"type":…,"help":…,"unit":…},…]}`.
pub fn parse_targets_metadata(body: &[u8]) -> std::result::Result<TargetMetadata, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("status").and_then(|s| s.as_str()) != Some("success") {
        let err = v.get("error").and_then(|s| s.as_str()).unwrap_or("no status \"success\"");
        return Err(format!("the API answered an error: {err}"));
    }
    let data = v.get("data").and_then(|d| d.as_array()).ok_or("no \"data\" list in the answer")?;
    let text = |e: &serde_json::Value, k: &str| e.get(k).and_then(|s| s.as_str()).unwrap_or("").to_string();
    let entries = data.iter().filter_map(|e| {
        let target = e.get("target")?;
        let family = text(e, "metric");
        if family.is_empty() {
            return None;
        }
        Some(TargetEntry {
            job: text(target, "job"),
            instance: text(target, "instance"),
            family,
            metric_type: metric_type_of(&text(e, "type")),
            help: text(e, "help"),
            unit: text(e, "unit"),
        })
    });
    Ok(TargetMetadata::new(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wal_format::record::MetricType;

    #[test]
    fn parses_an_answer() {
        let body = br#"{"status":"success","data":[
            {"target":{"instance":"127.0.0.1:9100","job":"node"},"metric":"node_cpu_seconds_total",
             "type":"counter","help":"Seconds the CPUs spent in each mode.","unit":""},
            {"target":{"instance":"127.0.0.1:9100","job":"node"},"metric":"go_gc_duration_seconds",
             "type":"summary","help":"GC pauses.","unit":"seconds"},
            {"target":{"instance":"x","job":"y"},"type":"gauge","help":"no metric name: skipped"}]}"#;
        let md = parse_targets_metadata(body).expect("parses");
        assert_eq!(md.len(), 2);
        let m = md.lookup(b"node", b"127.0.0.1:9100", b"go_gc_duration_seconds_count").expect("summary count");
        assert_eq!((m.metric_type, m.unit.as_str()), (MetricType::Summary, "seconds"));
        assert!(md.lookup(b"node", b"127.0.0.1:9100", b"node_cpu_seconds_total").is_some());
    }

    #[test]
    fn refuses_errors_and_garbage() {
        assert!(parse_targets_metadata(b"<html>").is_err());
        let e = parse_targets_metadata(br#"{"status":"error","error":"boom"}"#).unwrap_err();
        assert!(e.contains("boom"), "{e}");
        assert!(parse_targets_metadata(br#"{"status":"success"}"#).is_err());
    }

    #[test]
    fn unreachable_server_is_an_error_naming_the_url() {
        // A port taken and released: nobody listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let url = format!("http://127.0.0.1:{}", port.unwrap_or(9));
        let api = PrometheusApi::new(&PrometheusApiConfig::new(url)).expect("client");
        let e = api.targets_metadata().unwrap_err();
        assert!(e.contains("/api/v1/targets/metadata"), "{e}");
    }

    #[test]
    fn refuses_bad_urls() {
        for u in ["127.0.0.1:9090", "ftp://x", "http://"] {
            assert!(PrometheusApi::new(&PrometheusApiConfig::new(u)).is_err(), "{u}");
        }
    }
}
