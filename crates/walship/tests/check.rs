//! `walship check config` agrees with the real `promtool check config` (Prometheus 2.42, Debian
//! package) on what both check, exits as promtool exits, and also refuses what only walship
//! cannot honour.

mod common;

use common::*;
use std::process::Command;

fn check(tool: &mut Command, file: &std::path::Path) -> (Option<i32>, String) {
    let out = tool.arg(file).output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn check_config_exits_as_promtool_does() {
    if !have("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "secret").unwrap();
    let cases = [
        ("valid", format!("global:\n  external_labels:\n    dc: eu1\nremote_write:\n  - url: http://127.0.0.1:9201/api/v1/write\n    basic_auth:\n      username: u\n      password_file: {}\n", password.display()), 0),
        ("unknown key", "remote_write:\n  - url: http://127.0.0.1:9201/api/v1/write\n    remote_timout: 10s\n".to_string(), 1),
        ("two auth methods", "remote_write:\n  - url: http://127.0.0.1:9201/api/v1/write\n    basic_auth:\n      username: u\n      password: p\n    bearer_token: t\n".to_string(), 1),
        ("bad relabel regex", "remote_write:\n  - url: http://127.0.0.1:9201/api/v1/write\n    write_relabel_configs:\n      - source_labels: [job]\n        regex: '(unclosed'\n".to_string(), 1),
    ];
    for (name, text, want) in cases {
        let file = dir.path().join(format!("{}.yml", name.replace(' ', "-")));
        std::fs::write(&file, text).unwrap();
        let (promtool, p_out) = check(Command::new("promtool").args(["check", "config"]), &file);
        let (ours, w_out) = check(walship().args(["check", "config"]), &file);
        assert_eq!(promtool, Some(want), "{name}: promtool\n{p_out}");
        assert_eq!(ours, Some(want), "{name}: walship\n{w_out}");
        assert!(w_out.contains(if want == 0 { "SUCCESS" } else { "FAILED" }), "{name}\n{w_out}");
    }
    // What only walship knows: it cannot sign requests with SigV4, which promtool accepts.
    let sigv4 = dir.path().join("sigv4.yml");
    std::fs::write(
        &sigv4,
        "remote_write:\n  - url: https://aps.example/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n",
    )
    .unwrap();
    assert_eq!(check(Command::new("promtool").args(["check", "config"]), &sigv4).0, Some(0));
    let (ours, out) = check(walship().args(["check", "config"]), &sigv4);
    assert_eq!(ours, Some(1), "{out}");
    assert!(out.to_lowercase().contains("sigv4"), "{out}");
}
