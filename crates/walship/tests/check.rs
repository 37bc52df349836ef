//! `walship check config` agrees with the real `promtool check config` (Prometheus 2.42, Debian
//! package) on what both check, exits as promtool exits, and also refuses what only walship
//! cannot honour (SigV4 credentials that cannot be found now).

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
        ("sigv4 with keys", "remote_write:\n  - url: https://aps.example/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n      access_key: AKIDEXAMPLE\n      secret_key: s\n".to_string(), 0),
        ("sigv4 with basic auth", "remote_write:\n  - url: https://aps.example/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n      access_key: AKIDEXAMPLE\n      secret_key: s\n    basic_auth:\n      username: u\n".to_string(), 1),
        ("sigv4 key without secret", "remote_write:\n  - url: https://aps.example/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n      access_key: AKIDEXAMPLE\n".to_string(), 1),
        ("oauth2", "remote_write:\n  - url: https://metrics.example/api/v1/write\n    oauth2:\n      client_id: walship\n      client_secret: s\n      token_url: https://login.example/token\n      scopes: [write]\n      endpoint_params: {audience: metrics}\n".to_string(), 0),
        ("oauth2 without token_url", "remote_write:\n  - url: https://metrics.example/api/v1/write\n    oauth2:\n      client_id: walship\n      client_secret: s\n".to_string(), 1),
        ("oauth2 with bearer token", "remote_write:\n  - url: https://metrics.example/api/v1/write\n    oauth2:\n      client_id: walship\n      client_secret: s\n      token_url: https://login.example/token\n    bearer_token: t\n".to_string(), 1),
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
    // What only walship checks: SigV4 needs a region and credentials now (Prometheus needs them
    // to start, promtool does not look). Without them in the configuration, the AWS chain is used.
    let sigv4 = dir.path().join("sigv4.yml");
    std::fs::write(
        &sigv4,
        "remote_write:\n  - url: https://aps.example/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n",
    )
    .unwrap();
    assert_eq!(check(Command::new("promtool").args(["check", "config"]), &sigv4).0, Some(0));
    let no_aws = |c: &mut Command| {
        for v in ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_PROFILE"] {
            c.env_remove(v);
        }
        c.env("HOME", dir.path()).env_remove("AWS_SHARED_CREDENTIALS_FILE").env_remove("AWS_CONFIG_FILE");
        for v in [
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            c.env_remove(v);
        }
        // The chain's last place is the EC2 instance metadata service: a test asks no address
        // off this machine (the sigv4 module's tests ask a fake one).
        c.env("AWS_EC2_METADATA_DISABLED", "true");
    };
    let mut w = walship();
    w.args(["check", "config"]);
    no_aws(&mut w);
    let (ours, out) = check(&mut w, &sigv4);
    assert_eq!(ours, Some(1), "{out}");
    assert!(out.contains("sigv4") && out.contains("no AWS credentials"), "{out}");
    // The same file with keys in the environment, then in the shared credentials file.
    let mut w = walship();
    w.args(["check", "config"]);
    no_aws(&mut w);
    w.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "secret");
    let (ours, out) = check(&mut w, &sigv4);
    assert_eq!(ours, Some(0), "{out}");
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = A\naws_secret_access_key = S\n",
    )
    .unwrap();
    let mut w = walship();
    w.args(["check", "config"]);
    no_aws(&mut w);
    let (ours, out) = check(&mut w, &sigv4);
    assert_eq!(ours, Some(0), "{out}");
}
