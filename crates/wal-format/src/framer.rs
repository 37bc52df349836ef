//! The encoder side of framing: cuts records into fragments and pages exactly as Prometheus
//! 2.42's `WL.log` does, so that what we write is byte-identical to what Prometheus writes for the
//! same records and batch boundaries.

use crate::compression::snappy_compress;
use crate::error::Error;
use crate::fragment::{Compression, FragmentHeader, FragmentType, HEADER_SIZE, PAGE_SIZE};

/// Where framed bytes go: the current segment, and the switch to the next one.
pub trait SegmentSink {
    /// Appends bytes to the current segment.
    fn write(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// Finishes the current segment and starts the next (empty) one.
    fn next_segment(&mut self) -> Result<(), Error>;
}

/// In-memory framing state: the page being filled and how much of the segment is used.
pub struct Framer {
    page: Box<[u8; PAGE_SIZE]>,
    /// Bytes of the page in use.
    alloc: usize,
    /// Bytes of the page already handed to the sink.
    flushed: usize,
    /// Whole pages already written to the current segment.
    done_pages: usize,
    pages_per_segment: usize,
    compression: Compression,
    snappy: snap::raw::Encoder,
    compressed: Vec<u8>,
}

impl Framer {
    /// A framer for segments of `segment_size` bytes (a multiple of the page size, as Prometheus
    /// requires), starting on an empty segment.
    pub fn new(segment_size: usize, compression: Compression) -> Result<Self, Error> {
        if segment_size == 0 || !segment_size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::Config(format!(
                "segment size {segment_size} is not a positive multiple of {PAGE_SIZE}"
            )));
        }
        if compression == Compression::Zstd {
            return Err(Error::Config("writing zstd-compressed WALs is not supported; use snappy or none".into()));
        }
        Ok(Framer {
            page: Box::new([0; PAGE_SIZE]),
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            pages_per_segment: segment_size / PAGE_SIZE,
            compression,
            snappy: snap::raw::Encoder::new(),
            compressed: Vec::new(),
        })
    }

    /// Starts counting from an existing segment of `size` bytes (Prometheus derives its page
    /// count from the file size when it opens a segment).
    pub fn resume_segment(&mut self, size: usize) {
        self.done_pages = size / PAGE_SIZE;
    }

    /// Offset in the current segment where the next fragment will start.
    pub fn offset(&self) -> usize {
        self.done_pages * PAGE_SIZE + self.alloc
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < HEADER_SIZE
    }

    /// Writes out the unflushed part of the page; with `clear` (or when nothing more fits) pads
    /// it to the end and starts a new page.
    fn flush_page(&mut self, clear: bool, sink: &mut dyn SegmentSink) -> Result<(), Error> {
        let clear = clear || self.page_full();
        if clear {
            self.alloc = PAGE_SIZE;
        }
        sink.write(&self.page[self.flushed..self.alloc])?;
        self.flushed = self.alloc;
        if clear {
            self.page.fill(0);
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
        }
        Ok(())
    }

    /// Writes out a partly filled page without finishing it (the end of a batch in Prometheus).
    pub fn flush(&mut self, sink: &mut dyn SegmentSink) -> Result<(), Error> {
        if self.alloc > self.flushed {
            self.flush_page(false, sink)?;
        }
        Ok(())
    }

    /// Pads and writes the page if it holds anything: what closing a segment does.
    pub fn finish_page(&mut self, sink: &mut dyn SegmentSink) -> Result<(), Error> {
        if self.alloc > 0 {
            self.flush_page(true, sink)?;
        }
        Ok(())
    }

    /// Finishes the current segment and moves the sink to the next one.
    pub fn next_segment(&mut self, sink: &mut dyn SegmentSink) -> Result<(), Error> {
        self.finish_page(sink)?;
        sink.next_segment()?;
        self.done_pages = 0;
        Ok(())
    }

    /// Frames one record. `last_in_batch` flushes a partly filled page afterwards, as Prometheus
    /// does for the last record passed to one `Log` call. Returns whether the record moved to a
    /// new segment and the offset of its first fragment in its segment.
    pub fn log(&mut self, rec: &[u8], last_in_batch: bool, sink: &mut dyn SegmentSink) -> Result<(bool, usize), Error> {
        if self.page_full() {
            self.flush_page(true, sink)?;
        }
        let mut compression = Compression::None;
        if self.compression == Compression::Snappy && !rec.is_empty() {
            let mut compressed = std::mem::take(&mut self.compressed);
            snappy_compress(&mut self.snappy, rec, &mut compressed)?;
            self.compressed = compressed;
            if self.compressed.len() < rec.len() {
                compression = Compression::Snappy;
            }
        }
        let compressed = std::mem::take(&mut self.compressed);
        let mut rest: &[u8] = if compression == Compression::Snappy { &compressed } else { rec };

        // A record never crosses segments: if it does not fit in what is left, start a new one.
        // Like Prometheus, a record larger than a whole segment is still written, making that
        // segment longer than the configured size.
        let left = (PAGE_SIZE - self.alloc - HEADER_SIZE)
            + (PAGE_SIZE - HEADER_SIZE) * self.pages_per_segment.saturating_sub(self.done_pages + 1);
        let mut moved = false;
        if rest.len() > left {
            self.next_segment(sink)?;
            moved = true;
        }
        let offset = self.offset();
        let mut first = true;
        // One pass even for an empty record: it is written as an empty `full` fragment.
        while first || !rest.is_empty() {
            let room = PAGE_SIZE - self.alloc - HEADER_SIZE;
            let n = rest.len().min(room);
            let (part, tail) = rest.split_at(n);
            let fragment_type = match (first, tail.is_empty()) {
                (true, true) => FragmentType::Full,
                (false, true) => FragmentType::Last,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
            };
            let header = FragmentHeader { fragment_type, compression, length: n, crc: crc32c::crc32c(part) };
            let at = self.alloc;
            self.page[at..at + HEADER_SIZE].copy_from_slice(&header.encode());
            self.page[at + HEADER_SIZE..at + HEADER_SIZE + n].copy_from_slice(part);
            self.alloc += HEADER_SIZE + n;
            if self.page_full() {
                if let Err(e) = self.flush_page(true, sink) {
                    self.compressed = compressed;
                    return Err(e);
                }
            }
            rest = tail;
            first = false;
        }
        self.compressed = compressed;
        if last_in_batch && self.alloc > 0 {
            self.flush_page(false, sink)?;
        }
        Ok((moved, offset))
    }
}
