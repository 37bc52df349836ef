//! Where things are in the repository: the root, the crates, their examples and benches, the
//! fuzz targets.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root: the parent of this crate's directory, wherever cargo was started.
///
/// `cargo run` tells us that directory at run time; the path compiled in is only the fallback.
/// With a shared build directory (the release's temporary worktree, a second clone), cargo may
/// run an xtask binary built from another checkout of the same sources, whose compiled-in path
/// points there, not here.
pub fn root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    manifest_dir.parent().map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
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

    /// Features the benches need (`required-features` of the `[[bench]]` tables): without them
    /// `cargo bench` skips those benches without a word.
    pub fn bench_features(&self) -> Vec<String> {
        let manifest = fs::read_to_string(self.dir.join("Cargo.toml")).unwrap_or_default();
        bench_features(&manifest)
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

fn bench_features(manifest: &str) -> Vec<String> {
    let mut in_bench = false;
    let mut features = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if in_bench {
            let Some(list) = line.strip_prefix("required-features").map(str::trim_start) else { continue };
            let list = list.trim_start_matches('=').trim().trim_start_matches('[').trim_end_matches(']');
            for feature in list.split(',').map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()) {
                if !features.iter().any(|f2| f2 == feature) {
                    features.push(feature.to_string());
                }
            }
        }
    }
    features
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
    fn bench_features_come_from_bench_tables() {
        let manifest = "[features]\ntesting = []\n\n[[bench]]\nname = \"decode\"\nharness = false\n\
                        required-features = [\"testing\", \"x\"]\n\n[[bench]]\nname = \"b\"\n\
                        required-features = [\"testing\"]\n\n[[example]]\nrequired-features = [\"no\"]\n";
        assert_eq!(bench_features(manifest), ["testing", "x"]);
        assert!(bench_features("[package]\nname = \"a\"\n").is_empty());
    }

    #[test]
    fn finds_this_repository() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(crates().iter().any(|c| c.name == "wal-format"));
    }
}
