//! Series ref → cache slot, looked up once for every point queued.
//!
//! Prometheus hands out series refs counting up from 1, and a Samples record lists its samples in
//! ref order, so a `Vec` indexed by `ref - base` finds a slot with one load from memory that is
//! read in order — where a hash map scatters consecutive refs over its table and pays a cache
//! miss for nearly every point (about a fifth of walship's CPU while tailing 30k series, before
//! this index). Refs too far from the dense range (a long-lived old series among millions of
//! churned ones, or refs from a source that does not count up) go to a hash map instead, so that
//! the dense range never holds more than [`MAX_SPREAD`] entries per stored ref.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use wal_format::record::SeriesRef;

/// A multiplicative hash for series refs (they are small, dense integers; SipHash is wasted on them).
#[derive(Default, Clone, Copy)]
pub(crate) struct RefHasher(u64);

impl Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type RefMap<V> = HashMap<SeriesRef, V, BuildHasherDefault<RefHasher>>;

/// Marks a ref of the dense range that has no slot.
const EMPTY: u32 = u32::MAX;

/// The dense range may span up to this many refs per stored ref (4 bytes each) …
const MAX_SPREAD: usize = 4;
/// … plus this many, so that a small cache still takes a gap in the refs without spilling.
const MIN_SPAN: usize = 1 << 16;

/// Slots by series ref.
#[derive(Default)]
pub(crate) struct RefIndex {
    /// Slots of refs `base ..= base + dense.len() - 1`, [`EMPTY`] where there is none.
    dense: Vec<u32>,
    base: SeriesRef,
    /// Refs outside the dense range when they were set (the range may have grown over some
    /// since; a ref is never in both).
    sparse: RefMap<u32>,
    /// Entries in `dense`.
    dense_len: usize,
}

impl RefIndex {
    /// The slot of `r`.
    #[inline]
    pub(crate) fn get(&self, r: SeriesRef) -> Option<u32> {
        let i = r.wrapping_sub(self.base);
        if i < self.dense.len() as u64 {
            let slot = self.dense[i as usize];
            if slot != EMPTY {
                return Some(slot);
            }
        }
        // Outside the dense range, or inside a part of it that grew over a ref stored earlier in
        // the map (it stays there until set again).
        if self.sparse.is_empty() {
            return None;
        }
        self.sparse.get(&r).copied()
    }

    /// Sets the slot of `r` (never [`EMPTY`]: slots are counted in `u32` from 0 and never reach it).
    pub(crate) fn insert(&mut self, r: SeriesRef, slot: u32) {
        debug_assert_ne!(slot, EMPTY);
        if self.dense.is_empty() && self.sparse.is_empty() {
            self.base = r;
        }
        let span = self.allowed_span();
        let i = r.wrapping_sub(self.base);
        if i < self.dense.len() as u64 {
            let old = std::mem::replace(&mut self.dense[i as usize], slot);
            self.dense_len += usize::from(old == EMPTY);
        } else if r >= self.base && i < span as u64 {
            // Past the end but within reach: grow (the common case, refs counting up).
            self.dense.resize(i as usize, EMPTY);
            self.dense.push(slot);
            self.dense_len += 1;
        } else if r < self.base && ((self.base - r) as usize).saturating_add(self.dense.len()) <= span {
            // Just before the start: shift the range down. Rare (refs seldom go backwards), so
            // the copy is cheap overall.
            let grow = (self.base - r) as usize;
            self.dense.splice(0..0, std::iter::repeat_n(EMPTY, grow));
            self.dense[0] = slot;
            self.base = r;
            self.dense_len += 1;
        } else {
            self.sparse.insert(r, slot);
            return;
        }
        // Now in the dense range: an entry the map held from before the range reached it goes.
        if !self.sparse.is_empty() {
            self.sparse.remove(&r);
        }
    }

    /// Removes `r`, returning its slot.
    pub(crate) fn remove(&mut self, r: SeriesRef) -> Option<u32> {
        let i = r.wrapping_sub(self.base);
        if i < self.dense.len() as u64 {
            let old = std::mem::replace(&mut self.dense[i as usize], EMPTY);
            if old != EMPTY {
                self.dense_len -= 1;
                return Some(old);
            }
        }
        self.sparse.remove(&r)
    }

    /// Every ref and its slot, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SeriesRef, u32)> + '_ {
        let base = self.base;
        let dense = self.dense.iter().enumerate().filter(|(_, &s)| s != EMPTY).map(move |(i, &s)| (base + i as u64, s));
        dense.chain(self.sparse.iter().map(|(&r, &s)| (r, s)))
    }

    /// Re-centres the dense range on the newest refs after series were removed: the range then
    /// follows the refs Prometheus hands out next, and long-lived old refs left far behind move
    /// to the hash map. Called after a garbage collection, which already costs a pass over every
    /// entry.
    pub(crate) fn rebuild(&mut self) {
        let entries: Vec<(SeriesRef, u32)> = self.iter().collect();
        let Some(newest) = entries.iter().map(|&(r, _)| r).max() else {
            *self = RefIndex::default();
            return;
        };
        let oldest = entries.iter().map(|&(r, _)| r).min().unwrap_or(newest);
        let span = MAX_SPREAD * entries.len() + MIN_SPAN;
        let base = newest.saturating_sub(span as u64 - 1).max(oldest);
        let mut index = RefIndex { base, ..RefIndex::default() };
        index.dense.reserve(((newest - base) as usize + 1).min(span));
        for (r, slot) in entries {
            if r >= base {
                index.dense.resize(index.dense.len().max((r - base) as usize + 1), EMPTY);
                index.dense[(r - base) as usize] = slot;
                index.dense_len += 1;
            } else {
                index.sparse.insert(r, slot);
            }
        }
        *self = index;
    }

    /// How far the dense range may reach from `base`.
    fn allowed_span(&self) -> usize {
        MAX_SPREAD * (self.dense_len + self.sparse.len() + 1) + MIN_SPAN
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        let sparse_slot = std::mem::size_of::<(SeriesRef, u32)>() + 1;
        self.dense.capacity() * 4 + self.sparse.capacity() * sparse_slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(SeriesRef, u32),
        Remove(SeriesRef),
        Rebuild,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Refs mostly counting up from a few bases, some far away, as churned WALs have them.
        let r = prop_oneof![0u64..300, 1_000u64..1_300, 5_000_000u64..5_000_100, any::<u64>()];
        prop_oneof![
            6 => (r.clone(), 0u32..1000).prop_map(|(r, s)| Op::Insert(r, s)),
            3 => r.prop_map(Op::Remove),
            1 => Just(Op::Rebuild),
        ]
    }

    proptest! {
        /// Behaves as a hash map whatever the refs, and never lets the dense range outgrow its bound.
        #[test]
        fn agrees_with_a_hash_map(ops in prop::collection::vec(op(), 0..400)) {
            let mut index = RefIndex::default();
            let mut model = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(r, s) => {
                        let (before, span) = (index.dense.len(), index.allowed_span());
                        index.insert(r, s);
                        model.insert(r, s);
                        prop_assert!(index.dense.len() <= before.max(span));
                    }
                    Op::Remove(r) => prop_assert_eq!(index.remove(r), model.remove(&r)),
                    Op::Rebuild => {
                        index.rebuild();
                        prop_assert!(index.dense.len() <= index.allowed_span());
                    }
                }
            }
            prop_assert_eq!(index.dense_len, index.dense.iter().filter(|&&s| s != EMPTY).count());
            for (&r, &s) in &model {
                prop_assert_eq!(index.get(r), Some(s));
            }
            let mut all: Vec<_> = index.iter().collect();
            all.sort_unstable();
            let mut want: Vec<_> = model.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }

    #[test]
    fn a_ref_the_dense_range_grows_over_stays_found_and_removable() {
        let mut index = RefIndex::default();
        index.insert(1, 10);
        let far = 1 + MIN_SPAN as u64 + 100;
        index.insert(far, 20);
        assert!(index.sparse.contains_key(&far), "beyond reach: in the map");
        for r in 2..(MIN_SPAN as u64 / 2) {
            index.insert(r, 30);
        }
        index.insert(far + 1, 40); // grows the dense range over `far`
        assert!(far - index.base < index.dense.len() as u64);
        assert_eq!(index.get(far), Some(20), "still found in the map");
        index.insert(far, 21);
        assert_eq!(index.iter().filter(|&(r, _)| r == far).count(), 1, "never in both");
        assert_eq!(index.remove(far), Some(21));
        assert_eq!(index.get(far), None, "removed for good");
    }

    #[test]
    fn refs_counting_up_stay_dense() {
        let mut index = RefIndex::default();
        for r in 1..100_000u64 {
            index.insert(r, r as u32);
        }
        assert!(index.sparse.is_empty());
        assert_eq!(index.get(77_777), Some(77_777));
        assert_eq!(index.get(100_000), None);
    }
}
