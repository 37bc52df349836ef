//! Reads the `remote_write:` list and `global.external_labels` of a Prometheus configuration file,
//! as the operator already has it, and checks them before anything is read from the WAL — the
//! way `promtool check config` (Prometheus 2.42) checks them, plus what walship needs to be sure
//! it can send: a URL it can reach, a positive timeout, credential and TLS files it can read now.
//!
//! Unknown keys are errors naming the path and line (the YAML parser reports both). Keys of
//! sections walship does not read are accepted as Prometheus accepts them; settings walship
//! cannot honour are errors where ignoring them would change what is sent or to whom
//! (authentication, TLS identity), warnings where they would not (`follow_redirects`, …).
//! Where walship is stricter or looser than promtool 2.42 the promtool table test says so.

mod schema;
#[cfg(test)]
mod tests;

use remote_queue::{
    Action, Auth, EndpointConfig, MetadataConfig, OAuth2Config, Protocol, RelabelConfig, Secret, SigV4Config, TlsConfig,
};
use schema::{Root, Text};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The endpoints of a configuration file, and what deserves a warning.
pub struct Loaded {
    /// One per `remote_write` entry.
    pub endpoints: Vec<EndpointConfig>,
    /// Messages about settings that are not used.
    pub warnings: Vec<String>,
}

/// Loads `file`. Relative file names inside it are relative to its directory, as in Prometheus.
pub fn load(file: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    parse(&text, file.parent().unwrap_or(Path::new("."))).map_err(|e| format!("{}: {e}", file.display()))
}

/// Parses and checks configuration text; `base` is the directory relative file names start from.
pub fn parse(text: &str, base: &Path) -> Result<Loaded, String> {
    // An empty file (or one holding only comments) is an empty configuration, as in Prometheus.
    let root: Root = if text.trim().is_empty() || serde_norway::from_str::<Option<()>>(text).is_ok() {
        Root::default()
    } else {
        serde_norway::from_str(text).map_err(|e| e.to_string())?
    };
    let mut warnings = Vec::new();
    let mut external = Vec::new();
    if let Some(labels) = root.global.and_then(|g| g.external_labels) {
        for (name, Text(value)) in labels.0 {
            if !legacy_label_name(&name) {
                return Err(format!("global.external_labels: {name:?} is not a valid label name"));
            }
            external.push((name, value));
        }
    }
    let mut endpoints = Vec::new();
    let mut names = BTreeSet::new();
    let mut unnamed_urls = BTreeSet::new();
    for (i, entry) in root.remote_write.unwrap_or_default().into_iter().enumerate() {
        let at = format!("remote_write[{i}]");
        let line = |m: String| match entry_line(text, i) {
            Some(l) => format!("{m} (entry at line {l})"),
            None => m,
        };
        let entry = entry.ok_or_else(|| line(format!("{at}: empty or null remote write config section")))?;
        let mut e = endpoint(entry, &at, base, &mut warnings).map_err(line)?;
        // Each endpoint keeps its cursor under its name, or a hash of its URL: two entries with
        // one name, or two unnamed entries with one URL, would share (and corrupt) one cursor.
        if !e.name.is_empty() && !names.insert(e.name.clone()) {
            return Err(line(format!("{at}: found multiple remote write configs with name {:?}", e.name)));
        }
        if e.name.is_empty() && !unnamed_urls.insert(e.url.clone()) {
            return Err(line(format!(
                "{at}: another unnamed remote_write entry has the same url {}; give them distinct names",
                e.redacted_url()
            )));
        }
        e.external_labels = external.clone();
        endpoints.push(e);
    }
    Ok(Loaded { endpoints, warnings })
}

/// The line where `remote_write[i]` starts, for errors about the entry found after parsing.
///
/// The YAML parser keeps no positions in what it returns, only in its errors: so the entry is
/// visited again with a visitor that fails on it, and the error's location is read.
fn entry_line(text: &str, i: usize) -> Option<usize> {
    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Root(usize);
    struct List(usize);
    struct Fail;
    impl<'de> Visitor<'de> for Root {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a configuration")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            while let Some(k) = m.next_key::<String>()? {
                if k == "remote_write" {
                    m.next_value_seed(List(self.0))?;
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for List {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for List {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            for _ in 0..self.0 {
                s.next_element::<IgnoredAny>()?;
            }
            s.next_element_seed(Fail).map(|_| ())
        }
    }
    impl<'de> DeserializeSeed<'de> for Fail {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Fail {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("nothing (this visitor marks a position)")
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom("here"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(de::Error::custom("here"))
        }
    }
    let d = serde_norway::Deserializer::from_str(text);
    match d.deserialize_map(Root(i)) {
        Err(e) => e.location().map(|l| l.line()),
        Ok(()) => None,
    }
}

/// A label name as Prometheus 2.42 validates it.
fn legacy_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A `replace` target label: a label name in which `$1`/`${name}` templates may stand.
fn template_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        if b[i] == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                let end = b[i + 2..].iter().position(|&c| c == b'}').map(|p| i + 2 + p);
                match end {
                    Some(e) if e > i + 2 && b[i + 2..e].iter().all(|&c| word(c)) => i = e + 1,
                    _ => return false,
                }
            } else {
                let n = b[i + 1..].iter().take_while(|&&c| word(c)).count();
                if n == 0 {
                    return false;
                }
                i += 1 + n;
            }
        } else if (first && (b[i].is_ascii_alphabetic() || b[i] == b'_')) || (!first && word(b[i])) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    !b.is_empty()
}

fn text(t: Option<Text>) -> Option<String> {
    t.map(|Text(s)| s)
}

/// A file named in the configuration: relative to the configuration's directory, and readable
/// now (at run time a vanished file is retried by the queue, not dropped).
fn readable(p: Text, what: &str, base: &Path) -> Result<PathBuf, String> {
    let p = PathBuf::from(p.0);
    let p = if p.is_relative() { base.join(p) } else { p };
    std::fs::File::open(&p)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut [0u8; 1]))
        .map_err(|e| format!("{what}: cannot read {}: {e}", p.display()))?;
    Ok(p)
}

fn unsupported(at: &str, key: &str) -> String {
    format!("{at}.{key}: this setting is not supported by walship (it would change what is sent or to whom)")
}

fn endpoint(
    rw: schema::RemoteWrite,
    at: &str,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<EndpointConfig, String> {
    let url = text(rw.url).filter(|u| !u.is_empty()).ok_or_else(|| format!("{at}: url for remote_write is empty"))?;
    let mut e = EndpointConfig::new(url);
    e.name = text(rw.name).unwrap_or_default();
    if let Some(d) = rw.remote_timeout {
        e.remote_timeout = d.0;
    }
    e.headers = rw.headers.unwrap_or_default().0.into_iter().map(|(k, v)| (k, v.0)).collect();
    e.send_exemplars = rw.send_exemplars.unwrap_or(false);
    e.send_native_histograms = rw.send_native_histograms.unwrap_or(false);
    if let Some(m) = text(rw.protobuf_message) {
        e.protocol = Protocol::from_message_name(&m).map_err(|x| format!("{at}.protobuf_message: {x}"))?;
    }
    e.proxy_url = text(rw.proxy_url);

    // Authentication: Prometheus 2.42's exclusivity rules, in its order, with its messages.
    let bearer = rw.bearer_token.is_some() || rw.bearer_token_file.is_some();
    if rw.bearer_token.is_some() && rw.bearer_token_file.is_some() {
        return Err(format!("{at}: at most one of bearer_token & bearer_token_file must be configured"));
    }
    if (rw.basic_auth.is_some() || rw.oauth2.is_some()) && bearer {
        return Err(format!(
            "{at}: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        ));
    }
    if let Some(b) = &rw.basic_auth {
        if b.password.as_ref().is_some_and(|p| !p.0.is_empty())
            && b.password_file.as_ref().is_some_and(|p| !p.0.is_empty())
        {
            return Err(format!("{at}: at most one of basic_auth password & password_file must be configured"));
        }
    }
    if let Some(a) = &rw.authorization {
        if bearer {
            return Err(format!("{at}: authorization is not compatible with bearer_token & bearer_token_file"));
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(format!(
                "{at}: at most one of authorization credentials & credentials_file must be configured"
            ));
        }
        if a.scheme.as_ref().is_some_and(|t| t.0.eq_ignore_ascii_case("basic")) {
            return Err(format!("{at}: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"));
        }
    }
    let authz = rw.authorization.is_some() || bearer;
    if [rw.basic_auth.is_some(), rw.oauth2.is_some(), rw.authorization.is_some()].iter().filter(|x| **x).count() > 1 {
        return Err(format!("{at}: at most one of basic_auth, oauth2 & authorization must be configured"));
    }
    if rw.sigv4.is_some() && (rw.basic_auth.is_some() || authz || rw.oauth2.is_some()) {
        return Err(format!("{at}: at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"));
    }
    for (set, key) in [
        (rw.azuread.is_some(), "azuread"),
        (rw.google_iam.is_some(), "google_iam"),
        (rw.http_headers.is_some(), "http_headers"),
        (rw.proxy_from_environment == Some(true), "proxy_from_environment"),
        (rw.no_proxy.as_ref().is_some_and(|n| !n.0.is_empty()), "no_proxy"),
        (rw.proxy_connect_header.is_some(), "proxy_connect_header"),
    ] {
        if set {
            return Err(unsupported(at, key));
        }
    }
    e.auth = auth(rw.basic_auth, rw.authorization, rw.bearer_token, rw.bearer_token_file, at, base)?;
    if let Some(s) = rw.sigv4 {
        e.auth = Auth::SigV4(sigv4(s, &format!("{at}.sigv4"), base)?);
    }
    if let Some(o) = rw.oauth2 {
        e.auth = Auth::OAuth2(oauth2(o, &format!("{at}.oauth2"), base)?);
    }
    if let Some(t) = rw.tls_config {
        e.tls = tls(t, &format!("{at}.tls_config"), base)?;
    }
    for (set, key) in [
        (rw.follow_redirects == Some(true), "follow_redirects"),
        (rw.enable_http2.is_some(), "enable_http2"),
        (rw.round_robin_dns.is_some(), "round_robin_dns"),
    ] {
        if set {
            warnings.push(format!("{at}.{key} is not supported by walship and is ignored"));
        }
    }

    for (j, r) in rw.write_relabel_configs.unwrap_or_default().into_iter().enumerate() {
        let rat = format!("{at}.write_relabel_configs[{j}]");
        let r = r.ok_or_else(|| format!("{rat}: empty or null relabeling rule in remote write config"))?;
        e.write_relabel_configs.push(relabel(r, &rat)?);
    }
    // Compiles every regex and applies the per-action rules.
    remote_queue::Relabeler::new(&e.write_relabel_configs).map_err(|x| format!("{at}.write_relabel_configs: {x}"))?;

    if let Some(q) = rw.queue_config {
        let c = &mut e.queue;
        let size = |v: Option<u64>, d: usize| v.map_or(d, |v| usize::try_from(v).unwrap_or(usize::MAX));
        c.capacity = size(q.capacity, c.capacity);
        c.max_shards = size(q.max_shards, c.max_shards);
        c.min_shards = size(q.min_shards, c.min_shards);
        c.max_samples_per_send = size(q.max_samples_per_send, c.max_samples_per_send);
        c.batch_send_deadline = q.batch_send_deadline.map_or(c.batch_send_deadline, |d| d.0);
        c.min_backoff = q.min_backoff.map_or(c.min_backoff, |d| d.0);
        c.max_backoff = q.max_backoff.map_or(c.max_backoff, |d| d.0);
        c.retry_on_http_429 = q.retry_on_http_429.unwrap_or(c.retry_on_http_429);
        c.sample_age_limit = q.sample_age_limit.map_or(c.sample_age_limit, |d| d.0);
        c.isolate_rejected_series = q.isolate_rejected_series.unwrap_or(c.isolate_rejected_series);
        if c.batch_send_deadline.is_zero() {
            return Err(format!("{at}.queue_config.batch_send_deadline must be greater than 0"));
        }
    }
    if let Some(m) = rw.metadata_config {
        let d = MetadataConfig::default();
        e.metadata = MetadataConfig {
            send: m.send.unwrap_or(d.send),
            send_interval: m.send_interval.map_or(d.send_interval, |x| x.0),
            max_samples_per_send: m
                .max_samples_per_send
                .map_or(d.max_samples_per_send, |v| usize::try_from(v).unwrap_or(usize::MAX)),
        };
        // Prometheus would panic on a zero interval (a ticker of 0); refuse it instead.
        if e.metadata.send && e.metadata.send_interval.is_zero() {
            return Err(format!("{at}.metadata_config.send_interval must be greater than 0"));
        }
        if e.metadata.send && e.metadata.max_samples_per_send == 0 {
            return Err(format!("{at}.metadata_config.max_samples_per_send must be greater than 0"));
        }
    }
    e.validate().map_err(|x| format!("{at}: {x}"))?;
    Ok(e)
}

fn auth(
    basic: Option<schema::BasicAuth>,
    authorization: Option<schema::Authorization>,
    bearer_token: Option<Text>,
    bearer_token_file: Option<Text>,
    at: &str,
    base: &Path,
) -> Result<Auth, String> {
    if let Some(b) = basic {
        for (set, key) in [
            (b.username_file.is_some(), "basic_auth.username_file"),
            (b.username_ref.is_some(), "basic_auth.username_ref"),
            (b.password_ref.is_some(), "basic_auth.password_ref"),
        ] {
            if set {
                return Err(unsupported(at, key));
            }
        }
        let username = text(b.username).unwrap_or_default();
        return Ok(match text(b.password_file).filter(|f| !f.is_empty()) {
            Some(f) => Auth::BasicPasswordFile {
                username,
                password_file: readable(Text(f), &format!("{at}.basic_auth.password_file"), base)?,
            },
            None => Auth::Basic { username, password: Secret::new(text(b.password).unwrap_or_default()) },
        });
    }
    if let Some(a) = authorization {
        if a.credentials_ref.is_some() {
            return Err(unsupported(at, "authorization.credentials_ref"));
        }
        let scheme = text(a.scheme).filter(|s| !s.is_empty()).unwrap_or_else(|| "Bearer".into());
        return Ok(match (text(a.credentials).filter(|c| !c.is_empty()), a.credentials_file) {
            (Some(c), _) => Auth::Credentials { scheme, credentials: Secret::new(c) },
            (None, Some(f)) if !f.0.is_empty() => Auth::CredentialsFile {
                scheme,
                credentials_file: readable(f, &format!("{at}.authorization.credentials_file"), base)?,
            },
            // Prometheus sends no Authorization header when neither is given.
            _ => Auth::None,
        });
    }
    if let Some(t) = text(bearer_token).filter(|t| !t.is_empty()) {
        return Ok(Auth::Credentials { scheme: "Bearer".into(), credentials: Secret::new(t) });
    }
    if let Some(f) = bearer_token_file.filter(|f| !f.0.is_empty()) {
        let credentials_file = readable(f, &format!("{at}.bearer_token_file"), base)?;
        return Ok(Auth::CredentialsFile { scheme: "Bearer".into(), credentials_file });
    }
    Ok(Auth::None)
}

/// `sigv4`: Prometheus's checks, then a region and credentials must be found now, as
/// Prometheus needs them to start.
fn sigv4(s: schema::SigV4, at: &str, base: &Path) -> Result<SigV4Config, String> {
    let mut secret_key = text(s.secret_key).unwrap_or_default();
    if let Some(f) = text(s.secret_key_file).filter(|f| !f.is_empty()) {
        if secret_key.is_empty() {
            let p = readable(Text(f), &format!("{at}.secret_key_file"), base)?;
            secret_key = std::fs::read_to_string(&p)
                .map_err(|e| format!("{at}.secret_key_file: cannot read {}: {e}", p.display()))?
                .trim()
                .to_string();
        }
    }
    let access_key = text(s.access_key).unwrap_or_default();
    if access_key.is_empty() != secret_key.is_empty() {
        return Err(format!(
            "{at}: must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"
        ));
    }
    let d = SigV4Config::default();
    let cfg = SigV4Config {
        region: text(s.region).unwrap_or_default(),
        access_key,
        secret_key: Secret::new(secret_key),
        profile: text(s.profile).unwrap_or_default(),
        role_arn: text(s.role_arn).unwrap_or_default(),
        use_fips_sts_endpoint: s.use_fips_sts_endpoint.unwrap_or(false),
        service: text(s.service_name).filter(|n| !n.is_empty()).unwrap_or(d.service),
    };
    remote_queue::sigv4::check(&cfg).map_err(|e| format!("{at}: {e}"))?;
    Ok(cfg)
}

/// `oauth2`: Prometheus 2.42's checks and messages, and the files readable now.
fn oauth2(o: schema::OAuth2, at: &str, base: &Path) -> Result<OAuth2Config, String> {
    for (set, key) in [
        (o.client_secret_ref.is_some(), "client_secret_ref"),
        (o.proxy_from_environment == Some(true), "proxy_from_environment"),
        (o.no_proxy.as_ref().is_some_and(|n| !n.0.is_empty()), "no_proxy"),
        (o.proxy_connect_header.is_some(), "proxy_connect_header"),
    ] {
        if set {
            return Err(unsupported(at, key));
        }
    }
    let client_id = text(o.client_id).unwrap_or_default();
    let secret = text(o.client_secret).unwrap_or_default();
    let secret_file = text(o.client_secret_file).unwrap_or_default();
    let token_url = text(o.token_url).unwrap_or_default();
    if client_id.is_empty() {
        return Err(format!("{at}: oauth2 client_id must be configured"));
    }
    if secret.is_empty() && secret_file.is_empty() {
        return Err(format!("{at}: either oauth2 client_secret or client_secret_file must be configured"));
    }
    if token_url.is_empty() {
        return Err(format!("{at}: oauth2 token_url must be configured"));
    }
    if !secret.is_empty() && !secret_file.is_empty() {
        return Err(format!("{at}: at most one of oauth2 client_secret & client_secret_file must be configured"));
    }
    let client_secret_file = if secret_file.is_empty() {
        None
    } else {
        Some(readable(Text(secret_file), &format!("{at}.client_secret_file"), base)?)
    };
    let tls = match o.tls_config {
        Some(t) => tls(t, &format!("{at}.tls_config"), base)?,
        None => TlsConfig::default(),
    };
    Ok(OAuth2Config {
        client_id,
        client_secret: Secret::new(secret),
        client_secret_file,
        scopes: o.scopes.unwrap_or_default().into_iter().map(|Text(s)| s).collect(),
        token_url,
        endpoint_params: o.endpoint_params.unwrap_or_default().0.into_iter().map(|(k, Text(v))| (k, v)).collect(),
        tls,
        proxy_url: text(o.proxy_url).filter(|p| !p.is_empty()),
    })
}

fn tls(t: schema::Tls, at: &str, base: &Path) -> Result<TlsConfig, String> {
    for (v, key) in [(&t.min_version, "min_version"), (&t.max_version, "max_version")] {
        if let Some(v) = v {
            if !["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.0.as_str()) {
                return Err(format!("{at}.{key}: unknown TLS version: {}", v.0));
            }
        }
    }
    for (set, key) in [
        (t.ca.is_some(), "ca"),
        (t.cert.is_some(), "cert"),
        (t.key.is_some(), "key"),
        (t.ca_ref.is_some(), "ca_ref"),
        (t.cert_ref.is_some(), "cert_ref"),
        (t.key_ref.is_some(), "key_ref"),
        (t.server_name.as_ref().is_some_and(|s| !s.0.is_empty()), "server_name"),
        // rustls speaks TLS 1.2 and 1.3; a floor of 1.3 cannot be honoured silently.
        (t.min_version.as_ref().is_some_and(|v| v.0 == "TLS13"), "min_version"),
        (t.max_version.as_ref().is_some_and(|v| v.0 != "TLS13"), "max_version"),
    ] {
        if set {
            return Err(format!("{at}.{key}: this setting is not supported by walship"));
        }
    }
    let file = |f: Option<Text>, key: &str| -> Result<Option<PathBuf>, String> {
        f.filter(|f| !f.0.is_empty()).map(|f| readable(f, &format!("{at}.{key}"), base)).transpose()
    };
    Ok(TlsConfig {
        ca_file: file(t.ca_file, "ca_file")?,
        cert_file: file(t.cert_file, "cert_file")?,
        key_file: file(t.key_file, "key_file")?,
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
    })
}

fn relabel(r: schema::Relabel, at: &str) -> Result<RelabelConfig, String> {
    let d = RelabelConfig::default();
    let action = match text(r.action) {
        Some(a) => Action::parse(&a).map_err(|e| format!("{at}.action: {e}"))?,
        None => d.action,
    };
    let source_labels: Vec<String> = r.source_labels.unwrap_or_default().into_iter().map(|t| t.0).collect();
    for s in &source_labels {
        if !legacy_label_name(s) {
            return Err(format!("{at}.source_labels: {s:?} is not a valid label name"));
        }
    }
    let target_label = text(r.target_label).unwrap_or_default();
    let valid_target = match action {
        Action::Replace => target_label.is_empty() || template_label_name(&target_label),
        Action::HashMod | Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual => {
            target_label.is_empty() || legacy_label_name(&target_label)
        }
        _ => true,
    };
    if !valid_target {
        return Err(format!("{at}: {target_label:?} is invalid 'target_label' for {action:?} action"));
    }
    Ok(RelabelConfig {
        source_labels,
        separator: text(r.separator).unwrap_or(d.separator),
        regex: text(r.regex).unwrap_or(d.regex),
        modulus: r.modulus.unwrap_or(0),
        target_label,
        replacement: text(r.replacement).unwrap_or(d.replacement),
        action,
    })
}
