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
            }
        }
        self.read += 1;
        Ok(Some(Sample { t: self.t, st: 0, value: Value::Float(self.v) }))
    }
}
