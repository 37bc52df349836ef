//! A snappy block decompressor tuned for WAL records.
//!
//! Written by hand because decompression is most of the cost of reading a snappy WAL, and it has
//! to keep pace with Go's assembly decoder on the two kinds of Samples records the `decode`
//! benchmark measures side by side with `snap` and `golang/snappy`: a real server's (many short
//! copies of 4 to 16 bytes) and busy non-integer values (1- to 4-byte literals between 4- and
//! 5-byte copies), where `snap` is 10 to 20 % slower than this (A/B in one process). The gain
//! comes from moving fixed 16-byte or 8-byte chunks wherever the output has room, so short
//! literals and copies — nearly all of them in a Samples record — cost one unaligned load and
//! store, with no branch on their length and no `memcpy` call. The fast path that does so skips
//! bounds checks (one `unsafe` block, its reason measured and its bounds argued where it is);
//! everything else is checked. `snap` stays the reference it is tested against, and the fuzz
//! targets run it under AddressSanitizer.

use crate::error::{Error, SnappyError};
use crate::varint::uvarint;

/// The decompressed length a block claims, and the header size.
pub(crate) fn decompressed_len(src: &[u8]) -> Result<(usize, usize), SnappyError> {
    // A 32-bit varint: at most 5 bytes.
    match uvarint(&src[..src.len().min(5)]) {
        Ok((x, n)) if x <= u32::MAX as u64 => Ok((x as usize, n)),
        _ => Err(SnappyError::Header),
    }
}

const CHUNK: usize = 16;

/// Decompresses the snappy block `src` into `dst` (cleared, then resized to the output length).
/// `max_len` bounds the output a header may claim.
#[allow(unsafe_code)]
pub(crate) fn decompress(src: &[u8], dst: &mut Vec<u8>, max_len: usize) -> Result<(), Error> {
    let (want, mut s) = decompressed_len(src)?;
    if want > max_len {
        return Err(Error::DecompressedSize { compressed: src.len(), claimed: want });
    }
    dst.clear();
    dst.resize(want, 0);
    let out = &mut dst[..];
    let mut d = 0usize;
    while s < src.len() {
        // Fast path: while any element (at most 5 header bytes and a 16-byte literal) fits in the
        // input and any copy (at most 64 bytes, in 8-byte chunks) fits in the output, the common
        // elements — short literals, copies with 1- and 2-byte offsets — take no length checks
        // and no memcpy calls.
        if s + 21 <= src.len() && d + 72 <= out.len() {
            // Unchecked moves here: the bounds checks of the safe version cost 10-35 % of a whole
            // read + decode of the Server-values bench WAL (A/B in one process, raw decompression
            // 5-37 % faster; Noisy values 2-13 %). Pointers are taken afresh each time, after any
            // use of `out` by `element` below.
            let (sp, op) = (src.as_ptr(), out.as_mut_ptr());
            // SAFETY: this branch holds `s + 21 <= src.len()` and `d + 72 <= out.len()`, and `src`
            // and `out` are distinct slices (one shared, one exclusive borrow). Every access below
            // is inside those bounds:
            // - tag and offset bytes: `src[s..s + 3]`;
            // - literal: reads `src[s + 1..s + 17]`, writes `out[d..d + 16]`;
            // - 16-byte copy: `offset <= d` is checked, so it reads `out[d - offset..d - offset + 16]`,
            //   which ends at or before `d + 16`; it writes `out[d..d + 16]`; the load completes
            //   before the store, so an overlap cannot matter;
            // - 8-byte chunk copy: `8 <= offset <= d` and `len <= 64` (a copy's length field
            //   cannot say more), so chunk `k <= 56` reads `out[d - offset + k..+8]`, ending at or
            //   before `d + 56`, and writes `out[d + k..d + k + 8]`, ending at or before `d + 64`.
            unsafe {
                let tag = *sp.add(s);
                let kind = tag & 3;
                if kind == 0 && tag < 16 << 2 {
                    let len = (tag >> 2) as usize + 1;
                    std::ptr::copy_nonoverlapping(sp.add(s + 1), op.add(d), CHUNK);
                    s += 1 + len;
                    d += len;
                    continue;
                }
                if kind == 1 || kind == 2 {
                    let (len, offset, header) = if kind == 1 {
                        (4 + ((tag >> 2) & 7) as usize, ((tag as usize >> 5) << 8) | *sp.add(s + 1) as usize, 2)
                    } else {
                        (1 + (tag >> 2) as usize, u16::from_le_bytes([*sp.add(s + 1), *sp.add(s + 2)]) as usize, 3)
                    };
                    if len <= offset && len <= 16 && offset <= d {
                        // No overlap, so one 16-byte move whatever the length: no branch on it,
                        // which real servers' Samples records (copies of 4 to 16 bytes, evenly
                        // mixed) would mispredict. Bytes past `len` are written over by the next
                        // elements.
                        let chunk = std::ptr::read_unaligned(op.add(d - offset) as *const [u8; 16]);
                        std::ptr::write_unaligned(op.add(d) as *mut [u8; 16], chunk);
                        s += header;
                        d += len;
                        continue;
                    }
                    if offset >= 8 && offset <= d {
                        let from = d - offset;
                        let mut k = 0;
                        while k < len {
                            // With an offset of at least 8, each source chunk ends at or before
                            // its destination chunk starts: no byte is read before it is written.
                            let chunk = std::ptr::read_unaligned(op.add(from + k) as *const [u8; 8]);
                            std::ptr::write_unaligned(op.add(d + k) as *mut [u8; 8], chunk);
                            k += 8;
                        }
                        s += header;
                        d += len;
                        continue;
                    }
                }
            }
        }
        (s, d) = element(src, s, out, d, want)?;
    }
    if d != want {
        return Err(SnappyError::Length { got: d, want }.into());
    }
    Ok(())
}

/// Decodes one element with every check: the general path for long literals, 4-byte offsets,
/// overlapping copies and the last bytes of a block. Returns the new input and output positions.
fn element(src: &[u8], mut s: usize, out: &mut [u8], d: usize, want: usize) -> Result<(usize, usize), SnappyError> {
    let tag = src[s];
    let (len, offset) = match tag & 3 {
        0 => {
            // Literal: length-1 in the tag, or in 1–4 following bytes.
            let mut len = (tag >> 2) as usize;
            s += 1;
            if len >= 60 {
                let n = len - 59;
                let b = src.get(s..s + n).ok_or(SnappyError::Truncated(s))?;
                len = b.iter().rev().fold(0usize, |a, &x| a << 8 | x as usize);
                s += n;
            }
            let len = len + 1;
            if len > out.len() - d {
                return Err(SnappyError::Length { got: d + len, want });
            }
            let lit = src.get(s..s + len).ok_or(SnappyError::Truncated(s))?;
            out[d..d + len].copy_from_slice(lit);
            return Ok((s + len, d + len));
        }
        1 => {
            let b = *src.get(s + 1).ok_or(SnappyError::Truncated(s))?;
            s += 2;
            (4 + ((tag >> 2) & 7) as usize, ((tag as usize >> 5) << 8) | b as usize)
        }
        2 => {
            let b = src.get(s + 1..s + 3).ok_or(SnappyError::Truncated(s))?;
            s += 3;
            (1 + (tag >> 2) as usize, u16::from_le_bytes([b[0], b[1]]) as usize)
        }
        _ => {
            let b = src.get(s + 1..s + 5).ok_or(SnappyError::Truncated(s))?;
            s += 5;
            (1 + (tag >> 2) as usize, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
    };
    if offset == 0 || offset > d {
        return Err(SnappyError::Offset { offset, at: d });
    }
    if len > out.len() - d {
        return Err(SnappyError::Length { got: d + len, want });
    }
    let from = d - offset;
    if offset >= len {
        out.copy_within(from..from + len, d);
    } else {
        // Overlapping copy: a repeating pattern, byte by byte as snappy defines it.
        for k in 0..len {
            out[d + k] = out[from + k];
        }
    }
    Ok((s, d + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(src: &[u8]) -> Result<Vec<u8>, Error> {
        let mut v = Vec::new();
        decompress(src, &mut v, 1 << 24)?;
        Ok(v)
    }

    #[test]
    fn length_header_is_a_32_bit_varint() {
        assert_eq!(decompressed_len(&[0x7f, 0xff]), Ok((127, 1)));
        assert_eq!(decompressed_len(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok((u32::MAX as usize, 5)));
        assert_eq!(decompressed_len(&[0x80, 0x80, 0x80, 0x80, 0x10]), Err(SnappyError::Header));
        assert_eq!(decompressed_len(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), Err(SnappyError::Header));
        assert_eq!(decompressed_len(&[0x80]), Err(SnappyError::Header));
        assert_eq!(decompressed_len(&[]), Err(SnappyError::Header));
    }

    proptest! {
        /// Agrees with the `snap` crate on everything `snap` compresses.
        #[test]
        fn matches_snap_on_valid_blocks(parts in prop::collection::vec((any::<u8>(), 0usize..300, any::<bool>()), 0..40)) {
            let mut data = Vec::new();
            for (b, n, noisy) in parts {
                for i in 0..n {
                    data.push(if noisy { (i as u8).wrapping_mul(b).wrapping_add(i as u8 >> 3) } else { b });
                }
            }
            let c = snap::raw::Encoder::new().compress_vec(&data).unwrap();
            prop_assert_eq!(ours(&c).unwrap(), data);
        }

        /// Short repeated patterns (periods 1 to 9) inside a block long enough for the fast
        /// path: copies closer than their length, which the fast path hands to the checked
        /// element path's byte loop, at every short offset.
        #[test]
        fn matches_snap_on_short_periods(
            head in prop::collection::vec(any::<u8>(), 0..100),
            pattern in prop::collection::vec(any::<u8>(), 1..10),
            run in 1usize..300,
            tail in prop::collection::vec(any::<u8>(), 80..200),
        ) {
            let mut data = head;
            data.extend(pattern.iter().cycle().take(run));
            data.extend(tail);
            let c = snap::raw::Encoder::new().compress_vec(&data).unwrap();
            prop_assert_eq!(ours(&c).unwrap(), data);
        }

        /// On arbitrary bytes: same verdict as `snap`, and the same output when both accept.
        #[test]
        fn matches_snap_on_arbitrary_bytes(src in prop::collection::vec(any::<u8>(), 0..200)) {
            let theirs = snap::raw::Decoder::new().decompress_vec(&src);
            let mine = ours(&src);
            match (theirs, mine) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "snap {:?} vs ours {:?}", a.map(|v| v.len()), b.map(|v| v.len())),
            }
        }
    }

    #[test]
    fn overlapping_copies_repeat_the_pattern() {
        // Literal "ab", then a copy of length 10 at offset 2 (2-byte offset form).
        let src = [12, 1 << 2, b'a', b'b', 2 | (9 << 2), 2, 0];
        assert_eq!(ours(&src).unwrap(), b"abababababab");
        assert!(matches!(ours(&[3, 2 | (2 << 2), 0, 0]), Err(Error::Snappy(SnappyError::Offset { .. }))));
    }
}
