//! Encoding 1, `XOR`: float samples compressed as in Facebook's Gorilla paper.
//!
//! After a big-endian `u16` sample count: the first timestamp as a varint and the first value
//! as 64 raw bits; the second timestamp as a uvarint delta; every later timestamp as a
//! delta-of-delta in a prefix-coded width (0, 14, 17, 20 or 64 bits). Every value after the
//! first is XORed with the previous one and stored as its significant bits only.

use super::bits::BitReader;
use super::encoding::header_count;
use super::sample::{Sample, Value};
use crate::error::Error;

const HEADER_LEN: usize = 2;

pub(crate) struct XorDecoder<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: f64,
    leading: u8,
    trailing: u8,
}

impl<'a> XorDecoder<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Result<Self, Error> {
        let total = header_count(data, HEADER_LEN)?;
        let r = BitReader::new(&data[HEADER_LEN..], HEADER_LEN);
        Ok(XorDecoder { r, total, read: 0, t: 0, t_delta: 0, v: 0.0, leading: 0, trailing: 0 })
    }

    #[inline(always)]
    pub(crate) fn next_sample(&mut self) -> Result<Option<Sample>, Error> {
        if self.read == self.total {
            return Ok(None);
        }
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
            }
            1 => {
                self.t_delta = self.r.read_uvarint()? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.r.read_xor(&mut self.v, &mut self.leading, &mut self.trailing)?;
            }
            _ => {
                // One look at the next 64 bits covers the timestamp's delta-of-delta (1 to 24
                // bits) and the value's control bits in all but the 64-bit-delta case.
                let w = self.r.peek64();
                let (dod, width) = match w.leading_ones() {
                    0 => (0, 1),
                    1 => (biased(w << 2 >> (64 - 14), 14), 2 + 14),
                    2 => (biased(w << 3 >> (64 - 17), 17), 3 + 17),
                    3 => (biased(w << 4 >> (64 - 20), 20), 4 + 20),
                    _ => return self.next_slow(),
                };
                let control = w << width >> 62;
                if control < 0b10 {
                    // The value repeats: one bit.
                    self.r.consume(width + 1)?;
                } else {
                    self.r.consume(width + 2)?;
                    if control == 0b11 {
                        self.r.read_window(&mut self.leading, &mut self.trailing)?;
                    }
                    self.r.xor_into(&mut self.v, self.leading, self.trailing)?;
                }
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
            }
        }
        self.read += 1;
        Ok(Some(Sample { t: self.t, st: 0, value: Value::Float(self.v) }))
    }

    /// A sample after the second whose timestamp delta-of-delta takes the full 64 bits.
    #[cold]
    fn next_slow(&mut self) -> Result<Option<Sample>, Error> {
        let dod = match self.r.read_unary(4)? {
            0 => 0,
            1 => self.r.read_signed_biased(14)?,
            2 => self.r.read_signed_biased(17)?,
            3 => self.r.read_signed_biased(20)?,
            _ => self.r.read_bits(64)? as i64,
        };
        self.t_delta = self.t_delta.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.t_delta);
        self.r.read_xor(&mut self.v, &mut self.leading, &mut self.trailing)?;
        self.read += 1;
        Ok(Some(Sample { t: self.t, st: 0, value: Value::Float(self.v) }))
    }
}

/// The `n`-bit field `bits` as the biased signed number of the timestamp encoding (see
/// [`BitReader::read_signed_biased`]).
#[inline(always)]
fn biased(bits: u64, n: u32) -> i64 {
    if bits > 1 << (n - 1) {
        bits as i64 - (1i64 << n)
    } else {
        bits as i64
    }
}
