//! A block's `index` file: table of contents, symbol table, series (labels and chunk metas) and
//! postings lists. Formats 1 and 2 (and 3, which Prometheus reads exactly as 2).
//!
//! The file stays memory-mapped; what is kept in memory besides is one offset for every 32nd
//! symbol (format 2), so opening costs one pass over the symbol table and the memory held is a
//! small fraction of the file's size.

use std::path::Path;

use crate::decbuf::{be32_section, check_crc, uvarint_section, Decbuf};
use crate::error::Error;
use crate::mapping::Mapping;

const MAGIC: u32 = 0xBAAA_D700;
const HEADER_LEN: usize = 5;
const TOC_LEN: usize = 6 * 8 + 4;
/// Format 2 aligns every series entry to 16 bytes and calls `offset / 16` its reference.
const SERIES_ALIGN: u64 = 16;
/// One symbol offset is kept for this many symbols (Prometheus keeps the same share).
const SYMBOL_SAMPLING: usize = 32;

/// Where the index's sections start, as its table of contents says (0: the section is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// The first series entry.
    pub series: u64,
    /// The first label index (no longer used by Prometheus).
    pub label_indices: u64,
    /// The label offset table (no longer used by Prometheus).
    pub label_offset_table: u64,
    /// The first postings list.
    pub postings: u64,
    /// The postings offset table.
    pub postings_offset_table: u64,
}

/// One label of a series, borrowed from the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value.
    pub value: &'a str,
}

/// Where one chunk of a series lies and which time range it covers (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkMeta {
    /// Timestamp of the chunk's first sample (ms).
    pub min_time: i64,
    /// Timestamp of the chunk's last sample (ms).
    pub max_time: i64,
    /// The chunk's reference: segment file number in the upper 32 bits, byte offset in the
    /// lower 32 (see [`crate::ChunkFiles::chunk`]).
    pub chunk_ref: u64,
}

/// A series as the index holds it: its reference, labels and chunk metas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series<'a> {
    pub(crate) series_ref: u64,
    pub(crate) labels: Vec<Label<'a>>,
    pub(crate) chunks: Vec<ChunkMeta>,
}

impl<'a> Series<'a> {
    /// The series' reference in this block (what postings and tombstones use).
    pub fn series_ref(&self) -> u64 {
        self.series_ref
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[Label<'a>] {
        &self.labels
    }

    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&'a str> {
        self.labels.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The chunk metas, in time order.
    pub fn chunks(&self) -> &[ChunkMeta] {
        &self.chunks
    }
}

/// A memory-mapped `index` file.
pub struct Index {
    map: Mapping,
    version: u8,
    toc: Toc,
    /// Absolute offset and length of the symbol table's entries (after its count).
    symbols_at: (u64, usize),
    symbol_count: usize,
    /// Offset of every `SYMBOL_SAMPLING`th symbol (format 2 and later).
    symbol_marks: Vec<u64>,
}

impl Index {
    /// Maps and checks the index file at `path`: magic, version, table of contents and symbol
    /// table (checksums included).
    pub fn open(path: &Path) -> Result<Index, Error> {
        Index::from_mapping(Mapping::open(path)?)
    }

    /// Reads an index file already in memory (`path` only names it in errors).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Index, Error> {
        Index::from_mapping(Mapping::from_vec(bytes, path))
    }

    fn from_mapping(map: Mapping) -> Result<Index, Error> {
        let path = map.path().to_path_buf();
        let path = path.as_path();
        let b = map.bytes();
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(Error::corrupt(path, 0, format!("index of {} bytes is too short", b.len())));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                offset: 0,
                what: "index magic number",
                found: magic.into(),
            });
        }
        let version = b[4];
        if !(1..=3).contains(&version) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                offset: 4,
                what: "index format version",
                found: version.into(),
            });
        }
        let toc_at = b.len() - TOC_LEN;
        check_crc(path, toc_at as u64, &b[toc_at..b.len() - 4], &b[b.len() - 4..])?;
        let mut d = Decbuf::new(&b[toc_at..], toc_at as u64, path);
        let toc = Toc {
            symbols: d.be64("TOC")?,
            series: d.be64("TOC")?,
            label_indices: d.be64("TOC")?,
            label_offset_table: d.be64("TOC")?,
            postings: d.be64("TOC")?,
            postings_offset_table: d.be64("TOC")?,
        };
        let mut index = Index { map, version, toc, symbols_at: (0, 0), symbol_count: 0, symbol_marks: Vec::new() };
        index.read_symbols()?;
        Ok(index)
    }

    fn read_symbols(&mut self) -> Result<(), Error> {
        if self.toc.symbols == 0 {
            return Ok(());
        }
        let (b, path) = (self.map.bytes(), self.map.path());
        let mut d = be32_section(b, self.toc.symbols, path, "symbol table")?;
        let count = d.be32("symbol count")? as usize;
        let start = d.offset();
        let mut marks = Vec::new();
        let mut seen = 0usize;
        while seen < count {
            if seen.is_multiple_of(SYMBOL_SAMPLING) {
                marks.push(d.offset());
            }
            d.uvarint_bytes("symbol")?;
            seen += 1;
        }
        self.symbols_at = (start, (d.offset() - start) as usize);
        self.symbol_count = count;
        self.symbol_marks = marks;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// The format version: 1, 2 or 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The table of contents.
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// How many symbols the symbol table holds.
    pub fn symbol_count(&self) -> usize {
        self.symbol_count
    }

    /// The symbol a series entry refers to: its position in the symbol table (format 2 and
    /// later) or its byte offset in the file (format 1).
    pub fn symbol(&self, symbol_ref: u32) -> Result<&str, Error> {
        let (b, path) = (self.map.bytes(), self.map.path());
        let (start, len) = self.symbols_at;
        let end = start + len as u64;
        let at = if self.version == 1 {
            let at = u64::from(symbol_ref);
            if at < start || at >= end {
                return Err(Error::corrupt(path, at, format!("symbol reference {at} outside the symbol table")));
            }
            at
        } else {
            let i = symbol_ref as usize;
            let mark = self.symbol_marks.get(i / SYMBOL_SAMPLING).copied().filter(|_| i < self.symbol_count);
            mark.ok_or_else(|| {
                Error::corrupt(path, start, format!("symbol {i} of {} does not exist", self.symbol_count))
            })?
        };
        // Both ends were checked against the file when the table was read.
        let mut d = Decbuf::new(&b[at as usize..end as usize], at, path);
        if self.version != 1 {
            for _ in 0..symbol_ref as usize % SYMBOL_SAMPLING {
                d.uvarint_bytes("symbol")?;
            }
        }
        let at = d.offset();
        let s = d.uvarint_bytes("symbol")?;
        std::str::from_utf8(s).map_err(|_| Error::corrupt(path, at, "symbol is not UTF-8"))
    }

    /// Calls `f` with every entry of the postings offset table: label name, label value and
    /// the offset of its postings list. Stops early when `f` returns `false`.
    pub fn for_each_postings_entry(&self, mut f: impl FnMut(&str, &str, u64) -> bool) -> Result<(), Error> {
        if self.toc.postings_offset_table == 0 {
            return Ok(());
        }
        let (b, path) = (self.map.bytes(), self.map.path());
        let mut d = be32_section(b, self.toc.postings_offset_table, path, "postings offset table")?;
        let count = d.be32("postings offset table count")?;
        for _ in 0..count {
            let at = d.offset();
            let keys = d.uvarint("postings offset entry")?;
            if keys != 2 {
                return Err(Error::corrupt(path, at, format!("postings offset entry has {keys} keys, not 2")));
            }
            let name = utf8(path, d.offset(), d.uvarint_bytes("label name")?)?;
            let value = utf8(path, d.offset(), d.uvarint_bytes("label value")?)?;
            let offset = d.uvarint("postings offset")?;
            if !f(name, value, offset) {
                break;
            }
        }
        Ok(())
    }

    /// The postings list of the label pair `name="value"`: the references of every series
    /// having it, ascending; empty if no series has it. `postings("", "")` lists every series
    /// of the block, sorted by labels.
    pub fn postings(&self, name: &str, value: &str) -> Result<Postings<'_>, Error> {
        let mut found = None;
        let sorted = self.version != 1;
        self.for_each_postings_entry(|n, v, off| {
            if n == name && v == value {
                found = Some(off);
                return false;
            }
            // Format 2 sorts the table by name, then value: stop once past the pair.
            !(sorted && (n, v) > (name, value))
        })?;
        match found {
            Some(off) => self.postings_at(off),
            None => Ok(Postings { refs: &[] }),
        }
    }

    /// Every series reference of the block, in label order (the `"":""` postings list).
    pub fn all_series(&self) -> Result<Postings<'_>, Error> {
        self.postings("", "")
    }

    /// The postings list at byte `offset`.
    pub fn postings_at(&self, offset: u64) -> Result<Postings<'_>, Error> {
        let (b, path) = (self.map.bytes(), self.map.path());
        let mut d = be32_section(b, offset, path, "postings list")?;
        let count = d.be32("postings count")? as usize;
        let at = d.offset();
        let refs = d.bytes(count.saturating_mul(4), "postings")?;
        if !d.is_empty() {
            return Err(Error::corrupt(path, at, format!("postings list of {count} entries has trailing bytes")));
        }
        Ok(Postings { refs })
    }

    /// The series with reference `series_ref` (format 2: its offset / 16; format 1: its offset).
    pub fn series(&self, series_ref: u64) -> Result<Series<'_>, Error> {
        let (b, path) = (self.map.bytes(), self.map.path());
        let offset = if self.version == 1 { Some(series_ref) } else { series_ref.checked_mul(SERIES_ALIGN) };
        let offset = offset.ok_or_else(|| Error::corrupt(path, 0, format!("series reference {series_ref}")))?;
        let mut d = uvarint_section(b, offset, path, "series")?;
        let n = d.uvarint("label count")?;
        let mut labels = Vec::with_capacity((n as usize).min(64));
        for _ in 0..n {
            let at = d.offset();
            let name = self.symbol(d.uvarint32("label name reference")?).map_err(|e| at_series(e, path, at))?;
            let value = self.symbol(d.uvarint32("label value reference")?).map_err(|e| at_series(e, path, at))?;
            labels.push(Label { name, value });
        }
        let n = d.uvarint("chunk count")?;
        let mut chunks = Vec::with_capacity((n as usize).min(1024));
        if n > 0 {
            let min_time = d.varint("chunk min time")?;
            let max_time = min_time.wrapping_add(d.uvarint("chunk max time")? as i64);
            let mut chunk_ref = d.uvarint("chunk reference")?;
            chunks.push(ChunkMeta { min_time, max_time, chunk_ref });
            let mut prev_max = max_time;
            for _ in 1..n {
                let min_time = prev_max.wrapping_add(d.uvarint("chunk min time")? as i64);
                let max_time = min_time.wrapping_add(d.uvarint("chunk max time")? as i64);
                chunk_ref = chunk_ref.wrapping_add(d.varint("chunk reference")? as u64);
                chunks.push(ChunkMeta { min_time, max_time, chunk_ref });
                prev_max = max_time;
            }
        }
        Ok(Series { series_ref, labels, chunks })
    }
}

fn utf8<'a>(path: &Path, at: u64, b: &'a [u8]) -> Result<&'a str, Error> {
    std::str::from_utf8(b).map_err(|_| Error::corrupt(path, at, "label is not UTF-8"))
}

/// A bad symbol reference is reported where the series refers to it.
fn at_series(e: Error, path: &Path, at: u64) -> Error {
    match e {
        Error::Corrupt { reason, .. } => Error::corrupt(path, at, format!("series label: {reason}")),
        other => other,
    }
}

/// A postings list: series references in ascending order, read from the mapped file.
#[derive(Debug, Clone)]
pub struct Postings<'a> {
    refs: &'a [u8],
}

impl Postings<'_> {
    /// How many references are left.
    pub fn len(&self) -> usize {
        self.refs.len() / 4
    }

    /// Whether no reference is left.
    pub fn is_empty(&self) -> bool {
        self.refs.len() < 4
    }
}

impl Iterator for Postings<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let (head, rest) = self.refs.split_first_chunk::<4>()?;
        self.refs = rest;
        Some(u32::from_be_bytes(*head).into())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for Postings<'_> {}
