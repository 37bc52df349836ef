//! The remote credential sources against local fake endpoints, reached through the SDKs'
//! environment overrides (never the real link-local addresses).

use super::tests::env;
use super::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request a fake endpoint received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: String,
}

/// An HTTP/1.1 server on a loopback port answering each request with `handler`.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(handler: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Some(req) = read_request(&conn) {
                    s.lock().unwrap().push(req.clone());
                    let (status, body) = handler(&req);
                    let _ = write!(
                        &conn,
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Fake { url, seen, stop, thread: Some(thread) }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(conn: &TcpStream) -> Option<Seen> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length").map_or(Some(0), |l| l.parse().ok())?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Seen { method, path, headers, body: String::from_utf8(body).ok()? })
}

/// Far enough ahead that the credentials are cached in the tests below until they move `now` there.
const EXPIRES: &str = "2099-01-01T00:00:00Z";
fn expires() -> SystemTime {
    credentials::parse_time(EXPIRES).unwrap()
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// Signs a request with `signer` at `now`; the access key and session token it was signed with.
fn signed_with(signer: &Signer, e: &dyn Env, now: SystemTime) -> Result<(String, Option<String>), String> {
    let headers = signer.sign_with("https://aps.example/api/v1/remote_write", &[], b"x", now, e)?;
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let auth = get("authorization").unwrap();
    let key = auth.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap().to_string();
    Ok((key, get("x-amz-security-token")))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("walship-sigv4-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn web_identity_through_sts_cached_and_token_reread() {
    let failing = Arc::new(AtomicBool::new(false));
    let count = Arc::new(Mutex::new(0));
    let (f, c) = (failing.clone(), count.clone());
    let sts = Fake::start(move |_| {
        if f.load(SeqCst) {
            let err = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>\
                       <Message>Token expired</Message></Error></ErrorResponse>";
            return (400, err.into());
        }
        let mut n = c.lock().unwrap();
        *n += 1;
        let xml = format!(
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
             <AccessKeyId>ASIAWEB{n}</AccessKeyId><SecretAccessKey>s/{n}</SecretAccessKey>\
             <SessionToken>session-{n}</SessionToken><Expiration>{EXPIRES}</Expiration></Credentials>\
             </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
        );
        (200, xml)
    });
    let dir = tempdir("web");
    let token = dir.join("token");
    std::fs::write(&token, "tok-1\n").unwrap();
    let sts_url = format!("{}/", sts.url);
    let e = env(&[
        ("HOME", "/nonexistent-home"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"),
        ("AWS_ROLE_SESSION_NAME", "shipper-pod"),
        ("AWS_ENDPOINT_URL_STS", &sts_url),
    ]);
    let cfg = SigV4Config::default();
    assert_eq!(check_with(&cfg, &e), Ok(()));
    assert!(sts.seen().is_empty(), "check asks no STS");

    let signer = Signer::new(&cfg, Duration::from_secs(5));
    let now = SystemTime::now();
    assert_eq!(signed_with(&signer, &e, now), Ok(("ASIAWEB1".into(), Some("session-1".into()))));
    assert_eq!(
        signed_with(&signer, &e, now + Duration::from_secs(3600)),
        Ok(("ASIAWEB1".into(), Some("session-1".into())))
    );
    let seen = sts.seen();
    assert_eq!(seen.len(), 1, "cached: {seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/"));
    assert!(!seen[0].headers.contains_key("authorization"), "not signed: {seen:?}");
    let f = form(&seen[0].body);
    for (k, v) in [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("RoleArn", "arn:aws:iam::123456789012:role/irsa"),
        ("RoleSessionName", "shipper-pod"),
        ("WebIdentityToken", "tok-1"),
        ("Version", "2011-06-15"),
    ] {
        assert_eq!(f.get(k).map(String::as_str), Some(v), "{k}: {f:?}");
    }

    // Five minutes before expiry: the rotated token file is read and new credentials fetched.
    std::fs::write(&token, "tok-2").unwrap();
    let late = expires() - Duration::from_secs(299);
    assert_eq!(signed_with(&signer, &e, late), Ok(("ASIAWEB2".into(), Some("session-2".into()))));
    assert_eq!(form(&sts.seen()[1].body).get("WebIdentityToken").map(String::as_str), Some("tok-2"));

    // STS refuses while the credentials are about to expire: nothing is signed, STS's word is told.
    failing.store(true, SeqCst);
    let err = signed_with(&signer, &e, expires() - Duration::from_secs(5)).unwrap_err();
    assert!(
        err.contains("InvalidIdentityToken") && err.contains("Token expired") && err.contains(token.to_str().unwrap()),
        "{err}"
    );

    // The token file missing: check says so.
    std::fs::remove_file(&token).unwrap();
    let err = check_with(&cfg, &e).unwrap_err();
    assert!(err.contains("AWS_WEB_IDENTITY_TOKEN_FILE") && err.contains(token.to_str().unwrap()), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn container_answer(n: u32) -> String {
    format!(
        "{{\"RoleArn\":\"arn:aws:iam::1:role/task\",\"AccessKeyId\":\"ASIAECS{n}\",\
         \"SecretAccessKey\":\"ecs/secret\",\"Token\":\"ecs-token-{n}\",\"Expiration\":\"{EXPIRES}\"}}"
    )
}

#[test]
fn container_credentials_with_an_authorization_token() {
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    let agent = Fake::start(move |req| {
        if req.headers.get("authorization").is_none_or(|a| !a.starts_with("pod-token")) {
            return (401, "no".into());
        }
        let mut n = c.lock().unwrap();
        *n += 1;
        (200, container_answer(*n))
    });
    let dir = tempdir("container");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "pod-token-from-file\n").unwrap();
    let full = format!("{}/v1/credentials?id=7", agent.url);
    let pairs = [
        ("HOME", "/nonexistent-home"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token-value"),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().unwrap()),
    ];
    let cfg = SigV4Config::default();
    assert_eq!(check_with(&cfg, &env(&pairs)), Ok(()));
    assert!(agent.seen().is_empty(), "check asks no agent");

    let signer = Signer::new(&cfg, Duration::from_secs(5));
    let now = SystemTime::now();
    assert_eq!(signed_with(&signer, &env(&pairs), now), Ok(("ASIAECS1".into(), Some("ecs-token-1".into()))));
    assert_eq!(
        signed_with(&signer, &env(&pairs), now + Duration::from_secs(600)),
        Ok(("ASIAECS1".into(), Some("ecs-token-1".into())))
    );
    let seen = agent.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/v1/credentials?id=7"));
    assert_eq!(seen[0].headers.get("authorization").map(String::as_str), Some("pod-token-from-file"));

    // Without the file, the token's value; a refresh near expiry.
    let late = expires() - Duration::from_secs(200);
    assert_eq!(signed_with(&signer, &env(&pairs[..4]), late), Ok(("ASIAECS2".into(), Some("ecs-token-2".into()))));
    assert_eq!(agent.seen()[1].headers.get("authorization").map(String::as_str), Some("pod-token-value"));

    // Refused (no token): the agent's answer is in the message.
    let fresh = Signer::new(&cfg, Duration::from_secs(5));
    let err = signed_with(&fresh, &env(&pairs[..3]), now).unwrap_err();
    assert!(err.contains("HTTP 401") && err.contains(&full), "{err}");
    // The token file gone: check says so.
    std::fs::remove_dir_all(&dir).unwrap();
    let err = check_with(&cfg, &env(&pairs)).unwrap_err();
    assert!(err.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), "{err}");
}

/// A fake instance metadata service: IMDSv2 only (a session token is required).
fn fake_imds(role_answer: String) -> Fake {
    Fake::start(move |req| {
        const ROLES: &str = "/latest/meta-data/iam/security-credentials/";
        match (req.method.as_str(), req.path.as_str()) {
            ("PUT", "/latest/api/token") => match req.headers.get("x-aws-ec2-metadata-token-ttl-seconds") {
                Some(_) => (200, "imds-session".into()),
                None => (400, String::new()),
            },
            _ if req.headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some("imds-session") => {
                (401, String::new())
            }
            ("GET", ROLES) => (200, "shipper-instance\n".into()),
            ("GET", p) if p == format!("{ROLES}shipper-instance") => (200, role_answer.clone()),
            _ => (404, String::new()),
        }
    })
}

#[test]
fn instance_role_through_imds_v2() {
    let answer = format!(
        "{{\"Code\":\"Success\",\"LastUpdated\":\"2026-12-01T15:00:00Z\",\"Type\":\"AWS-HMAC\",\
         \"AccessKeyId\":\"ASIAEC2\",\"SecretAccessKey\":\"ec2/secret\",\"Token\":\"ec2-token\",\
         \"Expiration\":\"{EXPIRES}\"}}"
    );
    let imds = fake_imds(answer);
    let pairs =
        [("HOME", "/nonexistent-home"), ("AWS_REGION", "us-east-1"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)];
    let cfg = SigV4Config::default();
    let signer = Signer::new(&cfg, Duration::from_secs(5));
    let now = SystemTime::now();
    assert_eq!(signed_with(&signer, &env(&pairs), now), Ok(("ASIAEC2".into(), Some("ec2-token".into()))));
    assert_eq!(signed_with(&signer, &env(&pairs), now), Ok(("ASIAEC2".into(), Some("ec2-token".into()))));
    let steps: Vec<_> = imds.seen().iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(
        steps,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/shipper-instance"
        ]
    );
    // check asks the service: on EC2 with a role, it succeeds.
    assert_eq!(check_with(&cfg, &env(&pairs)), Ok(()));
    assert_eq!(imds.seen().len(), 6);
    // Disabled: not asked.
    let mut off = pairs.to_vec();
    off.push(("AWS_EC2_METADATA_DISABLED", "true"));
    assert!(check_with(&cfg, &env(&off)).unwrap_err().contains("AWS_EC2_METADATA_DISABLED"));
    assert_eq!(imds.seen().len(), 6);

    // An answer that is not a success.
    let failed = fake_imds("{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\"}".into());
    let pairs = [
        ("HOME", "/nonexistent-home"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &failed.url),
    ];
    let err = check_with(&cfg, &env(&pairs)).unwrap_err();
    assert!(err.contains("AssumeRoleUnauthorizedAccess") && err.contains("shipper-instance"), "{err}");
}

/// Off EC2 the chain ends quickly, saying where it looked: a port nobody listens on, and a
/// service that accepts the connection but never answers (cut after a second).
#[test]
fn off_ec2_the_chain_fails_fast_and_says_where_it_looked() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    for url in [closed_url, silent_url] {
        let pairs =
            [("HOME", "/nonexistent-home"), ("AWS_REGION", "us-east-1"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url)];
        let started = Instant::now();
        let err = check_with(&SigV4Config::default(), &env(&pairs)).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
        for place in [
            "no AWS credentials",
            "AWS_ACCESS_KEY_ID",
            "/nonexistent-home/.aws/credentials",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            &format!("EC2 instance metadata at {url}"),
        ] {
            assert!(err.contains(place), "{place}: {err}");
        }
    }
    drop(silent);
}

fn assume_role_answer(n: u32, expiration: &str) -> String {
    format!(
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE{n}</AccessKeyId>\
         <SecretAccessKey>role/{n}</SecretAccessKey><SessionToken>role-session-{n}</SessionToken>\
         <Expiration>{expiration}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
    )
}

/// `role_arn`: the role's credentials are kept until five minutes before the `Expiration` STS
/// gives (an hour here, not a fixed quarter of an hour), and through a failing refresh while valid.
#[test]
fn assumed_role_renewed_on_its_expiration() {
    let failing = Arc::new(AtomicBool::new(false));
    let count = Arc::new(Mutex::new(0));
    let (f, c) = (failing.clone(), count.clone());
    let sts = Fake::start(move |_| {
        if f.load(SeqCst) {
            return (503, "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>".into());
        }
        let mut n = c.lock().unwrap();
        *n += 1;
        (200, assume_role_answer(*n, EXPIRES))
    });
    let sts_url = format!("{}/", sts.url);
    let e = env(&[("HOME", "/nonexistent-home"), ("AWS_ENDPOINT_URL_STS", &sts_url)]);
    let cfg = SigV4Config {
        region: "eu-west-1".into(),
        access_key: "AKIDBASE".into(),
        secret_key: crate::config::Secret::new("base-secret"),
        role_arn: "arn:aws:iam::123456789012:role/shipper".into(),
        ..Default::default()
    };
    let signer = Signer::new(&cfg, Duration::from_secs(5));
    let now = SystemTime::now();
    let role = |n: u32| Ok((format!("ASIAROLE{n}"), Some(format!("role-session-{n}"))));
    assert_eq!(signed_with(&signer, &e, now), role(1));
    // Past the quarter of an hour asked for, the credentials STS said are valid longer still serve.
    assert_eq!(signed_with(&signer, &e, now + Duration::from_secs(3600)), role(1));
    assert_eq!(sts.seen().len(), 1);
    let seen = &sts.seen()[0];
    assert!(seen.headers.get("authorization").is_some_and(|a| a.contains("Credential=AKIDBASE/")), "{seen:?}");
    assert_eq!(form(&seen.body).get("Action").map(String::as_str), Some("AssumeRole"));

    // Five minutes before the expiration: renewed.
    assert_eq!(signed_with(&signer, &e, expires() - Duration::from_secs(301)), role(1));
    assert_eq!(signed_with(&signer, &e, expires() - Duration::from_secs(299)), role(2));
    assert_eq!(sts.seen().len(), 2);

    // STS down while the credentials are valid: they go on signing; shortly before expiry, not.
    failing.store(true, SeqCst);
    assert_eq!(signed_with(&signer, &e, expires() - Duration::from_secs(200)), role(2));
    let err = signed_with(&signer, &e, expires() - Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("ServiceUnavailable") && err.contains("arn:aws:iam::123456789012:role/shipper"), "{err}");
}

/// `credential_process` of a profile: run through `sh -c` (its quoted argument arrives whole),
/// its credentials kept until five minutes before their `Expiration`, a failing run told with
/// the profile, the command and what it printed on standard error.
#[test]
fn credential_process_of_a_profile() {
    let dir = tempdir("process");
    let script = dir.join("creds.sh");
    let answer = dir.join("answer.json");
    let runs = dir.join("runs");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{runs}'\n[ \"$1\" = 'two words' ] || {{ echo \"bad argument: $1\" >&2; exit 2; }}\n\
             cat '{answer}'\n",
            runs = runs.display(),
            answer = answer.display()
        ),
    )
    .unwrap();
    let answer_with = |key: &str| {
        let json = format!(
            "{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"proc/secret\", \
             \"SessionToken\": \"proc-token\", \"Expiration\": \"{EXPIRES}\"}}"
        );
        std::fs::write(&answer, json).unwrap();
    };
    answer_with("ASIAPROC1");
    let command = format!("sh {} 'two words'", script.display());
    let creds = dir.join("credentials");
    std::fs::write(&creds, format!("[shipper]\ncredential_process = {command}\n")).unwrap();
    let e = env(&[
        ("HOME", "/nonexistent-home"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_PROFILE", "shipper"),
    ]);
    let runs_count = || std::fs::read_to_string(&runs).map_or(0, |r| r.lines().count());
    let cfg = SigV4Config::default();
    assert_eq!(check_with(&cfg, &e), Ok(()));
    assert_eq!(runs_count(), 0, "check runs no command");

    let signer = Signer::new(&cfg, Duration::from_secs(5));
    let now = SystemTime::now();
    let proc = |key: &str| Ok((key.to_string(), Some("proc-token".to_string())));
    assert_eq!(signed_with(&signer, &e, now), proc("ASIAPROC1"));
    assert_eq!(signed_with(&signer, &e, now + Duration::from_secs(3600)), proc("ASIAPROC1"));
    assert_eq!(runs_count(), 1, "kept until shortly before the expiration");
    answer_with("ASIAPROC2");
    assert_eq!(signed_with(&signer, &e, expires() - Duration::from_secs(299)), proc("ASIAPROC2"));
    assert_eq!(runs_count(), 2);

    // The command fails: the credentials still valid go on signing; near their expiry, the
    // error names the profile and the command, and tells what the command said.
    std::fs::write(&answer, "{\"Version\": 2}").unwrap();
    assert_eq!(signed_with(&signer, &e, expires() - Duration::from_secs(100)), proc("ASIAPROC2"));
    let err = signed_with(&signer, &e, expires() - Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("\"shipper\"") && err.contains(&command) && err.contains("Version Some(2)"), "{err}");
    let fresh = Signer::new(&SigV4Config { profile: "shipper".into(), ..Default::default() }, Duration::from_secs(5));
    std::fs::write(&creds, "[shipper]\ncredential_process = sh -c 'echo no such token >&2; exit 7'\n").unwrap();
    let err = signed_with(&fresh, &e, now).unwrap_err();
    assert!(err.contains("\"shipper\"") && err.contains("no such token") && err.contains('7'), "{err}");

    // Keys in the profile come before its command.
    std::fs::write(
        &creds,
        "[keys]\naws_access_key_id = AKIDKEYS\naws_secret_access_key = s\ncredential_process = false\n",
    )
    .unwrap();
    let keys = Signer::new(&SigV4Config { profile: "keys".into(), ..Default::default() }, Duration::from_secs(5));
    assert_eq!(signed_with(&keys, &e, now), Ok(("AKIDKEYS".into(), None)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Chains inside shared-config profiles, read (as by the Go SDK) only with
/// `AWS_SDK_LOAD_CONFIG`: each role assumed in turn with the credentials before it.
#[test]
fn profile_chains_with_aws_sdk_load_config() {
    // Answers with credentials named after the role (or the web identity's role).
    let sts = Fake::start(|req| {
        let f = form(&req.body);
        let role = f.get("RoleArn").and_then(|r| r.rsplit('/').next()).unwrap_or("none").to_string();
        let action = f.get("Action").cloned().unwrap_or_default();
        let xml = format!(
            "<{action}Response><{action}Result><Credentials><AccessKeyId>ASIA-{role}</AccessKeyId>\
             <SecretAccessKey>s/{role}</SecretAccessKey><SessionToken>token-{role}</SessionToken>\
             <Expiration>{EXPIRES}</Expiration></Credentials></{action}Result></{action}Response>"
        );
        (200, xml)
    });
    let dir = tempdir("chains");
    let token = dir.join("token");
    std::fs::write(&token, "web-token").unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = AKIDSRC\naws_secret_access_key = src-secret\n\
             [profile middle]\nrole_arn = arn:aws:iam::1:role/middle\nsource_profile = base\nexternal_id = ext-1\n\
             [profile shipper]\nrole_arn = arn:aws:iam::1:role/shipper\nsource_profile = middle\n\
             role_session_name = shipper-session\nduration_seconds = 3600\n\
             [profile fromenv]\nrole_arn = arn:aws:iam::1:role/env\ncredential_source = Environment\n\
             [profile web]\nrole_arn = arn:aws:iam::1:role/web\nweb_identity_token_file = {}\n\
             [profile loop1]\nrole_arn = arn:aws:iam::1:role/l1\nsource_profile = loop2\n\
             [profile loop2]\nrole_arn = arn:aws:iam::1:role/l2\nsource_profile = loop1\n",
            token.display()
        ),
    )
    .unwrap();
    let sts_url = format!("{}/", sts.url);
    let pairs = [
        ("HOME", "/nonexistent-home"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent-home/credentials"),
        ("AWS_ENDPOINT_URL_STS", &sts_url),
    ];
    let with = |profile: &'static str, load: bool, extra: &[(&'static str, &'static str)]| {
        let mut p = pairs.to_vec();
        p.push(("AWS_PROFILE", profile));
        if load {
            p.push(("AWS_SDK_LOAD_CONFIG", "1"));
        }
        p.extend_from_slice(extra);
        env(&p)
    };
    let cfg = SigV4Config::default();
    let now = SystemTime::now();

    // Without AWS_SDK_LOAD_CONFIG the Go SDK ignores these keys: so does walship, and says so.
    let err = check_with(&cfg, &with("shipper", false, &[])).unwrap_err();
    assert!(err.contains("AWS_SDK_LOAD_CONFIG") && err.contains("\"shipper\""), "{err}");

    // base's keys assume middle (with its external id), whose credentials assume shipper.
    let e = with("shipper", true, &[]);
    assert_eq!(check_with(&cfg, &e), Ok(()));
    assert!(sts.seen().is_empty(), "check asks no STS for a chain of keys");
    let signer = Signer::new(&cfg, Duration::from_secs(5));
    assert_eq!(signed_with(&signer, &e, now), Ok(("ASIA-shipper".into(), Some("token-shipper".into()))));
    assert_eq!(
        signed_with(&signer, &e, now + Duration::from_secs(3600)),
        Ok(("ASIA-shipper".into(), Some("token-shipper".into())))
    );
    let seen = sts.seen();
    assert_eq!(seen.len(), 2, "both roles cached: {seen:?}");
    let (middle, shipper) = (form(&seen[0].body), form(&seen[1].body));
    assert!(seen[0].headers["authorization"].contains("Credential=AKIDSRC/"), "{seen:?}");
    assert_eq!(middle.get("RoleArn").map(String::as_str), Some("arn:aws:iam::1:role/middle"));
    assert_eq!(middle.get("ExternalId").map(String::as_str), Some("ext-1"));
    assert!(seen[1].headers["authorization"].contains("Credential=ASIA-middle/"), "{seen:?}");
    assert_eq!(seen[1].headers.get("x-amz-security-token").map(String::as_str), Some("token-middle"));
    assert_eq!(shipper.get("RoleSessionName").map(String::as_str), Some("shipper-session"));
    assert_eq!(shipper.get("DurationSeconds").map(String::as_str), Some("3600"));

    // credential_source Environment: the environment's keys assume the role (the profile named
    // in the configuration, else the environment's keys would sign directly, as in the Go SDK).
    let e = with("fromenv", true, &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "env-secret")]);
    let signer = Signer::new(&SigV4Config { profile: "fromenv".into(), ..Default::default() }, Duration::from_secs(5));
    assert_eq!(signed_with(&signer, &e, now), Ok(("ASIA-env".into(), Some("token-env".into()))));
    assert!(sts.seen()[2].headers["authorization"].contains("Credential=AKIDENV/"));
    let err = check_with(&cfg, &with("fromenv", true, &[])).unwrap_err();
    assert!(err.contains("credential_source Environment"), "{err}");

    // web_identity_token_file: the token assumes the profile's role, unsigned.
    let e = with("web", true, &[]);
    let signer = Signer::new(&cfg, Duration::from_secs(5));
    assert_eq!(signed_with(&signer, &e, now), Ok(("ASIA-web".into(), Some("token-web".into()))));
    let web = &sts.seen()[3];
    assert!(!web.headers.contains_key("authorization"));
    assert_eq!(form(&web.body).get("WebIdentityToken").map(String::as_str), Some("web-token"));

    // A loop of source profiles is an error, not a hang.
    let err = check_with(&cfg, &with("loop1", true, &[])).unwrap_err();
    assert!(err.contains("leads back"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
