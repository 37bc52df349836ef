//! The one error type of this crate.

use std::path::PathBuf;

/// Why a pass of the watcher loop stopped. [`crate::Watcher::run`] reports WAL errors, counts them
/// and starts again after a pause, and returns a sink's error; [`crate::Watcher::run_to_end`]
/// returns them all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Listing or reading the WAL failed (missing directory, permissions). Damage is not an
    /// error: it is reported as [`crate::Event::Corruption`] and reading goes on after it.
    #[error(transparent)]
    Wal(#[from] wal_reader::Error),
    /// The sink failed: the watcher stopped (this is not retried).
    #[error("the sink failed: {0}")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The WAL directory holds no segment to read.
    #[error("{}: no WAL segments", dir.display())]
    NoSegments {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
