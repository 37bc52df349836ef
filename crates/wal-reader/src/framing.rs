//! The framing core both readers share: a window of bytes read from one segment, fragments parsed
//! out of it, records assembled. Only what happens at the end of the available bytes differs
//! between [`crate::Reader`] and [`crate::LiveReader`], so that is left to them.

use crate::mapping::Mapping;
use std::io::Read;
use std::ops::Range;
use wal_format::{parse_fragment, Assembled, Dialect, FragmentType, Parsed, RecordAssembler, PAGE_SIZE};

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
    /// A damaged span ended: parsing goes on after it.
    Damaged(Damage),
}

/// A span of a segment that was stepped over because it is damaged.
#[derive(Debug)]
pub(crate) struct Damage {
    pub(crate) error: wal_format::Error,
    /// The offset Prometheus's reader reports for the same damage: just past what it had read
    /// when it noticed.
    pub(crate) reported: u64,
    /// Where the bad fragment (or the bytes that are no fragment) starts.
    pub(crate) bad_at: u64,
    /// First byte not delivered as part of a record: the start of the lost record.
    pub(crate) start: u64,
    /// Where reading resumed.
    pub(crate) end: u64,
    /// Records known to be lost (a scan over garbage may have passed more).
    pub(crate) records_lost: u64,
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
    /// A damaged span being stepped over: every offset after it is tried until one holds a
    /// fragment that starts a record.
    damage: Option<Damage>,
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
            damage: None,
        }
    }

    /// Segment offset up to which bytes have been consumed.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn segment(&self) -> u64 {
        self.segment
    }

    /// Whether parsing stands between records: none open, no damage being stepped over.
    pub(crate) fn at_boundary(&self) -> bool {
        !self.assembler.is_open() && self.damage.is_none()
    }

    /// Whether the bytes available but not yet consumed are all zeros.
    pub(crate) fn buffered_is_zero(&self) -> bool {
        self.window.as_slice()[self.start..self.end].iter().all(|&b| b == 0)
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
        self.damage = None;
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

    /// Parses what the window holds until a record completes, a damaged span ends, or more bytes
    /// are needed.
    ///
    /// Damage costs only the records it touches (beyond Prometheus, whose reader stops at the
    /// first error): after a fragment whose checksum fails, or bytes that cannot be a fragment,
    /// every following offset is tried until one holds a `full` or `first` fragment that fits its
    /// page and whose CRC32-C matches (a false match on garbage is a 1 in 2^32 chance per
    /// plausible header). The record the bad fragment belongs to is lost, and with it the rest of
    /// its fragments; the next record is read.
    pub(crate) fn step(&mut self) -> Step {
        loop {
            if let Some(open) = self.damage.take() {
                if self.scan() {
                    return Step::Damaged(self.close_damage(open));
                }
                self.damage = Some(open);
                return Step::Incomplete;
            }
            let at = self.offset;
            let page_offset = (at % PAGE_SIZE as u64) as usize;
            let parsed = parse_fragment(&self.window.as_slice()[self.start..self.end], page_offset, self.dialect);
            match parsed {
                Ok(Parsed::Padding { size }) => self.advance(size),
                Ok(Parsed::Incomplete { .. }) => return Step::Incomplete,
                Ok(Parsed::Fragment { header, size, spans_page, .. }) => {
                    let payload = self.start + wal_format::HEADER_SIZE..self.start + size;
                    self.advance(size);
                    self.page_spans += spans_page as u64;
                    let was_open = self.assembler.is_open();
                    if !was_open {
                        self.record_at = (self.segment, at);
                    }
                    let pushed = self.assembler.push(&header, &self.window.as_slice()[payload.clone()]);
                    match pushed {
                        Ok(Assembled::Pending) => {}
                        Ok(Assembled::Borrowed(_)) => return Step::Borrowed(payload),
                        Ok(Assembled::Owned) => return Step::Owned,
                        Err(error) => {
                            let typ = header.fragment_type;
                            if let Some(damage) = self.assembly_failed(error, typ, at, size, was_open) {
                                return Step::Damaged(damage);
                            }
                        }
                    }
                }
                Err(error) => self.bad_fragment(error, at, page_offset),
            }
        }
    }

    /// A fragment that parsed but cannot be assembled: out of order, or its record does not
    /// decompress. Returns the damage when its span is already complete.
    #[cold]
    fn assembly_failed(
        &mut self,
        error: wal_format::Error,
        typ: FragmentType,
        at: u64,
        size: usize,
        was_open: bool,
    ) -> Option<Damage> {
        // The record this fragment was part of (or, for a `full` or `first` out of order, the one
        // left open before it) starts here in this segment.
        let record_start = match (was_open, self.record_at) {
            (true, (segment, offset)) if segment == self.segment => offset,
            (true, _) => 0,
            (false, _) => at,
        };
        let end = self.offset;
        match (&error, typ) {
            // A record was left open: it is lost, and this fragment starts the next one. Parse it
            // again once the damage is reported.
            (wal_format::Error::FragmentSequence { .. }, FragmentType::Full | FragmentType::First) => {
                self.start -= size;
                self.offset -= size as u64;
                Some(Damage { error, reported: end, bad_at: at, start: record_start, end: at, records_lost: 1 })
            }
            // A fragment of a record whose start was lost, or that disagrees with its record:
            // the record is lost; the next one starts at a `full` or `first` fragment.
            (wal_format::Error::FragmentSequence { .. } | wal_format::Error::MixedCompression, _) => {
                let records_lost = 1;
                let span = Damage { error, reported: end, bad_at: at, start: record_start, end, records_lost };
                self.damage = Some(span);
                None
            }
            // Every fragment was sound but the record does not decompress: only it is lost.
            _ => Some(Damage { error, reported: end, bad_at: at, start: record_start, end, records_lost: 1 }),
        }
    }

    /// Bytes at `at` that are no valid fragment: a checksum that fails, a type that does not
    /// exist, a length past the page, padding that is not zero. Opens a damaged span and scans
    /// for the next fragment that starts a record. Even when only the checksum fails, the length
    /// in the header is not trusted: a flipped length bit would otherwise carry the reader past
    /// sound records.
    #[cold]
    fn bad_fragment(&mut self, error: wal_format::Error, at: u64, page_offset: usize) {
        let open = self.assembler.is_open();
        let start = self.record_start(at);
        self.assembler.reset();
        let window = &self.window.as_slice()[self.start..self.end];
        let (kind, length) = (window[0], u16::from_be_bytes([window[1], window[2]]) as usize);
        // The offset Prometheus reports: just past what it had read when it noticed.
        let reported = at
            + match &error {
                wal_format::Error::FragmentTooLong { .. } => wal_format::HEADER_SIZE as u64,
                wal_format::Error::NonZeroPadding => (PAGE_SIZE - page_offset) as u64,
                _ => (wal_format::HEADER_SIZE + length) as u64,
            };
        // The record left open is lost, and so is the one this fragment starts, if it starts one.
        // Padding with a stray byte in it starts none.
        let starts_record = match &error {
            wal_format::Error::NonZeroPadding => false,
            wal_format::Error::FragmentTooLong { .. } => true,
            _ => matches!(kind & 0x07, 1 | 2),
        };
        let records_lost = open as u64 + starts_record as u64;
        let span = Damage { error, reported, bad_at: at, start, end: at, records_lost };
        self.advance(1);
        self.damage = Some(span);
    }

    /// Where the record that a fragment at `at` belongs to begins in this segment.
    fn record_start(&self, at: u64) -> u64 {
        match (self.assembler.is_open(), self.record_at) {
            (true, (segment, offset)) if segment == self.segment => offset,
            (true, _) => 0,
            (false, _) => at,
        }
    }

    /// Scans for the next fragment that starts a record. Returns `true` with the window at it,
    /// or `false` when the bytes run out first (the window then starts at the first offset not
    /// yet ruled out).
    #[cold]
    fn scan(&mut self) -> bool {
        let window = self.window.as_slice();
        let mut i = self.start;
        let mut found = false;
        while i < self.end {
            let kind = window[i];
            // Type full or first, and no flag bits but snappy's and zstd's.
            if matches!(kind & 0x07, 1 | 2) && kind & !0x1f == 0 {
                let page_offset = ((self.offset + (i - self.start) as u64) % PAGE_SIZE as u64) as usize;
                let Some(header) = window.get(i..i + wal_format::HEADER_SIZE) else { break };
                let length = u16::from_be_bytes([header[1], header[2]]) as usize;
                let fits = length > 0 && page_offset + wal_format::HEADER_SIZE + length <= PAGE_SIZE;
                if fits {
                    let Some(payload) = window.get(i + wal_format::HEADER_SIZE..i + wal_format::HEADER_SIZE + length)
                    else {
                        break;
                    };
                    if crc32c::crc32c(payload) == u32::from_be_bytes([header[3], header[4], header[5], header[6]]) {
                        found = true;
                        break;
                    }
                }
            }
            i += 1;
        }
        let n = i - self.start;
        self.advance(n);
        found
    }

    /// Ends the damaged span `open` where parsing now stands.
    fn close_damage(&self, open: Damage) -> Damage {
        Damage { end: self.offset, ..open }
    }

    /// The data will not grow: whatever is left after the last complete record is damage,
    /// unless it is zeros (the unused rest of a page) and no record is open. `last` says whether
    /// this is the last segment, where an open record can no longer continue.
    pub(crate) fn finish(&mut self, last: bool) -> Option<Damage> {
        let rest = &self.window.as_slice()[self.start..self.end];
        let zeros = rest.iter().all(|&b| b == 0);
        let open = self.assembler.is_open() && last;
        if self.damage.is_none() && zeros && !open {
            let n = rest.len();
            self.advance(n);
            return None;
        }
        let span = match self.damage.take() {
            Some(span) => span,
            None => {
                let at = self.offset;
                let (error, records_lost) = if rest.is_empty() || zeros {
                    (wal_format::Error::TornRecord, 1)
                } else {
                    let available = rest.len();
                    let error = wal_format::Error::TruncatedFragment { needed: available + 1, available };
                    (error, 1 + self.assembler.is_open() as u64)
                };
                let start = self.record_start(at);
                let reported = at + rest.len() as u64;
                Damage { error, reported, bad_at: at, start, end: at, records_lost }
            }
        };
        self.assembler.reset();
        let n = self.buffered();
        self.advance(n);
        Some(self.close_damage(span))
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}
