//! Reading a segment that another process is still appending to, as Prometheus's `LiveReader`.

use crate::error::Error;
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
/// order, non-zero padding, a fragment longer than a page) is an [`Error::Corruption`], after
/// which the reader must not be used again. Memory stays at a few pages plus the record being
/// assembled, however large the segment.
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

    /// Bytes read from the file but not yet part of a complete fragment.
    pub fn pending_bytes(&self) -> usize {
        self.framing.buffered()
    }

    /// The next complete record, `Ok(None)` when no complete record is available yet.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        loop {
            match self.framing.step() {
                Ok(Step::Borrowed(range)) => return Ok(Some(self.framing.record(Some(range)))),
                Ok(Step::Owned) => return Ok(Some(self.framing.record(None))),
                Ok(Step::Incomplete) => {}
                Err(f) => {
                    return Err(Error::Corruption {
                        path: self.path.clone(),
                        segment: self.framing.segment(),
                        offset: f.offset,
                        fragment_offset: f.fragment_offset,
                        source: f.error,
                    })
                }
            }
            let n = self.framing.fill(&mut self.src).map_err(crate::error::io_err(&self.path))?;
            if n == 0 {
                return Ok(None);
            }
        }
    }
}
