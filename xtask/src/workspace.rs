//! Where things are in the repository: the root, the crates, their examples and benches, the
//! fuzz targets.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root: the parent of this crate's directory, wherever cargo was started.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// A library or binary crate under `crates/`.
#[derive(Debug)]
pub struct Crate {
    /// The package name (`wal-format`), as `cargo -p` wants it.
    pub name: String,
    pub dir: PathBuf,
}

impl Crate {
    /// Names of the examples: `examples/<name>.rs` and `examples/<name>/main.rs`, sorted.
    pub fn examples(&self) -> Vec<String> {
        target_names(&self.dir.join("examples"))
    }

    /// Names of the benches, found the same way as examples.
    pub fn benches(&self) -> Vec<String> {
        target_names(&self.dir.join("benches"))
    }
}

/// Every crate under `crates/`, sorted by directory name.
pub fn crates() -> Vec<Crate> {
    let mut dirs = subdirectories(&root().join("crates"));
    dirs.sort();
    dirs.into_iter()
        .filter_map(|dir| {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
            Some(Crate { name: package_name(&manifest)?, dir })
        })
        .collect()
}

/// The crate called `name`, if there is one.
pub fn find_crate(name: &str) -> Option<Crate> {
    crates().into_iter().find(|c| c.name == name)
}

/// Names of the fuzz targets: `fuzz/fuzz_targets/<name>.rs`, sorted.
pub fn fuzz_targets() -> Vec<String> {
    target_names(&root().join("fuzz").join("fuzz_targets"))
}

/// The `name = "…"` of a manifest's `[package]` table. Enough TOML for our own manifests; it
/// saves a parser dependency.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name").map(str::trim_start).and_then(|l| l.strip_prefix('=')) {
                return Some(value.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Cargo's auto-discovered targets in `dir`: `<name>.rs` files and `<name>/main.rs` directories.
fn target_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let is_target = if path.is_dir() {
                path.join("main.rs").is_file()
            } else {
                path.extension().is_some_and(|x| x == "rs")
            };
            if !is_target {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_string())
        })
        .collect();
    names.sort();
    names
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_reads_the_package_table_only() {
        let manifest = "[workspace]\nname = \"nope\"\n\n[package]\nversion = \"1\"\nname = \"wal-format\"\n\n[lib]\nname = \"x\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("wal-format"));
        assert_eq!(package_name("[dependencies]\nname = \"a\"\n"), None);
    }

    #[test]
    fn finds_this_repository() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(crates().iter().any(|c| c.name == "wal-format"));
    }
}
