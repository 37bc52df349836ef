//! Minimal protobuf wire-format writing: just what the two request encoders need.
//!
//! Nested messages are written in place: the body is written after a two-byte hole for its
//! length, and the body is shifted only in the rare case that the length needs one or three-plus
//! bytes. This avoids a sizing pass over the labels (which would resolve every symbol twice).

pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_I64: u8 = 1;
pub(crate) const WIRE_LEN: u8 = 2;

#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint of at most 32 bits (symbol ids and label lengths), advancing `cur`; `None` when
/// it is cut short or longer than 32 bits.
#[inline]
pub(crate) fn get_uvarint32(cur: &mut &[u8]) -> Option<u32> {
    let mut v = 0u32;
    let mut shift = 0;
    loop {
        let (&b, rest) = cur.split_first()?;
        *cur = rest;
        v |= u32::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// Writes `v` as a varint at the start of `out` (which has room for 10 bytes); returns its length.
#[inline]
pub(crate) fn write_uvarint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    // 1 + floor(log2(v|1) / 7)
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(crate) fn put_tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_uvarint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// A `double` field, omitted when its bits are all zero (proto3 default).
#[inline]
pub(crate) fn put_double(buf: &mut Vec<u8>, field: u32, v: f64) {
    if v.to_bits() != 0 {
        put_tag(buf, field, WIRE_I64);
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// A `double` field written even when zero (members of a `oneof`).
#[inline]
pub(crate) fn put_double_always(buf: &mut Vec<u8>, field: u32, v: f64) {
    put_tag(buf, field, WIRE_I64);
    buf.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// An `int64`/`uint64`/enum field, omitted when zero.
#[inline]
pub(crate) fn put_int(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(buf, field, WIRE_VARINT);
        put_uvarint(buf, v);
    }
}

#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(crate) fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// The body of a remote write 1.0 `Label { name = 1; value = 2 }` (`0a len name 12 len value`):
/// the series cache interns label pairs in this form, and exemplar labels are written with it.
/// Both strings are written even when empty, so that a pair's body always splits back in two.
#[inline]
pub(crate) fn put_label_body(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.push(0x0a);
    put_uvarint(buf, name.len() as u64);
    buf.extend_from_slice(name);
    buf.push(0x12);
    put_uvarint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

/// Starts a length-delimited field; finish it with [`end_len`].
#[inline]
pub(crate) fn begin_len(buf: &mut Vec<u8>, field: u32) -> usize {
    put_tag(buf, field, WIRE_LEN);
    buf.extend_from_slice(&[0, 0]);
    buf.len()
}

/// Writes the length of the field begun at `start`.
#[inline]
pub(crate) fn end_len(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    let need = uvarint_len(len as u64);
    if need == 2 {
        buf[start - 2] = (len as u8) | 0x80;
        buf[start - 1] = (len >> 7) as u8;
        return;
    }
    if need == 1 {
        // Small message: close the one-byte gap by moving the body down.
        buf[start - 2] = len as u8;
        buf.copy_within(start.., start - 1);
        buf.truncate(buf.len() - 1);
        return;
    }
    let mut prefix = [0u8; 10];
    let n = write_uvarint(&mut prefix, len as u64);
    buf.splice(start - 2..start, prefix[..n].iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_len(v), "{v}");
        }
    }

    #[test]
    fn varint32_roundtrip() {
        for v in [0u32, 1, 127, 128, 300, 1 << 21, u32::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, u64::from(v));
            let mut cur = b.as_slice();
            assert_eq!(get_uvarint32(&mut cur), Some(v));
            assert!(cur.is_empty());
        }
        assert_eq!(get_uvarint32(&mut &[0x80u8][..]), None, "cut short");
    }

    #[test]
    fn nested_lengths_of_every_size() {
        for len in [0usize, 1, 127, 128, 200, 16383, 16384, 70_000] {
            let mut b = vec![9];
            let s = begin_len(&mut b, 1);
            b.extend(std::iter::repeat_n(7u8, len));
            end_len(&mut b, s);
            let mut expect = vec![9, 0x0a];
            put_uvarint(&mut expect, len as u64);
            expect.extend(std::iter::repeat_n(7u8, len));
            assert_eq!(b, expect, "{len}");
        }
    }

    #[test]
    fn zigzag() {
        assert_eq!(zigzag64(0), 0);
        assert_eq!(zigzag64(-1), 1);
        assert_eq!(zigzag64(1), 2);
        assert_eq!(zigzag32(-53), 105);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
    }
}
