//! Page framing: the 7-byte fragment header and the parse of one fragment.
//!
//! A segment is a run of 32 KiB pages. Each page holds fragments — a header (type and
//! compression flags, big-endian u16 length, big-endian CRC32-C of the payload) followed by the
//! payload — and, when fewer than 7 bytes are left, zero padding to the page end.

use crate::error::Error;

/// Size of a page: fragments are laid out page by page.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Size of a fragment header.
pub const HEADER_SIZE: usize = 7;
/// Largest fragment payload: a whole page less its header.
pub const MAX_FRAGMENT_PAYLOAD: usize = PAGE_SIZE - HEADER_SIZE;
/// Prometheus's default segment size (128 MiB).
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;

const TYPE_MASK: u8 = 0x07;
const SNAPPY_FLAG: u8 = 0x08;
const ZSTD_FLAG: u8 = 0x10;

/// The type of a fragment: which part of a record it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentType {
    /// A whole record.
    Full,
    /// The first part of a record that continues in later fragments.
    First,
    /// A part between the first and the last.
    Middle,
    /// The final part.
    Last,
}

impl FragmentType {
    fn code(self) -> u8 {
        match self {
            FragmentType::Full => 1,
            FragmentType::First => 2,
            FragmentType::Middle => 3,
            FragmentType::Last => 4,
        }
    }

    /// Prometheus's name for it (`full`, `first`, …), used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            FragmentType::Full => "full",
            FragmentType::First => "first",
            FragmentType::Middle => "middle",
            FragmentType::Last => "last",
        }
    }

    /// Whether this fragment ends a record.
    pub fn ends_record(self) -> bool {
        matches!(self, FragmentType::Full | FragmentType::Last)
    }
}

/// How a record's bytes are compressed. The flag is repeated on each of its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Stored as is.
    #[default]
    None,
    /// Snappy block format (Prometheus's default since 2.20).
    Snappy,
    /// Zstandard frame (newest Prometheus only).
    Zstd,
}

impl Compression {
    fn flag(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Snappy => SNAPPY_FLAG,
            Compression::Zstd => ZSTD_FLAG,
        }
    }
}

/// A decoded fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The fragment type.
    pub fragment_type: FragmentType,
    /// The record's compression.
    pub compression: Compression,
    /// Payload length.
    pub length: usize,
    /// CRC32-C of the payload.
    pub crc: u32,
}

impl FragmentHeader {
    /// The 7 header bytes.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut h = [0u8; HEADER_SIZE];
        h[0] = self.fragment_type.code() | self.compression.flag();
        h[1..3].copy_from_slice(&(self.length as u16).to_be_bytes());
        h[3..7].copy_from_slice(&self.crc.to_be_bytes());
        h
    }
}

/// Which reader's rules a parse follows. Prometheus's two readers differ in small ways that
/// decide whether a file is read to the end or reported as corrupt, so we keep both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Prometheus's `Reader` (complete segments): a header byte whose *type bits* are 0 starts
    /// page padding; fragments may run over a page boundary.
    Reader,
    /// Prometheus's `LiveReader` (a segment being written): only a *whole* zero byte starts
    /// padding; a fragment running over its page is tolerated but reported (its "permissive" mode).
    Live,
}

/// The outcome of parsing at one position.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A fragment; `size` bytes (header + payload) were used.
    Fragment {
        /// Its header.
        header: FragmentHeader,
        /// Its payload, CRC already checked.
        payload: &'a [u8],
        /// Header plus payload length.
        size: usize,
        /// The fragment runs over its page boundary (tolerated, as Prometheus does, but unusual).
        spans_page: bool,
    },
    /// Zero padding up to the page end; `size` bytes were used.
    Padding {
        /// Bytes of padding, the type byte included.
        size: usize,
    },
    /// The data ends before this fragment or padding does: `needed` bytes would complete it.
    Incomplete {
        /// Bytes needed from the parse position.
        needed: usize,
    },
}

/// Parses the fragment (or padding) that starts at `buf[0]`. `page_offset` is where `buf[0]`
/// lies within its page (the stream offset modulo [`PAGE_SIZE`]); `buf` holds whatever bytes are
/// available from there on. Does not allocate.
#[inline]
pub fn parse_fragment(buf: &[u8], page_offset: usize, dialect: Dialect) -> Result<Parsed<'_>, Error> {
    let Some(&first) = buf.first() else {
        return Ok(Parsed::Incomplete { needed: 1 });
    };
    let is_padding = match dialect {
        Dialect::Reader => first & TYPE_MASK == 0,
        Dialect::Live => first == 0,
    };
    if is_padding {
        let size = PAGE_SIZE - page_offset % PAGE_SIZE;
        let Some(pad) = buf.get(..size) else {
            return Ok(Parsed::Incomplete { needed: size });
        };
        // The type byte itself is included: in the Reader dialect it may carry flag bits, which
        // Prometheus does not check either.
        if pad[1..].iter().any(|&b| b != 0) {
            return Err(Error::NonZeroPadding);
        }
        return Ok(Parsed::Padding { size });
    }
    let Some(hdr) = buf.get(..HEADER_SIZE) else {
        return Ok(Parsed::Incomplete { needed: HEADER_SIZE });
    };
    let length = u16::from_be_bytes([hdr[1], hdr[2]]) as usize;
    let crc = u32::from_be_bytes([hdr[3], hdr[4], hdr[5], hdr[6]]);
    if length > MAX_FRAGMENT_PAYLOAD {
        return Err(Error::FragmentTooLong { length });
    }
    let size = HEADER_SIZE + length;
    let Some(payload) = buf.get(HEADER_SIZE..size) else {
        return Ok(Parsed::Incomplete { needed: size });
    };
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Err(Error::Checksum { actual, expected: crc });
    }
    let fragment_type = match first & TYPE_MASK {
        1 => FragmentType::Full,
        2 => FragmentType::First,
        3 => FragmentType::Middle,
        4 => FragmentType::Last,
        // Prometheus checks the CRC before it looks at the type: so do we.
        other => return Err(Error::UnknownFragmentType(other)),
    };
    // Snappy wins over zstd when both flags are set, as in Prometheus.
    let compression = if first & SNAPPY_FLAG != 0 {
        Compression::Snappy
    } else if first & ZSTD_FLAG != 0 {
        Compression::Zstd
    } else {
        Compression::None
    };
    Ok(Parsed::Fragment {
        header: FragmentHeader { fragment_type, compression, length, crc },
        payload,
        size,
        spans_page: page_offset % PAGE_SIZE + size > PAGE_SIZE,
    })
}
