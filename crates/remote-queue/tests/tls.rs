//! HTTPS: CA file, insecure_skip_verify, client certificates, against a rustls server on 127.0.0.1.

mod support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedKey, IsCa, KeyPair};
use remote_queue::{Auth, EndpointConfig, OAuth2Config, QueueManager, Secret, TlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::receiver::Receiver;
use support::*;

struct Pki {
    ca: CertifiedKey,
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pki(tag: &str) -> Pki {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("ca");
    let dir = std::env::temp_dir().join(format!("rq-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), cert.pem()).expect("write ca");
    Pki { ca: CertifiedKey { cert, key_pair: key }, dir }
}

fn leaf(ca: &CertifiedKey, names: &[&str]) -> CertifiedKey {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    let cert = params.signed_by(&key, &ca.cert, &ca.key_pair).expect("sign");
    CertifiedKey { cert, key_pair: key }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTPS server answering 204 to every request; returns its URL and a request counter.
fn https_server(server: &CertifiedKey, client_ca: Option<&CertifiedKey>) -> (String, Arc<AtomicU64>) {
    https_server_answering(server, client_ca, b"HTTP/1.1 204 No Content\r\n\r\n")
}

/// An HTTPS server giving every request the raw HTTP `answer`.
fn https_server_answering(
    server: &CertifiedKey,
    client_ca: Option<&CertifiedKey>,
    answer: &'static [u8],
) -> (String, Arc<AtomicU64>) {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.der().clone()).expect("root");
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build().expect("verifier");
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pair.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server.cert.der().clone()];
    let config = Arc::new(builder.with_single_cert(chain, key).expect("server cert"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://127.0.0.1:{}/write", listener.local_addr().expect("addr").port());
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, c) = (config.clone(), c.clone());
            std::thread::spawn(move || {
                let Ok(conn) = ServerConnection::new(config) else { return };
                let mut r = BufReader::new(StreamOwned::new(conn, tcp));
                while read_request(&mut r).is_some() {
                    c.fetch_add(1, Ordering::SeqCst);
                    let s = r.get_mut();
                    if s.write_all(answer).and_then(|_| s.flush()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

fn send_one(url: &str, tls: TlsConfig) -> QueueManager {
    let mut cfg = EndpointConfig::new(url);
    cfg.tls = tls;
    send_with(cfg)
}

/// Sends one sample with `cfg`, quick to send and to retry.
fn send_with(mut cfg: EndpointConfig) -> QueueManager {
    cfg.queue.batch_send_deadline = Duration::from_millis(20);
    cfg.queue.min_backoff = Duration::from_millis(20);
    cfg.queue.max_backoff = Duration::from_millis(50);
    cfg.flush_deadline = Duration::from_millis(100);
    let q = QueueManager::new(cfg).expect("queue");
    store_series(&q, 1);
    append_rounds(&q, 1, 0..1, 1_000_000);
    q
}

#[test]
fn ca_file_is_trusted_and_default_roots_are_not() {
    let p = pki("ca");
    let server = leaf(&p.ca, &["127.0.0.1"]);
    let (url, count) = https_server(&server, None);
    let ok = send_one(&url, TlsConfig { ca_file: Some(p.dir.join("ca.pem")), ..Default::default() });
    assert!(wait_for(Duration::from_secs(5), || count.load(Ordering::SeqCst) == 1));
    assert!(wait_for(Duration::from_secs(2), || ok.metrics().samples_total == 1));
    let untrusted = send_one(&url, TlsConfig::default());
    assert!(
        wait_for(Duration::from_secs(5), || untrusted.metrics().samples_retried_total >= 2),
        "handshake failures are retried"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1, "nothing reached the server without trust");
}

#[test]
fn insecure_skip_verify_accepts_any_certificate() {
    let p = pki("insecure");
    // A certificate for another name, from a CA the client does not know.
    let server = leaf(&p.ca, &["example.invalid"]);
    let (url, count) = https_server(&server, None);
    let _q = send_one(&url, TlsConfig { insecure_skip_verify: true, ..Default::default() });
    assert!(wait_for(Duration::from_secs(5), || count.load(Ordering::SeqCst) == 1));
}

#[test]
fn client_certificate_is_presented() {
    let p = pki("mtls");
    let server = leaf(&p.ca, &["127.0.0.1"]);
    let client = leaf(&p.ca, &["walship-client"]);
    std::fs::write(p.dir.join("client.pem"), client.cert.pem()).expect("write");
    std::fs::write(p.dir.join("client.key"), client.key_pair.serialize_pem()).expect("write");
    let (url, count) = https_server(&server, Some(&p.ca));
    let ca_file = Some(p.dir.join("ca.pem"));
    let without = send_one(&url, TlsConfig { ca_file: ca_file.clone(), ..Default::default() });
    assert!(wait_for(Duration::from_secs(5), || without.metrics().samples_retried_total >= 2));
    assert_eq!(count.load(Ordering::SeqCst), 0, "no client certificate, no request");
    let tls = TlsConfig {
        ca_file,
        cert_file: Some(p.dir.join("client.pem")),
        key_file: Some(p.dir.join("client.key")),
        insecure_skip_verify: false,
    };
    let _with = send_one(&url, tls);
    assert!(wait_for(Duration::from_secs(5), || count.load(Ordering::SeqCst) == 1));
}

/// The OAuth 2 token endpoint has TLS settings of its own: its CA file is trusted for it (and the
/// remote, plain HTTP here, needs none); without it no token is had, so nothing is sent, and
/// the data is held back (retried), not dropped.
#[test]
fn oauth2_token_endpoint_uses_its_own_tls_config() {
    let p = pki("oauth2");
    let server = leaf(&p.ca, &["127.0.0.1"]);
    let token = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 67\r\n\r\n\
{\"access_token\":\"tls-token\",\"token_type\":\"bearer\",\"expires_in\":600}";
    let (token_url, token_requests) = https_server_answering(&server, None, token);
    let send = |tls: TlsConfig| {
        let rx = Receiver::accepting();
        let mut cfg = EndpointConfig::new(rx.url.clone());
        cfg.auth = Auth::OAuth2(OAuth2Config {
            client_id: "walship".into(),
            client_secret: Secret::new("s"),
            token_url: token_url.replace("/write", "/token"),
            tls,
            ..Default::default()
        });
        (send_with(cfg), rx)
    };
    let (untrusted, rx) = send(TlsConfig::default());
    assert!(wait_for(Duration::from_secs(5), || untrusted.metrics().samples_pending == 1
        && token_requests.load(Ordering::SeqCst) == 0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests(), 0, "no token, no request");
    assert_eq!((untrusted.metrics().samples_total, untrusted.metrics().samples_failed_total), (0, 0));

    let (trusted, rx) = send(TlsConfig { ca_file: Some(p.dir.join("ca.pem")), ..Default::default() });
    assert!(wait_for(Duration::from_secs(5), || trusted.metrics().samples_total == 1));
    assert_eq!(token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(rx.log()[0].header("authorization"), Some("Bearer tls-token"));
}
