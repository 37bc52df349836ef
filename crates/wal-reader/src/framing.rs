//! The framing core both readers share: a window of bytes read from one segment, fragments parsed
//! out of it, records assembled. Only what happens at the end of the available bytes differs
//! between [`crate::Reader`] and [`crate::LiveReader`], so that is left to them.

use crate::mapping::Mapping;
use std::io::Read;
use std::ops::Range;
use wal_format::{parse_fragment, Assembled, Dialect, Parsed, RecordAssembler, PAGE_SIZE};

/// Bytes kept in memory per reader. A fragment or a run of padding never exceeds one page, so two
/// pages always make progress; eight make reads large enough that the syscalls cost little.
pub(crate) const WINDOW: usize = 8 * PAGE_SIZE;

/// What one step of parsing produced.
pub(crate) enum Step {
    /// A record that is the payload of one fragment, at this range of the window.
    Borrowed(Range<usize>),
    /// A record held by the assembler.
    Owned,
    /// The window ends inside a fragment or padding; more bytes are needed.
    Incomplete,
}

/// A framing failure with the offsets to report.
pub(crate) struct Failure {
    pub(crate) error: wal_format::Error,
    pub(crate) offset: u64,
    pub(crate) fragment_offset: u64,
}

/// The bytes being parsed: a window filled by `read(2)`, or a whole segment mapped into memory.
enum Bytes {
    Window(Box<[u8]>),
    Mapped(Mapping),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Window(w) => w,
            Bytes::Mapped(m) => m.bytes(),
        }
    }
}

pub(crate) struct Framing {
    window: Bytes,
    start: usize,
    end: usize,
    /// Segment offset of `window[start]`.
    offset: u64,
    dialect: Dialect,
    assembler: RecordAssembler,
    /// Segment and offset of the first fragment of the record being assembled.
    record_at: (u64, u64),
    segment: u64,
    /// Fragments seen running over their page boundary (tolerated, as Prometheus's LiveReader).
    pub(crate) page_spans: u64,
}

impl Framing {
    pub(crate) fn new(dialect: Dialect, segment: u64, offset: u64) -> Self {
        Framing {
            window: Bytes::Window(vec![0; WINDOW].into_boxed_slice()),
            start: 0,
            end: 0,
            offset,
            dialect,
            assembler: RecordAssembler::new(),
            record_at: (segment, offset),
            segment,
            page_spans: 0,
        }
    }

    /// Segment offset up to which bytes have been consumed.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn segment(&self) -> u64 {
        self.segment
    }

    /// Where the record returned by the last step begins.
    pub(crate) fn record_at(&self) -> (u64, u64) {
        self.record_at
    }

    /// Bytes available but not yet consumed.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn record_open(&self) -> bool {
        self.assembler.is_open()
    }

    /// Moves on to a new segment, keeping an open record (Prometheus's Reader lets a record run on
    /// into the next segment; no writer does that, but we read what Prometheus reads).
    pub(crate) fn start_segment(&mut self, segment: u64) {
        self.segment = segment;
        self.offset = 0;
        self.start = 0;
        self.end = 0;
    }

    /// Drops any open record and buffered bytes (after a corruption).
    pub(crate) fn reset(&mut self) {
        self.assembler.reset();
        self.start = 0;
        self.end = 0;
    }

    /// The record the last step completed: the payload at `range` of the window for
    /// [`Step::Borrowed`], the assembler's record for [`Step::Owned`] (`None`).
    pub(crate) fn record(&self, range: Option<Range<usize>>) -> crate::Record<'_> {
        let (segment, offset) = self.record_at;
        let data = match range {
            Some(r) => &self.window.as_slice()[r],
            None => self.assembler.record(),
        };
        crate::Record { position: wal_format::Position::new(segment, offset), data }
    }

    /// Parses a whole mapped segment from its start.
    pub(crate) fn map_segment(&mut self, segment: u64, map: Mapping) {
        self.start_segment(segment);
        self.end = map.bytes().len();
        self.window = Bytes::Mapped(map);
    }

    /// The read window, replacing a mapping (keeping its unparsed bytes) if there is one.
    fn window_mut(&mut self) -> &mut Box<[u8]> {
        if let Bytes::Mapped(m) = &self.window {
            let mut w = vec![0; WINDOW].into_boxed_slice();
            let rest = &m.bytes()[self.start..self.end];
            w[..rest.len()].copy_from_slice(rest);
            (self.start, self.end) = (0, rest.len());
            self.window = Bytes::Window(w);
        }
        match &mut self.window {
            Bytes::Window(w) => w,
            Bytes::Mapped(_) => unreachable!("replaced just above"),
        }
    }

    /// Reads more bytes from `src` into the window. Returns how many arrived (0 at end of data).
    pub(crate) fn fill(&mut self, src: &mut impl Read) -> std::io::Result<usize> {
        if let Bytes::Mapped(_) = self.window {
            return Ok(0); // a mapping holds the whole segment already
        }
        let (start, end) = (self.start, self.end);
        let window = self.window_mut();
        if start > 0 && (end == window.len() || window.len() - end < PAGE_SIZE) {
            window.copy_within(start..end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let end = self.end;
        loop {
            match src.read(&mut self.window_mut()[end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends zeros up to the next page boundary, as Prometheus's segment reader does at the end
    /// of a segment whose last page is short. Returns whether anything was added.
    pub(crate) fn pad_to_page(&mut self) -> bool {
        let data_end = self.offset + self.buffered() as u64;
        let pad = (PAGE_SIZE as u64 - data_end % PAGE_SIZE as u64) as usize % PAGE_SIZE;
        if pad == 0 {
            return false;
        }
        // Turning a mapping into a window moves `start` and `end`: read them only afterwards.
        let len = self.window_mut().len();
        let (start, end) = (self.start, self.end);
        if len - end < pad {
            self.window_mut().copy_within(start..end, 0);
            self.end -= start;
            self.start = 0;
        }
        let end = self.end;
        self.window_mut()[end..end + pad].fill(0);
        self.end += pad;
        true
    }

    /// Parses what the window holds until a record completes or more bytes are needed.
    pub(crate) fn step(&mut self) -> Result<Step, Failure> {
        loop {
            let at = self.offset;
            let page_offset = (at % PAGE_SIZE as u64) as usize;
            let parsed = parse_fragment(&self.window.as_slice()[self.start..self.end], page_offset, self.dialect);
            match parsed {
                Ok(Parsed::Padding { size }) => self.advance(size),
                Ok(Parsed::Incomplete { .. }) => return Ok(Step::Incomplete),
                Ok(Parsed::Fragment { header, size, spans_page, .. }) => {
                    let payload = self.start + wal_format::HEADER_SIZE..self.start + size;
                    self.advance(size);
                    self.page_spans += spans_page as u64;
                    if !self.assembler.is_open() {
                        self.record_at = (self.segment, at);
                    }
                    let pushed = self.assembler.push(&header, &self.window.as_slice()[payload.clone()]);
                    match pushed {
                        Ok(Assembled::Pending) => {}
                        Ok(Assembled::Borrowed(_)) => return Ok(Step::Borrowed(payload)),
                        Ok(Assembled::Owned) => return Ok(Step::Owned),
                        Err(error) => return Err(Failure { error, offset: self.offset, fragment_offset: at }),
                    }
                }
                Err(error) => {
                    // Report the offset Prometheus reports: just past what it had read when it
                    // noticed the damage.
                    let len = |w: &[u8]| u16::from_be_bytes([w[1], w[2]]) as u64;
                    let consumed = match &error {
                        wal_format::Error::FragmentTooLong { .. } => wal_format::HEADER_SIZE as u64,
                        wal_format::Error::NonZeroPadding => (PAGE_SIZE - page_offset) as u64,
                        _ => wal_format::HEADER_SIZE as u64 + len(&self.window.as_slice()[self.start..self.end]),
                    };
                    return Err(Failure { error, offset: at + consumed, fragment_offset: at });
                }
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}
