//! A block's `chunks/` directory: numbered segment files of checksummed chunks, each file
//! memory-mapped.

use std::path::{Path, PathBuf};

use crate::chunkenc::{Chunk, Encoding};
use crate::decbuf::{check_crc, uvarint};
use crate::error::{io_err, Error};
use crate::mapping::Mapping;

const MAGIC: u32 = 0x85BD_40DD;
const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 8;

/// The chunk segment files of one block.
pub struct ChunkFiles {
    files: Vec<Mapping>,
}

impl ChunkFiles {
    /// Maps every segment file of the `chunks` directory `dir` and checks its header. Like
    /// Prometheus, files whose names are not numbers are ignored, and a chunk reference's
    /// segment number is the file's position in name order.
    pub fn open(dir: &Path) -> Result<ChunkFiles, Error> {
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
                names.push((n, entry.path()));
            }
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for (_, path) in names {
            let map = Mapping::open(&path)?;
            let b = map.bytes();
            if b.len() < HEADER_LEN {
                return Err(Error::corrupt(&path, 0, format!("chunk file of {} bytes has no header", b.len())));
            }
            let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if magic != MAGIC {
                let path = path.clone();
                return Err(Error::Unsupported {
                    path,
                    offset: 0,
                    what: "chunk file magic number",
                    found: magic.into(),
                });
            }
            if b[4] != FORMAT_V1 {
                let found = b[4].into();
                return Err(Error::Unsupported { path, offset: 4, what: "chunk file format version", found });
            }
            files.push(map);
        }
        Ok(ChunkFiles { files })
    }

    /// How many segment files there are.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there is no segment file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The chunk a [`crate::ChunkMeta::chunk_ref`] points at, checksum verified.
    pub fn chunk(&self, chunk_ref: u64) -> Result<FileChunk<'_>, Error> {
        let segment = (chunk_ref >> 32) as usize;
        let offset = chunk_ref & 0xFFFF_FFFF;
        let Some(file) = self.files.get(segment) else {
            let path = self.files.first().map(|f| f.path().with_file_name(format!("{:06}", segment + 1)));
            return Err(Error::corrupt(
                &path.unwrap_or_default(),
                offset,
                format!("chunk reference {chunk_ref:#x} names segment {segment}, the block has {}", self.files.len()),
            ));
        };
        let (b, path) = (file.bytes(), file.path());
        let start = offset as usize;
        if start < HEADER_LEN || start >= b.len() {
            return Err(Error::corrupt(path, offset, format!("chunk offset outside the file of {} bytes", b.len())));
        }
        let (len, n) = uvarint(&b[start..]).ok_or_else(|| Error::corrupt(path, offset, "bad chunk length"))?;
        let enc_at = start + n;
        let crc_at = usize::try_from(len).ok().and_then(|l| (enc_at + 1).checked_add(l));
        let crc_at = crc_at.filter(|&c| c.checked_add(4).is_some_and(|e| e <= b.len())).ok_or_else(|| {
            Error::corrupt(
                path,
                offset,
                format!("chunk of {len} bytes runs past the end of the file ({} bytes)", b.len()),
            )
        })?;
        check_crc(path, enc_at as u64, &b[enc_at..crc_at], &b[crc_at..crc_at + 4])?;
        let encoding = Encoding::from_byte(b[enc_at]).ok_or_else(|| Error::Unsupported {
            path: path.to_path_buf(),
            offset: enc_at as u64,
            what: "chunk encoding",
            found: b[enc_at].into(),
        })?;
        Ok(FileChunk { chunk: Chunk::new(encoding, &b[enc_at + 1..crc_at]), path, data_offset: enc_at as u64 + 1 })
    }
}

/// A chunk as found in a segment file: its bytes and where they are.
#[derive(Debug, Clone, Copy)]
pub struct FileChunk<'a> {
    chunk: Chunk<'a>,
    path: &'a Path,
    data_offset: u64,
}

impl<'a> FileChunk<'a> {
    /// The chunk (encoding and data).
    pub fn chunk(&self) -> Chunk<'a> {
        self.chunk
    }

    /// The segment file.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// Offset of the chunk's data (after its encoding byte) in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Turns a decoder error (offset into the chunk data) into one naming the file and the
    /// offset in it.
    pub fn locate(&self, e: Error) -> Error {
        e.in_file(self.path, self.data_offset)
    }
}
