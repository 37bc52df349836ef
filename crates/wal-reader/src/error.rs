//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong while listing or reading a WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes of a segment are not a valid WAL. Reading goes on after the damaged span: only
    /// the records it touches are lost. `offset` is the byte offset Prometheus's own reader
    /// reports for the same damage (just past the bad fragment or padding); `fragment_offset` is
    /// where the bad bytes start.
    #[error(
        "corruption in segment {} at {offset}: {source} (bad bytes at {fragment_offset}; {skipped} bytes skipped, {records_lost} records lost)",
        path.display()
    )]
    Corruption {
        /// The segment file.
        path: PathBuf,
        /// Its index.
        segment: u64,
        /// Offset Prometheus would report.
        offset: u64,
        /// Offset of the first byte of the damaged fragment (or of the bytes that are no fragment).
        fragment_offset: u64,
        /// Bytes not delivered as records because of this damage: from the start of the first
        /// record lost to where reading resumed.
        skipped: u64,
        /// Records known to be lost. Garbage stepped over by a scan may have held more.
        records_lost: u64,
        /// What was wrong.
        #[source]
        source: wal_format::Error,
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

/// The corruption error for a damaged span of the segment `segment` at `path`.
pub(crate) fn corruption(path: &std::path::Path, segment: u64, d: crate::framing::Damage) -> Error {
    Error::Corruption {
        path: path.to_path_buf(),
        segment,
        offset: d.reported,
        fragment_offset: d.bad_at,
        skipped: d.end.saturating_sub(d.start),
        records_lost: d.records_lost,
        source: d.error,
    }
}
