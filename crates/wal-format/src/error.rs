//! The error types of this crate. Imports nothing else from it but the record type byte
//! its messages name, so every other module can depend on it.

use crate::record::RecordType;
use std::path::PathBuf;

/// Everything that can go wrong while framing, unframing, encoding or decoding WAL bytes.
///
/// Framing errors carry no position: the caller that knows which segment and offset it was reading
/// (the `wal-reader` crate) wraps them. Messages follow Prometheus's wording where it has one, so an
/// operator can match our logs against theirs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fragment header claims more payload than a page can hold.
    #[error("invalid record size {length}")]
    FragmentTooLong {
        /// The length from the header.
        length: usize,
    },
    /// The CRC32-C of a fragment's payload does not match its header.
    #[error("unexpected checksum {actual:08x}, expected {expected:08x}")]
    Checksum {
        /// Checksum computed over the payload.
        actual: u32,
        /// Checksum stored in the header.
        expected: u32,
    },
    /// A byte inside page padding is not zero.
    #[error("unexpected non-zero byte in padded page")]
    NonZeroPadding,
    /// Fragment types arrived in an order no writer produces (e.g. `middle` with no `first`).
    #[error("unexpected {fragment} record{}", if *.fragment == "full" { "" } else { ", dropping buffer" })]
    FragmentSequence {
        /// Name of the fragment type that was not expected here (`full`, `first`, `middle`, `last`).
        fragment: &'static str,
    },
    /// A fragment type outside 0–4.
    #[error("unexpected record type {0}")]
    UnknownFragmentType(u8),
    /// A finished segment holds nothing but zeros, which no writer produces (Prometheus writes
    /// only pages that hold a fragment): whatever was written to it never reached the disk.
    #[error("segment holds only zeros: whatever was written to it is lost")]
    ZeroSegment,
    /// The data ended while a record was still open.
    #[error("last record is torn")]
    TornRecord,
    /// The data ended in the middle of a fragment.
    #[error("fragment cut off: {needed} bytes needed, {available} available")]
    TruncatedFragment {
        /// Bytes the fragment needs.
        needed: usize,
        /// Bytes left in the data.
        available: usize,
    },
    /// Fragments of one record disagree on compression.
    #[error("fragments of one record disagree on compression")]
    MixedCompression,
    /// A snappy-compressed record does not decompress.
    #[error(transparent)]
    Snappy(#[from] SnappyError),
    /// Compressing a record failed.
    #[error("compressing a record: {0}")]
    Compress(String),
    /// A zstd-compressed record does not decompress.
    #[error("zstd: {0}")]
    Zstd(String),
    /// A compressed record claims a decompressed size it cannot have.
    #[error("compressed record of {compressed} bytes claims {claimed} bytes decompressed")]
    DecompressedSize {
        /// Compressed size.
        compressed: usize,
        /// Size the compressed data claims.
        claimed: usize,
    },
    /// A record's content does not decode.
    #[error("{record} record: {reason} at byte {at}")]
    Record {
        /// What the record's type byte says it is.
        record: RecordType,
        /// Byte offset inside the decoded record where decoding failed.
        at: usize,
        /// What was wrong.
        reason: RecordFault,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What was wrong inside a record, for [`Error::Record`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordFault {
    /// The record is empty or its type byte is not the one the decoder was asked for.
    #[error("invalid record type")]
    WrongType,
    /// A value runs past the end of the record.
    #[error("invalid size")]
    Short,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("varint overflows 64 bits")]
    Overflow,
    /// Bytes remain after the last complete entry.
    #[error("unexpected {0} bytes left in entry")]
    Trailing(usize),
}

/// Why a snappy block is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnappyError {
    /// The length header is missing or overflows.
    #[error("snappy: invalid length header")]
    Header,
    /// An element runs past the end of the input.
    #[error("snappy: element cut off at input byte {0}")]
    Truncated(usize),
    /// A copy refers to data before the start of the output (or has offset 0).
    #[error("snappy: copy offset {offset} at output byte {at} is out of range")]
    Offset {
        /// The copy's offset.
        offset: usize,
        /// Output position.
        at: usize,
    },
    /// The elements produce more or fewer bytes than the header says.
    #[error("snappy: output of {got} bytes, header says {want}")]
    Length {
        /// Bytes the elements produce (at the point of failure).
        got: usize,
        /// Bytes the header claims.
        want: usize,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
