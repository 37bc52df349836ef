//! The state directory: one durable cursor per endpoint, and a lock so that two walships never
//! share it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use wal_format::Position;

/// A locked state directory.
pub struct StateDir {
    dir: PathBuf,
    // Held for the life of the process: the OS releases the lock when it exits, even on SIGKILL.
    _lock: File,
}

/// What can go wrong with the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds the lock.
    #[error("state directory {} is in use by another walship (lock file {})", .0.display(), .0.join("lock").display())]
    Locked(PathBuf),
    /// A cursor file exists but cannot be read: refuse to guess.
    #[error("cursor {} is unreadable ({}); move it away to start over", .0.display(), .1)]
    BadCursor(PathBuf, String),
    /// A file system operation failed.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |e| StateError::Io(path.to_path_buf(), e)
}

impl StateDir {
    /// Creates (if needed) and locks `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StateError::Locked(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => return Err(StateError::Io(lock_path, e)),
        }
        Ok(StateDir { dir: dir.to_path_buf(), _lock: lock })
    }

    fn path(&self, endpoint: &str) -> PathBuf {
        let safe: String =
            endpoint.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        self.dir.join(format!("cursor-{safe}.json"))
    }

    /// The saved cursor of `endpoint`, if any.
    pub fn load(&self, endpoint: &str) -> Result<Option<Position>, StateError> {
        let path = self.path(endpoint);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Io(path, e)),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| StateError::BadCursor(path.clone(), e.to_string()))?;
        match (v["segment"].as_u64(), v["offset"].as_u64()) {
            (Some(segment), Some(offset)) => Ok(Some(Position::new(segment, offset))),
            _ => Err(StateError::BadCursor(path, "no segment/offset".into())),
        }
    }

    /// Saves the cursor of `endpoint` atomically: write a temporary file, fsync it, rename it over
    /// the old one, fsync the directory. A crash at any point leaves the old or the new cursor.
    pub fn save(&self, endpoint: &str, pos: Position, url: &str) -> Result<(), StateError> {
        let path = self.path(endpoint);
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::json!({"segment": pos.segment, "offset": pos.offset, "endpoint": endpoint, "url": url,
            "saved_at": crate::time::now_rfc3339()});
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(body.to_string().as_bytes())?;
            fail::fail_point!("cursor::before_sync");
            f.sync_all()?;
            fail::fail_point!("cursor::before_rename");
            Ok(())
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            // Leave nothing half-written behind (a full disk leaves a 0-byte file otherwise).
            let _ = fs::remove_file(&tmp);
            return Err(StateError::Io(path, e));
        }
        fail::fail_point!("cursor::after_rename");
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash at any step of a save leaves the old cursor or the new one, never neither and
    /// never a damaged file. Each fail point panics where a crash would stop the process.
    #[cfg(feature = "failpoints")]
    #[test]
    fn crash_at_every_step_of_a_save_leaves_the_old_or_the_new_cursor() {
        let scenario = fail::FailScenario::setup();
        for (point, new_expected) in
            [("cursor::before_sync", false), ("cursor::before_rename", false), ("cursor::after_rename", true)]
        {
            let d = tempfile::tempdir().unwrap();
            let (old, new) = (Position::new(3, 4096), Position::new(4, 128));
            {
                let s = StateDir::open(d.path()).unwrap();
                s.save("ep", old, "http://x").unwrap();
                fail::cfg(point, "panic").unwrap();
                let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.save("ep", new, "http://x")));
                fail::remove(point);
                assert!(crashed.is_err(), "{point}: the fail point did not fire");
            }
            // The process is gone; a new one opens the directory.
            let s = StateDir::open(d.path()).unwrap();
            let want = if new_expected { new } else { old };
            assert_eq!(s.load("ep").unwrap(), Some(want), "{point}");
            // And the next save works, whatever the crash left behind.
            s.save("ep", new, "http://x").unwrap();
            assert_eq!(s.load("ep").unwrap(), Some(new), "{point}");
        }
        scenario.teardown();
    }

    #[test]
    fn cursor_round_trip_and_lock() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        assert_eq!(s.load("a/b").unwrap(), None);
        s.save("a/b", Position::new(3, 4096), "http://x").unwrap();
        assert_eq!(s.load("a/b").unwrap(), Some(Position::new(3, 4096)));
        assert!(matches!(StateDir::open(d.path()), Err(StateError::Locked(_))));
        std::fs::write(s.path("bad"), b"{").unwrap();
        assert!(matches!(s.load("bad"), Err(StateError::BadCursor(..))));
    }
}
