//! No secret in any log line at any level: `walship ship --log.level=debug` with a password in
//! the URL and a secret header value logs neither, while both reach the receiver's side.

mod common;

use common::*;
use std::ffi::OsStr;
use std::net::TcpStream;
use std::process::Stdio;

#[test]
fn debug_logs_hold_no_url_password_and_no_header_value() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rx = Killed(
        walship().args(["receive", "--listen"]).arg(format!("127.0.0.1:{port}")).stderr(Stdio::null()).spawn().unwrap(),
    );
    wait_for("receiver", 10, || TcpStream::connect(("127.0.0.1", port)).is_ok());
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "remote_write:\n  - url: http://walship:pa55w0rd-in-url@127.0.0.1:{port}/api/v1/write\n    \
             headers: {{X-Api-Key: header-s3cret}}\n    queue_config: {{max_samples_per_send: 5000}}\n"
        ),
    )
    .unwrap();
    let wal = testdata().join("prometheus-2.42/uncompressed-exemplars-checkpoint");
    let args = [OsStr::new("--log.level=debug"), OsStr::new("--config.file"), config.as_os_str()];
    let (status, log) = ship_once(&wal, &tmp.path().join("state"), args);
    assert!(status.success(), "{log}");
    assert!(log.contains("samples_failed=0"), "{log}");
    for secret in ["pa55w0rd-in-url", "header-s3cret", "d2Fsc2hpcDpwYTU1dzByZC1pbi11cmw"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
