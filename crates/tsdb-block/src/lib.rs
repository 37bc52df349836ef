//! Reads Prometheus's persisted TSDB blocks: the directories under `--storage.tsdb.path` that
//! hold everything older than the head (`<ULID>/meta.json`, `index`, `chunks/`, `tombstones`).
//!
//! - [`DataDir::open`] lists a data directory's blocks, sorted by time, leaving out what is not
//!   a block or is about to be deleted; [`DataDir::overlapping_groups`] tells which blocks
//!   overlap in time, and [`merge_series`] reads such a group as Prometheus merges it.
//! - [`Block::open`] maps a block's index and chunk files. [`Block::series`] iterates its
//!   series in label order (labels and chunk metas); [`Block::samples`] decodes one series'
//!   samples in time order with tombstoned ranges removed; [`Block::samples_between`] only
//!   those of a time range.
//! - [`Chunk`] decodes a single chunk of any encoding Prometheus writes: XOR, histogram,
//!   float histogram and the start-timestamp encodings XOR2, histogramST, floathistogramST.
//!
//! ```no_run
//! use tsdb_block::{DataDir, Value};
//!
//! let dir = DataDir::open("data".as_ref())?;
//! for b in dir.blocks() {
//!     let block = b.open()?;
//!     for series in block.series()? {
//!         let series = series?;
//!         for sample in block.samples(&series) {
//!             if let Value::Float(v) = sample?.value {
//!                 let _ = (series.label("__name__"), v);
//!             }
//!         }
//!     }
//! }
//! # Ok::<(), tsdb_block::Error>(())
//! ```
//!
//! Memory stays bounded whatever the block size: files are memory-mapped and read where
//! needed; besides one series and one chunk's decoding state, a block holds an offset for
//! every 32nd symbol of its index and its tombstones. (Only chunks of one series that overlap
//! in time, which Prometheus's own compactor never writes, are decoded together in memory.)
//!
//! No input makes this crate panic: every inconsistency is an [`Error`] naming the file and
//! byte offset.
#![warn(missing_docs)]
// One `unsafe` block in the crate: mapping a file (`mapping.rs`, with its SAFETY argument).
#![deny(unsafe_code)]

mod block;
#[cfg(test)]
mod block_tests;
mod chunk_files;
pub mod chunkenc;
mod data_dir;
mod decbuf;
mod error;
#[cfg(test)]
mod fuzz_seeds;
mod index;
#[cfg(test)]
mod index_tests;
mod mapping;
mod merge;
mod meta;
mod tombstones;

pub use block::{Block, SeriesIter, SeriesSamples};
pub use chunk_files::{ChunkFiles, FileChunk};
pub use chunkenc::{Chunk, ChunkSamples, CounterResetHint, Encoding, FloatHistogram, Histogram, Sample, Span, Value};
pub use data_dir::{BlockDir, DataDir, SkipReason};
pub use error::Error;
pub use index::{ChunkMeta, Index, Label, Postings, Series, Toc};
pub use merge::{merge_samples, merge_series, MergedSamples, MergedSeries, MergedSeriesItem};
pub use meta::{BlockDesc, BlockMeta, BlockStats, Compaction};
pub use tombstones::{Interval, Tombstones};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
