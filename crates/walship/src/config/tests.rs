use super::*;
use std::process::Command;
use std::time::Duration;

fn dir_with_files() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(d.path().join("secrets")).expect("mkdir");
    for f in ["secrets/pw", "pw", "ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(d.path().join(f), "s3cret\n").expect("write");
    }
    d
}

#[test]
fn a_prometheus_configuration_as_operators_write_it() {
    let d = dir_with_files();
    let text = r#"
global:
  scrape_interval: 15s
  external_labels: {cluster: eu1, replica: 1}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['localhost:9100']}]
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
    queue_config: {capacity: 2500, max_shards: 200, batch_send_deadline: 1s, min_backoff: 50ms, isolate_rejected_series: false}
    metadata_config: {send: false, send_interval: 30s, max_samples_per_send: 100}
    tls_config: {ca_file: ca.pem, insecure_skip_verify: false}
    follow_redirects: true
  - url: http://127.0.0.1:8428/api/v1/write
    protobuf_message: io.prometheus.write.v2.Request
    bearer_token: s3cr3t
"#;
    let l = parse(text, d.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.endpoints.len(), 2);
    let a = &l.endpoints[0];
    assert_eq!(a.name, "primary");
    assert_eq!(a.remote_timeout, Duration::from_secs(10));
    assert_eq!(a.external_labels, vec![("cluster".into(), "eu1".into()), ("replica".into(), "1".into())]);
    assert_eq!((a.queue.capacity, a.queue.max_shards), (2500, 200));
    assert_eq!(a.queue.min_backoff, Duration::from_millis(50));
    assert_eq!(a.queue.max_samples_per_send, 2000, "defaults kept");
    assert!(!a.queue.isolate_rejected_series);
    assert!(l.endpoints[1].queue.isolate_rejected_series, "on by default");
    assert_eq!(
        a.metadata,
        MetadataConfig { send: false, send_interval: Duration::from_secs(30), max_samples_per_send: 100 }
    );
    assert!(a.send_exemplars);
    assert_eq!(a.write_relabel_configs[0].action, Action::Drop);
    assert_eq!(a.tls.ca_file.as_deref(), Some(d.path().join("ca.pem").as_path()));
    assert!(
        matches!(&a.auth, Auth::BasicPasswordFile { username, password_file } if username == "u" && *password_file == d.path().join("secrets/pw"))
    );
    assert_eq!(l.endpoints[1].protocol, Protocol::V2);
    assert!(matches!(&l.endpoints[1].auth, Auth::Credentials { scheme, .. } if scheme == "Bearer"));
    assert_eq!(
        l.warnings,
        vec!["remote_write[0].follow_redirects is not supported by walship and is ignored".to_string()]
    );
}

#[test]
fn sigv4_and_oauth2_blocks() {
    let d = dir_with_files();
    let text = r#"
remote_write:
  - url: https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write
    sigv4: {region: eu-west-1, access_key: AKIDEXAMPLE, secret_key_file: pw}
  - url: https://metrics.example/api/v1/write
    oauth2:
      client_id: walship
      client_secret_file: secrets/pw
      scopes: [write, "metrics:push"]
      token_url: https://login.example/oauth2/token
      endpoint_params: {audience: metrics}
      tls_config: {ca_file: ca.pem}
      proxy_url: http://proxy.example:3128
"#;
    let l = parse(text, d.path()).unwrap_or_else(|e| panic!("{e}"));
    let Auth::SigV4(s) = &l.endpoints[0].auth else { panic!("{:?}", l.endpoints[0].auth) };
    assert_eq!(
        (s.region.as_str(), s.access_key.as_str(), s.secret_key.expose()),
        ("eu-west-1", "AKIDEXAMPLE", "s3cret")
    );
    assert_eq!((s.profile.as_str(), s.service.as_str()), ("", "aps"), "Prometheus's defaults");
    let Auth::OAuth2(o) = &l.endpoints[1].auth else { panic!("{:?}", l.endpoints[1].auth) };
    assert_eq!(o.client_id, "walship");
    assert_eq!(o.client_secret_file.as_deref(), Some(d.path().join("secrets/pw").as_path()));
    assert_eq!(o.scopes, vec!["write".to_string(), "metrics:push".to_string()]);
    assert_eq!(o.endpoint_params, vec![("audience".to_string(), "metrics".to_string())]);
    assert_eq!(o.tls.ca_file.as_deref(), Some(d.path().join("ca.pem").as_path()));
    assert_eq!(o.proxy_url.as_deref(), Some("http://proxy.example:3128"));
    assert!(l.endpoints[1].tls.ca_file.is_none(), "the token endpoint's TLS settings are its own");
}

#[test]
fn errors_name_the_path_and_line() {
    let e = |t: &str| parse(t, Path::new(".")).err().unwrap_or_else(|| panic!("accepted: {t}"));
    let typo = e("remote_write:\n  - url: http://x/\n    remote_timout: 1s\n");
    assert!(typo.contains("remote_write[0]") && typo.contains("remote_timout") && typo.contains("line 3"), "{typo}");
    let nested = e("remote_write:\n  - url: http://x/\n    queue_config:\n      max_shard: 3\n");
    assert!(nested.contains("remote_write[0].queue_config") && nested.contains("line 4"), "{nested}");
    assert!(e("remote_write: [{name: x}]").contains("url for remote_write is empty"));
    assert!(e("remote_write: [{url: 'ftp://x'}]").contains("must start with http"));
    assert!(e("remote_write: [{url: 'http://x', queue_config: {min_backoff: fast}}]").contains("not a valid duration"));
    let nocreds = e("remote_write: [{url: 'http://x', sigv4: {region: x, profile: walship-test-nope}}]");
    assert!(nocreds.contains("remote_write[0].sigv4") && nocreds.contains("no AWS credentials"), "{nocreds}");
    let oauth = e("remote_write: [{url: 'http://x', oauth2: {client_id: a, client_secret_file: /nonexistent/s, token_url: 'http://t/'}}]");
    assert!(oauth.contains("remote_write[0].oauth2.client_secret_file: cannot read /nonexistent/s"), "{oauth}");
    let missing = e("remote_write: [{url: 'http://x', bearer_token_file: /nonexistent/token}]");
    assert!(missing.contains("remote_write[0].bearer_token_file: cannot read /nonexistent/token"), "{missing}");
    assert!(e("{{{").len() > 3);
    let entry =
        e("remote_write:\n  - url: http://x/\n  - url: http://y/\n    bearer_token: a\n    bearer_token_file: b\n");
    assert!(
        entry.contains("remote_write[1]: at most one of bearer_token") && entry.ends_with("(entry at line 3)"),
        "{entry}"
    );
    let flow = e("remote_write: [{url: 'http://x/'}, {url: 'http://y/', remote_timeout: 0s}]");
    assert!(flow.contains("remote_write[1]") && flow.ends_with("(entry at line 1)"), "{flow}");
}

#[test]
fn load_names_the_file() {
    let d = tempfile::tempdir().expect("temp dir");
    let f = d.path().join("prometheus.yml");
    std::fs::write(&f, "remote_write:\n  - url: http://x/\n    remote_timeout: 0s\n").expect("write");
    let e = load(&f).err().unwrap_or_default();
    assert!(e.starts_with(&f.display().to_string()) && e.contains("remote_timeout must be greater than 0"), "{e}");
}

#[test]
fn label_name_rules() {
    for ok in ["a", "_a", "A9_", "__name__"] {
        assert!(legacy_label_name(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "é"] {
        assert!(!legacy_label_name(bad), "{bad}");
    }
    for ok in ["a", "$1", "${1}", "a_$1", "${name}_x", "$1$2"] {
        assert!(template_label_name(ok), "{ok}");
    }
    for bad in ["", "1b", "$", "${}", "${a", "a-b", "$-"] {
        assert!(!template_label_name(bad), "{bad}");
    }
}

/// How walship's verdict relates to promtool 2.42's for one file.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Both accept.
    Accept,
    /// Both reject.
    Reject,
    /// promtool accepts, walship rejects, for the reason given in the table.
    Stricter,
    /// promtool 2.42 rejects a key a newer Prometheus (or walship itself) defines; walship accepts.
    Looser,
}
use Expect::*;

/// Configuration files and the verdicts expected of walship and of `promtool check config`.
/// Files named `pw` exist beside the configuration; `nope*` do not.
const TABLE: &[(&str, Expect, &str)] = &[
    ("remote_write: [{url: 'http://h/w'}]", Accept, ""),
    ("", Accept, "empty file"),
    ("remote_write:", Accept, "null list"),
    ("scrape_configs: [{job_name: a, static_configs: [{targets: ['x:1']}]}]\nrule_files: []", Accept, ""),
    ("remote_write: [{name: x}]", Reject, "url required"),
    ("remote_write: [{url: 'http://[::1'}]", Reject, ""),
    ("remote_write: [{url: 'http://h h/w'}]", Reject, ""),
    ("remote_write: [{url: 'h:9090/w'}]", Stricter, "no http(s) scheme: nothing could be sent"),
    ("remote_write: [{url: 'ftp://h/w'}]", Stricter, "no http(s) scheme"),
    ("remote_write: [{url: '/w'}]", Stricter, "no host"),
    ("remote_write: [{url: 'http://h:99999/w'}]", Stricter, "port out of range"),
    ("remote_write: [{url: 'http://h/w', remote_timeout: 0s}]", Stricter, "0 is no timeout in 2.42: a hung request would stall the cursor"),
    ("remote_write: [{url: 'http://h/w', remote_timeout: -1s}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', remote_timeout: 1.5s}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', remote_timout: 1s}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', basic_auth: {username: u, password: p}, bearer_token: t}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', basic_auth: {username: u, password: p}, authorization: {credentials: c}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', bearer_token: t, bearer_token_file: pw}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {credentials: c, credentials_file: pw}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {credentials: c}, bearer_token: t}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {credentials: c}, bearer_token_file: pw}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', basic_auth: {username: u, password: p, password_file: pw}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {type: basic, credentials: c}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {type: Basic, credentials: c}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', authorization: {type: Token}}]", Accept, "no credentials: no header"),
    ("remote_write: [{url: 'http://h/w', authorization: {type: Token, credentials_file: pw}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', basic_auth: {username: u, password_file: pw}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', bearer_token_file: pw}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r}, basic_auth: {username: u}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s, profile: p}}]", Accept, "keys win over the profile"),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, profile: walship-test-nope}}]", Stricter, "credentials must be found at start (Prometheus: at start, not in promtool)"),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a}}]", Reject, "a key without its secret"),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, secret_key: s}}]", Reject, "a secret without its key"),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s, role_arn: 'arn:aws:iam::1:role/x'}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {regin: r}}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s}, bearer_token: t}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s}, authorization: {credentials: c}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', sigv4: {region: r, access_key: a, secret_key: s}, oauth2: {client_id: a, client_secret: b, token_url: 'http://t/'}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b, token_url: 'http://t/'}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret_file: pw, token_url: 'https://t/', scopes: [a, b], endpoint_params: {x: y}, tls_config: {ca_file: pw, insecure_skip_verify: true}, proxy_url: 'http://p:1'}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b, client_secret_file: pw, token_url: 'http://t/'}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_secret: b, token_url: 'http://t/'}}]", Reject, "no client_id"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b}}]", Reject, "no token_url"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, token_url: 'http://t/'}}]", Reject, "no secret (2.42; newer Prometheus allows it)"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b, token_url: 'http://t/', scope: [a]}}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret_file: nope, token_url: 'http://t/'}}]", Stricter, "files must be readable at start"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b, token_url: 'http://t/', tls_config: {ca_file: nope.pem}}}]", Stricter, "files must be readable at start"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, client_secret: b, token_url: 't/'}}]", Stricter, "a token URL no request could reach"),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, token_url: 'http://t/'}, basic_auth: {username: u}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', oauth2: {client_id: a, token_url: 'http://t/'}, bearer_token: t}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', basic_auth: {password: p}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', basic_auth: {}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{regex: '(', action: drop, source_labels: [a]}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: nope}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: replace, source_labels: [a]}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: hashmod, source_labels: [a], target_label: b}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: replace, source_labels: [a], target_label: '1b'}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: replace, source_labels: [a], target_label: 'x_${1}'}]}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: labeldrop, regex: a, source_labels: [a]}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [null]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: drop, source_labels: [a], regexp: x}]}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: keepequal, source_labels: [a], target_label: b}]}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: lowercase, source_labels: [a], target_label: b}]}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: drop, source_labels: ['1a']}]}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: drop, source_labels: [__name__], regex: 'go_.*'}, {action: labeldrop, regex: tmp_.*}]}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', headers: {Authorization: x}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', headers: {content-type: x}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', headers: {X-Scope-OrgID: t}}]", Accept, ""),
    ("global: {external_labels: {'1x': a}}", Reject, ""),
    ("global: {external_labels: {__name__: a}}", Accept, ""),
    ("global: {external_labels: {a: ''}}", Accept, ""),
    ("global: {external_labels: {region: eu, replica: 1}}", Accept, ""),
    ("global: {external_labels: {a: x, a: y}}", Reject, "duplicate key"),
    ("global: {scrape_intervall: 1s}", Reject, "unknown key"),
    ("global: {scrape_interval: 1s, scrape_timeout: 5s}", Looser, "scrape settings are not read by walship"),
    ("remote_write: [{url: 'http://h/w', queue_config: {max_shard: 1}}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', queue_config: {max_shards: 0}}]", Stricter, "newer Prometheus rules: no shard could run"),
    ("remote_write: [{url: 'http://h/w', queue_config: {min_shards: 5, max_shards: 2}}]", Stricter, "newer Prometheus rules"),
    ("remote_write: [{url: 'http://h/w', queue_config: {min_backoff: 10s, max_backoff: 1s}}]", Stricter, "newer Prometheus rules"),
    ("remote_write: [{url: 'http://h/w', queue_config: {capacity: 0}}]", Stricter, "newer Prometheus rules"),
    ("remote_write: [{url: 'http://h/w', queue_config: {max_samples_per_send: 0}}]", Stricter, "newer Prometheus rules"),
    ("remote_write: [{url: 'http://h/w', queue_config: {max_shards: -1}}]", Stricter, "a negative count"),
    ("remote_write: [{url: 'http://h/w', queue_config: {retry_on_http_429: true}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', queue_config: {max_retries: 3}}]", Reject, "removed key"),
    ("remote_write: [{url: 'http://h/w', queue_config: {sample_age_limit: 1h}}]", Looser, "key of Prometheus 2.50"),
    ("remote_write: [{url: 'http://h/w', queue_config: {isolate_rejected_series: false}}]", Looser, "walship's extension"),
    ("remote_write: [{url: 'http://h/w', metadata_config: {send: false, send_interval: 30s, max_samples_per_send: 10}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', metadata_config: {sendd: false}}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', metadata_config: {send_interval: 0s}}]", Stricter, "Prometheus would panic on a 0 ticker"),
    ("remote_write: [{url: 'http://h/w', tls_config: {cert_file: pw}}]", Stricter, "a certificate without its key"),
    ("remote_write: [{url: 'http://h/w', tls_config: {ca_file: nope.pem}}]", Stricter, "files must be readable at start"),
    ("remote_write: [{url: 'http://h/w', tls_config: {ca_file: pw, cert_file: pw, key_file: pw}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', tls_config: {ca_fil: x}}]", Reject, "unknown key"),
    ("remote_write: [{url: 'http://h/w', tls_config: {ca: x, ca_file: pw}}]", Reject, "2.42: unknown key; walship: inline CA not supported"),
    ("remote_write: [{url: 'http://h/w', tls_config: {min_version: TLS99}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', tls_config: {min_version: TLS12}}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', bearer_token_file: nope}]", Stricter, "files must be readable at start"),
    ("remote_write: [{url: 'http://h/w', basic_auth: {username: u, password_file: nope}}]", Stricter, "files must be readable at start"),
    ("remote_write: [{url: 'http://h/w', name: a}, {url: 'http://g/w', name: a}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w'}, {url: 'http://h/w'}]", Stricter, "one cursor for two endpoints (newer Prometheus rejects duplicates too)"),
    ("remote_write: [{url: 'http://h/w', name: a}, {url: 'http://h/w', name: b}]", Accept, ""),
    ("remote_write: [null]", Reject, ""),
    ("remote_write: {url: 'http://h/w'}", Reject, "not a list"),
    ("remote_writes: []", Reject, "unknown key"),
    ("otlp: {}", Looser, "section of Prometheus 2.47"),
    ("remote_write: [{url: 'http://h/w', protobuf_message: io.prometheus.write.v2.Request}]", Looser, "key of Prometheus 2.54"),
    ("remote_write: [{url: 'http://h/w', protobuf_message: foo}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', proxy_url: '::'}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', proxy_url: 'http://p:3128'}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', proxy_from_environment: true}]", Reject, "2.42: unknown key; walship: not supported"),
    ("remote_write: [{url: 'http://h/w', follow_redirects: false, enable_http2: false}]", Accept, "warned as ignored"),
    ("remote_write: [{url: 'http://h/w', azuread: {cloud: AzurePublic}}]", Reject, ""),
    ("remote_write: [{url: 'http://h/w', send_exemplars: true, send_native_histograms: true}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', name: ''}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', proxy_url: 'http://p:1', proxy_connect_header: {a: [b]}}]", Stricter, "not implemented: the proxy would refuse"),
    ("remote_write: [{url: 'http://h/w', tls_config: {min_version: TLS13}}]", Stricter, "a TLS floor the client cannot enforce"),
    ("remote_write: [{url: 'http://h/w', tls_config: {server_name: x}}]", Stricter, "not implemented: certificate checked against another name"),
    ("remote_write: [{url: 'http://h/w', headers: {a: b, a: c}}]", Reject, "duplicate key"),
    ("remote_write: [{url: 'http://h/w', url: 'http://g/w'}]", Reject, "duplicate key"),
    ("remote_write: [{url: 'http://h/w', headers: {x-prometheus-remote-write-version: 1}}]", Reject, "reserved header"),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: replace, target_label: x, replacement: y}]}]", Accept, ""),
    ("remote_write: [{url: 'http://h/w', write_relabel_configs: [{action: Keep, source_labels: [a], regex: null}]}]", Accept, "null regex"),
];

fn promtool_available() -> bool {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(), "promtool is required but not installed");
        eprintln!("promtool not installed: only walship's verdicts are checked");
    }
    found
}

#[test]
fn verdicts_match_promtool_check_config() {
    let d = dir_with_files();
    let promtool = promtool_available();
    let mut wrong = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for (i, (text, expect, why)) in TABLE.iter().enumerate() {
        let file = d.path().join(format!("case{i}.yml"));
        std::fs::write(&file, text).expect("write case");
        let walship = load(&file);
        let walship_ok = walship.is_ok();
        let want_walship = matches!(expect, Accept | Looser);
        if walship_ok != want_walship {
            wrong.push(format!("walship {}: {text:?} ({why}) {:?}", verdict(walship_ok), walship.err()));
        }
        if promtool {
            let out = Command::new("promtool").arg("check").arg("config").arg(&file).output().expect("run promtool");
            let promtool_ok = out.status.success();
            let want_promtool = matches!(expect, Accept | Stricter);
            if promtool_ok != want_promtool {
                let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
                wrong.push(format!("promtool {}: {text:?} ({why}) {msg}", verdict(promtool_ok)));
            }
        }
        *counts.entry(format!("{expect:?}")).or_insert(0) += 1;
    }
    eprintln!("{} files: {counts:?} (promtool run: {promtool})", TABLE.len());
    assert!(wrong.is_empty(), "verdicts differ from the table:\n{}", wrong.join("\n"));
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "accepts"
    } else {
        "rejects"
    }
}
