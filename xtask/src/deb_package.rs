//! What a built Debian package is, shared by the build (`deb.rs`) and the check
//! (`deb_check.rs`).

use std::path::PathBuf;

/// Man pages the package must have: walship(1) and the page of the command the unit runs.
/// `walship generate man` writes one per visible subcommand, and all of them are packaged.
pub const REQUIRED_MAN_PAGES: &[&str] = &["walship", "walship-ship"];

/// A built package and what it holds, for the check.
pub struct Package {
    pub path: PathBuf,
    pub version: String,
    /// Every regular file, as an absolute path on the installed system.
    pub files: Vec<String>,
}
