//! Reading and setting the release version in the root `Cargo.toml`, line by line so that its
//! comments and layout stay as they are (and xtask needs no TOML crate).

use crate::error::{Failure, Result};

/// The crates released together, in dependency order: each depends only on crates before it.
/// `cargo publish` orders them itself; the order here is for reading and for error messages.
pub const RELEASED_CRATES: &[&str] =
    &["wal-format", "wal-reader", "wal-watcher", "remote-queue", "tsdb-block", "walship"];

/// The library crates: what other projects depend on, and what the MSRV and semver checks cover.
pub const LIBRARY_CRATES: &[&str] = &["wal-format", "wal-reader", "wal-watcher", "remote-queue", "tsdb-block"];

/// `version` of `[workspace.package]`, which every crate inherits.
pub fn workspace_version(manifest: &str) -> Option<String> {
    lines_of(manifest, "[workspace.package]").find_map(|line| string_value(line, "version"))
}

/// `rust-version` of `[workspace.package]`.
pub fn workspace_rust_version(manifest: &str) -> Option<String> {
    lines_of(manifest, "[workspace.package]").find_map(|line| string_value(line, "rust-version"))
}

/// `manifest` with `[workspace.package] version` and the `version` of each of `crates` in
/// `[workspace.dependencies]` set to `version`. Fails naming what it could not find, rather than
/// release crates that still require each other's old version.
pub fn set_version(manifest: &str, version: &str, crates: &[&str]) -> Result<String> {
    let mut table = "";
    let mut package_done = false;
    let mut deps_done: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(manifest.len() + 64);
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            table = trimmed;
        }
        let mut edited = None;
        if table == "[workspace.package]" && string_value(trimmed, "version").is_some() {
            edited = replace_quoted_after(line, "version", version);
            package_done |= edited.is_some();
        } else if table == "[workspace.dependencies]" {
            if let Some(name) = crates.iter().find(|c| key_of(trimmed) == Some(**c)) {
                edited = replace_quoted_after(line, "version", version);
                if edited.is_some() {
                    deps_done.push(name);
                }
            }
        }
        out.push_str(edited.as_deref().unwrap_or(line));
    }
    if !package_done {
        return Err("Cargo.toml: no `version = \"…\"` in [workspace.package]".into());
    }
    let missing: Vec<&str> = crates.iter().copied().filter(|c| !deps_done.contains(c)).collect();
    if !missing.is_empty() {
        return Err(Failure(format!(
            "Cargo.toml: [workspace.dependencies] has no `{{ path = …, version = \"…\" }}` entry for {}",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// The lines of `table` (up to the next table header).
fn lines_of<'a>(manifest: &'a str, table: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut inside = false;
    manifest.lines().map(str::trim).filter(move |line| {
        if line.starts_with('[') {
            inside = *line == table;
            return false;
        }
        inside
    })
}

/// The key of a `key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    Some(key.trim().trim_matches('"'))
}

/// The string of a `key = "value"` line.
fn string_value(line: &str, key: &str) -> Option<String> {
    if key_of(line)? != key {
        return None;
    }
    let value = line.split_once('=')?.1.trim();
    Some(value.strip_prefix('"')?.split('"').next()?.to_string())
}

/// `line` with the quoted string after the first `key =` in it replaced by `value`: works for
/// `version = "0.1.0"` and for `version = "0.1.0"` inside an inline table.
fn replace_quoted_after(line: &str, key: &str, value: &str) -> Option<String> {
    let mut search = 0;
    while let Some(found) = line[search..].find(key).map(|i| i + search) {
        // `version`, not the end of `rust-version` or `myversion`.
        let before_ok = found == 0 || {
            let b = line.as_bytes()[found - 1];
            !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let rest = line[found + key.len()..].trim_start();
        if let Some(rest) = rest.strip_prefix('=').map(str::trim_start).filter(|_| before_ok) {
            if let Some(quoted) = rest.strip_prefix('"') {
                let open = line.len() - quoted.len();
                let close = open + quoted.find('"')?;
                return Some(format!("{}{value}{}", &line[..open], &line[close..]));
            }
        }
        search = found + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
[workspace]
members = [\"crates/wal-format\"]

[workspace.package]
version = \"0.1.0\"
rust-version = \"1.89\"

[workspace.dependencies]
wal-format = { path = \"crates/wal-format\", version = \"0.1.0\" }
wal-reader = { path = \"crates/wal-reader\", version = \"0.1.0\", default-features = false }
snap = \"1\"
thiserror = { version = \"2\" }
";

    #[test]
    fn reads_the_workspace_versions() {
        assert_eq!(workspace_version(MANIFEST).as_deref(), Some("0.1.0"));
        assert_eq!(workspace_rust_version(MANIFEST).as_deref(), Some("1.89"));
    }

    #[test]
    fn sets_package_and_dependency_versions_only() {
        let edited = set_version(MANIFEST, "0.2.0-rc.1", &["wal-format", "wal-reader"]).unwrap();
        assert_eq!(workspace_version(&edited).as_deref(), Some("0.2.0-rc.1"));
        assert!(edited.contains("wal-format = { path = \"crates/wal-format\", version = \"0.2.0-rc.1\" }\n"));
        assert!(edited.contains("version = \"0.2.0-rc.1\", default-features = false }\n"));
        assert!(edited.contains("rust-version = \"1.89\"\n"), "rust-version is not `version`");
        assert!(edited.contains("thiserror = { version = \"2\" }\n"), "other dependencies stay");
        assert_eq!(edited.lines().count(), MANIFEST.lines().count());
    }

    #[test]
    fn a_crate_without_a_versioned_entry_is_an_error() {
        let err = set_version(MANIFEST, "0.2.0", &["wal-format", "remote-queue"]).unwrap_err();
        assert!(err.0.contains("remote-queue"), "{}", err.0);
        let path_only = MANIFEST.replace(", version = \"0.1.0\" }", " }");
        assert!(set_version(&path_only, "0.2.0", &["wal-format"]).is_err());
    }
}
