//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong while listing or reading a WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes of a segment are not a valid WAL. `offset` is the byte offset Prometheus's own
    /// reader reports for the same damage (just past the bad fragment or padding);
    /// `fragment_offset` is where the bad fragment starts.
    #[error("corruption in segment {} at {offset}: {source} (fragment at {fragment_offset})", path.display())]
    Corruption {
        /// The segment file.
        path: PathBuf,
        /// Its index.
        segment: u64,
        /// Offset Prometheus would report.
        offset: u64,
        /// Offset of the first byte of the damaged fragment.
        fragment_offset: u64,
        /// What was wrong.
        #[source]
        source: wal_format::Error,
    },
    /// Segment indices have a gap, which Prometheus treats as an error.
    #[error("{}: segments are not sequential: {before} is followed by {after}", dir.display())]
    NotSequential {
        /// The WAL directory.
        dir: PathBuf,
        /// Index before the gap.
        before: u64,
        /// Index after the gap.
        after: u64,
    },
    /// A `checkpoint.NNNNNNNN` entry that is not a directory.
    #[error("{}: checkpoint is not a directory", path.display())]
    CheckpointNotDir {
        /// The entry.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}
