//! Reading complete segments, as Prometheus's `Reader` over a segment range does.

use crate::dir::{list_segments, SegmentRef};
use crate::error::{io_err, Error};
use crate::framing::{Failure, Framing, Step};
use crate::mapping::Mapping;
use crate::Record;
use std::fs::File;
use std::path::Path;
use wal_format::{Dialect, Position};

/// How a [`Reader`] gets segment bytes into memory.
///
/// Measured on the benchmark WAL (154 MB uncompressed, 12M samples, warm page cache; `cargo bench
/// -p wal-reader -- none`, five runs on a 2-core VM), as time over decoding the same bytes from a
/// `Vec`: mmap +3 % to +9 %, `read(2)` -8 % to +24 % (its copy through the kernel costs about as
/// much as a memcpy of every byte, and varies most). Decoding from an already populated mapping
/// is as fast as from a `Vec`: what a mapping costs is its page faults and its teardown, which
/// the Reader hands to helper threads (`mapping.rs`). Mmap is the default for that reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoMode {
    /// Map each segment and parse it in place (no copy).
    #[default]
    Mmap,
    /// `read(2)` each segment through a window of a few pages.
    Read,
}

/// Reads every record of a range of finished segments, in order, each with its [`Position`].
///
/// Like Prometheus's segment reader, a segment whose last page is short is read as if padded
/// with zeros to the page end, and a record is complete only when its last fragment is read.
/// Damage is reported as [`Error::Corruption`] naming the segment and offset; after one, call
/// [`Reader::skip_segment`] to go on with the next segment.
pub struct Reader {
    io: IoMode,
    segments: Vec<SegmentRef>,
    /// Index into `segments` of the segment being read; `segments.len()` when done.
    current: usize,
    file: Option<File>,
    framing: Framing,
    at_eof: bool,
}

impl Reader {
    /// A reader over every segment of the directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_range(dir, None, None)
    }

    /// A reader over the segments of `dir` with index in `first..=last` (open ends when `None`).
    pub fn open_range(dir: &Path, first: Option<u64>, last: Option<u64>) -> Result<Self, Error> {
        let segments = list_segments(dir)?
            .into_iter()
            .filter(|s| first.is_none_or(|f| s.index >= f) && last.is_none_or(|l| s.index <= l))
            .collect();
        Ok(Self::from_segments(segments))
    }

    /// A reader over the given segments, read in the order given.
    pub fn from_segments(segments: Vec<SegmentRef>) -> Self {
        let first = segments.first().map_or(0, |s| s.index);
        Reader {
            io: IoMode::default(),
            segments,
            current: 0,
            file: None,
            framing: Framing::new(Dialect::Reader, first, 0),
            at_eof: false,
        }
    }

    /// Chooses how segment bytes get into memory (default: [`IoMode::Mmap`]).
    pub fn set_io_mode(&mut self, io: IoMode) {
        self.io = io;
    }

    /// The segments this reader covers.
    pub fn segments(&self) -> &[SegmentRef] {
        &self.segments
    }

    /// The position just past the bytes consumed so far.
    pub fn position(&self) -> Position {
        Position::new(self.framing.segment(), self.framing.offset())
    }

    /// Abandons the current segment (after a corruption error) and continues with the next one.
    pub fn skip_segment(&mut self) {
        self.framing.reset();
        self.file = None;
        self.current += 1;
    }

    fn open_current(&mut self) -> Result<bool, Error> {
        if self.file.is_some() {
            return Ok(true);
        }
        let Some(seg) = self.segments.get(self.current) else { return Ok(false) };
        let file = File::open(&seg.path).map_err(io_err(&seg.path))?;
        self.framing.start_segment(seg.index);
        if self.io == IoMode::Mmap && file.metadata().map_err(io_err(&seg.path))?.len() > 0 {
            // SAFETY: the mapping is only read, and only while this reader holds it. A finished
            // segment is never written again: Prometheus appends only to the newest segment
            // (read with the LiveReader, never mapped) and deletes old ones whole, which leaves
            // an open mapping intact. The one exception is Prometheus's start-up repair of a
            // corrupt segment, which truncates it; reading that segment at that moment could
            // fault (SIGBUS). Use `IoMode::Read` where that risk matters more than speed.
            let map = unsafe { Mapping::map(&file) }.map_err(io_err(&seg.path))?;
            self.framing.map_segment(seg.index, map);
        }
        self.file = Some(file);
        self.at_eof = false;
        Ok(true)
    }

    fn corruption(&self, f: Failure) -> Error {
        let seg = &self.segments[self.current.min(self.segments.len() - 1)];
        Error::Corruption {
            path: seg.path.clone(),
            segment: seg.index,
            offset: f.offset,
            fragment_offset: f.fragment_offset,
            source: f.error,
        }
    }

    /// The next record, or `None` when every segment has been read.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        loop {
            if !self.open_current()? {
                if self.framing.record_open() {
                    // Prometheus reports a torn record only when the very last fragment read was a
                    // `first` or `middle`; we report it whenever a record is left open, so that
                    // nothing is lost without a word.
                    self.current = self.segments.len().saturating_sub(1);
                    let offset = self.framing.offset();
                    let fragment_offset = self.framing.record_at().1;
                    self.framing.reset();
                    self.current = self.segments.len();
                    let seg = self.segments.last();
                    return Err(Error::Corruption {
                        path: seg.map(|s| s.path.clone()).unwrap_or_default(),
                        segment: seg.map_or(0, |s| s.index),
                        offset,
                        fragment_offset,
                        source: wal_format::Error::TornRecord,
                    });
                }
                return Ok(None);
            }
            match self.framing.step() {
                Ok(Step::Borrowed(range)) => return Ok(Some(self.framing.record(Some(range)))),
                Ok(Step::Owned) => return Ok(Some(self.framing.record(None))),
                Ok(Step::Incomplete) => {}
                Err(f) => {
                    let e = self.corruption(f);
                    self.framing.reset();
                    return Err(e);
                }
            }
            if !self.at_eof {
                let seg_path = &self.segments[self.current].path;
                let file = self.file.as_mut().ok_or_else(|| Error::Io {
                    path: seg_path.clone(),
                    source: std::io::Error::other("segment not open"),
                })?;
                let n = self.framing.fill(file).map_err(io_err(seg_path))?;
                if n > 0 {
                    continue;
                }
                self.at_eof = true;
                if self.framing.pad_to_page() {
                    continue;
                }
            }
            // End of this segment's bytes, zero-padded to a page boundary.
            if self.framing.buffered() > 0 {
                let offset = self.framing.offset();
                let available = self.framing.buffered();
                let e = self.corruption(Failure {
                    error: wal_format::Error::TruncatedFragment { needed: available + 1, available },
                    offset: offset + available as u64,
                    fragment_offset: offset,
                });
                self.skip_segment();
                return Err(e);
            }
            self.file = None;
            self.current += 1;
        }
    }
}
