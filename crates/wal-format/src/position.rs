//! Where a record lies in a WAL.

use std::fmt;

/// The place of a record in a WAL: its segment and the byte offset of its first fragment in that
/// segment. Positions order as the records do, so "everything before position P" is well defined:
/// this is what readers attach to every record and what a shipper saves to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment index.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

impl Position {
    /// A position.
    pub const fn new(segment: u64, offset: u64) -> Self {
        Position { segment, offset }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}:{}", self.segment, self.offset)
    }
}
