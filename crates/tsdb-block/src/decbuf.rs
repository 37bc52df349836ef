//! Byte-level reading of the index and tombstones files: big-endian integers, Go varints and
//! CRC-checked sections, each failure reported with the file and absolute byte offset.

use std::path::Path;

use crate::error::Error;

/// Reads forward through a slice that starts at byte `base` of the file at `path`.
#[derive(Clone)]
pub(crate) struct Decbuf<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    path: &'a Path,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(buf: &'a [u8], base: u64, path: &'a Path) -> Self {
        Decbuf { buf, pos: 0, base, path }
    }

    /// Absolute offset in the file of the next byte to read.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// An error at the current position.
    pub(crate) fn err(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, self.offset(), reason)
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Ok(b)
            }
            None => Err(self.err(format!("{what}: needs {n} bytes, {} left", self.buf.len() - self.pos))),
        }
    }

    pub(crate) fn be32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self, what: &str) -> Result<u64, Error> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn uvarint(&mut self, what: &str) -> Result<u64, Error> {
        match uvarint(&self.buf[self.pos.min(self.buf.len())..]) {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(self.err(format!("{what}: bad or truncated uvarint"))),
        }
    }

    /// A uvarint that must fit in 32 bits (Prometheus's `Uvarint32` fields).
    pub(crate) fn uvarint32(&mut self, what: &str) -> Result<u32, Error> {
        let at = self.offset();
        let v = self.uvarint(what)?;
        u32::try_from(v).map_err(|_| Error::corrupt(self.path, at, format!("{what}: {v} does not fit 32 bits")))
    }

    pub(crate) fn varint(&mut self, what: &str) -> Result<i64, Error> {
        let u = self.uvarint(what)?;
        Ok(zigzag(u))
    }

    /// A uvarint length followed by that many bytes.
    pub(crate) fn uvarint_bytes(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| self.err(format!("{what}: length {n} too large")))?;
        self.bytes(n, what)
    }
}

/// Decodes a Go `binary.Uvarint`: the value and how many bytes it took, or `None` if `b` ends
/// first or the value overflows 64 bits. The crate's one varint decoder (the chunk bit reader
/// gathers a varint's bytes and hands them here).
pub(crate) fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    let mut s = 0u32;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some((x | u64::from(byte) << s, i + 1));
        }
        x |= u64::from(byte & 0x7f) << s;
        s += 7;
    }
    None
}

/// Encodes `v` as a Go `binary.Uvarint`, for the tests that build index, chunk and tombstone
/// bytes by hand.
#[cfg(test)]
pub(crate) fn put_uvarint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// Encodes `v` as a Go `binary.Varint` (zig-zag), for tests.
#[cfg(test)]
pub(crate) fn put_varint(b: &mut Vec<u8>, v: i64) {
    put_uvarint(b, ((v << 1) ^ (v >> 63)) as u64);
}

/// Go's zig-zag mapping of a signed varint.
pub(crate) fn zigzag(u: u64) -> i64 {
    let x = (u >> 1) as i64;
    if u & 1 != 0 {
        !x
    } else {
        x
    }
}

/// Checks the CRC32-Castagnoli stored big-endian right after `data` (which starts at `offset`).
pub(crate) fn check_crc(path: &Path, offset: u64, data: &[u8], stored: &[u8]) -> Result<(), Error> {
    let stored = match stored {
        [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => return Err(Error::corrupt(path, offset + data.len() as u64, "checksum truncated")),
    };
    let computed = crc32c::crc32c(data);
    // Fuzzing builds accept any checksum: random bytes almost never carry a valid one, and the
    // parsers behind the checks are what the fuzzer is for.
    if stored != computed && !cfg!(fuzzing) {
        return Err(Error::Checksum { path: path.to_path_buf(), offset, len: data.len() as u64, stored, computed });
    }
    Ok(())
}

/// The section at `offset` of `file`: a big-endian `u32` length, that many bytes, and their
/// CRC32. Returns a reader over the bytes, checksum verified.
pub(crate) fn be32_section<'a>(file: &'a [u8], offset: u64, path: &'a Path, what: &str) -> Result<Decbuf<'a>, Error> {
    let start = usize::try_from(offset).ok().filter(|&o| o <= file.len());
    let start = start.ok_or_else(|| Error::corrupt(path, offset, format!("{what}: offset past end of file")))?;
    let mut d = Decbuf::new(&file[start..], offset, path);
    let len = d.be32(what)? as usize;
    let content_at = d.offset();
    let content = d.bytes(len, what)?;
    let crc = d.bytes(4, what)?;
    check_crc(path, content_at, content, crc)?;
    Ok(Decbuf::new(content, content_at, path))
}

/// The section at `offset` of `file`: a uvarint length, that many bytes, and their CRC32 (how
/// the index stores each series).
pub(crate) fn uvarint_section<'a>(
    file: &'a [u8],
    offset: u64,
    path: &'a Path,
    what: &str,
) -> Result<Decbuf<'a>, Error> {
    let start = usize::try_from(offset).ok().filter(|&o| o <= file.len());
    let start = start.ok_or_else(|| Error::corrupt(path, offset, format!("{what}: offset past end of file")))?;
    let mut d = Decbuf::new(&file[start..], offset, path);
    let len = d.uvarint(what)?;
    let len = usize::try_from(len).map_err(|_| Error::corrupt(path, offset, format!("{what}: length {len}")))?;
    let content_at = d.offset();
    let content = d.bytes(len, what)?;
    let crc = d.bytes(4, what)?;
    check_crc(path, content_at, content, crc)?;
    Ok(Decbuf::new(content, content_at, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go() {
        assert_eq!(uvarint(&[0]), Some((0, 1)));
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(uvarint(&[0xff; 9].iter().copied().chain([1]).collect::<Vec<_>>()), Some((u64::MAX, 10)));
        // A tenth byte above 1 overflows, as does an eleventh byte; an unfinished one is truncated.
        assert_eq!(uvarint(&[0xff; 9].iter().copied().chain([2]).collect::<Vec<_>>()), None);
        assert_eq!(uvarint(&[0x80; 11]), None);
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(zigzag(1), -1);
        assert_eq!(zigzag(4), 2);
        assert_eq!(zigzag(u64::MAX), i64::MIN);
    }
}
