//! One persisted block: its meta, index, chunk files and tombstones, and the series and
//! samples they hold.

use std::path::{Path, PathBuf};

use crate::chunk_files::ChunkFiles;
use crate::chunkenc::Sample;
use crate::error::Error;
use crate::index::{ChunkMeta, Index, Postings, Series};
use crate::meta::BlockMeta;
use crate::tombstones::{Interval, Tombstones};

/// An open block. Its index and chunk files are memory-mapped; nothing else of size is held.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Index,
    chunks: ChunkFiles,
    tombstones: Tombstones,
}

impl Block {
    /// Opens the block in directory `dir`.
    pub fn open(dir: &Path) -> Result<Block, Error> {
        let meta = BlockMeta::read(&dir.join("meta.json"))?;
        Block::open_with_meta(dir, meta)
    }

    pub(crate) fn open_with_meta(dir: &Path, meta: BlockMeta) -> Result<Block, Error> {
        Ok(Block {
            dir: dir.to_path_buf(),
            index: Index::open(&dir.join("index"))?,
            chunks: ChunkFiles::open(&dir.join("chunks"))?,
            tombstones: Tombstones::read(&dir.join("tombstones"))?,
            meta,
        })
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Its index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Its chunk segment files.
    pub fn chunk_files(&self) -> &ChunkFiles {
        &self.chunks
    }

    /// Its tombstones.
    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    /// Every series of the block, sorted by labels. Series whose samples are all deleted by
    /// tombstones are still listed (their [`Block::samples`] are empty).
    pub fn series(&self) -> Result<SeriesIter<'_>, Error> {
        Ok(SeriesIter { index: &self.index, refs: self.index.all_series()? })
    }

    /// The samples of `series` (from this block's index), in time order, tombstoned ranges
    /// removed.
    pub fn samples<'a>(&'a self, series: &Series<'_>) -> SeriesSamples<'a> {
        self.samples_between(series, i64::MIN, i64::MAX)
    }

    /// The samples of `series` with `min_time <= t <= max_time`, in time order, tombstoned
    /// ranges removed. Chunks wholly outside the range are not read: this is how to take only
    /// the part of a block that another source (e.g. the WAL) does not cover.
    pub fn samples_between<'a>(&'a self, series: &Series<'_>, min_time: i64, max_time: i64) -> SeriesSamples<'a> {
        let chunks = series.chunks().iter().copied().filter(|c| c.max_time >= min_time && c.min_time <= max_time);
        SeriesSamples::new(self, chunks.collect(), self.tombstones.get(series.series_ref()), (min_time, max_time))
    }
}

/// The series of a block, in label order. See [`Block::series`].
pub struct SeriesIter<'a> {
    index: &'a Index,
    refs: Postings<'a>,
}

impl<'a> Iterator for SeriesIter<'a> {
    type Item = Result<Series<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.refs.next()?;
        Some(self.index.series(r))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.refs.size_hint()
    }
}

/// The samples of one series of one block. See [`Block::samples`].
///
/// Chunks are decoded one at a time. If chunks of the series overlap in time (which a block
/// written by Prometheus's own compactor does not contain, but a block from other tools may),
/// each run of overlapping chunks is decoded into memory, sorted by time, and a timestamp
/// present more than once is kept once (from the chunk listed first).
pub struct SeriesSamples<'a> {
    block: &'a Block,
    chunks: Vec<ChunkMeta>,
    next_chunk: usize,
    deleted: &'a [Interval],
    /// Only samples in this range (both ends inclusive) are yielded.
    range: (i64, i64),
    current: Option<CurrentChunk<'a>>,
    merged: std::vec::IntoIter<Sample>,
    done: bool,
}

struct CurrentChunk<'a> {
    samples: crate::chunkenc::ChunkSamples<'a>,
    file: crate::chunk_files::FileChunk<'a>,
}

impl<'a> SeriesSamples<'a> {
    fn new(block: &'a Block, chunks: Vec<ChunkMeta>, deleted: &'a [Interval], range: (i64, i64)) -> Self {
        SeriesSamples {
            block,
            chunks,
            next_chunk: 0,
            deleted,
            range,
            current: None,
            merged: Vec::new().into_iter(),
            done: false,
        }
    }

    /// Whether sample time `t` is left out: deleted, or outside the requested range.
    fn is_skipped(&self, t: i64) -> bool {
        t < self.range.0 || t > self.range.1 || self.deleted.iter().any(|iv| iv.contains(t))
    }

    fn fully_deleted(&self, c: &ChunkMeta) -> bool {
        self.deleted.iter().any(|iv| iv.min_time <= c.min_time && c.max_time <= iv.max_time)
    }

    /// Moves to the next chunk (or run of overlapping chunks). Returns false at the end.
    fn advance(&mut self) -> Result<bool, Error> {
        while self.next_chunk < self.chunks.len() {
            let start = self.next_chunk;
            let mut end = start + 1;
            let mut max = self.chunks[start].max_time;
            while end < self.chunks.len() && self.chunks[end].min_time <= max {
                max = max.max(self.chunks[end].max_time);
                end += 1;
            }
            self.next_chunk = end;
            let run: Vec<ChunkMeta> =
                self.chunks[start..end].iter().copied().filter(|c| !self.fully_deleted(c)).collect();
            match run.len() {
                0 => continue,
                1 => {
                    let file = self.block.chunks.chunk(run[0].chunk_ref)?;
                    self.current = Some(CurrentChunk { samples: file.chunk().samples(), file });
                    return Ok(true);
                }
                _ => {
                    let mut all = Vec::new();
                    for c in &run {
                        let file = self.block.chunks.chunk(c.chunk_ref)?;
                        for s in file.chunk().samples() {
                            all.push(s.map_err(|e| file.locate(e))?);
                        }
                    }
                    // A stable sort keeps equal timestamps in chunk order; dedup keeps the first.
                    all.sort_by_key(|s| s.t);
                    all.dedup_by_key(|s| s.t);
                    self.merged = all.into_iter();
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn next_sample(&mut self) -> Result<Option<Sample>, Error> {
        loop {
            if let Some(s) = self.merged.next() {
                return Ok(Some(s));
            }
            if let Some(cur) = self.current.as_mut() {
                match cur.samples.next() {
                    Some(Ok(s)) => return Ok(Some(s)),
                    Some(Err(e)) => return Err(cur.file.locate(e)),
                    None => self.current = None,
                }
            }
            if !self.advance()? {
                return Ok(None);
            }
        }
    }
}

impl SeriesSamples<'_> {
    /// Decodes the next sample into `out`, reusing the memory of the histogram `out` holds (see
    /// [`ChunkSamples::next_into`](crate::ChunkSamples::next_into)): the same samples as the
    /// iterator yields, without allocating a histogram per sample.
    ///
    /// Returns `Ok(true)` when `out` holds the next sample and `Ok(false)` at the end, when
    /// `out` holds nothing meaningful. Reports an error at most once, then ends.
    pub fn next_into(&mut self, out: &mut Sample) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        loop {
            match self.next_sample_into(out) {
                Ok(true) if self.is_skipped(out.t) => continue,
                Ok(true) => return Ok(true),
                other => {
                    self.done = true;
                    return other;
                }
            }
        }
    }

    fn next_sample_into(&mut self, out: &mut Sample) -> Result<bool, Error> {
        loop {
            if let Some(s) = self.merged.next() {
                *out = s;
                return Ok(true);
            }
            if let Some(cur) = self.current.as_mut() {
                match cur.samples.next_into(out) {
                    Ok(true) => return Ok(true),
                    Err(e) => return Err(cur.file.locate(e)),
                    Ok(false) => self.current = None,
                }
            }
            if !self.advance()? {
                return Ok(false);
            }
        }
    }
}

impl Iterator for SeriesSamples<'_> {
    type Item = Result<Sample, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.next_sample() {
                Ok(Some(s)) if self.is_skipped(s.t) => continue,
                Ok(Some(s)) => return Some(Ok(s)),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl std::iter::FusedIterator for SeriesSamples<'_> {}
