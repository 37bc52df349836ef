//! The shared AWS files (`~/.aws/credentials`, `~/.aws/config`): where they are, and the
//! sections of their INI-style text.

use super::credentials::Env;
use std::path::PathBuf;

/// The shared file named by `var`, else `~/.aws/NAME`.
pub(super) fn shared_file(env: &dyn Env, var: &str, name: &str) -> Option<PathBuf> {
    env.var(var).map(PathBuf::from).or_else(|| env.home().map(|h| h.join(".aws").join(name)))
}

/// The section name of `profile` in the shared config file (`[default]`, `[profile NAME]`).
pub(super) fn config_section(profile: &str) -> String {
    if profile == "default" {
        profile.into()
    } else {
        format!("profile {profile}")
    }
}

/// The `key = value` pairs of section `[name]` of an INI-style AWS file; `Ok(None)` when the
/// file does not exist or has no such section. Keys are lower-cased, as the SDKs compare them.
pub(super) fn read_section(
    path: &std::path::Path,
    name: &str,
) -> std::result::Result<Option<std::collections::HashMap<String, String>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("sigv4: cannot read {}: {e}", path.display())),
    };
    Ok(parse_section(&text, name))
}

pub(super) fn parse_section(text: &str, name: &str) -> Option<std::collections::HashMap<String, String>> {
    let mut found = None;
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // `[profile  name]` and `[ name ]` are the same section to the SDKs.
            let header = header.split_whitespace().collect::<Vec<_>>().join(" ");
            inside = header == name;
            if inside {
                found.get_or_insert_with(std::collections::HashMap::new);
            }
            continue;
        }
        if !inside {
            continue;
        }
        if let (Some(map), Some((k, v))) = (found.as_mut(), line.split_once('=')) {
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    found
}
