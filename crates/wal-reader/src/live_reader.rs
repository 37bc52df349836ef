//! Reading a segment that another process is still appending to, as Prometheus's `LiveReader`.

use crate::error::{corruption, Error};
use crate::framing::{Framing, Step};
use crate::Record;
use std::io::Read;
use std::path::PathBuf;
use wal_format::Dialect;

/// Reads the records of one segment while it is being written.
///
/// [`LiveReader::next_record`] returns every complete record available; `Ok(None)` means
/// "nothing more yet" — a fragment, padding or page is only partly written — and the next call
/// picks up where this one stopped once the file has grown. Real damage (checksum, bad fragment
/// order, non-zero padding, a fragment longer than a page) is an [`Error::Corruption`] reported
/// once the damaged span ends; the next call goes on after it, so damage costs only the records
/// it touches. When the segment is known to be finished (a newer one exists), call
/// [`LiveReader::finish`] after the last record: what is left then is damage, not a write in
/// progress. Memory stays at a few pages plus the record being assembled, however large the
/// segment.
///
/// A fragment that runs over its page boundary is tolerated and counted, like Prometheus's
/// LiveReader in its permissive mode ([`LiveReader::page_spans`]).
pub struct LiveReader<R> {
    src: R,
    path: PathBuf,
    framing: Framing,
}

impl<R: Read> LiveReader<R> {
    /// A reader of segment `segment` (at `path`, used in errors) whose bytes come from `src`,
    /// starting at offset 0.
    pub fn new(src: R, path: impl Into<PathBuf>, segment: u64) -> Self {
        Self::at_offset(src, path, segment, 0)
    }

    /// A reader that starts at `offset` of the segment: `src` must already be positioned there,
    /// and `offset` must be the start of a record (a saved [`Position`](crate::Position)).
    pub fn at_offset(src: R, path: impl Into<PathBuf>, segment: u64, offset: u64) -> Self {
        LiveReader { src, path: path.into(), framing: Framing::new(Dialect::Live, segment, offset) }
    }

    /// Offset just past the bytes consumed so far: after `Ok(None)`, where the segment's complete
    /// records end.
    pub fn offset(&self) -> u64 {
        self.framing.offset()
    }

    /// Fragments seen running over their page boundary.
    pub fn page_spans(&self) -> u64 {
        self.framing.page_spans
    }

    /// Whether a record has been started but not finished (more of it may still arrive).
    pub fn record_open(&self) -> bool {
        self.framing.record_open()
    }

    /// Whether reading stands between records: none started and unfinished, no damaged span
    /// being stepped over. The offset is then a place to resume from.
    pub fn at_record_boundary(&self) -> bool {
        self.framing.at_boundary()
    }

    /// The source the bytes come from.
    pub fn get_ref(&self) -> &R {
        &self.src
    }

    /// Whether the bytes of [`LiveReader::pending_bytes`] are all zeros (page padding so far).
    pub fn pending_is_zero(&self) -> bool {
        self.framing.buffered_is_zero()
    }

    /// Bytes read from the file but not yet part of a complete fragment.
    pub fn pending_bytes(&self) -> usize {
        self.framing.buffered()
    }

    /// The next complete record, `Ok(None)` when no complete record is available yet. After an
    /// [`Error::Corruption`], the next call goes on after the damaged span.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        match self.advance()? {
            Some(range) => Ok(Some(self.framing.record(range))),
            None => Ok(None),
        }
    }

    /// Reads on until a record completes (`Some`, to fetch with [`LiveReader::record`]) or no
    /// complete record is available (`None`), without borrowing the reader.
    pub(crate) fn advance(&mut self) -> Result<Option<Option<std::ops::Range<usize>>>, Error> {
        loop {
            match self.framing.step() {
                Step::Borrowed(range) => return Ok(Some(Some(range))),
                Step::Owned => return Ok(Some(None)),
                Step::Damaged(d) => return Err(corruption(&self.path, self.framing.segment(), d)),
                Step::Incomplete => {}
            }
            let n = self.framing.fill(&mut self.src).map_err(crate::error::io_err(&self.path))?;
            if n == 0 {
                return Ok(None);
            }
        }
    }

    /// The record completed by the last [`LiveReader::advance`].
    pub(crate) fn record(&self, range: Option<std::ops::Range<usize>>) -> Record<'_> {
        self.framing.record(range)
    }

    /// Says the segment will not grow any more and zero-pads its short last page, as a finished
    /// segment is read (Prometheus pads the page, and the mapped [`crate::Reader`] does the same).
    /// A damaged header whose length ran past the bytes written then no longer waits for bytes
    /// that will never come: it no longer fits its page and reading resyncs after it, so the sound
    /// records behind it are read. Returns whether zeros were added; if so, read on with
    /// [`LiveReader::next_record`] until `Ok(None)` before calling [`LiveReader::finish`].
    pub fn seal(&mut self) -> bool {
        self.framing.pad_to_page()
    }

    /// Declares the segment finished: it will not grow any more. Call it after
    /// [`LiveReader::next_record`] returned `Ok(None)`, once a newer segment exists. Bytes left
    /// after the last complete record are damage (a torn write), unless they are zeros and no
    /// record is open (the unused rest of a page).
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.framing.finish(true) {
            Some(d) => Err(corruption(&self.path, self.framing.segment(), d)),
            None => Ok(()),
        }
    }
}
