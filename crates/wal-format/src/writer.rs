//! Writing WAL directories and checkpoints to disk.

use crate::error::Error;
use crate::fragment::{Compression, DEFAULT_SEGMENT_SIZE};
use crate::framer::{Framer, SegmentSink};
use crate::names::{checkpoint_dir_name, parse_checkpoint_name, parse_segment_name, segment_file_name};
use crate::position::Position;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fail point of the crash tests (`tests/crash.rs`). It exists only with the `failpoints`
/// feature, so that other builds do not depend on the `fail` crate at all.
macro_rules! fail_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name);
    };
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Options for a [`WalWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Segment size in bytes: a multiple of 32 KiB. Prometheus's default is 128 MiB.
    pub segment_size: usize,
    /// Record compression: `None` or `Snappy` (Prometheus's default).
    pub compression: Compression,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, compression: Compression::Snappy }
    }
}

/// The segment file being written.
struct SegmentFile {
    dir: PathBuf,
    index: u64,
    file: File,
}

impl SegmentFile {
    fn create(dir: &Path, index: u64) -> Result<Self, Error> {
        let path = dir.join(segment_file_name(index));
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        Ok(SegmentFile { dir: dir.to_path_buf(), index, file })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.index))
    }

    fn sync(&self) -> Result<(), Error> {
        self.file.sync_all().map_err(|e| Error::Io { path: self.path(), source: e })
    }
}

impl SegmentSink for SegmentFile {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path();
        self.file.write_all(bytes).map_err(io_err(&path))
    }

    fn next_segment(&mut self) -> Result<(), Error> {
        // A finished segment is made durable before we leave it: Prometheus does the same (in the
        // background), and a reader may rely on finished segments being whole.
        fail_point!("wal::rollover::before_sync");
        self.sync()?;
        fail_point!("wal::rollover::before_create");
        let next = SegmentFile::create(&self.dir, self.index + 1)?;
        fail_point!("wal::rollover::after_create");
        *self = next;
        Ok(())
    }
}

/// Appends records to a WAL directory the way Prometheus does: 32 KiB pages, a partly filled page
/// written out at the end of each batch, segments `%08d` rolled over at the configured size.
///
/// Opening a directory that already has segments starts a new segment after the last one, as
/// Prometheus does on start-up.
pub struct WalWriter {
    framer: Framer,
    segment: SegmentFile,
}

impl WalWriter {
    /// Opens (creating if needed) the WAL directory `dir` and starts a new segment.
    pub fn create(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let framer = Framer::new(options.segment_size, options.compression)?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut last = None;
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            if let Some(i) = entry.file_name().to_str().and_then(parse_segment_name) {
                last = last.max(Some(i));
            }
        }
        let segment = SegmentFile::create(dir, last.map_or(0, |l| l + 1))?;
        Ok(WalWriter { framer, segment })
    }

    /// The directory being written.
    pub fn dir(&self) -> &Path {
        &self.segment.dir
    }

    /// Index of the segment being written.
    pub fn segment(&self) -> u64 {
        self.segment.index
    }

    /// Where the next record would start if it fits into the current segment.
    pub fn position(&self) -> Position {
        Position { segment: self.segment.index, offset: self.framer.offset() as u64 }
    }

    /// Appends one record without flushing a partial page; returns where it landed.
    pub fn append(&mut self, record: &[u8]) -> Result<Position, Error> {
        let (_, offset) = self.framer.log(record, false, &mut self.segment)?;
        Ok(Position { segment: self.segment.index, offset: offset as u64 })
    }

    /// Appends a batch of records and writes out the partly filled page, as one Prometheus
    /// `Log` call does. Nothing is fsynced.
    pub fn log<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<(), Error> {
        for (i, r) in records.iter().enumerate() {
            self.framer.log(r.as_ref(), i + 1 == records.len(), &mut self.segment)?;
        }
        Ok(())
    }

    /// Writes out a partly filled page, so that readers see every record appended so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.framer.flush(&mut self.segment)
    }

    /// Finishes the current segment (padding its last page) and starts the next one, as
    /// Prometheus does at every head truncation. Returns the new segment's index.
    pub fn next_segment(&mut self) -> Result<u64, Error> {
        self.framer.next_segment(&mut self.segment)?;
        Ok(self.segment.index)
    }

    /// Flushes the page and fsyncs the current segment.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.segment.sync()
    }

    /// Deletes every segment with an index below `index` (Prometheus's `Truncate`).
    pub fn truncate_before(&self, index: u64) -> Result<(), Error> {
        let dir = self.dir();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            if entry.file_name().to_str().and_then(parse_segment_name).is_some_and(|i| i < index) {
                let p = entry.path();
                fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        Ok(())
    }

    /// Pads the last page, fsyncs and closes the segment.
    pub fn close(mut self) -> Result<(), Error> {
        self.framer.finish_page(&mut self.segment)?;
        self.segment.sync()
    }
}

/// Writes a checkpoint directory: records go into `checkpoint.NNNNNNNN.tmp`, which
/// [`CheckpointWriter::commit`] fsyncs and renames to `checkpoint.NNNNNNNN`, so that a reader
/// never sees half a checkpoint.
pub struct CheckpointWriter {
    wal: WalWriter,
    tmp: PathBuf,
    done: PathBuf,
}

impl CheckpointWriter {
    /// Starts checkpoint `index` (the last segment it covers) in `wal_dir`, replacing any stale
    /// `.tmp` left by an interrupted attempt.
    pub fn create(wal_dir: impl AsRef<Path>, index: u64, compression: Compression) -> Result<Self, Error> {
        let wal_dir = wal_dir.as_ref();
        let done = wal_dir.join(checkpoint_dir_name(index));
        let tmp = wal_dir.join(format!("{}.tmp", checkpoint_dir_name(index)));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        let wal = WalWriter::create(&tmp, WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, compression })?;
        Ok(CheckpointWriter { wal, tmp, done })
    }

    /// Appends a batch of records.
    pub fn log<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<(), Error> {
        self.wal.log(records)
    }

    /// Closes the checkpoint's segment and moves the directory into place.
    pub fn commit(self) -> Result<PathBuf, Error> {
        self.wal.close()?;
        fail_point!("checkpoint::before_dir_sync");
        fsync_dir(&self.tmp)?;
        fail_point!("checkpoint::before_rename");
        if self.done.exists() {
            fs::remove_dir_all(&self.done).map_err(io_err(&self.done))?;
        }
        fs::rename(&self.tmp, &self.done).map_err(io_err(&self.done))?;
        fail_point!("checkpoint::after_rename");
        if let Some(parent) = self.done.parent() {
            fsync_dir(parent)?;
        }
        Ok(self.done)
    }
}

/// Deletes checkpoints with an index below `index` (Prometheus's `DeleteCheckpoints`).
pub fn delete_checkpoints_before(wal_dir: impl AsRef<Path>, index: u64) -> Result<(), Error> {
    let dir = wal_dir.as_ref();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_name().to_str().and_then(parse_checkpoint_name).is_some_and(|i| i < index) {
            let p = entry.path();
            fs::remove_dir_all(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}
