//! `credential_process` in a shared-files profile: a command that prints credentials as JSON.
//!
//! As the Go SDK that Prometheus uses does, the command line is given to `sh -c` (so it may
//! quote arguments and use `~`-free paths with spaces), runs with walship's environment, and
//! may run for at most a minute; its standard output is the answer (at most 8 KiB read), its
//! standard input is empty and its standard error is kept for the message when it fails.

use super::credentials::{parse_time, Credentials, Temporary};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the command may run.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How much of its standard output is read, and of its standard error kept for messages.
const MAX_OUTPUT: u64 = 8 * 1024;
const MAX_STDERR_SHOWN: usize = 300;
/// How long the output is waited for once the command exited.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// A profile's `credential_process`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Process {
    pub(super) command: String,
    pub(super) profile: String,
    /// The shared file the profile was read from.
    pub(super) file: PathBuf,
}

impl Process {
    /// How messages name it.
    pub(super) fn describe(&self) -> String {
        format!("credential_process {:?} of profile {:?} in {}", self.command, self.profile, self.file.display())
    }

    /// Runs the command and reads its credentials; an error names the profile and the command.
    pub(super) fn fetch(&self) -> Result<Temporary, String> {
        let what = format!("sigv4: {}", self.describe());
        if self.command.trim().is_empty() {
            return Err(format!("{what}: the command is empty"));
        }
        let out = run(&self.command, TIMEOUT).map_err(|e| format!("{what}: {e}"))?;
        parse(&out, format!("the credential_process of profile {:?}", self.profile)).map_err(|e| format!("{what}: {e}"))
    }
}

/// Runs `command` with `sh -c`; its standard output when it exits with success.
fn run(command: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                // Read to the end (up to the limit), so that the command is not blocked on a full pipe.
                let _ = p.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {}s (killed)", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for it: {e}")),
        }
    };
    // Something the command started in the background may hold the pipes open: its output is
    // waited for a little only.
    let stdout = stdout.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(PIPE_GRACE).unwrap_or_default();
    if status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr: String = stderr.trim().chars().take(MAX_STDERR_SHOWN).collect();
    Err(if stderr.is_empty() { format!("failed ({status})") } else { format!("failed ({status}): {stderr}") })
}

/// The command's answer: `Version` 1, `AccessKeyId`, `SecretAccessKey`, optional
/// `SessionToken` and `Expiration`.
fn parse(out: &[u8], source: String) -> Result<Temporary, String> {
    let v: serde_json::Value =
        serde_json::from_slice(out).map_err(|e| format!("its output is not the expected JSON: {e}"))?;
    match v.get("Version").and_then(serde_json::Value::as_i64) {
        Some(1) => {}
        other => return Err(format!("its output has Version {other:?}, not 1")),
    }
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty()).map(str::to_string);
    let (Some(access_key), Some(secret_key)) = (get("AccessKeyId"), get("SecretAccessKey")) else {
        return Err("its output has no AccessKeyId and SecretAccessKey".into());
    };
    let expires = match get("Expiration") {
        None => None,
        Some(e) => Some(parse_time(&e).ok_or_else(|| format!("its Expiration {e:?} is not a time"))?),
    };
    Ok(Temporary { creds: Credentials { access_key, secret_key, session_token: get("SessionToken"), source }, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ok = br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"s","SessionToken":"t","Expiration":"2030-01-01T00:00:00Z"}"#;
        let t = parse(ok, "x".into()).unwrap();
        assert_eq!((t.creds.access_key.as_str(), t.creds.session_token.as_deref()), ("AK", Some("t")));
        assert_eq!(t.expires, parse_time("2030-01-01T00:00:00Z"));
        let long_lived = parse(br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"s"}"#, "x".into()).unwrap();
        assert_eq!((long_lived.creds.session_token, long_lived.expires), (None, None));
        for (bad, says) in [
            (&br#"{"Version":2,"AccessKeyId":"AK","SecretAccessKey":"s"}"#[..], "Version Some(2)"),
            (br#"{"AccessKeyId":"AK","SecretAccessKey":"s"}"#, "Version None"),
            (br#"{"Version":1,"AccessKeyId":"AK"}"#, "no AccessKeyId and SecretAccessKey"),
            (br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"s","Expiration":"soon"}"#, "\"soon\""),
            (b"not json", "not the expected JSON"),
        ] {
            let err = parse(bad, "x".into()).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    #[test]
    fn runs_through_sh_and_times_out() {
        assert_eq!(run("printf '%s' 'a b'", TIMEOUT), Ok(b"a b".to_vec()));
        let err = run("echo oops >&2; exit 3", TIMEOUT).unwrap_err();
        assert!(err.contains("oops") && err.contains('3'), "{err}");
        let started = Instant::now();
        let err = run("exec sleep 5", Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("did not finish") && started.elapsed() < Duration::from_secs(4), "{err}");
    }
}
