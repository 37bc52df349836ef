//! A block file mapped into memory, so that reading a block of any size keeps only the pages
//! being decoded resident (the kernel evicts clean file pages under pressure).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Error};

/// A read-only mapping of a whole file (or bytes already in memory), with the path it came
/// from for error messages.
pub(crate) struct Mapping {
    map: Bytes,
    path: PathBuf,
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Mapping {
    /// Maps the file at `path`. An empty file gives an empty mapping (the OS refuses to map
    /// zero bytes).
    #[allow(unsafe_code)]
    pub(crate) fn open(path: &Path) -> Result<Mapping, Error> {
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if len == 0 {
            return Ok(Mapping::from_vec(Vec::new(), path));
        }
        // SAFETY: a mapping is only undefined behaviour if the file is truncated or rewritten
        // while mapped. Prometheus never modifies a block's files after the block directory
        // is renamed into place: compaction, retention and deletion write new blocks and
        // *unlink* old ones, and an unlinked file stays intact for as long as it is mapped.
        // We only ever read the mapping.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        Ok(Mapping { map: Bytes::Mapped(map), path: path.to_path_buf() })
    }

    /// Bytes already in memory, read as if they were the file at `path`.
    pub(crate) fn from_vec(bytes: Vec<u8>, path: &Path) -> Mapping {
        Mapping { map: Bytes::Owned(bytes), path: path.to_path_buf() }
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.map {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
