//! Reading a chunk's bit stream (most significant bit first) and the variable-width integer
//! and XOR value encodings all chunk formats share.

use std::path::PathBuf;

use crate::error::Error;

/// A cursor over the bits of a chunk's data, starting after its fixed header.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next bit to read, counted from the start of `data`.
    pos: usize,
    /// Offset of `data` within the chunk, for error offsets.
    base: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        BitReader { data, pos: 0, base }
    }

    /// An error at the byte holding the next bit.
    #[cold]
    pub(crate) fn err(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: PathBuf::new(), offset: (self.base + self.pos / 8) as u64, reason: reason.into() }
    }

    #[cold]
    fn short(&self, n: u32) -> Error {
        self.err(format!("chunk ends inside a {n}-bit field"))
    }

    /// How many bits are left to read.
    #[inline]
    pub(crate) fn bits_left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Result<bool, Error> {
        let byte = *self.data.get(self.pos / 8).ok_or_else(|| self.short(1))?;
        let bit = byte >> (7 - (self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    /// The next 64 bits, first bit highest, without consuming them; past the end of the data
    /// the bits are 0 (callers check [`Self::bits_left`] before consuming them).
    #[inline(always)]
    pub(crate) fn peek64(&self) -> u64 {
        let idx = self.pos / 8;
        let off = (self.pos % 8) as u32;
        // Two loads straight from the data (no copy through a stack buffer, which the CPU
        // cannot forward to the 8-byte load that follows it).
        let (hi, next) = match self.data.get(idx..idx + 9) {
            Some(nine) => {
                let mut hi = [0u8; 8];
                hi.copy_from_slice(&nine[..8]);
                (u64::from_be_bytes(hi), nine[8])
            }
            None => return self.peek64_near_end(idx, off),
        };
        // `off` is 0..=7; shifting the ninth byte right by 8 - off gives its top `off` bits.
        if off == 0 {
            hi
        } else {
            hi << off | u64::from(next) >> (8 - off)
        }
    }

    /// [`Self::peek64`] within the last nine bytes: the bytes that are left, zero-padded.
    #[cold]
    fn peek64_near_end(&self, idx: usize, off: u32) -> u64 {
        let mut w = [0u8; 9];
        let rest = self.data.get(idx..).unwrap_or_default();
        w[..rest.len()].copy_from_slice(rest);
        let mut hi = [0u8; 8];
        hi.copy_from_slice(&w[..8]);
        let hi = u64::from_be_bytes(hi);
        if off == 0 {
            hi
        } else {
            hi << off | u64::from(w[8]) >> (8 - off)
        }
    }

    /// Consumes `n` bits that [`Self::peek64`] showed, or fails if the data has fewer left.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) -> Result<(), Error> {
        if self.bits_left() < n as usize {
            return Err(self.short(n));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Reads `n` bits (0 to 64) as an unsigned number.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, Error> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Ok(0);
        }
        let v = self.peek64() >> (64 - n);
        self.consume(n)?;
        Ok(v)
    }

    #[inline]
    pub(crate) fn read_byte(&mut self) -> Result<u8, Error> {
        Ok(self.read_bits(8)? as u8)
    }

    /// A Go `binary.Uvarint` read byte by byte from the bit stream (which need not be
    /// byte-aligned).
    pub(crate) fn read_uvarint(&mut self) -> Result<u64, Error> {
        let mut b = [0u8; 10];
        for i in 0..b.len() {
            b[i] = self.read_byte()?;
            if b[i] < 0x80 {
                return crate::decbuf::uvarint(&b[..=i])
                    .map(|(x, _)| x)
                    .ok_or_else(|| self.err("uvarint overflows 64 bits"));
            }
        }
        Err(self.err("uvarint overflows 64 bits"))
    }

    /// A Go `binary.Varint` (zig-zag) read from the bit stream.
    pub(crate) fn read_varint(&mut self) -> Result<i64, Error> {
        Ok(crate::decbuf::zigzag(self.read_uvarint()?))
    }

    /// Counts leading one bits, up to `max`, consuming them and the terminating zero (if
    /// fewer than `max` ones).
    #[inline(always)]
    pub(crate) fn read_unary(&mut self, max: u32) -> Result<u32, Error> {
        debug_assert!(max < 64);
        let n = self.peek64().leading_ones().min(max);
        // The ones, and the zero that ends them when there are fewer than `max`. Zero padding
        // past the end reads as that zero, so a run cut short by the end fails in `consume`.
        self.consume(n + u32::from(n < max))?;
        Ok(n)
    }

    /// A signed number of `n` bits (`n` < 64) whose values above `2^(n-1)` stand for negatives:
    /// the two's-complement-like layout the timestamp and varbit encodings use, where the
    /// representable range is `-(2^(n-1) - 1) ..= 2^(n-1)`.
    #[inline(always)]
    pub(crate) fn read_signed_biased(&mut self, n: u32) -> Result<i64, Error> {
        let bits = self.read_bits(n)?;
        Ok(if bits > 1 << (n - 1) { bits as i64 - (1i64 << n) } else { bits as i64 })
    }

    /// A plain two's-complement signed number of `n` bits (`n` < 64), as XOR2's timestamp
    /// fields store it.
    #[inline]
    pub(crate) fn read_signed_twos(&mut self, n: u32) -> Result<i64, Error> {
        let bits = self.read_bits(n)?;
        Ok(if bits >= 1 << (n - 1) { bits as i64 - (1i64 << n) } else { bits as i64 })
    }

    /// Prometheus's `varbit` signed integer (histogram chunks): up to eight one bits (ended by a
    /// zero below eight) saying the width of the payload that follows.
    #[inline(always)]
    pub(crate) fn read_varbit_int(&mut self) -> Result<i64, Error> {
        Ok(match self.read_varbit_fields()? {
            (0, _) => 0,
            (64, bits) => bits as i64,
            (n, bits) => {
                if bits > 1 << (n - 1) {
                    bits as i64 - (1i64 << n)
                } else {
                    bits as i64
                }
            }
        })
    }

    /// Prometheus's `varbit` unsigned integer (histogram chunks).
    #[inline(always)]
    pub(crate) fn read_varbit_uint(&mut self) -> Result<u64, Error> {
        Ok(self.read_varbit_fields()?.1)
    }

    /// A varbit number's payload width and payload bits. Prefix and payload come from one peek,
    /// except for the full 64-bit payload.
    #[inline(always)]
    fn read_varbit_fields(&mut self) -> Result<(u32, u64), Error> {
        let w = self.peek64();
        match w.leading_ones() {
            0 => {
                self.consume(1)?;
                Ok((0, 0))
            }
            ones @ 1..=7 => {
                let n = VARBIT_WIDTHS[ones as usize - 1];
                let prefix = ones + 1;
                self.consume(prefix + n)?;
                Ok((n, w << prefix >> (64 - n)))
            }
            _ => {
                self.consume(8)?;
                Ok((64, self.read_bits(64)?))
            }
        }
    }

    /// One XOR-compressed float (the `varbit_xor` encoding of XOR and histogram chunks):
    /// updates `value` and the `leading`/`trailing` window in place.
    #[inline(always)]
    pub(crate) fn read_xor(&mut self, value: &mut f64, leading: &mut u8, trailing: &mut u8) -> Result<(), Error> {
        let control = self.peek64() >> 62;
        if control < 0b10 {
            // "0": the value repeats.
            return self.consume(1);
        }
        self.consume(2)?;
        if control == 0b11 {
            self.read_window(leading, trailing)?;
        }
        self.xor_into(value, *leading, *trailing)
    }

    /// A new leading-zeros (5 bits) and significant-bits (6 bits, 0 meaning 64) window.
    #[inline(always)]
    pub(crate) fn read_window(&mut self, leading: &mut u8, trailing: &mut u8) -> Result<(), Error> {
        let lead = self.read_bits(5)? as u8;
        let sig = match self.read_bits(6)? as u8 {
            0 => 64,
            s => s,
        };
        if u32::from(lead) + u32::from(sig) > 64 {
            return Err(self.err(format!("XOR window of {lead} leading and {sig} significant bits exceeds 64")));
        }
        *leading = lead;
        *trailing = 64 - lead - sig;
        Ok(())
    }

    /// Reads the significant bits of the current window and XORs them into `value`.
    #[inline(always)]
    pub(crate) fn xor_into(&mut self, value: &mut f64, leading: u8, trailing: u8) -> Result<(), Error> {
        let sig = 64u32.saturating_sub(u32::from(leading) + u32::from(trailing));
        let bits = self.read_bits(sig)?;
        let shifted = if trailing >= 64 { 0 } else { bits << trailing };
        *value = f64::from_bits(value.to_bits() ^ shifted);
        Ok(())
    }
}

/// Payload widths of the varbit integer encodings, by the number of leading one bits (1 to 7;
/// 8 ones mean a full 64-bit payload).
const VARBIT_WIDTHS: [u32; 7] = [3, 6, 9, 12, 18, 25, 56];

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_bits` (both its nine-byte path and its byte-by-byte path near the end) gives
    /// what reading the same bits one at a time gives.
    #[test]
    fn read_bits_equals_bit_by_bit() {
        let data: Vec<u8> = (0..24u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for start in 0..64u32 {
            for n in 1..=64u32 {
                if (start + n) as usize > data.len() * 8 {
                    continue;
                }
                let mut a = BitReader::new(&data, 0);
                a.read_bits(start).unwrap();
                let got = a.read_bits(n).unwrap();
                let mut b = BitReader::new(&data, 0);
                b.read_bits(start).unwrap();
                let mut want = 0u64;
                for _ in 0..n {
                    want = want << 1 | u64::from(b.read_bit().unwrap());
                }
                assert_eq!(got, want, "start {start} n {n}");
                let tail = &data[data.len() - 9..];
                if (start + n) as usize <= tail.len() * 8 {
                    let mut c = BitReader::new(tail, 0);
                    c.read_bits(start).unwrap();
                    let mut d = BitReader::new(tail, 0);
                    d.read_bits(start).unwrap();
                    let mut want = 0u64;
                    for _ in 0..n {
                        want = want << 1 | u64::from(d.read_bit().unwrap());
                    }
                    assert_eq!(c.read_bits(n).unwrap(), want, "tail start {start} n {n}");
                }
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error_with_offset() {
        let mut r = BitReader::new(&[0xff, 0x00], 3);
        r.read_bits(12).unwrap();
        match r.read_bits(5) {
            Err(Error::Corrupt { offset: 4, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
