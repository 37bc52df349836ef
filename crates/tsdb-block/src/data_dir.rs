//! A Prometheus data directory (`--storage.tsdb.path`): which of its entries are blocks to read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::block::Block;
use crate::error::{io_err, Error};
use crate::meta::BlockMeta;

/// The marker Thanos and other object-storage tools put into a block they are about to delete.
const DELETION_MARK: &str = "deletion-mark.json";

/// A block found in a data directory, not yet opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDir {
    path: PathBuf,
    meta: BlockMeta,
}

impl BlockDir {
    /// The block's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Opens the block (maps its index and chunk files, reads its tombstones).
    pub fn open(&self) -> Result<Block, Error> {
        Block::open_with_meta(&self.path, self.meta.clone())
    }
}

/// Why [`DataDir::open`] left out a block directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// It holds a `deletion-mark.json`.
    MarkedForDeletion,
    /// Its `meta.json` says `compaction.deletable`.
    Deletable,
    /// Another block names it as a compaction parent: its data is in that block, and
    /// Prometheus deletes it on its next reload.
    Superseded,
    /// `meta.json` vanished while listing (the block was being deleted).
    Vanished,
}

/// The blocks of a Prometheus data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
    blocks: Vec<BlockDir>,
    skipped: Vec<(PathBuf, SkipReason)>,
}

impl DataDir {
    /// Lists the blocks of the data directory `path`: sub-directories named by a ULID that
    /// hold a `meta.json`. Everything else — `wal`, `chunks_head`, `*.tmp-for-creation` /
    /// `*.tmp-for-deletion` directories, files — is not a block. Blocks marked for deletion,
    /// marked deletable, or superseded by a compacted block are left out (see
    /// [`DataDir::skipped`]). Blocks come sorted by `min_time`, then ULID.
    pub fn open(path: &Path) -> Result<DataDir, Error> {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_err(path))? {
            let entry = entry.map_err(io_err(path))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_ulid(name) || !entry.file_type().map_err(io_err(path))?.is_dir() {
                continue;
            }
            let dir = entry.path();
            if dir.join(DELETION_MARK).exists() {
                skipped.push((dir, SkipReason::MarkedForDeletion));
                continue;
            }
            let meta_path = dir.join("meta.json");
            let meta = match BlockMeta::read(&meta_path) {
                Ok(m) => m,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    skipped.push((dir, SkipReason::Vanished));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if meta.compaction.deletable {
                skipped.push((dir, SkipReason::Deletable));
                continue;
            }
            found.push(BlockDir { path: dir, meta });
        }
        let parents: HashSet<String> =
            found.iter().flat_map(|b| b.meta.compaction.parents.iter().map(|p| p.ulid.clone())).collect();
        let (superseded, mut blocks): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|b| parents.contains(&b.meta.ulid));
        skipped.extend(superseded.into_iter().map(|b| (b.path, SkipReason::Superseded)));
        blocks.sort_by(|a, b| (a.meta.min_time, &a.meta.ulid).cmp(&(b.meta.min_time, &b.meta.ulid)));
        skipped.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(DataDir { path: path.to_path_buf(), blocks, skipped })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The blocks to read, sorted by `min_time`.
    pub fn blocks(&self) -> &[BlockDir] {
        &self.blocks
    }

    /// Block directories left out, and why.
    pub fn skipped(&self) -> &[(PathBuf, SkipReason)] {
        &self.skipped
    }

    /// The blocks whose time ranges overlap `[min_time, max_time)`.
    pub fn blocks_in_range(&self, min_time: i64, max_time: i64) -> impl Iterator<Item = &BlockDir> + '_ {
        self.blocks.iter().filter(move |b| b.meta.min_time < max_time && min_time < b.meta.max_time)
    }

    /// Groups of blocks (indices into [`DataDir::blocks`]) whose time ranges overlap, directly
    /// or through a chain of overlaps; blocks overlapping no other are not listed. Prometheus
    /// merges such blocks at query time: a series present in several of them is one series,
    /// its samples merged by timestamp and a timestamp present twice kept once. Read a group's
    /// blocks together with [`crate::merge_series`].
    pub fn overlapping_groups(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut current_max = i64::MIN;
        for (i, b) in self.blocks.iter().enumerate() {
            if !current.is_empty() && b.meta.min_time < current_max {
                current.push(i);
            } else {
                if current.len() > 1 {
                    groups.push(std::mem::take(&mut current));
                }
                current = vec![i];
                current_max = i64::MIN;
            }
            current_max = current_max.max(b.meta.max_time);
        }
        if current.len() > 1 {
            groups.push(current);
        }
        groups
    }
}

/// Whether `s` is a ULID in its canonical text form: 26 characters of Crockford's base 32,
/// the first at most `7` (so that the value fits 128 bits).
fn is_ulid(s: &str) -> bool {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    s.len() == 26 && s.bytes().all(|c| ALPHABET.contains(&c.to_ascii_uppercase())) && s.as_bytes()[0] <= b'7'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulid_names() {
        assert!(is_ulid("01M8RB4FY3KEB42MSR88DRYGYS"));
        assert!(!is_ulid("01M8RB4FY3KEB42MSR88DRYGYS.tmp-for-creation"));
        assert!(!is_ulid("wal"));
        assert!(!is_ulid("chunks_head"));
        assert!(!is_ulid("81M8RB4FY3KEB42MSR88DRYGYS"));
        assert!(!is_ulid("01M8RB4FY3KEB42MSR88DRYGYU"));
    }
}
