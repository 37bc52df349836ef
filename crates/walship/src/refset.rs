//! A set of series references. Prometheus hands out refs as a counter from 1, so a bitmap is both
//! smaller and several times faster than a hash set on the per-sample path; refs beyond the
//! bitmap's bound fall back to a hash set.

use std::collections::HashSet;

const DENSE_LIMIT: u64 = 1 << 28;

/// Distinct series refs.
#[derive(Default)]
pub struct RefSet {
    bits: Vec<u64>,
    sparse: HashSet<u64>,
    len: usize,
}

impl RefSet {
    /// Adds `r`; returns whether it was new.
    #[inline(always)]
    pub fn insert(&mut self, r: u64) -> bool {
        let (word, bit) = ((r / 64) as usize, r % 64);
        match self.bits.get_mut(word) {
            Some(w) => {
                let new = *w & (1 << bit) == 0;
                *w |= 1 << bit;
                self.len += new as usize;
                new
            }
            None => self.insert_slow(r),
        }
    }

    #[cold]
    fn insert_slow(&mut self, r: u64) -> bool {
        if r < DENSE_LIMIT {
            let word = (r / 64) as usize;
            self.bits.resize((word + 1).next_power_of_two(), 0);
            self.insert(r)
        } else {
            let new = self.sparse.insert(r);
            self.len += new as usize;
            new
        }
    }

    /// Number of distinct refs.
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Each case near the bound grows the bitmap to its full 32 MB: few cases keep this quick.
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Counts what a hash set counts, and says "new" when the hash set does: runs of
        /// neighbouring refs, scattered refs, and refs on both sides of the bitmap's bound.
        #[test]
        fn counts_distinct_refs(
            refs in prop::collection::vec(
                prop_oneof![0u64..300, 0u64..5_000_000, (DENSE_LIMIT - 70)..(DENSE_LIMIT + 70), any::<u64>()],
                0..600,
            ),
        ) {
            let mut set = RefSet::default();
            let mut want = HashSet::new();
            for r in refs {
                prop_assert_eq!(set.insert(r), want.insert(r), "ref {}", r);
            }
            prop_assert_eq!(set.len(), want.len());
        }
    }

    #[test]
    fn ref_zero_and_the_largest_ref_count() {
        let mut set = RefSet::default();
        for r in [0, u64::MAX, 0, 1, 63, 64, u64::MAX - 63] {
            set.insert(r);
        }
        assert_eq!(set.len(), 6);
    }
}
