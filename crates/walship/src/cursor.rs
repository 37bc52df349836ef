//! The state directory: one durable cursor per endpoint, and a lock so that two walships never
//! share it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wal_format::Position;

/// A fail point of the `fail` crate with the `failpoints` feature; nothing without it.
macro_rules! fail_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name);
    };
}

/// The longest encoded endpoint name a cursor file name holds whole: `cursor-` + name +
/// `.json.tmp` (the name written before the rename) stays within 255 bytes.
const NAME_MAX: usize = 232;
/// FNV-1a, 64 bits: stable across versions and platforms, which a file name must be.
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// How much of a longer name is kept, before `~` and 16 hex digits of its hash.
const NAME_KEPT: usize = NAME_MAX - 17;

/// A locked state directory.
pub struct StateDir {
    dir: PathBuf,
    // Held for the life of the process: the OS releases the lock when it exits, even on SIGKILL.
    _lock: File,
    /// Cursor files under their old names that a load read (see [`StateDir::load`]): each is
    /// removed once the cursor is saved under its new name.
    migrated: Mutex<Vec<(String, PathBuf)>>,
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
        Ok(StateDir { dir: dir.to_path_buf(), _lock: lock, migrated: Mutex::new(Vec::new()) })
    }

    /// The cursor file of `endpoint`: `cursor-NAME.json`, where NAME is the endpoint's name with
    /// every byte but ASCII letters, digits, `-` and `_` written as `%XX`. Distinct endpoints get
    /// distinct files (`a/b` is `cursor-a%2Fb.json`, `a_b` is `cursor-a_b.json`), and no name
    /// can climb out of the directory. A name that would make the file name longer than file
    /// systems allow (255 bytes) keeps its first [`NAME_KEPT`] bytes, then `~` and a hash of
    /// the whole name.
    fn path(&self, endpoint: &str) -> PathBuf {
        let mut name = String::with_capacity(endpoint.len());
        for b in endpoint.bytes() {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                name.push(b as char);
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        if name.len() > NAME_MAX {
            // Cut before a `%XX` split by the limit; the hash keeps long names apart.
            let cut = match name[..NAME_KEPT].rfind('%') {
                Some(i) if i + 3 > NAME_KEPT => i,
                _ => NAME_KEPT,
            };
            name = format!("{}~{:016x}", &name[..cut], fnv1a(endpoint.as_bytes()));
        }
        self.dir.join(format!("cursor-{name}.json"))
    }

    /// The file name walship gave the cursor of `endpoint` before names were percent-encoded:
    /// every other character replaced by `_`, so that `a/b` and `a_b` shared one file.
    fn legacy_path(&self, endpoint: &str) -> PathBuf {
        let safe: String =
            endpoint.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        self.dir.join(format!("cursor-{safe}.json"))
    }

    /// The saved cursor of `endpoint`, if any. Cursors written before the history phase existed
    /// (only `segment` and `offset`) load as a WAL position with nothing else.
    ///
    /// Without a file under the endpoint's name, a file under its old name (see
    /// [`Self::legacy_path`]) is read instead, so that an upgrade resumes where the last run
    /// stopped; the next save writes the new name and removes the old file. Names that the old
    /// scheme mapped to one file are told apart by the file's `endpoint` field: neither takes
    /// the other's cursor.
    pub fn load(&self, endpoint: &str) -> Result<Option<Cursor>, StateError> {
        let path = self.path(endpoint);
        // Another endpoint's cursor, left under its old name, which is this endpoint's new one.
        let someone_elses_old =
            |owner: &str| owner != endpoint && self.legacy_path(owner) == path && self.path(owner) != path;
        if let Some(c) = self.load_file(&path, |owner| !owner.is_some_and(someone_elses_old))? {
            return Ok(Some(c));
        }
        let legacy = self.legacy_path(endpoint);
        if legacy == path {
            return Ok(None);
        }
        let cursor = self.load_file(&legacy, |owner| owner.is_none_or(|o| o == endpoint))?;
        if cursor.is_some() {
            let mut migrated = self.migrated.lock().unwrap_or_else(|e| e.into_inner());
            migrated.push((endpoint.to_string(), legacy));
        }
        Ok(cursor)
    }

    /// The cursor in `path`, if the file exists and `accept` takes the endpoint it names (its
    /// `endpoint` field; `None` in files written by hand or by early versions).
    fn load_file(&self, path: &Path, accept: impl Fn(Option<&str>) -> bool) -> Result<Option<Cursor>, StateError> {
        let path = path.to_path_buf();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Io(path, e)),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| StateError::BadCursor(path.clone(), e.to_string()))?;
        if !accept(v.get("endpoint").and_then(|e| e.as_str())) {
            return Ok(None);
        }
        let bad = |why: &str| StateError::BadCursor(path.clone(), why.to_string());
        let wal = match (v.get("segment"), v.get("offset")) {
            (None, None) => None,
            (Some(s), Some(o)) => match (s.as_u64(), o.as_u64()) {
                (Some(segment), Some(offset)) => Some(Position::new(segment, offset)),
                _ => return Err(bad("segment/offset are not numbers")),
            },
            _ => return Err(bad("segment without offset, or offset without segment")),
        };
        let history = match v.get("history") {
            None | Some(serde_json::Value::Null) => None,
            Some(h) => Some(HistoryCursor::from_json(h).ok_or_else(|| bad("history is malformed"))?),
        };
        if wal.is_none() && history.is_none() {
            return Err(bad("no segment/offset"));
        }
        Ok(Some(Cursor { wal, acked_ms: v.get("acked_ms").and_then(|t| t.as_i64()), history }))
    }

    /// Saves the cursor of `endpoint` atomically: write a temporary file, fsync it, rename it over
    /// the old one, fsync the directory. A crash at any point leaves the old or the new cursor.
    pub fn save(&self, endpoint: &str, cursor: &Cursor, url: &str) -> Result<(), StateError> {
        let path = self.path(endpoint);
        let tmp = path.with_extension("json.tmp");
        let mut body = serde_json::json!({"endpoint": endpoint, "url": url, "saved_at": crate::time::now_rfc3339()});
        if let Some(pos) = cursor.wal {
            body["segment"] = pos.segment.into();
            body["offset"] = pos.offset.into();
        }
        if let Some(t) = cursor.acked_ms {
            body["acked_ms"] = t.into();
        }
        if let Some(h) = &cursor.history {
            body["history"] = h.to_json();
        }
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(body.to_string().as_bytes())?;
            fail_point!("cursor::before_sync");
            f.sync_all()?;
            fail_point!("cursor::before_rename");
            Ok(())
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            // Leave nothing half-written behind (a full disk leaves a 0-byte file otherwise).
            let _ = fs::remove_file(&tmp);
            return Err(StateError::Io(path, e));
        }
        fail_point!("cursor::after_rename");
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        // The cursor is durable under its new name: the old file it was migrated from goes.
        let legacy = self.legacy_path(endpoint);
        let mut migrated = self.migrated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = migrated.iter().position(|(e, p)| e == endpoint && *p == legacy) {
            migrated.swap_remove(i);
            // Unless the endpoint that now has that name has saved its own cursor there.
            if self.load_file(&legacy, |owner| owner.is_none_or(|o| o == endpoint)).is_ok_and(|c| c.is_some()) {
                fs::remove_file(&legacy).map_err(io(&legacy))?;
            }
        }
        Ok(())
    }
}

/// What an endpoint's cursor file holds.
///
/// ```text
/// {"segment": 12, "offset": 4096,          WAL position acknowledged (absent while only blocks were shipped)
///  "acked_ms": 1796113521816,              newest sample time acknowledged from the WAL (for gap fill)
///  "history": {"from_ms": …, "upto_ms": …, present while persisted blocks are being shipped:
///              "blocks": ["01…"],           the time range [from_ms, upto_ms) is shipped from blocks,
///              "next_series": 1234},        of the window that starts at from_ms (those blocks), the
///  "endpoint": …, "url": …, "saved_at": …}  series before next_series (in label order) are acknowledged
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The acknowledged WAL position. With `history`, the WAL position to resume at once the
    /// blocks are shipped (gap fill); without `history`, where to resume.
    pub wal: Option<Position>,
    /// The newest sample timestamp (ms) acknowledged from the WAL.
    pub acked_ms: Option<i64>,
    /// Progress through the persisted blocks, while that phase runs.
    pub history: Option<HistoryCursor>,
}

impl Cursor {
    /// A cursor that only holds a WAL position.
    #[cfg(test)]
    pub fn at(pos: Position) -> Cursor {
        Cursor { wal: Some(pos), ..Default::default() }
    }
}

/// Progress through the persisted blocks: see [`Cursor`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryCursor {
    /// Everything of the range before this time is acknowledged; the current window starts here.
    pub from_ms: i64,
    /// The range shipped from blocks ends here (exclusive); the WAL covers the rest.
    pub upto_ms: i64,
    /// The blocks (ULIDs) of the window that starts at `from_ms`.
    pub blocks: Vec<String>,
    /// Series of that window (in label order) acknowledged.
    pub next_series: u64,
}

impl HistoryCursor {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"from_ms": self.from_ms, "upto_ms": self.upto_ms, "blocks": self.blocks,
            "next_series": self.next_series})
    }

    fn from_json(v: &serde_json::Value) -> Option<HistoryCursor> {
        Some(HistoryCursor {
            from_ms: v.get("from_ms")?.as_i64()?,
            upto_ms: v.get("upto_ms")?.as_i64()?,
            blocks: v
                .get("blocks")?
                .as_array()?
                .iter()
                .map(|b| b.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
            next_series: v.get("next_series")?.as_u64()?,
        })
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
                s.save("ep", &Cursor::at(old), "http://x").unwrap();
                fail::cfg(point, "panic").unwrap();
                let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    s.save("ep", &Cursor::at(new), "http://x")
                }));
                fail::remove(point);
                assert!(crashed.is_err(), "{point}: the fail point did not fire");
            }
            // The process is gone; a new one opens the directory.
            let s = StateDir::open(d.path()).unwrap();
            let want = if new_expected { new } else { old };
            assert_eq!(s.load("ep").unwrap(), Some(Cursor::at(want)), "{point}");
            // And the next save works, whatever the crash left behind.
            s.save("ep", &Cursor::at(new), "http://x").unwrap();
            assert_eq!(s.load("ep").unwrap(), Some(Cursor::at(new)), "{point}");
        }
        scenario.teardown();
    }

    #[test]
    fn cursor_round_trip_and_lock() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        assert_eq!(s.load("a/b").unwrap(), None);
        s.save("a/b", &Cursor::at(Position::new(3, 4096)), "http://x").unwrap();
        assert_eq!(s.load("a/b").unwrap(), Some(Cursor::at(Position::new(3, 4096))));
        assert!(matches!(StateDir::open(d.path()), Err(StateError::Locked(_))));
        let full = Cursor {
            wal: Some(Position::new(7, 0)),
            acked_ms: Some(-5),
            history: Some(HistoryCursor { from_ms: 10, upto_ms: 20, blocks: vec!["01X".into()], next_series: 3 }),
        };
        s.save("full", &full, "http://x").unwrap();
        assert_eq!(s.load("full").unwrap(), Some(full));
        let blocks_only = Cursor { history: Some(HistoryCursor::default()), ..Default::default() };
        s.save("h", &blocks_only, "http://x").unwrap();
        assert_eq!(s.load("h").unwrap(), Some(blocks_only));
        std::fs::write(s.path("bad"), b"{").unwrap();
        assert!(matches!(s.load("bad"), Err(StateError::BadCursor(..))));
    }

    /// Names that the old scheme wrote to one file (`a/b` and `a_b` both as `cursor-a_b.json`)
    /// keep cursors of their own.
    #[test]
    fn names_that_differ_get_files_that_differ() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        let names = ["a/b", "a_b", "a b", "a%2Fb", "a.b", "..", "é", "a_"];
        for (i, name) in names.iter().enumerate() {
            s.save(name, &Cursor::at(Position::new(i as u64, 1)), "http://x").unwrap();
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(s.load(name).unwrap(), Some(Cursor::at(Position::new(i as u64, 1))), "{name}");
            assert_eq!(s.path(name).parent(), Some(d.path()), "{name}");
        }
        let files = std::fs::read_dir(d.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "lock");
        assert_eq!(files.count(), names.len());
        assert_eq!(s.path("a/b"), d.path().join("cursor-a%2Fb.json"));
        assert_eq!(s.path("prod-1_x"), d.path().join("cursor-prod-1_x.json"));
    }

    /// Names too long for a file name are cut and told apart by a hash: each keeps its own
    /// cursor, and every file name fits the 255-byte limit of common file systems.
    #[test]
    fn long_names_fit_a_file_name() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        let long = "x".repeat(300);
        let names =
            [long.clone(), format!("{long}y"), "é".repeat(200), format!("{}/{}", "a".repeat(221), "b".repeat(40))];
        for (i, name) in names.iter().enumerate() {
            let file = s.path(name);
            let len = file.file_name().unwrap().len();
            assert!(len + ".tmp".len() <= 255, "{len} bytes: {file:?}");
            s.save(name, &Cursor::at(Position::new(i as u64, 1)), "http://x").unwrap();
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(s.load(name).unwrap(), Some(Cursor::at(Position::new(i as u64, 1))), "{i}");
        }
        // A `%XX` is never split by the cut.
        let name = s.path(&names[3]).file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains("%2~") && !name.contains("%~"), "{name}");
    }

    /// A cursor saved by a version that replaced `/` by `_` is found after the upgrade, moved to
    /// its new name by the next save, and never taken by the endpoint whose new name it has.
    #[test]
    fn cursors_under_their_old_names_are_migrated() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("cursor-team_a.json");
        let body =
            r#"{"segment":9,"offset":512,"endpoint":"team/a","url":"http://x","saved_at":"2026-11-26T10:00:00Z"}"#;
        std::fs::write(&old, body).unwrap();
        let s = StateDir::open(d.path()).unwrap();
        // `team_a` now owns the name `cursor-team_a.json`, but the file there is `team/a`'s.
        assert_eq!(s.load("team_a").unwrap(), None);
        assert_eq!(s.load("team/a").unwrap(), Some(Cursor::at(Position::new(9, 512))));
        s.save("team/a", &Cursor::at(Position::new(10, 0)), "http://x").unwrap();
        assert!(!old.exists(), "the old file is removed once the new one is saved");

        assert_eq!(s.load("team/a").unwrap(), Some(Cursor::at(Position::new(10, 0))));
        s.save("team_a", &Cursor::at(Position::new(1, 0)), "http://x").unwrap();
        drop(s);
        let s = StateDir::open(d.path()).unwrap();
        assert_eq!(s.load("team/a").unwrap(), Some(Cursor::at(Position::new(10, 0))));
        assert_eq!(s.load("team_a").unwrap(), Some(Cursor::at(Position::new(1, 0))));
        drop(s);

        // When `team_a` saves first, into the old file, the migration leaves its cursor there.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cursor-team_a.json"), body).unwrap();
        let s = StateDir::open(d.path()).unwrap();
        assert_eq!(s.load("team/a").unwrap(), Some(Cursor::at(Position::new(9, 512))));
        s.save("team_a", &Cursor::at(Position::new(2, 0)), "http://x").unwrap();
        s.save("team/a", &Cursor::at(Position::new(10, 0)), "http://x").unwrap();
        assert_eq!(s.load("team_a").unwrap(), Some(Cursor::at(Position::new(2, 0))));
        assert_eq!(s.load("team/a").unwrap(), Some(Cursor::at(Position::new(10, 0))));
    }
}

#[cfg(test)]
mod compat {
    use super::*;

    #[test]
    fn cursors_of_earlier_versions_load() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        let old = r#"{"segment":5,"offset":123,"endpoint":"e","url":"http://x","saved_at":"2026-11-26T10:00:00Z"}"#;
        std::fs::write(s.path("e"), old).unwrap();
        assert_eq!(s.load("e").unwrap(), Some(Cursor::at(Position::new(5, 123))));
        std::fs::write(s.path("half"), r#"{"segment":5}"#).unwrap();
        assert!(matches!(s.load("half"), Err(StateError::BadCursor(..))));
        std::fs::write(s.path("h"), r#"{"history":{"from_ms":1}}"#).unwrap();
        assert!(matches!(s.load("h"), Err(StateError::BadCursor(..))));
    }
}
