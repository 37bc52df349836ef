//! The directory model: which segments and checkpoints a WAL directory holds.

use crate::error::{io_err, Error};
use std::fs;
use std::path::{Path, PathBuf};
use wal_format::{parse_checkpoint_name, parse_segment_name};

/// One segment file of a WAL (or of a checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// The segment's index, from its name.
    pub index: u64,
    /// Full path of the file.
    pub path: PathBuf,
}

/// A checkpoint directory, `checkpoint.NNNNNNNN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRef {
    /// NNNNNNNN: the last WAL segment the checkpoint covers.
    pub index: u64,
    /// Full path of the directory.
    pub path: PathBuf,
}

/// Lists the segments of `dir` in index order. Names that are not numbers are ignored, as
/// Prometheus ignores them. Unlike Prometheus, a gap in the numbering is not an error here: a
/// segment deleted by hand or under a reader must not stop everything after it from being read.
/// [`crate::Replay`] reports such gaps.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentRef>, Error> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) {
            segs.push(SegmentRef { index, path: entry.path() });
        }
    }
    segs.sort_by_key(|s| s.index);
    Ok(segs)
}

/// The newest checkpoint in `dir`, if any (Prometheus's `LastCheckpoint`). Checkpoints still
/// being written (`.tmp`) are ignored; a checkpoint name that is not a directory is an error.
pub fn last_checkpoint(dir: &Path) -> Result<Option<CheckpointRef>, Error> {
    let mut last: Option<CheckpointRef> = None;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Some(index) = entry.file_name().to_str().and_then(parse_checkpoint_name) else { continue };
        let path = entry.path();
        if !path.is_dir() {
            return Err(Error::CheckpointNotDir { path });
        }
        if last.as_ref().is_none_or(|l| index > l.index) {
            last = Some(CheckpointRef { index, path });
        }
    }
    Ok(last)
}

/// The WAL directory for `path`: `path/wal` when `path` is a Prometheus data directory, else
/// `path` itself.
pub fn resolve_wal_dir(path: &Path) -> PathBuf {
    let wal = path.join("wal");
    if wal.is_dir() {
        wal
    } else {
        path.to_path_buf()
    }
}
