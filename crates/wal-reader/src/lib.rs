//! Reads Prometheus write-ahead logs: finished segments with [`Reader`], a segment still being
//! written with [`LiveReader`], and the directory layout (segments, checkpoints) with
//! [`list_segments`] and [`last_checkpoint`].
//!
//! Every record comes with its [`Position`] — segment and byte offset of its first fragment — so
//! a consumer can acknowledge what it has processed and resume there. Both readers follow
//! Prometheus's rules for what is damage and what is a write still in progress; see
//! [`docs/format.md`](https://github.com/walship/walship/blob/main/docs/format.md).
//!
//! ```no_run
//! use wal_reader::Reader;
//! use wal_format::record::RecordType;
//!
//! let mut reader = Reader::open("data/wal".as_ref())?;
//! while let Some(rec) = reader.next_record()? {
//!     println!("{} {}", rec.position, RecordType::of(rec.data));
//! }
//! # Ok::<(), wal_reader::Error>(())
//! ```
#![warn(missing_docs)]
// `unsafe` only to map finished segments into memory (`mapping.rs`, and the caller in
// `reader.rs` that argues why a finished segment is safe to map).
#![deny(unsafe_code)]

mod dir;
mod error;
mod framing;
mod live_reader;
mod mapping;
mod reader;
mod replay;

pub use dir::{last_checkpoint, list_segments, resolve_wal_dir, CheckpointRef, SegmentRef};
pub use error::Error;
pub use live_reader::LiveReader;
pub use reader::{IoMode, Reader};
pub use replay::{Gap, Replay, ReplayItem, ReplayOptions, Source};
pub use wal_format::Position;

/// One record as read: its bytes (decompressed, starting with the record type byte) and where it
/// starts. The bytes are borrowed from the reader until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Segment and offset of the record's first fragment.
    pub position: Position,
    /// The record.
    pub data: &'a [u8],
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
