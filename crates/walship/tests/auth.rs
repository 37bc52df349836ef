//! `sigv4` and `oauth2` in `remote_write`, end to end: `walship ship --once` over a real
//! Prometheus 2.42 WAL to receivers of this test.
//!
//! SigV4: the receiver records every request as it arrived, and botocore (AWS's Python SDK core,
//! an implementation independent of the Rust signer) computes each signature again with the same
//! credentials and time (`sigv4_verify.py`); with `role_arn`, the STS call too. OAuth 2: a token endpoint of this test hands out
//! tokens that live two seconds and is down for three seconds in the middle of the run; the
//! receiver refuses any token that is unknown or expired, and counts the samples it decodes.

mod common;

use common::*;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The WAL shipped, and how many samples it holds (sent, or dropped for a counted reason).
const WAL: &str = "prometheus-2.42/snappy-exemplars-checkpoint";
const WAL_SAMPLES: u64 = 493_112;

/// An HTTP server of this test on a port the OS picks, answering each request with `handle`.
struct Server {
    server: Arc<tiny_http::Server>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A server answering with an empty body and the status `handle` returns.
    fn start(handle: impl Fn(&mut tiny_http::Request, Vec<u8>) -> u16 + Send + 'static) -> Server {
        Self::serve(move |req, body| tiny_http::Response::from_data(Vec::new()).with_status_code(handle(req, body)))
    }

    /// A server answering with the status and JSON text `handle` returns.
    fn start_json(handle: impl Fn(&tiny_http::Request, Vec<u8>) -> (u16, String) + Send + 'static) -> Server {
        Self::serve(move |req, body| {
            let (status, text) = handle(req, body);
            let json = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
            tiny_http::Response::from_string(text).with_status_code(status).with_header(json)
        })
    }

    /// A server answering each request, given its body, with what `handle` returns.
    fn serve(
        handle: impl Fn(&mut tiny_http::Request, Vec<u8>) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> + Send + 'static,
    ) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let response = handle(&mut req, body);
                let _ = req.respond(response);
            }
        });
        Server { server, port, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn headers(req: &tiny_http::Request) -> HashMap<String, String> {
    req.headers()
        .iter()
        .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_string()))
        .collect()
}

/// A thread that sets `down` for `secs` seconds, `after` the moment `started` first holds
/// (waiting 60 s at most for it).
fn outage(
    down: Arc<AtomicBool>,
    started: impl Fn() -> bool + Send + 'static,
    after: Duration,
    secs: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let waiting = Instant::now();
        while !started() && waiting.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(after);
        down.store(true, SeqCst);
        std::thread::sleep(Duration::from_secs(secs));
        down.store(false, SeqCst);
    })
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Runs `walship ship --once` over [`WAL`] with `config`; returns its log after checking that it
/// completed with nothing failed, and that every sample was sent or dropped for a counted reason.
fn ship(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> (String, u64) {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = walship();
    cmd.args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(testdata().join(WAL))
        .arg("--config.file")
        .arg(&file)
        .arg("--state-dir")
        .arg(dir.join("state"));
    for v in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"] {
        cmd.env_remove(v);
    }
    cmd.env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(summary_field(&log, "complete"), "true", "{log}");
    assert_eq!(summary_field(&log, "samples_failed"), "0", "{log}");
    let sent: u64 = summary_field(&log, "samples_sent").parse().unwrap();
    let dropped: u64 =
        summary_field(&log, "samples_dropped").strip_prefix("dropped_series:").map_or(0, |d| d.parse().unwrap());
    assert_eq!(sent + dropped, WAL_SAMPLES, "every sample sent or dropped for its reason: {log}");
    (log, sent)
}

/// Python with botocore, or `None` (and a message) when it is missing and peers are optional.
fn botocore_python() -> Option<&'static str> {
    let ok = Command::new("python3").args(["-c", "import botocore"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("WALSHIP_REQUIRE_PEERS").is_none(),
            "python3 with botocore is required (pip install botocore)"
        );
        eprintln!("skipped: python3 with botocore not installed (pip install botocore)");
        return None;
    }
    Some("python3")
}

/// Appends `req` with its `body` to `out` as a JSON line for `sigv4_verify.py`.
fn record(out: &Mutex<std::fs::File>, req: &tiny_http::Request, body: &[u8]) {
    let rec = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.url(),
        "headers": headers(req),
        "body_hex": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "received": unix_now(),
    });
    use std::io::Write;
    writeln!(out.lock().unwrap(), "{rec}").unwrap();
}

/// Records every request as a JSON line for `sigv4_verify.py` ([`record`]), answers 204 (or 200 with `answer`).
fn recording_receiver(file: std::path::PathBuf, answer: Option<String>) -> (Server, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let out = Mutex::new(std::fs::File::create(file).unwrap());
    let server = Server::start_json(move |req, body| {
        record(&out, req, &body);
        c.fetch_add(1, SeqCst);
        match &answer {
            Some(a) => (200, a.clone()),
            None => (204, String::new()),
        }
    });
    (server, count)
}

fn verify(python: &str, records: &std::path::Path, key: &str, secret: &str, token: &str, region: &str) -> String {
    verify_for(python, records, [key, secret, token, region, "aps"])
}

/// `sigv4_verify.py RECORDS KEY SECRET TOKEN REGION SERVICE`.
fn verify_for(python: &str, records: &std::path::Path, args: [&str; 5]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4_verify.py");
    let out = Command::new(python).arg(script).arg(records).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "botocore disagrees:\n{text}");
    eprintln!("botocore, {} for {}: {}", args[4], args[0], text.trim());
    text
}

#[test]
fn sigv4_signatures_verified_by_botocore() {
    let Some(python) = botocore_python() else { return };
    let tmp = tempfile::tempdir().unwrap();

    // Keys in the configuration, with a custom header (signed too).
    let records = tmp.path().join("static.jsonl");
    let (rx, requests) = recording_receiver(records.clone(), None);
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/workspaces/ws-1/api/v1/remote_write\n    \
         headers: {{X-Scope-OrgID: team-a}}\n    \
         sigv4: {{region: eu-west-1, access_key: AKIDWALSHIPTEST, secret_key: 'wJalr/K7MDENG+bPxRfiCYEXAMPLEKEY'}}\n    \
         queue_config: {{max_samples_per_send: 10000}}\n",
        rx.port
    );
    let run = tmp.path().join("static");
    std::fs::create_dir_all(&run).unwrap();
    ship(&run, &config, &[]);
    drop(rx);
    let n = requests.load(SeqCst);
    assert!(n > 10, "{n} requests");
    let said = verify(python, &records, "AKIDWALSHIPTEST", "wJalr/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "eu-west-1");
    assert_eq!(said.trim(), format!("{n} verified"));

    // Temporary credentials from a profile of the shared credentials file, the region from the
    // shared config file: the AWS chain without the SDK.
    let records = tmp.path().join("profile.jsonl");
    let (rx, requests) = recording_receiver(records.clone(), None);
    let run = tmp.path().join("profile");
    std::fs::create_dir_all(run.join(".aws")).unwrap();
    std::fs::write(
        run.join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n\
         [shipper]\naws_access_key_id = ASIAWALSHIP\naws_secret_access_key = s3cr3t+key/xyz\n\
         aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN//session\n",
    )
    .unwrap();
    std::fs::write(run.join(".aws/config"), "[profile shipper]\nregion = us-east-2\n").unwrap();
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/remote_write\n    sigv4: {{}}\n    \
         queue_config: {{max_samples_per_send: 10000}}\n",
        rx.port
    );
    ship(&run, &config, &[("AWS_PROFILE", "shipper")]);
    drop(rx);
    let n = requests.load(SeqCst);
    let said =
        verify(python, &records, "ASIAWALSHIP", "s3cr3t+key/xyz", "FwoGZXIvYXdzEXAMPLETOKEN//session", "us-east-2");
    assert_eq!(said.trim(), format!("{n} verified"));

    // role_arn: the configured keys call STS AssumeRole (an STS of this test, reached through the
    // SDKs' AWS_ENDPOINT_URL_STS), and requests are signed with the role's temporary credentials.
    let sts_records = tmp.path().join("sts.jsonl");
    let answer = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                  <Credentials><AccessKeyId>ASIAROLEKEY</AccessKeyId><SecretAccessKey>role/secret+key</SecretAccessKey>\
                  <SessionToken>role-session-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
                  </Credentials></AssumeRoleResult></AssumeRoleResponse>";
    let (sts, sts_requests) = recording_receiver(sts_records.clone(), Some(answer.into()));
    let records = tmp.path().join("role.jsonl");
    let (rx, requests) = recording_receiver(records.clone(), None);
    let run = tmp.path().join("role");
    std::fs::create_dir_all(&run).unwrap();
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/remote_write\n    \
         sigv4: {{region: eu-central-1, access_key: AKIDBASE, secret_key: base-secret, \
         role_arn: 'arn:aws:iam::123456789012:role/shipper'}}\n    \
         queue_config: {{max_samples_per_send: 10000}}\n",
        rx.port
    );
    let sts_url = format!("http://127.0.0.1:{}/", sts.port);
    ship(&run, &config, &[("AWS_ENDPOINT_URL_STS", &sts_url)]);
    drop((rx, sts));
    assert_eq!(sts_requests.load(SeqCst), 1, "the role's credentials are cached");
    let said = verify_for(python, &sts_records, ["AKIDBASE", "base-secret", "", "eu-central-1", "sts"]);
    assert_eq!(said.trim(), "1 verified");
    let call = std::fs::read_to_string(&sts_records).unwrap();
    let call: serde_json::Value = serde_json::from_str(call.trim()).unwrap();
    let body = String::from_utf8(hex(call["body_hex"].as_str().unwrap())).unwrap();
    let form = url_form(body.as_bytes());
    assert_eq!(form.get("Action").map(String::as_str), Some("AssumeRole"), "{body}");
    assert_eq!(form.get("RoleArn").map(String::as_str), Some("arn:aws:iam::123456789012:role/shipper"), "{body}");
    let n = requests.load(SeqCst);
    let said = verify(python, &records, "ASIAROLEKEY", "role/secret+key", "role-session-token", "eu-central-1");
    assert_eq!(said.trim(), format!("{n} verified"));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Remote write 1.0's `WriteRequest`, as far as counting samples needs.
#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// What the token endpoint of the OAuth 2 test saw and issued.
#[derive(Default)]
struct Issued {
    /// token → when it expires.
    tokens: HashMap<String, Instant>,
    /// Token requests answered with a token / refused because the endpoint was "down".
    granted: u64,
    refused: u64,
    /// Anything wrong in a token request (credentials, grant, scope, parameters).
    bad_requests: Vec<String>,
}

#[test]
fn oauth2_tokens_refreshed_before_expiry_and_an_outage_loses_nothing() {
    const LIFETIME: Duration = Duration::from_secs(2);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("client-secret"), "s3cret:with&odd=chars\n").unwrap();

    let issued = Arc::new(Mutex::new(Issued::default()));
    let down = Arc::new(AtomicBool::new(false));
    let first_request: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (iss, dn, first) = (issued.clone(), down.clone(), first_request.clone());
    let token_endpoint = Server::start_json(move |req, body| {
        first.lock().unwrap().get_or_insert_with(Instant::now);
        let mut i = iss.lock().unwrap();
        if dn.load(SeqCst) {
            i.refused += 1;
            return (503, "{\"error\":\"temporarily_unavailable\"}".into());
        }
        // Go's client sends the id and secret form-encoded inside Basic credentials.
        let h = headers(req);
        let form: HashMap<String, String> = url_form(&body);
        let want_form = [
            ("grant_type", "client_credentials"),
            ("scope", "write metrics:push"),
            ("audience", "https://metrics.example"),
        ];
        let mut bad = Vec::new();
        if h.get("authorization").and_then(|a| decode_basic(a)).as_deref()
            != Some("walship-test:s3cret%3Awith%26odd%3Dchars")
        {
            bad.push(format!("authorization {:?}", h.get("authorization")));
        }
        for (k, v) in want_form {
            if form.get(k).map(String::as_str) != Some(v) {
                bad.push(format!("{k}={:?}", form.get(k)));
            }
        }
        if !bad.is_empty() {
            i.bad_requests.extend(bad);
            return (401, "{\"error\":\"invalid_client\"}".into());
        }
        i.granted += 1;
        let token = format!("tok-{}", i.granted);
        i.tokens.insert(token.clone(), Instant::now() + LIFETIME);
        (
            200,
            format!("{{\"access_token\":\"{token}\",\"token_type\":\"bearer\",\"expires_in\":{}}}", LIFETIME.as_secs()),
        )
    });

    // The receiver: a request whose token is unknown or expired is refused (401); samples of
    // accepted requests are decoded and counted. A small delay spreads the run over seconds.
    let samples = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(Mutex::new(Vec::<String>::new()));
    let used = Arc::new(Mutex::new(Vec::<String>::new()));
    let (iss, s, st, u) = (issued.clone(), samples.clone(), stale.clone(), used.clone());
    let receiver = Server::start(move |req, body| {
        std::thread::sleep(Duration::from_millis(15));
        let token = headers(req).get("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string));
        let valid = token.as_ref().and_then(|t| iss.lock().unwrap().tokens.get(t).copied());
        match (token, valid) {
            (Some(t), Some(expires)) if Instant::now() < expires => {
                let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                let wr = <WriteRequest as prost::Message>::decode(raw.as_slice()).unwrap();
                s.fetch_add(wr.timeseries.iter().map(|t| t.samples.len() as u64).sum(), SeqCst);
                let mut u = u.lock().unwrap();
                if u.last() != Some(&t) {
                    u.push(t);
                }
                204
            }
            (t, _) => {
                st.lock().unwrap().push(format!("{t:?}"));
                401
            }
        }
    });

    // The token endpoint goes down 1.5 s after the first token request, for 3 s: longer than a
    // token lives, so sending must wait for it.
    let first = first_request.clone();
    let outage = outage(down.clone(), move || first.lock().unwrap().is_some(), Duration::from_millis(1500), 3);

    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    \
         oauth2:\n      client_id: walship-test\n      client_secret_file: client-secret\n      \
         scopes: [write, 'metrics:push']\n      token_url: http://127.0.0.1:{}/oauth2/token\n      \
         endpoint_params: {{audience: 'https://metrics.example'}}\n    \
         queue_config: {{max_shards: 1, max_samples_per_send: 1000, min_backoff: 20ms, max_backoff: 200ms}}\n",
        receiver.port, token_endpoint.port
    );
    let started = Instant::now();
    let (log, sent) = ship(tmp.path(), &config, &[]);
    let took = started.elapsed();
    outage.join().unwrap();
    drop(receiver);
    drop(token_endpoint);

    let i = issued.lock().unwrap();
    eprintln!(
        "oauth2: {took:?}, {sent} samples, tokens granted {} refused {} used {}",
        i.granted,
        i.refused,
        used.lock().unwrap().len()
    );
    assert!(i.bad_requests.is_empty(), "bad token requests: {:?}", i.bad_requests);
    assert!(stale.lock().unwrap().is_empty(), "requests with unknown or expired tokens: {:?}", stale.lock().unwrap());
    assert_eq!(samples.load(SeqCst), sent, "every sample sent arrived with a valid token: {log}");
    assert!(took > Duration::from_secs(6), "the run outlasted the outage and several tokens ({took:?})");
    let used = used.lock().unwrap();
    // Refreshed before expiry: tokens live 2 s, and requests never stopped carrying valid ones
    // except while none could be had; a token per request would be hundreds.
    assert!(used.len() >= 3 && i.granted as usize <= used.len() + 2, "granted {}, used {used:?}", i.granted);
    assert!(i.granted < 3 + 2 * took.as_secs(), "tokens are reused, not fetched per request: {}", i.granted);
    assert!(i.refused > 0, "the outage was met");
    assert!(log.contains("oauth2"), "the outage is in the log: {log}");
}

/// Parses `application/x-www-form-urlencoded`.
fn url_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The `user:password` of `Basic …`, as sent (still form-encoded).
fn decode_basic(h: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(h.strip_prefix("Basic ")?).ok()?;
    String::from_utf8(raw).ok()
}

/// A token endpoint of this test that grants `tok-1`, `tok-2`, … living an hour; counts grants.
fn hour_long_tokens(granted: Arc<AtomicU64>) -> Server {
    Server::start_json(move |_, _| {
        let n = granted.fetch_add(1, SeqCst) + 1;
        (200, format!("{{\"access_token\":\"tok-{n}\",\"token_type\":\"bearer\",\"expires_in\":3600}}"))
    })
}

fn oauth2_config(receiver: u16, token_endpoint: u16) -> String {
    format!(
        "remote_write:\n  - url: http://127.0.0.1:{receiver}/api/v1/write\n    \
         oauth2: {{client_id: walship-test, client_secret: s3cret, token_url: 'http://127.0.0.1:{token_endpoint}/token'}}\n    \
         queue_config: {{max_shards: 1, max_samples_per_send: 2000, min_backoff: 20ms, max_backoff: 200ms}}\n"
    )
}

/// A token the remote refuses before it expires (revoked) is replaced and the batch retried:
/// nothing is lost and the queue goes on. Credentials refused again with a new token stop the
/// queue (exit 1), after one new token, not a token per retry.
#[test]
fn oauth2_a_revoked_token_is_replaced_and_refused_credentials_stop_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let granted = Arc::new(AtomicU64::new(0));
    let token_endpoint = hour_long_tokens(granted.clone());
    // tok-1 is revoked after three accepted requests; every sample of an accepted request is counted.
    let samples = Arc::new(AtomicU64::new(0));
    let accepted_with_first = Arc::new(AtomicU64::new(0));
    let (s, first) = (samples.clone(), accepted_with_first.clone());
    let receiver = Server::start(move |req, body| {
        let token = headers(req).get("authorization").cloned().unwrap_or_default();
        if token == "Bearer tok-1" && first.fetch_add(1, SeqCst) >= 3 {
            return 401;
        }
        if !token.starts_with("Bearer tok-") {
            return 401;
        }
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let wr = <WriteRequest as prost::Message>::decode(raw.as_slice()).unwrap();
        s.fetch_add(wr.timeseries.iter().map(|t| t.samples.len() as u64).sum(), SeqCst);
        204
    });
    let (log, sent) = ship(tmp.path(), &oauth2_config(receiver.port, token_endpoint.port), &[]);
    drop(receiver);
    assert_eq!(samples.load(SeqCst), sent, "every sample arrived: {log}");
    assert!(accepted_with_first.load(SeqCst) > 3, "the revocation was met");
    assert_eq!(granted.load(SeqCst), 2, "one token, and one after the revocation: {log}");
    assert!(log.contains("refused the token"), "{log}");

    // Every token refused: the queue stops with the credentials named as the cause.
    let tmp = tempfile::tempdir().unwrap();
    granted.store(0, SeqCst);
    let refused = Arc::new(AtomicU64::new(0));
    let r = refused.clone();
    let receiver = Server::start(move |_, _| {
        r.fetch_add(1, SeqCst);
        401
    });
    let file = tmp.path().join("prometheus.yml");
    std::fs::write(&file, oauth2_config(receiver.port, token_endpoint.port)).unwrap();
    let out = walship()
        .args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(testdata().join(WAL))
        .arg("--config.file")
        .arg(&file)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("refused the credentials"), "{log}");
    assert_eq!(granted.load(SeqCst), 2, "the first token and one more: {log}");
    assert_eq!(refused.load(SeqCst), 2, "one request per token: {log}");
}

/// An `Expiration` as AWS writes it (`2026-12-01T16:46:11Z`), `secs` after the Unix epoch.
fn aws_time(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Web identity (EKS IAM roles for service accounts): walship reads the token file, asks an STS
/// of this test (`AssumeRoleWithWebIdentity`, unsigned) for the role's temporary credentials, and
/// botocore verifies every remote-write request's signature with them.
#[test]
fn sigv4_web_identity_credentials_verified_by_botocore() {
    let Some(python) = botocore_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(aws_time(1_796_143_571), "2026-12-01T16:46:11Z");
    let sts_records = tmp.path().join("sts.jsonl");
    let answer = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                  <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAIRSAKEY</AccessKeyId>\
                  <SecretAccessKey>irsa/secret+key</SecretAccessKey><SessionToken>irsa-session-token</SessionToken>\
                  <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>\
                  </AssumeRoleWithWebIdentityResponse>";
    let (sts, sts_requests) = recording_receiver(sts_records.clone(), Some(answer.into()));
    let records = tmp.path().join("irsa.jsonl");
    let (rx, requests) = recording_receiver(records.clone(), None);
    let token = tmp.path().join("token");
    std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.service-account-token.sig\n").unwrap();
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/workspaces/ws-1/api/v1/remote_write\n    sigv4: {{}}\n    \
         queue_config: {{max_samples_per_send: 10000}}\n",
        rx.port
    );
    let sts_url = format!("http://127.0.0.1:{}/", sts.port);
    let run = tmp.path().join("irsa");
    std::fs::create_dir_all(&run).unwrap();
    ship(
        &run,
        &config,
        &[
            ("AWS_REGION", "eu-west-2"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/walship-irsa"),
            ("AWS_ENDPOINT_URL_STS", &sts_url),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    drop((rx, sts));
    assert_eq!(sts_requests.load(SeqCst), 1, "the role's credentials are cached");
    let call = std::fs::read_to_string(&sts_records).unwrap();
    let call: serde_json::Value = serde_json::from_str(call.trim()).unwrap();
    assert!(call["headers"].get("authorization").is_none(), "AssumeRoleWithWebIdentity is not signed: {call}");
    let form = url_form(&hex(call["body_hex"].as_str().unwrap()));
    assert_eq!(form.get("Action").map(String::as_str), Some("AssumeRoleWithWebIdentity"), "{form:?}");
    assert_eq!(form.get("RoleArn").map(String::as_str), Some("arn:aws:iam::123456789012:role/walship-irsa"));
    assert_eq!(
        form.get("WebIdentityToken").map(String::as_str),
        Some("eyJhbGciOiJSUzI1NiJ9.service-account-token.sig")
    );
    let n = requests.load(SeqCst);
    assert!(n > 10, "{n} requests");
    let said = verify(python, &records, "ASIAIRSAKEY", "irsa/secret+key", "irsa-session-token", "eu-west-2");
    assert_eq!(said.trim(), format!("{n} verified"));
}

/// Container credentials (ECS task roles, EKS Pod Identity) that live three seconds: walship asks
/// the endpoint of this test (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the token file's content
/// as `Authorization`) again before they expire, every request arrives signed with credentials
/// still valid, and botocore verifies each signature with the credentials it was made with. The
/// endpoint is down for longer than credentials live in the middle of the run: sending waits,
/// and nothing is lost (`ship` checks every sample).
#[test]
fn sigv4_container_credentials_refreshed_through_an_outage_and_verified_by_botocore() {
    const LIFETIME: u64 = 3;
    let Some(python) = botocore_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // key → (expiry in Unix seconds); requests with a wrong Authorization are counted.
    let issued: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let unauthorized = Arc::new(AtomicU64::new(0));
    let (down, refused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let (iss, unauth, dn, rf) = (issued.clone(), unauthorized.clone(), down.clone(), refused.clone());
    let agent = Server::start_json(move |req, _| {
        if dn.load(SeqCst) {
            rf.fetch_add(1, SeqCst);
            return (503, "{}".into());
        }
        if headers(req).get("authorization").map(String::as_str) != Some("pod-identity-token") {
            unauth.fetch_add(1, SeqCst);
            return (401, "{}".into());
        }
        let mut i = iss.lock().unwrap();
        let n = i.len() + 1;
        let expires = unix_now() as u64 + LIFETIME;
        i.insert(format!("ASIAPOD{n}"), expires);
        let json = serde_json::json!({
            "AccessKeyId": format!("ASIAPOD{n}"),
            "SecretAccessKey": format!("pod/secret+{n}"),
            "Token": format!("pod-token-{n}"),
            "Expiration": aws_time(expires),
        });
        (200, json.to_string())
    });
    // The receiver records every request (for botocore) and spreads the run over seconds.
    let records = tmp.path().join("pod.jsonl");
    let out = Mutex::new(std::fs::File::create(&records).unwrap());
    let rx = Server::start(move |req, body| {
        std::thread::sleep(Duration::from_millis(25));
        record(&out, req, &body);
        204
    });
    std::fs::write(tmp.path().join("pod-token"), "pod-identity-token\n").unwrap();
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/remote_write\n    sigv4: {{region: us-west-2}}\n    \
         queue_config: {{max_shards: 1, max_samples_per_send: 4000, min_backoff: 20ms, max_backoff: 200ms}}\n",
        rx.port
    );
    let full_uri = format!("http://127.0.0.1:{}/v1/credentials", agent.port);
    let token_file = tmp.path().join("pod-token");
    let run = tmp.path().join("pod");
    std::fs::create_dir_all(&run).unwrap();
    // Down 1 s after the first credentials were handed out, for 4 s.
    let iss = issued.clone();
    let outage = outage(down.clone(), move || !iss.lock().unwrap().is_empty(), Duration::from_secs(1), 4);
    let started = Instant::now();
    let (log, _) = ship(
        &run,
        &config,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let took = started.elapsed();
    outage.join().unwrap();
    drop((rx, agent));
    assert!(refused.load(SeqCst) > 0, "the outage was met");
    assert!(log.contains("container credentials"), "the outage is in the log: {log}");
    assert_eq!(unauthorized.load(SeqCst), 0);
    let issued = issued.lock().unwrap().clone();

    // Split the requests by the key they were signed with; each must have been valid on arrival.
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for line in std::fs::read_to_string(&records).unwrap().lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        let auth = rec["headers"]["authorization"].as_str().unwrap_or_default();
        let key = auth.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or_default().to_string();
        let expires = issued.get(&key).copied().unwrap_or_else(|| panic!("signed with {key:?}, never issued"));
        let received = rec["received"].as_f64().unwrap();
        assert!(received < expires as f64, "{key} expired at {expires}, request received at {received}");
        by_key.entry(key).or_default().push(line.to_string());
    }
    let requests: usize = by_key.values().map(Vec::len).sum();
    eprintln!("container credentials: {took:?}, {requests} requests, {} credentials issued", issued.len());
    assert!(took > Duration::from_secs(5), "the run outlasted the outage ({took:?})");
    assert!(by_key.len() >= 2, "credentials were refreshed: {:?}", by_key.keys());
    assert!(issued.len() as u64 <= 2 + 2 * took.as_secs(), "fetched before expiry, not per request: {}", issued.len());
    for (key, lines) in &by_key {
        let n: usize = key["ASIAPOD".len()..].parse().unwrap();
        let file = tmp.path().join(format!("{key}.jsonl"));
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let said = verify(python, &file, key, &format!("pod/secret+{n}"), &format!("pod-token-{n}"), "us-west-2");
        assert_eq!(said.trim(), format!("{} verified", lines.len()));
    }
}

/// A profile's `credential_process` that fails its first two runs: the data waits (nothing
/// dropped, `ship` checks every sample was sent), the failure is logged with the profile and
/// the command, and every request is signed with the command's credentials, as botocore checks.
#[test]
fn sigv4_credential_process_failing_then_answering_loses_nothing() {
    let Some(python) = botocore_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("process");
    std::fs::create_dir_all(run.join(".aws")).unwrap();
    let runs = tmp.path().join("runs");
    let script = tmp.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "n=$(cat '{runs}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{runs}'\n\
             if [ $n -le 2 ]; then echo 'token service unavailable' >&2; exit 1; fi\n\
             printf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"proc/secret+key\", \
             \"SessionToken\": \"proc-session\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}'\n",
            runs = runs.display()
        ),
    )
    .unwrap();
    let command = format!("sh {}", script.display());
    std::fs::write(run.join(".aws/credentials"), format!("[default]\ncredential_process = {command}\n")).unwrap();
    let records = tmp.path().join("process.jsonl");
    let (rx, requests) = recording_receiver(records.clone(), None);
    let config = format!(
        "remote_write:\n  - url: http://127.0.0.1:{}/api/v1/remote_write\n    sigv4: {{region: ap-southeast-2}}\n    \
         queue_config: {{max_samples_per_send: 10000, min_backoff: 20ms, max_backoff: 200ms}}\n",
        rx.port
    );
    let (log, _) = ship(&run, &config, &[("AWS_EC2_METADATA_DISABLED", "true")]);
    drop(rx);
    assert!(log.contains("token service unavailable") && log.contains(&command), "the failure is logged: {log}");
    let ran: u32 = std::fs::read_to_string(&runs).unwrap().trim().parse().unwrap();
    assert_eq!(ran, 3, "run until it answered, then its credentials kept");
    let n = requests.load(SeqCst);
    assert!(n > 10, "{n} requests");
    let said = verify(python, &records, "ASIAPROC", "proc/secret+key", "proc-session", "ap-southeast-2");
    assert_eq!(said.trim(), format!("{n} verified"));
}
