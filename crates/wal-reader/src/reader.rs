//! Reading complete segments, as Prometheus's `Reader` over a segment range does.

use crate::dir::{list_segments, SegmentRef};
use crate::error::{corruption, io_err, Error};
use crate::framing::{Damage, Framing, Step};
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
/// Damage is reported as [`Error::Corruption`] naming the segment, the offset and what it cost;
/// calling [`Reader::next_record`] again goes on right after the damaged span, so that damage
/// costs only the records it touches ([`Reader::skip_segment`] abandons the rest of the segment
/// instead, as Prometheus does).
pub struct Reader {
    io: IoMode,
    segments: Vec<SegmentRef>,
    /// Index into `segments` of the segment being read; `segments.len()` when done.
    current: usize,
    file: Option<File>,
    framing: Framing,
    at_eof: bool,
    /// The current segment's bytes are all read and its damage reported: move on at the next call.
    ending: bool,
}

/// What [`Reader::advance`] found, without borrowing the reader.
pub(crate) enum Ready {
    /// A record, read with [`Framing::record`].
    Record(Option<std::ops::Range<usize>>),
    /// The segment with this index was read to its end.
    SegmentEnd(u64),
    /// Every segment was read.
    Done,
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
            ending: false,
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
        self.ending = false;
        self.current += 1;
    }

    #[allow(unsafe_code)]
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

    fn corruption(&self, d: Damage) -> Error {
        match self.segments.get(self.current.min(self.segments.len().saturating_sub(1))) {
            Some(seg) => corruption(&seg.path, seg.index, d),
            None => corruption(std::path::Path::new(""), 0, d),
        }
    }

    /// The next record, or `None` when every segment has been read. After an
    /// [`Error::Corruption`], the next call continues after the damaged span.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        loop {
            match self.advance()? {
                Ready::Record(range) => return Ok(Some(self.framing.record(range))),
                Ready::SegmentEnd(_) => continue,
                Ready::Done => return Ok(None),
            }
        }
    }

    /// The segment being read (or the next one to open), if any is left.
    pub(crate) fn current_segment(&self) -> Option<&SegmentRef> {
        self.segments.get(self.current)
    }

    /// The record completed by the last [`Ready::Record`].
    pub(crate) fn record(&self, range: Option<std::ops::Range<usize>>) -> Record<'_> {
        self.framing.record(range)
    }

    /// Reads on until a record completes, a segment ends, or damage is found.
    pub(crate) fn advance(&mut self) -> Result<Ready, Error> {
        loop {
            if self.ending {
                self.ending = false;
                self.file = None;
                let index = self.segments[self.current].index;
                self.current += 1;
                return Ok(Ready::SegmentEnd(index));
            }
            if !self.open_current()? {
                // Prometheus reports a torn record only when the very last fragment read was a
                // `first` or `middle`; we report it whenever a record is left open, so that
                // nothing is lost without a word.
                if self.framing.record_open() {
                    if let Some(d) = self.framing.finish(true) {
                        return Err(self.corruption(d));
                    }
                }
                return Ok(Ready::Done);
            }
            match self.framing.step() {
                Step::Borrowed(range) => return Ok(Ready::Record(Some(range))),
                Step::Owned => return Ok(Ready::Record(None)),
                Step::Damaged(d) => return Err(self.corruption(d)),
                Step::Incomplete => {}
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
            // End of this segment's bytes, zero-padded to a page boundary. A record left open
            // may go on in the next segment (Prometheus's Reader allows it).
            self.ending = true;
            if let Some(d) = self.framing.finish(false) {
                return Err(self.corruption(d));
            }
        }
    }
}
