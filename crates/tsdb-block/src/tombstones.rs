//! A block's `tombstones` file: time ranges of series deleted through Prometheus's admin API
//! but not yet compacted away.

use std::collections::BTreeMap;
use std::path::Path;

use crate::decbuf::{check_crc, Decbuf};
use crate::error::{io_err, Error};

const MAGIC: u32 = 0x0130_BA30;
const FORMAT_V1: u8 = 1;

/// A deleted time range, both ends inclusive (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub min_time: i64,
    /// Last deleted timestamp.
    pub max_time: i64,
}

impl Interval {
    /// Whether `t` lies in the interval.
    pub fn contains(&self, t: i64) -> bool {
        self.min_time <= t && t <= self.max_time
    }
}

/// The deleted ranges of a block, by series reference. Overlapping or adjacent ranges of a
/// series are merged, as Prometheus merges them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u64, Vec<Interval>>,
}

impl Tombstones {
    /// Reads the tombstones file at `path`; a missing file means no tombstones.
    pub fn read(path: &Path) -> Result<Tombstones, Error> {
        match std::fs::read(path) {
            Ok(b) => Tombstones::decode(&b, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::default()),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Decodes the bytes of a tombstones file (`path` only names it in errors).
    pub fn decode(b: &[u8], path: &Path) -> Result<Tombstones, Error> {
        if b.len() < 4 + 1 + 4 {
            return Err(Error::corrupt(path, 0, format!("tombstones file of {} bytes is too short", b.len())));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                offset: 0,
                what: "tombstones magic number",
                found: magic.into(),
            });
        }
        if b[4] != FORMAT_V1 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                offset: 4,
                what: "tombstones format version",
                found: b[4].into(),
            });
        }
        let body = &b[5..b.len() - 4];
        check_crc(path, 5, body, &b[b.len() - 4..])?;
        let mut t = Tombstones::default();
        let mut d = Decbuf::new(body, 5, path);
        while !d.is_empty() {
            let series_ref = d.uvarint("tombstone series reference")?;
            let min_time = d.varint("tombstone min time")?;
            let max_time = d.varint("tombstone max time")?;
            t.add(series_ref, Interval { min_time, max_time });
        }
        Ok(t)
    }

    /// Adds a deleted range of a series, merging it with ranges it overlaps or touches.
    pub fn add(&mut self, series_ref: u64, iv: Interval) {
        let v = self.by_series.entry(series_ref).or_default();
        v.push(iv);
        v.sort_unstable();
        let mut merged: Vec<Interval> = Vec::with_capacity(v.len());
        for iv in v.drain(..) {
            match merged.last_mut() {
                Some(last) if iv.min_time <= last.max_time.saturating_add(1) => {
                    last.max_time = last.max_time.max(iv.max_time);
                }
                _ => merged.push(iv),
            }
        }
        *v = merged;
    }

    /// The deleted ranges of a series, sorted and disjoint (empty if none).
    pub fn get(&self, series_ref: u64) -> &[Interval] {
        self.by_series.get(&series_ref).map_or(&[], Vec::as_slice)
    }

    /// How many series have deleted ranges.
    pub fn len(&self) -> usize {
        self.by_series.len()
    }

    /// Whether no series has a deleted range.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Every series with deleted ranges, ascending by reference.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Interval])> + '_ {
        self.by_series.iter().map(|(r, v)| (*r, v.as_slice()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decbuf::{put_uvarint, put_varint};

    pub(crate) fn file(stones: &[(u64, i64, i64)]) -> Vec<u8> {
        let mut body = vec![FORMAT_V1];
        for &(r, a, b) in stones {
            put_uvarint(&mut body, r);
            put_varint(&mut body, a);
            put_varint(&mut body, b);
        }
        let mut out = MAGIC.to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32c::crc32c(&body[1..]).to_be_bytes());
        out
    }

    #[test]
    fn decodes_and_merges() {
        let b = file(&[(7, 10, 20), (3, -5, 5), (7, 15, 30), (7, 40, 50), (7, 31, 35)]);
        let t = Tombstones::decode(&b, Path::new("tombstones")).unwrap();
        assert_eq!(t.len(), 2);
        let iv = |a, b| Interval { min_time: a, max_time: b };
        assert_eq!(t.get(7), &[iv(10, 35), iv(40, 50)]);
        assert_eq!(t.get(3), &[iv(-5, 5)]);
        assert!(t.get(4).is_empty());
    }

    proptest::proptest! {
        /// Any stones read back: a time is deleted for a series exactly when one of the
        /// series' stones covers it, and the merged intervals are sorted and disjoint.
        #[test]
        fn any_stones_read_back(
            stones in proptest::collection::vec((0u64..4, -50i64..50, 0i64..20), 0..12),
            probes in proptest::collection::vec(-60i64..80, 20),
        ) {
            let stones: Vec<(u64, i64, i64)> = stones.into_iter().map(|(r, a, len)| (r, a, a + len)).collect();
            let t = Tombstones::decode(&file(&stones), Path::new("tombstones")).unwrap();
            for r in 0..4 {
                let ivs = t.get(r);
                proptest::prop_assert!(ivs.windows(2).all(|w| w[0].max_time + 1 < w[1].min_time));
                for &p in &probes {
                    let want = stones.iter().any(|&(s, a, b)| s == r && a <= p && p <= b);
                    proptest::prop_assert_eq!(ivs.iter().any(|iv| iv.contains(p)), want);
                }
            }
        }
    }

    #[test]
    fn rejects_damage_with_offsets() {
        let mut b = file(&[(7, 10, 20)]);
        let last = b.len() - 5;
        b[last] ^= 1;
        assert!(matches!(Tombstones::decode(&b, Path::new("t")), Err(Error::Checksum { offset: 5, .. })));
        let mut b = file(&[]);
        b[0] = 0;
        assert!(matches!(Tombstones::decode(&b, Path::new("t")), Err(Error::Unsupported { offset: 0, .. })));
        // A truncated uvarint inside a checksummed body.
        let mut body = vec![FORMAT_V1, 0x80];
        let crc = crc32c::crc32c(&body[1..]);
        let mut b = MAGIC.to_be_bytes().to_vec();
        b.append(&mut body);
        b.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(Tombstones::decode(&b, Path::new("t")), Err(Error::Corrupt { offset: 5, .. })));
    }
}
