//! The `msrv` step of `cargo xtask ci`: do the published crates still build with the oldest Rust
//! they promise (`rust-version` in the root Cargo.toml)?
//!
//! Three checks, from cheapest to most complete:
//! 1. clippy's `incompatible_msrv` lint, in the clippy step (`-D warnings`): it reads
//!    `rust-version` and rejects any use of a standard-library item stabilised after it. It does
//!    not see language features (syntax, new trait-solver behaviour) nor anything in dependencies.
//! 2. [`dependencies`]: no package that the released crates need to build (normal and build
//!    dependencies, all targets, the versions Cargo.lock pins) declares a `rust-version` newer
//!    than ours. It proves nothing about a dependency that declares none, nor about the newer
//!    versions a user's own lock file may pick (resolver "3", ours since this check found
//!    notify-types 2.3.0 wanting 1.91, avoids those when the user's workspace uses it too).
//! 3. [`toolchain`]: `cargo check` with that very toolchain, when rustup can install it. This is
//!    the real proof; on a machine without rustup or network it is skipped, and says so.

use crate::error::{Failure, Result};
use crate::json::Json;
use crate::manifest::{self, RELEASED_CRATES};
use crate::process::{self, cargo, succeeds};
use crate::workspace;
use std::collections::{BTreeMap, VecDeque};
use std::process::Command;

pub fn check() -> Result {
    let root_manifest = std::fs::read_to_string(workspace::root().join("Cargo.toml"))
        .map_err(|e| Failure(format!("reading Cargo.toml: {e}")))?;
    let ours = manifest::workspace_rust_version(&root_manifest)
        .ok_or("Cargo.toml: no `rust-version` in [workspace.package]")?;
    let ours_parsed =
        RustVersion::parse(&ours).ok_or_else(|| Failure(format!("rust-version `{ours}` is not x.y[.z]")))?;
    dependencies(&ours, ours_parsed)?;
    toolchain(&ours)
}

/// Check 2: every package in the build graph of the released crates declares a `rust-version`
/// no newer than `ours` (or none).
fn dependencies(ours: &str, ours_parsed: RustVersion) -> Result {
    let metadata = process::output(&mut cargo(["metadata", "--format-version", "1", "--locked"]))?;
    let metadata = Json::parse(&metadata)?;
    let graph = BuildGraph::from_metadata(&metadata)?;
    let roots = graph.packages.iter().filter(|(_, p)| RELEASED_CRATES.contains(&p.name.as_str())).map(|(id, _)| id);
    let (reached, parents) = graph.reachable(roots);
    let mut too_new = Vec::new();
    for id in &reached {
        let package = &graph.packages[id];
        let Some(theirs) = &package.rust_version else { continue };
        if RustVersion::parse(theirs).is_some_and(|v| v > ours_parsed) {
            too_new.push(format!(
                "{} (rust-version {theirs}, needed by {})",
                package.label(),
                graph.chain(id, &parents)
            ));
        }
    }
    if too_new.is_empty() {
        println!(
            "msrv: {} packages build the released crates; none declares a rust-version above {ours}",
            reached.len()
        );
        Ok(())
    } else {
        too_new.sort();
        Err(Failure(format!("dependencies need a newer Rust than our rust-version {ours}: {}", too_new.join("; "))))
    }
}

/// Check 3: `cargo check` of the released crates (their libraries and binaries, not tests or
/// dev-dependencies, which users never build) with the toolchain `ours`.
fn toolchain(ours: &str) -> Result {
    if !succeeds(Command::new("rustup").arg("--version")) {
        println!("msrv: toolchain check skipped: no rustup to install Rust {ours} with");
        return Ok(());
    }
    let mut install = Command::new("rustup");
    install.args(["toolchain", "install", ours, "--profile", "minimal", "--no-self-update"]);
    if process::run(&mut install).is_err() {
        println!("msrv: toolchain check skipped: rustup could not install Rust {ours} (offline?)");
        return Ok(());
    }
    let mut check = Command::new("rustup");
    check.args(["run", ours, "cargo", "check", "--locked", "--bins", "--lib"]).current_dir(workspace::root());
    check.args(RELEASED_CRATES.iter().flat_map(|c| ["-p", c]));
    // The cargo that runs xtask sets these for its own toolchain; the old cargo must pick its own.
    for var in ["RUSTC", "RUSTDOC", "RUSTC_WRAPPER", "CARGO", "RUSTUP_TOOLCHAIN"] {
        check.env_remove(var);
    }
    process::run(&mut check)
}

/// `1.89` or `1.89.0`, compared as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RustVersion(u64, u64, u64);

impl RustVersion {
    fn parse(text: &str) -> Option<RustVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts.next().is_none().then_some(RustVersion(major, minor, patch))
    }
}

struct Package {
    name: String,
    version: String,
    rust_version: Option<String>,
}

impl Package {
    fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// Packages by id, and for each the ids it needs to build: its normal and build dependencies.
struct BuildGraph {
    packages: BTreeMap<String, Package>,
    edges: BTreeMap<String, Vec<String>>,
}

impl BuildGraph {
    fn from_metadata(metadata: &Json) -> Result<BuildGraph> {
        let mut packages = BTreeMap::new();
        for p in metadata.get("packages").items() {
            let text = |key| p.get(key).as_str().map(str::to_string);
            let id = text("id").ok_or("cargo metadata: a package without an id")?;
            let package = Package {
                name: text("name").unwrap_or_default(),
                version: text("version").unwrap_or_default(),
                rust_version: text("rust_version"),
            };
            packages.insert(id, package);
        }
        let mut edges = BTreeMap::new();
        for node in metadata.get("resolve").get("nodes").items() {
            let id = node.get("id").as_str().ok_or("cargo metadata: a resolve node without an id")?;
            let needed = node
                .get("deps")
                .items()
                .iter()
                .filter(|dep| dep.get("dep_kinds").items().iter().any(|k| k.get("kind").as_str() != Some("dev")))
                .filter_map(|dep| dep.get("pkg").as_str().map(str::to_string))
                .collect();
            edges.insert(id.to_string(), needed);
        }
        if edges.is_empty() {
            return Err("cargo metadata: no dependency graph (resolve) in its output".into());
        }
        Ok(BuildGraph { packages, edges })
    }

    /// Every package reachable from `roots`, and the parent through which each was first reached.
    fn reachable<'a>(&self, roots: impl Iterator<Item = &'a String>) -> (Vec<String>, BTreeMap<String, String>) {
        let mut parents = BTreeMap::new();
        let mut seen: Vec<String> = Vec::new();
        let mut queue: VecDeque<String> = roots.cloned().collect();
        seen.extend(queue.iter().cloned());
        while let Some(id) = queue.pop_front() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if !seen.contains(dep) {
                    seen.push(dep.clone());
                    parents.insert(dep.clone(), id.clone());
                    queue.push_back(dep.clone());
                }
            }
        }
        (seen, parents)
    }

    /// `walship → ureq → rustls`: how a released crate comes to need `id`.
    fn chain(&self, id: &str, parents: &BTreeMap<String, String>) -> String {
        let mut names = Vec::new();
        let mut at = parents.get(id);
        while let Some(parent) = at {
            names.push(self.packages.get(parent).map_or(parent.as_str(), |p| p.name.as_str()));
            at = parents.get(parent);
        }
        names.reverse();
        names.join(" → ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_versions_compare_as_numbers() {
        let v = |s| RustVersion::parse(s).unwrap();
        assert_eq!(v("1.89"), v("1.89.0"));
        assert!(v("1.100") > v("1.89.3"));
        assert!(RustVersion::parse("1.x").is_none() && RustVersion::parse("1.2.3.4").is_none());
    }

    #[test]
    fn follows_normal_and_build_dependencies_only() {
        let metadata = Json::parse(
            r#"{"packages": [
                {"id": "a", "name": "a", "version": "1.0.0", "rust_version": "1.89"},
                {"id": "b", "name": "b", "version": "2.0.0", "rust_version": "1.95"},
                {"id": "c", "name": "c", "version": "3.0.0", "rust_version": null},
                {"id": "d", "name": "d", "version": "4.0.0", "rust_version": "1.99"}],
              "resolve": {"nodes": [
                {"id": "a", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]},
                                     {"pkg": "d", "dep_kinds": [{"kind": "dev"}]}]},
                {"id": "c", "deps": [{"pkg": "b", "dep_kinds": [{"kind": "build"}]}]},
                {"id": "b", "deps": []}, {"id": "d", "deps": []}]}}"#,
        )
        .unwrap();
        let graph = BuildGraph::from_metadata(&metadata).unwrap();
        let root = "a".to_string();
        let (reached, parents) = graph.reachable(std::iter::once(&root));
        assert_eq!(reached, ["a", "c", "b"], "dev-dependency d is not built by users");
        assert_eq!(graph.chain("b", &parents), "a → c");
    }
}
