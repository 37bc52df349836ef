//! Git as the release uses it: whether the tree is clean, the release tags, and a throw-away
//! worktree in which the release is prepared, so that a dry run never touches the developer's tree.

use crate::error::{Failure, Result};
use crate::process::{self, display};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Who made the commits nobody keeps: the working-tree snapshot and the dry run's release
/// commit. Fixed, so that a machine without a git identity (a CI runner) can still make them.
const THROWAWAY_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "walship release dry run"),
    ("GIT_AUTHOR_EMAIL", "release-dry-run@localhost"),
    ("GIT_COMMITTER_NAME", "walship release dry run"),
    ("GIT_COMMITTER_EMAIL", "release-dry-run@localhost"),
];

/// A `git` command run in `dir`.
pub fn git<const N: usize>(dir: &Path, args: [&str; N]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    cmd
}

/// Whether `git status` shows nothing: no change to a tracked file, no untracked file that is
/// not ignored.
pub fn is_clean(dir: &Path) -> Result<bool> {
    Ok(process::output(&mut git(dir, ["status", "--porcelain"]))?.is_empty())
}

/// The commit HEAD points at.
pub fn head(dir: &Path) -> Result<String> {
    process::output(&mut git(dir, ["rev-parse", "--verify", "HEAD"]))
}

/// Names of the tags that match `pattern` (e.g. `v*`).
pub fn tags(dir: &Path, pattern: &str) -> Result<Vec<String>> {
    let list = process::output(&mut git(dir, ["tag", "--list", pattern]))?;
    Ok(list.lines().map(str::to_string).collect())
}

/// A commit of the working tree as it is — tracked changes and untracked files git does not
/// ignore — on top of HEAD, made through a private index so that the developer's index and tree
/// are left alone. Lets a dry run check uncommitted work.
pub fn snapshot(dir: &Path) -> Result<String> {
    let index = std::env::temp_dir().join(format!("walship-release-index-{}", std::process::id()));
    let with_index = |mut cmd: Command| {
        cmd.env("GIT_INDEX_FILE", &index);
        cmd
    };
    let result = (|| {
        process::output(&mut with_index(git(dir, ["read-tree", "HEAD"])))?;
        process::output(&mut with_index(git(dir, ["add", "--all"])))?;
        let tree = process::output(&mut with_index(git(dir, ["write-tree"])))?;
        let mut commit = git(dir, ["commit-tree", &tree, "-p", "HEAD", "-m", "working tree for a release dry run"]);
        process::output(commit.envs(THROWAWAY_IDENTITY))
    })();
    let _ = std::fs::remove_file(&index);
    result
}

/// Commits everything in `dir`'s tree with `message`; returns the commit. A throw-away commit is
/// made with a fixed identity and never signed; a kept one is the developer's own.
pub fn commit_all(dir: &Path, message: &str, throwaway: bool) -> Result<String> {
    process::output(&mut git(dir, ["add", "--all"]))?;
    let mut commit = git(dir, ["commit", "--quiet", "--message", message]);
    if throwaway {
        commit.envs(THROWAWAY_IDENTITY).args(["--no-gpg-sign", "--no-verify"]);
    }
    process::output(&mut commit)?;
    head(dir)
}

/// A linked worktree at a commit (detached), removed again when dropped, whatever happened
/// meanwhile.
pub struct TempWorktree {
    repo: PathBuf,
    pub path: PathBuf,
}

impl TempWorktree {
    pub fn add(repo: &Path, commit: &str) -> Result<TempWorktree> {
        let path = std::env::temp_dir().join(format!("walship-release-{}", std::process::id()));
        if path.exists() {
            return Err(Failure(format!(
                "{} exists: a release of the same process id left it; remove it",
                path.display()
            )));
        }
        let path_arg = path.to_string_lossy().into_owned();
        let mut add = git(repo, ["worktree", "add", "--quiet", "--detach", &path_arg, commit]);
        process::output(&mut add).map_err(|Failure(m)| Failure(format!("cannot create the release worktree: {m}")))?;
        Ok(TempWorktree { repo: repo.to_path_buf(), path })
    }
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        let path = self.path.to_string_lossy().into_owned();
        let mut remove = git(&self.repo, ["worktree", "remove", "--force", &path]);
        if process::output(&mut remove).is_err() {
            eprintln!(
                "xtask: could not remove the release worktree; run `{}` and `git worktree prune`",
                display(&remove)
            );
        }
    }
}
