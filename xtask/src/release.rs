//! `cargo xtask release <version> [--dry-run] [--no-ci]`: sets the version everywhere, moves the
//! changelog's Unreleased notes under it, runs CI, packages every crate, checks semver against
//! the previous release, then commits, tags and publishes.
//!
//! Everything happens in a temporary worktree of the commit being released, so a dry run (or a
//! failed release) leaves the developer's tree and branch exactly as they were. Only a real
//! release then fast-forwards the branch to the release commit, tags it and publishes.

use crate::error::{Failure, Result};
use crate::git::{self, TempWorktree};
use crate::manifest::{self, LIBRARY_CRATES, RELEASED_CRATES};
use crate::process::{self, cargo, succeeds};
use crate::version::Version;
use crate::{changelog, workspace};
use std::fs;
use std::path::Path;
use std::process::Command;

const USAGE: &str = "release <version> [--dry-run] [--no-ci]";

struct Options {
    version: Version,
    /// Everything but the tag, the branch update and the publish.
    dry_run: bool,
    /// Skip `cargo xtask ci`: for when the CI steps have just run (as in `cargo xtask ci` itself).
    no_ci: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let (mut version, mut dry_run, mut no_ci) = (None, false, false);
        for arg in args {
            match arg.as_str() {
                "--dry-run" => dry_run = true,
                "--no-ci" => no_ci = true,
                flag if flag.starts_with('-') => return Err(Failure(format!("release: unknown option `{flag}`"))),
                _ if version.is_some() => return Err(Failure(format!("release: one version only; usage: {USAGE}"))),
                text => version = Some(Version::parse(text)?),
            }
        }
        let version = version.ok_or_else(|| Failure(format!("release: which version? usage: {USAGE}")))?;
        Ok(Options { version, dry_run, no_ci })
    }
}

pub fn run(args: &[String]) -> Result {
    let options = Options::parse(args)?;
    let root = workspace::root();
    let head = git::head(&root)?;
    let base = if git::is_clean(&root)? {
        head.clone()
    } else if options.dry_run {
        println!("note: uncommitted changes; the dry run checks a snapshot of the working tree");
        git::snapshot(&root)?
    } else {
        return Err("the working tree has uncommitted changes (see `git status`); commit or stash them first".into());
    };
    let previous = previous_release(&root, &options)?;

    let tree = TempWorktree::add(&root, &base)?;
    println!("release {}: preparing in {}", options.version, tree.path.display());
    let notes = prepare(&tree.path, &options)?;
    let message = format!("Release {}\n\n{notes}\n", options.version);
    let commit = git::commit_all(&tree.path, &message, options.dry_run)?;
    process::run(&mut git::git(&tree.path, ["show", "--stat", "--format=release commit %h: %s", "HEAD"]))?;
    if options.no_ci {
        println!("skipped `cargo xtask ci` (--no-ci: the ci steps have just run)");
    } else {
        process::run(&mut in_tree(cargo(["xtask", "ci"]), &tree.path))?;
    }
    forget_unpacked_packages(&options.version.to_string());
    let mut publish = cargo(["publish", "--dry-run"]);
    publish.args(RELEASED_CRATES.iter().flat_map(|c| ["-p", c]));
    process::run(&mut in_tree(publish, &tree.path))?;
    semver_checks(&tree.path, previous.as_ref())?;
    // The Debian package of the release commit, to attach to the release: built from the tree
    // with the release's version, into this checkout's target directory. `--no-ci` (CI's own dry
    // run) skips it: CI's debian package step has just built and checked the package, and a
    // release build of the whole tree from the worktree's new path would add minutes to CI.
    let deb = crate::deb::target_dir().join("debian");
    if options.no_ci && options.dry_run {
        println!("Debian package not built (--no-ci: `cargo xtask deb --check` has just run)");
    } else {
        process::run(&mut in_tree(cargo(["xtask", "deb"]), &tree.path))?;
    }

    let short = &commit[..12.min(commit.len())];
    if options.dry_run {
        println!(
            "release {}: dry run passed (release commit {short} checked and discarded; nothing tagged or published; package in {})",
            options.version,
            deb.display()
        );
        return Ok(());
    }
    drop(tree);
    finish(&root, &head, &commit, &options.version)?;
    println!("release {}: attach the Debian package in {} to the release", options.version, deb.display());
    Ok(())
}

/// The release tags there are, and the newest one older than the version being released: the
/// semver baseline. A real release refuses a version that is not newer than every tag.
fn previous_release(root: &Path, options: &Options) -> Result<Option<(Version, String)>> {
    let mut releases: Vec<(Version, String)> = git::tags(root, "v*")?
        .into_iter()
        .filter_map(|tag| Some((Version::parse(tag.strip_prefix('v')?).ok()?, tag)))
        .collect();
    releases.sort();
    if let Some((newest, tag)) = releases.last().filter(|(v, _)| *v >= options.version) {
        let why = if *newest == options.version { "is tagged already" } else { "is older than" };
        let line = format!("{} {why} {tag}", options.version);
        if !options.dry_run {
            return Err(Failure(format!("release: {line}")));
        }
        println!("note: {line}; a real release of it would be refused");
    }
    Ok(releases.into_iter().rev().find(|(v, _)| *v < options.version))
}

/// Sets the version and dates the changelog in `dir`; returns the release notes.
fn prepare(dir: &Path, options: &Options) -> Result<String> {
    let version = options.version.to_string();
    let manifest_path = dir.join("Cargo.toml");
    let manifest = read(&manifest_path)?;
    fs::write(&manifest_path, manifest::set_version(&manifest, &version, LIBRARY_CRATES)?)
        .map_err(|e| Failure(format!("writing {}: {e}", manifest_path.display())))?;
    // Cargo.lock records the crates' own versions too; update only those, not dependencies.
    process::run(&mut in_tree(cargo(["update", "--workspace", "--quiet"]), dir))?;

    let changelog_path = dir.join("CHANGELOG.md");
    let text = read(&changelog_path)?;
    let notes = changelog::unreleased(&text).ok_or("CHANGELOG.md has no `## Unreleased` section")?.to_string();
    if changelog::has_version(&text, &version) {
        if !options.dry_run {
            return Err(Failure(format!("CHANGELOG.md has a section for {version} already")));
        }
        println!("note: CHANGELOG.md has a section for {version} already; left as it is");
        return Ok(notes);
    }
    if notes.is_empty() {
        if !options.dry_run {
            return Err("CHANGELOG.md: the Unreleased section is empty; say what this release changes".into());
        }
        println!("note: CHANGELOG.md's Unreleased section is empty; a real release would refuse that");
    }
    let released =
        changelog::release(&text, &version, &changelog::today()).ok_or("CHANGELOG.md: no Unreleased section")?;
    fs::write(&changelog_path, released).map_err(|e| Failure(format!("writing {}: {e}", changelog_path.display())))?;
    Ok(notes)
}

/// `cargo semver-checks` of the library crates against the previous release tag, when there is
/// one. Installed only then: it takes minutes to build, and the first release has nothing to
/// compare with.
fn semver_checks(dir: &Path, previous: Option<&(Version, String)>) -> Result {
    let Some((_, tag)) = previous else {
        println!("semver check skipped: no earlier release tag (v*) to compare the public API with");
        return Ok(());
    };
    if !succeeds(cargo(["semver-checks", "--version"]).current_dir(dir)) {
        process::run(&mut cargo(["install", "--locked", "cargo-semver-checks"]))?;
    }
    let mut check = cargo(["semver-checks", "check-release", "--baseline-rev", tag]);
    check.args(LIBRARY_CRATES.iter().flat_map(|c| ["-p", c]));
    process::run(&mut in_tree(check, dir))
}

/// A real release: the branch moves to the release commit, which is tagged and published.
fn finish(root: &Path, head: &str, commit: &str, version: &Version) -> Result {
    // The checks took minutes: make sure nobody committed or edited meanwhile.
    if git::head(root)? != head || !git::is_clean(root)? {
        return Err("the branch or the tree changed while the release was checked; run the release again".into());
    }
    process::run(&mut git::git(root, ["merge", "--ff-only", "--quiet", commit]))?;
    let tag = format!("v{version}");
    let title = format!("walship {version}");
    process::run(&mut git::git(root, ["tag", "--annotate", &tag, "--message", &title, commit]))?;
    let mut publish = cargo(["publish"]);
    publish.args(RELEASED_CRATES.iter().flat_map(|c| ["-p", c]));
    process::run(&mut publish).map_err(|Failure(m)| {
        Failure(format!("{m}; {tag} is committed and tagged: publish the crates not yet on crates.io by hand"))
    })?;
    println!("release {version}: tagged {tag} and published; push with `git push --follow-tags`");
    Ok(())
}

/// `cmd` run in the release worktree, sharing the build directory of this checkout so that
/// dependencies are not built again.
fn in_tree(mut cmd: Command, dir: &Path) -> Command {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| workspace::root().join("target").into());
    cmd.current_dir(dir).env("CARGO_TARGET_DIR", target);
    cmd
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Failure(format!("reading {}: {e}", path.display())))
}

/// Removes the sources of our own packages that an earlier `cargo publish --dry-run` unpacked
/// into `$CARGO_HOME/registry/src/` from its temporary local registry. Cargo unpacks a package
/// only when its directory is missing, so a dry run of the same version after the code changed
/// would verify `walship` against the old sources of the crates it depends on.
fn forget_unpacked_packages(version: &str) {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else { return };
    let Ok(registries) = fs::read_dir(&src) else { return };
    for registry in registries.flatten() {
        // The temporary registry's directory is named `-<hash>`; crates.io's sources stay.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for krate in RELEASED_CRATES {
            let unpacked = registry.path().join(format!("{krate}-{version}"));
            if unpacked.is_dir() {
                let _ = fs::remove_dir_all(&unpacked);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(&args(&["0.2.0", "--dry-run", "--no-ci"])).unwrap();
        assert_eq!((o.version.to_string().as_str(), o.dry_run, o.no_ci), ("0.2.0", true, true));
        assert!(Options::parse(&args(&[])).is_err());
        assert!(Options::parse(&args(&["0.2"])).is_err());
        assert!(Options::parse(&args(&["0.2.0", "0.3.0"])).is_err());
        assert!(Options::parse(&args(&["0.2.0", "--publish"])).is_err());
    }
}
