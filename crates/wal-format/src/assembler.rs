//! Joins fragments into records, checking their order, and decompresses them.

use crate::compression::decompress;
use crate::error::Error;
use crate::fragment::{Compression, FragmentHeader, FragmentType};

/// What [`RecordAssembler::push`] made of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled<'p> {
    /// The record continues in later fragments.
    Pending,
    /// A complete uncompressed record in one fragment: here it is, borrowed from the payload
    /// without a copy (the common case, and the fast one).
    Borrowed(&'p [u8]),
    /// A complete record, held in the assembler: read it with [`RecordAssembler::record`].
    Owned,
}

/// Joins the fragments of one record at a time. Keeps its buffers between records, so that in a
/// steady state assembling allocates nothing.
#[derive(Debug, Default)]
pub struct RecordAssembler {
    /// Fragments of the open record so far (0: no record open).
    fragments: usize,
    compression: Compression,
    /// Payload bytes of the open record, as stored (maybe compressed).
    stored: Vec<u8>,
    /// The last complete record, decompressed.
    record: Vec<u8>,
}

impl RecordAssembler {
    /// A new assembler with no record open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a record has been started and not finished.
    pub fn is_open(&self) -> bool {
        self.fragments > 0
    }

    /// Forgets an open record (after an error, or to start over at a new position).
    pub fn reset(&mut self) {
        self.fragments = 0;
        self.stored.clear();
    }

    /// Adds one fragment. Errors, as Prometheus's `validateRecord`, when the fragment cannot
    /// follow what came before; the open record is dropped then.
    pub fn push<'p>(&mut self, header: &FragmentHeader, payload: &'p [u8]) -> Result<Assembled<'p>, Error> {
        let open = self.fragments > 0;
        let in_order = match header.fragment_type {
            FragmentType::Full | FragmentType::First => !open,
            FragmentType::Middle | FragmentType::Last => open,
        };
        if !in_order {
            self.reset();
            return Err(Error::FragmentSequence { fragment: header.fragment_type.name() });
        }
        if header.fragment_type == FragmentType::Full {
            if header.compression == Compression::None {
                return Ok(Assembled::Borrowed(payload));
            }
            decompress(header.compression, payload, &mut self.record)?;
            return Ok(Assembled::Owned);
        }
        if header.fragment_type == FragmentType::First {
            self.compression = header.compression;
            self.stored.clear();
        } else if header.compression != self.compression {
            self.reset();
            return Err(Error::MixedCompression);
        }
        self.stored.extend_from_slice(payload);
        self.fragments += 1;
        if header.fragment_type != FragmentType::Last {
            return Ok(Assembled::Pending);
        }
        self.fragments = 0;
        if self.compression == Compression::None {
            std::mem::swap(&mut self.stored, &mut self.record);
        } else {
            decompress(self.compression, &self.stored, &mut self.record)?;
        }
        Ok(Assembled::Owned)
    }

    /// The record completed by the last [`Assembled::Owned`].
    pub fn record(&self) -> &[u8] {
        &self.record
    }
}
