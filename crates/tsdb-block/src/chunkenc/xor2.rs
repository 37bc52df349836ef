//! Encoding 4, `XOR2` (Prometheus 3.x, behind the `xor2-encoding` feature flag): float samples
//! with optional start timestamps.
//!
//! Header: big-endian `u16` sample count, then one start-timestamp byte (top bit: the first
//! sample has a start timestamp; low 7 bits: index of the first sample from which on every
//! sample carries one, 0 for none). Samples 0 and 1 are stored as in `XOR` except for the value
//! encoding. From sample 2 on, one prefix says both how the timestamp moved and whether the
//! value changed: `0` same step, same value; `10` same step, new value (no "unchanged" case);
//! `110` + 13-bit, `1110` + 20-bit, `11110` + 64-bit delta-of-delta, then a value; `11111`
//! same step, stale marker. A value is `0` unchanged, `10` XOR bits in the previous window,
//! `110` new window, `111` stale marker. A stale marker does not become the base the next
//! value is XORed with.

use super::bits::BitReader;
use super::encoding::header_count;
use super::sample::{Sample, Value, STALE_NAN_BITS};
use crate::error::Error;

const HEADER_LEN: usize = 3;

pub(crate) struct Xor2Decoder<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    first_st_known: bool,
    st_changed_on: u16,
    t: i64,
    t_delta: i64,
    st: i64,
    st_diff: i64,
    /// The value shown for the current sample (may be a stale marker).
    v: f64,
    /// The last non-stale value: what the next XOR applies to.
    base: f64,
    leading: u8,
    trailing: u8,
}

impl<'a> Xor2Decoder<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Result<Self, Error> {
        let total = header_count(data, HEADER_LEN)?;
        let st_header = data[2];
        Ok(Xor2Decoder {
            r: BitReader::new(&data[HEADER_LEN..], HEADER_LEN),
            total,
            read: 0,
            first_st_known: st_header & 0x80 != 0,
            st_changed_on: u16::from(st_header & 0x7f),
            t: 0,
            t_delta: 0,
            st: 0,
            st_diff: 0,
            v: 0.0,
            base: 0.0,
            leading: 0,
            trailing: 0,
        })
    }

    pub(crate) fn next_sample(&mut self) -> Result<Option<Sample>, Error> {
        if self.read == self.total {
            return Ok(None);
        }
        let prev_t = self.t;
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
                if self.v.to_bits() != STALE_NAN_BITS {
                    self.base = self.v;
                }
                if self.first_st_known {
                    self.st = self.t.wrapping_sub(self.r.read_varint()?);
                }
            }
            1 => {
                self.t_delta = self.r.read_uvarint()? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
                if self.st_changed_on == 1 {
                    self.st_diff = self.r.read_varbit_int()?;
                    self.st = prev_t.wrapping_sub(self.st_diff);
                }
            }
            _ => {
                match self.r.read_unary(5)? {
                    0 => {
                        self.t = self.t.wrapping_add(self.t_delta);
                        self.v = self.base;
                    }
                    1 => {
                        self.t = self.t.wrapping_add(self.t_delta);
                        self.read_changed_value()?;
                    }
                    ones @ 2..=4 => {
                        let dod = match ones {
                            2 => self.r.read_signed_twos(13)?,
                            3 => self.r.read_signed_twos(20)?,
                            _ => self.r.read_bits(64)? as i64,
                        };
                        self.t_delta = self.t_delta.wrapping_add(dod);
                        self.t = self.t.wrapping_add(self.t_delta);
                        self.read_value()?;
                    }
                    _ => {
                        self.t = self.t.wrapping_add(self.t_delta);
                        self.v = f64::from_bits(STALE_NAN_BITS);
                    }
                }
                if self.st_changed_on > 0 && self.read >= self.st_changed_on {
                    let sdod = self.r.read_varbit_int()?;
                    self.st_diff = if self.read == self.st_changed_on { sdod } else { self.st_diff.wrapping_add(sdod) };
                    self.st = prev_t.wrapping_sub(self.st_diff);
                }
            }
        }
        self.read += 1;
        Ok(Some(Sample { t: self.t, st: self.st, value: Value::Float(self.v) }))
    }

    /// A value after a prefix that did not say whether it changed.
    fn read_value(&mut self) -> Result<(), Error> {
        match self.r.read_unary(3)? {
            0 => self.v = self.base,
            1 => self.xor_in_window()?,
            2 => {
                self.r.read_window(&mut self.leading, &mut self.trailing)?;
                self.xor_in_window()?;
            }
            _ => self.v = f64::from_bits(STALE_NAN_BITS),
        }
        Ok(())
    }

    /// A value known to differ from the previous one and not to be a stale marker.
    fn read_changed_value(&mut self) -> Result<(), Error> {
        if self.r.read_bit()? {
            self.r.read_window(&mut self.leading, &mut self.trailing)?;
        }
        self.xor_in_window()
    }

    fn xor_in_window(&mut self) -> Result<(), Error> {
        let mut v = self.base;
        self.r.xor_into(&mut v, self.leading, self.trailing)?;
        self.v = v;
        self.base = v;
        Ok(())
    }
}
