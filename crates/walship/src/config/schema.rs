//! The shape of a Prometheus configuration file, as far as walship reads it.
//!
//! Every struct denies unknown keys, as Prometheus's own parser does, so a typo such as
//! `remote_timout` is an error naming its path and line (from the YAML parser) instead of a
//! setting silently left at its default. Sections walship does not read are accepted whole
//! ([`IgnoredAny`]); keys added by Prometheus versions newer than 2.42 are accepted too, because
//! walship reads the same file a newer Prometheus reads.

use crate::duration;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A YAML scalar read as text, as Go's YAML decoder does for string fields: `replica: 1` and
/// `password: 1234` are strings to Prometheus, not type errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map of names to text that refuses a name given twice (Go's YAML decoder does; serde's maps
/// would keep the last value silently).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextMap(pub BTreeMap<String, Text>);

impl<'de> Deserialize<'de> for TextMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names to strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<TextMap, E> {
                Ok(TextMap::default())
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<TextMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, Text>()? {
                    if out.contains_key(&k) {
                        return Err(de::Error::custom(format!("key {k:?} already set in map")));
                    }
                    out.insert(k, v);
                }
                Ok(TextMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A Prometheus duration (`30s`, `1h30m`, `0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(s) = Text::deserialize(d)?;
        duration::parse(&s).map(Dur).map_err(de::Error::custom)
    }
}

/// The top level. Sections walship does not read are accepted without looking inside.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the ignored sections are fields only so that the keys are known
pub struct Root {
    pub global: Option<Global>,
    /// `None` entries are `- ` (null), which Prometheus rejects.
    pub remote_write: Option<Vec<Option<RemoteWrite>>>,
    pub scrape_configs: Option<IgnoredAny>,
    pub rule_files: Option<IgnoredAny>,
    pub alerting: Option<IgnoredAny>,
    pub remote_read: Option<IgnoredAny>,
    pub storage: Option<IgnoredAny>,
    pub tracing: Option<IgnoredAny>,
    /// Newer than 2.42.
    pub scrape_config_files: Option<IgnoredAny>,
    /// Newer than 2.42.
    pub runtime: Option<IgnoredAny>,
    /// Newer than 2.42.
    pub otlp: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the ignored settings are fields only so that the keys are known
pub struct Global {
    pub external_labels: Option<TextMap>,
    pub scrape_interval: Option<IgnoredAny>,
    pub scrape_timeout: Option<IgnoredAny>,
    pub evaluation_interval: Option<IgnoredAny>,
    pub query_log_file: Option<IgnoredAny>,
    pub body_size_limit: Option<IgnoredAny>,
    pub sample_limit: Option<IgnoredAny>,
    pub label_limit: Option<IgnoredAny>,
    pub label_name_length_limit: Option<IgnoredAny>,
    pub label_value_length_limit: Option<IgnoredAny>,
    pub target_limit: Option<IgnoredAny>,
    /// Newer than 2.42 (from here on).
    pub keep_dropped_targets: Option<IgnoredAny>,
    pub rule_query_offset: Option<IgnoredAny>,
    pub scrape_protocols: Option<IgnoredAny>,
    pub metric_name_validation_scheme: Option<IgnoredAny>,
    pub metric_name_escaping_scheme: Option<IgnoredAny>,
    pub scrape_failure_log_file: Option<IgnoredAny>,
    pub always_scrape_classic_histograms: Option<IgnoredAny>,
    pub convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
    pub extra_scrape_metrics: Option<IgnoredAny>,
    pub scrape_native_histograms: Option<IgnoredAny>,
}

/// One `remote_write` entry, HTTP client settings included (Prometheus inlines them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWrite {
    pub url: Option<Text>,
    pub name: Option<Text>,
    pub remote_timeout: Option<Dur>,
    pub headers: Option<TextMap>,
    /// `None` entries are null rules, which Prometheus rejects.
    pub write_relabel_configs: Option<Vec<Option<Relabel>>>,
    pub send_exemplars: Option<bool>,
    pub send_native_histograms: Option<bool>,
    pub queue_config: Option<Queue>,
    pub metadata_config: Option<Metadata>,
    pub sigv4: Option<SigV4>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub oauth2: Option<OAuth2>,
    pub bearer_token: Option<Text>,
    pub bearer_token_file: Option<Text>,
    pub tls_config: Option<Tls>,
    pub proxy_url: Option<Text>,
    pub proxy_connect_header: Option<IgnoredAny>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    /// Newer than 2.42 (from here on).
    pub protobuf_message: Option<Text>,
    pub no_proxy: Option<Text>,
    pub proxy_from_environment: Option<bool>,
    pub round_robin_dns: Option<bool>,
    pub http_headers: Option<IgnoredAny>,
    pub azuread: Option<IgnoredAny>,
    pub google_iam: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub capacity: Option<u64>,
    pub max_shards: Option<u64>,
    pub min_shards: Option<u64>,
    pub max_samples_per_send: Option<u64>,
    pub batch_send_deadline: Option<Dur>,
    pub min_backoff: Option<Dur>,
    pub max_backoff: Option<Dur>,
    pub retry_on_http_429: Option<bool>,
    /// Newer than 2.42.
    pub sample_age_limit: Option<Dur>,
    /// walship extension (see `remote_queue::QueueConfig::isolate_rejected_series`).
    pub isolate_rejected_series: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub send: Option<bool>,
    pub send_interval: Option<Dur>,
    pub max_samples_per_send: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: Option<Text>,
    pub password: Option<Text>,
    pub password_file: Option<Text>,
    /// Newer than 2.42.
    pub username_file: Option<Text>,
    pub username_ref: Option<Text>,
    pub password_ref: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub scheme: Option<Text>,
    pub credentials: Option<Text>,
    pub credentials_file: Option<Text>,
    /// Newer than 2.42.
    pub credentials_ref: Option<Text>,
}

/// `sigv4` (Prometheus's `common/sigv4`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4 {
    pub region: Option<Text>,
    pub access_key: Option<Text>,
    pub secret_key: Option<Text>,
    pub profile: Option<Text>,
    pub role_arn: Option<Text>,
    /// Newer than 2.42 (from here on).
    pub secret_key_file: Option<Text>,
    pub use_fips_sts_endpoint: Option<bool>,
    pub service_name: Option<Text>,
}

/// `oauth2` (Prometheus's `common/config`): the client-credentials grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_secret_file: Option<Text>,
    pub scopes: Option<Vec<Text>>,
    pub token_url: Option<Text>,
    pub endpoint_params: Option<TextMap>,
    pub tls_config: Option<Tls>,
    pub proxy_url: Option<Text>,
    /// Newer than 2.42 (from here on).
    pub client_secret_ref: Option<Text>,
    pub no_proxy: Option<Text>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca_file: Option<Text>,
    pub cert_file: Option<Text>,
    pub key_file: Option<Text>,
    pub server_name: Option<Text>,
    pub insecure_skip_verify: Option<bool>,
    pub min_version: Option<Text>,
    /// Newer than 2.42 (from here on).
    pub max_version: Option<Text>,
    pub ca: Option<Text>,
    pub cert: Option<Text>,
    pub key: Option<Text>,
    pub ca_ref: Option<Text>,
    pub cert_ref: Option<Text>,
    pub key_ref: Option<Text>,
}

/// A relabel rule with every field optional, so validation can tell "set" from "default".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relabel {
    pub source_labels: Option<Vec<Text>>,
    pub separator: Option<Text>,
    /// A null `regex:` is the empty regex, as in Prometheus.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub regex: Option<Text>,
    pub modulus: Option<u64>,
    pub target_label: Option<Text>,
    pub replacement: Option<Text>,
    pub action: Option<Text>,
}

fn null_is_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
    Ok(Some(Option::<Text>::deserialize(d)?.unwrap_or_default()))
}
