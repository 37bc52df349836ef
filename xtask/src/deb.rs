//! `cargo xtask deb`: the Debian package, `<target>/debian/walship_<version>_<arch>.deb`.
//!
//! Built with `dpkg-deb` from a staged tree rather than with cargo-deb: everything it holds is
//! listed here in one place (the unit, the defaults file and the maintainer scripts live in
//! `deploy/debian/`), and dpkg-deb is on every Debian machine, so nothing has to be installed.
//! `cargo xtask deb --check` then installs it and proves it (`deb_check.rs`).

use crate::deb_package::{Package, REQUIRED_MAN_PAGES};
use crate::error::{Failure, Result};
use crate::process::{self, cargo};
use crate::{manifest, workspace};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where each file of the package goes, from `deploy/debian/` (source, destination, mode).
const DEPLOYED: &[(&str, &str, u32)] = &[
    ("walship.service", "usr/lib/systemd/system/walship.service", 0o644),
    ("walship.default", "etc/default/walship", 0o644),
    ("copyright", "usr/share/doc/walship/copyright", 0o644),
];

/// Shell completions: (`walship generate completions` shell, destination). These are the
/// directories each shell's Debian package reads completions from.
const COMPLETIONS: &[(&str, &str)] = &[
    ("bash", "usr/share/bash-completion/completions/walship"),
    ("zsh", "usr/share/zsh/vendor-completions/_walship"),
    ("fish", "usr/share/fish/vendor_completions.d/walship.fish"),
];

const USAGE: &str = "usage: cargo xtask deb [--check] [--profile release|dev]";

pub fn run(args: &[String]) -> Result {
    let (mut check, mut profile) = (false, Profile::Release);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--profile" => {
                profile = match rest.next().map(String::as_str) {
                    Some("release") => Profile::Release,
                    Some("dev") => Profile::Dev,
                    _ => return Err(Failure(USAGE.into())),
                }
            }
            _ => return Err(Failure(USAGE.into())),
        }
    }
    let package = build(profile)?;
    if check {
        crate::deb_check::check(&package)?;
    }
    Ok(())
}

/// The cargo target directory: where `cargo build` puts the binary, and the package beside it.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace::root().join("target"), PathBuf::from)
}

/// Which build of walship goes into the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// What a release ships.
    Release,
    /// The debug build the tests have just made: `cargo xtask ci` checks the packaging with it,
    /// because a release build of the whole tree would add about six minutes to every CI run,
    /// and what the check proves (files, unit, ExecStart, purge) does not depend on the profile.
    /// Written to
    /// `<target>/debian/dev/`, so that it is never taken for the release package.
    Dev,
}

pub fn build(profile: Profile) -> Result<Package> {
    let root = workspace::root();
    let version = manifest::workspace_version(&read(&root.join("Cargo.toml"))?)
        .ok_or("Cargo.toml: no [workspace.package] version")?;
    let arch = process::output(Command::new("dpkg").arg("--print-architecture"))?;
    let (profile_name, binary_dir, out_dir) = match profile {
        Profile::Release => ("release", "release", target_dir().join("debian")),
        Profile::Dev => ("dev", "debug", target_dir().join("debian/dev")),
    };
    process::run(&mut cargo(["build", "--profile", profile_name, "--locked", "-p", "walship"]))?;
    let binary = target_dir().join(binary_dir).join("walship");

    let stage = out_dir.join(format!("walship_{version}_{arch}"));
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| Failure(format!("removing {}: {e}", stage.display())))?;
    }
    let mut files = Vec::new();
    let mut put = |rel: &str, bytes: &[u8], mode: u32| -> Result {
        write_file(&stage.join(rel), bytes, mode)?;
        files.push(format!("/{rel}"));
        Ok(())
    };

    put("usr/bin/walship", &read_bytes(&binary)?, 0o755)?;
    for (source, dest, mode) in DEPLOYED {
        put(dest, &read_bytes(&root.join("deploy/debian").join(source))?, *mode)?;
    }
    // Debian wants the upstream changelog beside the copyright, compressed.
    put("usr/share/doc/walship/changelog.gz", &gzip(&read_bytes(&root.join("CHANGELOG.md"))?)?, 0o644)?;

    let man_dir = out_dir.join("man");
    if man_dir.exists() {
        fs::remove_dir_all(&man_dir).map_err(|e| Failure(format!("removing {}: {e}", man_dir.display())))?;
    }
    fs::create_dir_all(&man_dir).map_err(|e| Failure(format!("creating {}: {e}", man_dir.display())))?;
    process::run(Command::new(&binary).args(["generate", "man"]).arg(&man_dir))?;
    let mut pages: Vec<String> = fs::read_dir(&man_dir)
        .map_err(|e| Failure(format!("reading {}: {e}", man_dir.display())))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".1").map(str::to_string))
        .collect();
    pages.sort();
    for page in REQUIRED_MAN_PAGES {
        if !pages.iter().any(|p| p == page) {
            return Err(Failure(format!("walship generate man wrote no {page}.1")));
        }
    }
    for page in &pages {
        let roff = read_bytes(&man_dir.join(format!("{page}.1")))?;
        put(&format!("usr/share/man/man1/{page}.1.gz"), &gzip(&roff)?, 0o644)?;
    }
    for (shell, dest) in COMPLETIONS {
        let script = process::output(Command::new(&binary).args(["generate", "completions", shell]))?;
        put(dest, format!("{script}\n").as_bytes(), 0o644)?;
    }

    // Debian packages ship stripped binaries; the release profile keeps line tables for
    // profiling, which the package does not need.
    process::run(Command::new("strip").args(["--strip-debug"]).arg(stage.join("usr/bin/walship")))?;

    let debian = stage.join("DEBIAN");
    for script in ["postinst", "prerm", "postrm"] {
        write_file(&debian.join(script), &read_bytes(&root.join("deploy/debian").join(script))?, 0o755)?;
    }
    write_file(&debian.join("conffiles"), b"/etc/default/walship\n", 0o644)?;
    let sums = process::output(Command::new("md5sum").args(files.iter().map(|f| &f[1..])).current_dir(&stage))?;
    write_file(&debian.join("md5sums"), format!("{sums}\n").as_bytes(), 0o644)?;
    let installed_kib =
        files.iter().map(|f| fs::metadata(stage.join(&f[1..])).map_or(0, |m| m.len().div_ceil(1024))).sum::<u64>();
    write_file(&debian.join("control"), control(&version, &arch, installed_kib).as_bytes(), 0o644)?;

    let path = out_dir.join(format!("walship_{version}_{arch}.deb"));
    process::run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zxz", "--build"]).arg(&stage).arg(&path))?;
    println!("built {}", path.display());
    files.sort();
    Ok(Package { path, version, files })
}

fn control(version: &str, arch: &str, installed_kib: u64) -> String {
    // libgcc-s1: Rust binaries unwind through libgcc_s. adduser: postinst creates the prometheus
    // user when Prometheus's own package has not.
    format!(
        "Package: walship
Version: {version}
Architecture: {arch}
Maintainer: walship developers <walship@users.noreply.github.com>
Installed-Size: {installed_kib}
Depends: libc6, libgcc-s1, adduser
Recommends: prometheus
Section: net
Priority: optional
Homepage: https://github.com/walship/walship
Description: ship a Prometheus WAL to remote storage over remote write
 walship reads the write-ahead log Prometheus writes and ships every series
 and sample to remote storage over the remote-write protocol, resuming from a
 durable cursor after a restart. The walship service reads Debian's Prometheus
 data directory and the remote_write section of its configuration.
"
    )
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    // -n: no name or time stamp in the header, so the package is the same for the same input.
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure(format!("cannot start gzip: {e}")))?;
    let mut stdin = child.stdin.take().ok_or("gzip: no stdin")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| Failure(format!("gzip: {e}")))?;
    writer.join().map_err(|_| "gzip: writer panicked")?.map_err(|e| Failure(format!("gzip: {e}")))?;
    if !out.status.success() {
        return Err(Failure(format!("gzip failed ({})", out.status)));
    }
    Ok(out.stdout)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Failure(format!("creating {}: {e}", dir.display())))?;
    }
    fs::write(path, bytes).map_err(|e| Failure(format!("writing {}: {e}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Failure(format!("chmod {}: {e}", path.display())))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Failure(format!("reading {}: {e}", path.display())))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Failure(format!("reading {}: {e}", path.display())))
}
