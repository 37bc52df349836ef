//! Go `encoding/binary` varints and big-endian integers, as Prometheus's `tsdb/encoding` uses them.
//!
//! Hand-written rather than taken from a crate: this is the innermost loop of sample decoding, and the
//! one-byte fast path below is what lets a Samples record decode at several hundred million varints
//! per second. Semantics match Go exactly: at most 10 bytes, and a 10th byte above 1 is an overflow.

use crate::error::RecordFault;

/// Why a read from a [`Cursor`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFail {
    /// The input ended in the middle of a value.
    Short,
    /// A varint was longer than 10 bytes or overflowed 64 bits.
    Overflow,
}

impl From<ReadFail> for RecordFault {
    fn from(f: ReadFail) -> Self {
        match f {
            ReadFail::Short => RecordFault::Short,
            ReadFail::Overflow => RecordFault::Overflow,
        }
    }
}

/// A read position over an encoded record.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// The next `n` bytes, borrowed.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadFail> {
        if n > self.remaining() {
            return Err(ReadFail::Short);
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    /// Skips `n` bytes the caller knows are there.
    #[inline]
    pub(crate) fn pos_skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// The bytes not yet consumed.
    #[inline]
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Bytes consumed so far.
    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8, ReadFail> {
        let b = *self.buf.get(self.pos).ok_or(ReadFail::Short)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn be64(&mut self) -> Result<u64, ReadFail> {
        let bytes: [u8; 8] =
            self.buf.get(self.pos..self.pos + 8).ok_or(ReadFail::Short)?.try_into().map_err(|_| ReadFail::Short)?;
        self.pos += 8;
        Ok(u64::from_be_bytes(bytes))
    }

    #[inline]
    pub(crate) fn be_f64(&mut self) -> Result<f64, ReadFail> {
        self.be64().map(f64::from_bits)
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, ReadFail> {
        // Fast path: most deltas in a Samples record fit in one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        self.uvarint_slow()
    }

    #[cold]
    fn uvarint_slow(&mut self) -> Result<u64, ReadFail> {
        let (x, n) = uvarint(self.rest())?;
        self.pos += n;
        Ok(x)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i64, ReadFail> {
        let ux = self.uvarint()?;
        Ok(zigzag_decode(ux))
    }

    /// A uvarint-length-prefixed byte string, borrowed from the input.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], ReadFail> {
        let len = self.uvarint()?;
        if len > self.remaining() as u64 {
            return Err(ReadFail::Short);
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A uvarint element count, checked against what is left so that a corrupt count can never
    /// make a caller allocate more than the input could hold (`min_elem_size` bytes per element).
    #[inline]
    pub(crate) fn count(&mut self, min_elem_size: usize) -> Result<usize, ReadFail> {
        let n = self.uvarint()?;
        if n > (self.remaining() / min_elem_size.max(1)) as u64 {
            return Err(ReadFail::Short);
        }
        Ok(n as usize)
    }
}

/// Decodes the Go `binary.Uvarint` at the start of `b`: the value and the bytes it took. The one
/// varint decoder of this crate; the hot callers ([`Cursor::uvarint`], the Samples decoder's
/// window) try their one- or two-byte fast path first and come here for the rest.
#[inline]
pub(crate) fn uvarint(b: &[u8]) -> Result<(u64, usize), ReadFail> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().take(10).enumerate() {
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return Err(ReadFail::Overflow);
            }
            return Ok((x | (byte as u64) << (7 * i), i + 1));
        }
        x |= ((byte & 0x7f) as u64) << (7 * i);
    }
    Err(if b.len() < 10 { ReadFail::Short } else { ReadFail::Overflow })
}

#[inline]
pub(crate) fn zigzag_decode(ux: u64) -> i64 {
    ((ux >> 1) as i64) ^ -((ux & 1) as i64)
}

#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push(x as u8 | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

#[inline]
pub(crate) fn put_be64(buf: &mut Vec<u8>, x: u64) {
    buf.extend_from_slice(&x.to_be_bytes());
}

#[inline]
pub(crate) fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn uvarint_round_trip(x in any::<u64>()) {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            let mut c = Cursor::new(&b);
            prop_assert_eq!(c.uvarint(), Ok(x));
            prop_assert!(c.is_empty());
        }

        #[test]
        fn varint_round_trip(x in any::<i64>()) {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            let mut c = Cursor::new(&b);
            prop_assert_eq!(c.varint(), Ok(x));
        }
    }

    #[test]
    fn go_overflow_rules() {
        // 10 bytes whose last is 1: the largest valid encoding (u64::MAX).
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Cursor::new(&max).uvarint(), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Cursor::new(&over).uvarint(), Err(ReadFail::Overflow));
        let long = [0x80; 11];
        assert_eq!(Cursor::new(&long).uvarint(), Err(ReadFail::Overflow));
        assert_eq!(Cursor::new(&[0x80, 0x80]).uvarint(), Err(ReadFail::Short));
        assert_eq!(Cursor::new(&[2, 0]).count(1), Err(ReadFail::Short));
    }
}
