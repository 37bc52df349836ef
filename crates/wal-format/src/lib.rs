//! The Prometheus write-ahead log (WAL) format, byte for byte.
//!
//! - [`fragment`]: 32 KiB pages of CRC32-C-checked fragments, and [`parse_fragment`] to read one.
//! - [`RecordAssembler`]: joins fragments into records and decompresses them (snappy, zstd).
//! - [`record`]: the record codecs — Series, Samples, Tombstones, Exemplars, MmapMarkers,
//!   Metadata and native histograms — that decode without copying label strings.
//! - [`Framer`], [`WalWriter`], [`CheckpointWriter`]: write WALs that Prometheus reads, cut into
//!   pages and segments exactly as Prometheus 2.42 cuts them.
//!
//! Where the boundary lies: decoding works on bytes only — reading segment files, tailing a
//! segment being written, replaying a directory and judging damage live in the `wal-reader`
//! crate. Writing is here whole, files included: [`Framer`] cuts records into pages and segments
//! as bytes, and [`WalWriter`] and [`CheckpointWriter`] put those segments into files (create,
//! fsync, rename), because a writer that Prometheus can read back is one job. The format in prose,
//! in our words:
//! [`docs/format.md`](https://github.com/walship/walship/blob/main/docs/format.md).
//!
//! ```
//! use wal_format::record::{decode_samples, encode_samples, RefSample};
//!
//! let mut rec = Vec::new();
//! encode_samples(&[RefSample { series_ref: 7, st: 0, t: 1_000, v: 1.5 }], &mut rec);
//! let mut samples = Vec::new();
//! decode_samples(&rec, &mut samples).unwrap();
//! assert_eq!(samples[0].t, 1_000);
//! ```
#![warn(missing_docs)]
// Two `unsafe` blocks in the crate, each measured and argued where it is: the snappy fast
// path (`snappy.rs`) and the Samples decoder's write into reserved capacity (`record/samples.rs`).
#![deny(unsafe_code)]

mod assembler;
mod compression;
mod error;
pub mod fragment;
mod framer;
mod names;
mod position;
pub mod record;
mod snappy;
#[cfg(feature = "testing")]
pub mod testing;
mod varint;
mod writer;

pub use assembler::{Assembled, RecordAssembler};
pub use compression::decompress;
pub use error::{Error, RecordFault, Result, SnappyError};
pub use fragment::{
    parse_fragment, Compression, Dialect, FragmentHeader, FragmentType, Parsed, DEFAULT_SEGMENT_SIZE, HEADER_SIZE,
    PAGE_SIZE,
};
pub use framer::{Framer, SegmentSink};
pub use names::{checkpoint_dir_name, parse_checkpoint_name, parse_segment_name, segment_file_name, CHECKPOINT_PREFIX};
pub use position::Position;
pub use writer::{delete_checkpoints_before, CheckpointWriter, WalOptions, WalWriter};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
