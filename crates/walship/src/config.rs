//! Reads the `remote_write:` list and `global.external_labels` of a Prometheus configuration file,
//! as the operator already has it. Keys Prometheus knows but walship does not use are warned
//! about; keys Prometheus does not know are warned about too; nothing is silently ignored.
//! Authentication walship cannot perform (sigv4, OAuth 2, Azure AD, Google IAM) is an error: we
//! must not send unauthenticated requests where the operator asked for authentication.

use crate::duration;
use remote_queue::{Action, Auth, EndpointConfig, Protocol, RelabelConfig, Secret, TlsConfig};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// The endpoints of a configuration file, and what deserves a warning.
pub struct Loaded {
    /// One per `remote_write` entry.
    pub endpoints: Vec<EndpointConfig>,
    /// Messages about keys that are not used.
    pub warnings: Vec<String>,
}

fn key_str(k: &Value) -> String {
    k.as_str().map(str::to_string).unwrap_or_else(|| format!("{k:?}"))
}

fn string(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{what}: expected a string")),
    }
}

fn boolean(v: &Value, what: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("{what}: expected true or false"))
}

fn number(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| format!("{what}: expected a non-negative integer"))
}

fn dur(v: &Value, what: &str) -> Result<std::time::Duration, String> {
    duration::parse(&string(v, what)?).map_err(|e| format!("{what}: {e}"))
}

fn map<'a>(v: &'a Value, what: &str) -> Result<&'a Mapping, String> {
    v.as_mapping().ok_or_else(|| format!("{what}: expected a mapping"))
}

fn pairs(v: &Value, what: &str) -> Result<Vec<(String, String)>, String> {
    map(v, what)?.iter().map(|(k, v)| Ok((key_str(k), string(v, &format!("{what}.{}", key_str(k)))?))).collect()
}

fn path(v: &Value, what: &str, base: &Path) -> Result<PathBuf, String> {
    let p = PathBuf::from(string(v, what)?);
    Ok(if p.is_relative() { base.join(p) } else { p })
}

/// Loads `file`. Relative file names inside it are relative to its directory, as in Prometheus.
pub fn load(file: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    parse(&text, file.parent().unwrap_or(Path::new("."))).map_err(|e| format!("{}: {e}", file.display()))
}

/// Parses configuration text.
pub fn parse(text: &str, base: &Path) -> Result<Loaded, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut warnings = Vec::new();
    let empty = Mapping::new();
    let root = if doc.is_null() { &empty } else { map(&doc, "configuration")? };
    const TOP: &[&str] = &[
        "global",
        "remote_write",
        "scrape_configs",
        "scrape_config_files",
        "rule_files",
        "alerting",
        "remote_read",
        "storage",
        "tracing",
        "runtime",
        "otlp",
    ];
    for (k, _) in root {
        if !TOP.contains(&key_str(k).as_str()) {
            warnings.push(format!("unknown top-level key {:?} ignored", key_str(k)));
        }
    }
    let mut external = Vec::new();
    if let Some(g) = root.get("global") {
        for (k, v) in map(g, "global")? {
            match key_str(k).as_str() {
                "external_labels" => external = pairs(v, "global.external_labels")?,
                "scrape_interval"
                | "scrape_timeout"
                | "evaluation_interval"
                | "query_log_file"
                | "rule_query_offset"
                | "scrape_protocols"
                | "body_size_limit"
                | "sample_limit"
                | "label_limit"
                | "label_name_length_limit"
                | "label_value_length_limit"
                | "target_limit"
                | "keep_dropped_targets"
                | "metric_name_validation_scheme"
                | "scrape_failure_log_file" => {}
                other => warnings.push(format!("unknown key global.{other} ignored")),
            }
        }
        external.sort();
    }
    let mut endpoints = Vec::new();
    if let Some(rw) = root.get("remote_write") {
        let list = rw.as_sequence().ok_or("remote_write: expected a list")?;
        for (i, entry) in list.iter().enumerate() {
            let mut e = endpoint(entry, i, base, &mut warnings)?;
            e.external_labels = external.clone();
            endpoints.push(e);
        }
    }
    Ok(Loaded { endpoints, warnings })
}

fn endpoint(v: &Value, i: usize, base: &Path, warnings: &mut Vec<String>) -> Result<EndpointConfig, String> {
    let at = |k: &str| format!("remote_write[{i}].{k}");
    let m = map(v, &format!("remote_write[{i}]"))?;
    let url = m.get("url").ok_or_else(|| format!("remote_write[{i}]: url is required"))?;
    let mut e = EndpointConfig::new(string(url, &at("url"))?);
    let mut basic: Option<(String, Option<Secret>, Option<PathBuf>)> = None;
    for (k, v) in m {
        let key = key_str(k);
        match key.as_str() {
            "url" => {}
            "name" => e.name = string(v, &at("name"))?,
            "remote_timeout" => e.remote_timeout = dur(v, &at("remote_timeout"))?,
            "headers" => e.headers = pairs(v, &at("headers"))?,
            "send_exemplars" => e.send_exemplars = boolean(v, &at("send_exemplars"))?,
            "send_native_histograms" => e.send_native_histograms = boolean(v, &at("send_native_histograms"))?,
            "protobuf_message" => {
                e.protocol =
                    Protocol::from_message_name(&string(v, &at("protobuf_message"))?).map_err(|x| x.to_string())?
            }
            "proxy_url" => e.proxy_url = Some(string(v, &at("proxy_url"))?),
            "write_relabel_configs" => {
                let list =
                    v.as_sequence().ok_or_else(|| format!("{}: expected a list", at("write_relabel_configs")))?;
                for (j, r) in list.iter().enumerate() {
                    e.write_relabel_configs.push(relabel(
                        r,
                        &format!("{}[{j}]", at("write_relabel_configs")),
                        warnings,
                    )?);
                }
            }
            "queue_config" => queue(v, &mut e, &at("queue_config"), warnings)?,
            "metadata_config" => {
                // Metadata is sent with remote write 2.0 requests; 1.0 metadata requests are not
                // implemented yet.
                if e.protocol == Protocol::V1
                    && map(v, &at("metadata_config"))?.get("send").and_then(Value::as_bool) != Some(false)
                {
                    warnings.push(format!("{}: metadata is only sent with remote write 2.0", at("metadata_config")));
                }
            }
            "basic_auth" => {
                let b = map(v, &at("basic_auth"))?;
                let user =
                    b.get("username").map(|u| string(u, &at("basic_auth.username"))).transpose()?.unwrap_or_default();
                let pass =
                    b.get("password").map(|p| string(p, &at("basic_auth.password")).map(Secret::new)).transpose()?;
                let file =
                    b.get("password_file").map(|p| path(p, &at("basic_auth.password_file"), base)).transpose()?;
                basic = Some((user, pass, file));
            }
            "authorization" => {
                let a = map(v, &at("authorization"))?;
                let scheme =
                    a.get("type").map(|t| string(t, &at("authorization.type"))).transpose()?.unwrap_or("Bearer".into());
                e.auth = match (a.get("credentials"), a.get("credentials_file")) {
                    (Some(c), None) => Auth::Credentials {
                        scheme,
                        credentials: Secret::new(string(c, &at("authorization.credentials"))?),
                    },
                    (None, Some(f)) => Auth::CredentialsFile {
                        scheme,
                        credentials_file: path(f, &at("authorization.credentials_file"), base)?,
                    },
                    (None, None) => {
                        return Err(format!("{}: credentials or credentials_file is required", at("authorization")))
                    }
                    _ => {
                        return Err(format!("{}: at most one of credentials and credentials_file", at("authorization")))
                    }
                };
            }
            "bearer_token" => {
                e.auth = Auth::Credentials {
                    scheme: "Bearer".into(),
                    credentials: Secret::new(string(v, &at("bearer_token"))?),
                }
            }
            "bearer_token_file" => {
                e.auth = Auth::CredentialsFile {
                    scheme: "Bearer".into(),
                    credentials_file: path(v, &at("bearer_token_file"), base)?,
                }
            }
            "tls_config" => e.tls = tls(v, &at("tls_config"), base, warnings)?,
            "follow_redirects"
            | "enable_http2"
            | "no_proxy"
            | "proxy_from_environment"
            | "proxy_connect_header"
            | "round_robin_dns"
            | "http_headers" => warnings.push(format!("{} is not supported by walship and is ignored", at(&key))),
            "sigv4" | "oauth2" | "azuread" | "google_iam" => {
                return Err(format!("{}: this authentication method is not supported by walship", at(&key)))
            }
            other => warnings.push(format!("unknown key {} ignored", at(other))),
        }
    }
    if let Some((username, password, file)) = basic {
        e.auth = match (password, file) {
            (Some(password), None) => Auth::Basic { username, password },
            (None, Some(password_file)) => Auth::BasicPasswordFile { username, password_file },
            (None, None) => Auth::Basic { username, password: Secret::new("") },
            _ => return Err(format!("{}: at most one of password and password_file", at("basic_auth"))),
        };
    }
    e.validate().map_err(|x| format!("remote_write[{i}]: {x}"))?;
    Ok(e)
}

fn queue(v: &Value, e: &mut EndpointConfig, what: &str, warnings: &mut Vec<String>) -> Result<(), String> {
    let q = &mut e.queue;
    for (k, v) in map(v, what)? {
        let key = key_str(k);
        let at = format!("{what}.{key}");
        match key.as_str() {
            "capacity" => q.capacity = number(v, &at)? as usize,
            "max_shards" => q.max_shards = number(v, &at)? as usize,
            "min_shards" => q.min_shards = number(v, &at)? as usize,
            "max_samples_per_send" => q.max_samples_per_send = number(v, &at)? as usize,
            "batch_send_deadline" => q.batch_send_deadline = dur(v, &at)?,
            "min_backoff" => q.min_backoff = dur(v, &at)?,
            "max_backoff" => q.max_backoff = dur(v, &at)?,
            "retry_on_http_429" => q.retry_on_http_429 = boolean(v, &at)?,
            "sample_age_limit" => q.sample_age_limit = dur(v, &at)?,
            "max_retries" => warnings.push(format!("{at} was removed from Prometheus and is ignored")),
            other => warnings.push(format!("unknown key {what}.{other} ignored")),
        }
    }
    Ok(())
}

fn tls(v: &Value, what: &str, base: &Path, warnings: &mut Vec<String>) -> Result<TlsConfig, String> {
    let mut t = TlsConfig::default();
    for (k, v) in map(v, what)? {
        let key = key_str(k);
        let at = format!("{what}.{key}");
        match key.as_str() {
            "ca_file" => t.ca_file = Some(path(v, &at, base)?),
            "cert_file" => t.cert_file = Some(path(v, &at, base)?),
            "key_file" => t.key_file = Some(path(v, &at, base)?),
            "insecure_skip_verify" => t.insecure_skip_verify = boolean(v, &at)?,
            "ca" | "cert" | "key" | "server_name" | "min_version" | "max_version" | "ca_ref" | "cert_ref"
            | "key_ref" => warnings.push(format!("{at} is not supported by walship and is ignored")),
            other => warnings.push(format!("unknown key {what}.{other} ignored")),
        }
    }
    Ok(t)
}

fn relabel(v: &Value, what: &str, warnings: &mut Vec<String>) -> Result<RelabelConfig, String> {
    let mut r = RelabelConfig::default();
    for (k, v) in map(v, what)? {
        let key = key_str(k);
        let at = format!("{what}.{key}");
        match key.as_str() {
            "source_labels" => {
                r.source_labels = v
                    .as_sequence()
                    .ok_or_else(|| format!("{at}: expected a list"))?
                    .iter()
                    .map(|s| string(s, &at))
                    .collect::<Result<_, _>>()?
            }
            "separator" => r.separator = string(v, &at)?,
            "regex" => r.regex = string(v, &at)?,
            "modulus" => r.modulus = number(v, &at)?,
            "target_label" => r.target_label = string(v, &at)?,
            "replacement" => r.replacement = string(v, &at)?,
            "action" => r.action = Action::parse(&string(v, &at)?).map_err(|e| format!("{at}: {e}"))?,
            other => warnings.push(format!("unknown key {what}.{other} ignored")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_prometheus_configuration_as_operators_write_it() {
        let text = r#"
global:
  scrape_interval: 15s
  external_labels: {cluster: eu1, replica: a}
scrape_configs:
  - job_name: node
remote_write:
  - url: https://user:pw@metrics.example/api/v1/write
    name: primary
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    basic_auth: {username: u, password_file: secrets/pw}
    send_exemplars: true
    write_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
    queue_config: {capacity: 2500, max_shards: 200, batch_send_deadline: 1s, min_backoff: 50ms}
    tls_config: {ca_file: ca.pem, insecure_skip_verify: false}
    surprise: 1
  - url: http://127.0.0.1:8428/api/v1/write
    protobuf_message: io.prometheus.write.v2.Request
    bearer_token: s3cr3t
"#;
        let l = parse(text, Path::new("/etc/prometheus")).unwrap();
        assert_eq!(l.endpoints.len(), 2);
        let a = &l.endpoints[0];
        assert_eq!(a.name, "primary");
        assert_eq!(a.remote_timeout, Duration::from_secs(10));
        assert_eq!(a.external_labels, vec![("cluster".into(), "eu1".into()), ("replica".into(), "a".into())]);
        assert_eq!(a.queue.capacity, 2500);
        assert_eq!(a.queue.max_shards, 200);
        assert_eq!(a.queue.min_backoff, Duration::from_millis(50));
        assert_eq!(a.queue.max_samples_per_send, 2000, "defaults kept");
        assert!(a.send_exemplars);
        assert_eq!(a.write_relabel_configs[0].action, Action::Drop);
        assert_eq!(a.tls.ca_file.as_deref(), Some(Path::new("/etc/prometheus/ca.pem")));
        assert!(
            matches!(&a.auth, Auth::BasicPasswordFile { username, password_file } if username == "u" && password_file == Path::new("/etc/prometheus/secrets/pw"))
        );
        assert_eq!(l.endpoints[1].protocol, Protocol::V2);
        assert!(matches!(&l.endpoints[1].auth, Auth::Credentials { scheme, .. } if scheme == "Bearer"));
        assert_eq!(l.warnings, vec!["unknown key remote_write[0].surprise ignored".to_string()]);
    }

    #[test]
    fn errors_are_clear() {
        let e = |t: &str| parse(t, Path::new(".")).err().unwrap();
        assert!(e("remote_write: [{name: x}]").contains("url is required"));
        assert!(e("remote_write: [{url: 'ftp://x'}]").contains("must start with http"));
        assert!(e("remote_write: [{url: 'http://x', queue_config: {min_backoff: fast}}]").contains("min_backoff"));
        assert!(e("remote_write: [{url: 'http://x', sigv4: {region: x}}]").contains("not supported"));
        assert!(e("remote_write: {url: x}").contains("expected a list"));
        assert!(e("{{{").len() > 3);
    }
}
