//! The one error type of this crate.

use std::path::{Path, PathBuf};

/// What can go wrong while listing or reading blocks.
///
/// Every variant names the file involved; those about file contents also carry the byte offset
/// where the reader found the problem. Errors of the chunk decoders used on their own (without a
/// block) have an empty `path` and an offset into the chunk's bytes as given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `meta.json` is not the JSON Prometheus writes.
    #[error("{}: {source}", path.display())]
    Meta {
        /// The `meta.json` file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The bytes at `offset` are not what the format allows there.
    #[error("{}: corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The file (empty for a chunk decoded on its own).
        path: PathBuf,
        /// Byte offset in the file (or in the chunk) where the problem was found.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A CRC32-Castagnoli checksum did not match the bytes it covers.
    #[error("{}: checksum mismatch for the {len} bytes at {offset}: stored {stored:08x}, computed {computed:08x}", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Offset of the first byte the checksum covers.
        offset: u64,
        /// How many bytes it covers.
        len: u64,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// A file's magic number or format version is not one this crate reads.
    #[error("{}: unsupported {what} at byte {offset}: {found:#x}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Offset of the field.
        offset: u64,
        /// Which field: "magic number", "index version", "chunk encoding", …
        what: &'static str,
        /// The value found.
        found: u64,
    },
}

impl Error {
    /// A [`Error::Corrupt`] in `path` at `offset`.
    pub(crate) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: path.to_path_buf(), offset, reason: reason.into() }
    }

    /// Places an error found in a chunk decoded on its own into the file it came from: the
    /// chunk's bytes start at `base` in `path`.
    pub(crate) fn in_file(self, path: &Path, base: u64) -> Error {
        match self {
            Error::Corrupt { offset, reason, .. } => {
                Error::Corrupt { path: path.to_path_buf(), offset: base.saturating_add(offset), reason }
            }
            Error::Unsupported { offset, what, found, .. } => {
                Error::Unsupported { path: path.to_path_buf(), offset: base.saturating_add(offset), what, found }
            }
            other => other,
        }
    }

    /// The file the error is about (empty for a chunk decoded on its own).
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::Meta { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Checksum { path, .. }
            | Error::Unsupported { path, .. } => path,
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}
