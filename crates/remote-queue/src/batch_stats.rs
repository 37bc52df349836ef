//! Which queued items go into a request, and what the request then holds: the one decision both
//! protocol encoders make for every item; and what to fetch for the items ahead (`prefetch.rs`).

use crate::item::{Item, KindCounts, NO_SLOT};
use crate::series::SeriesCache;

/// What an encoded request holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BatchStats {
    /// Points in the request, per kind.
    pub(crate) counts: KindCounts,
    /// Points left out because they were older than the age limit.
    pub(crate) too_old: KindCounts,
    /// Points left out because their series is no longer cached.
    pub(crate) unknown: KindCounts,
    /// 2.0: series sent with metadata.
    pub(crate) with_metadata: u64,
    /// Highest timestamp > 0 in the request (0 if none).
    pub(crate) highest: i64,
    /// Lowest timestamp > 0 in the request (`i64::MAX` if none).
    pub(crate) lowest: i64,
}

/// The label ids of an item's series, if still cached.
#[inline]
pub(crate) fn label_ids_of<'c>(item: &Item, cache: &'c SeriesCache) -> Option<&'c [u8]> {
    if item.slot == NO_SLOT {
        cache.label_ids(item.series)
    } else {
        cache.label_ids_at(item.slot, item.slot_gen)
    }
}

/// Decides whether an item goes into the request, updating the stats either way.
#[inline]
pub(crate) fn admit<'c>(
    item: &Item,
    cache: &'c SeriesCache,
    min_ts: Option<i64>,
    stats: &mut BatchStats,
) -> Option<&'c [u8]> {
    if min_ts.is_some_and(|m| item.t < m) {
        stats.too_old.add(&item.payload);
        return None;
    }
    // Written out rather than calling `label_ids_of`, so this hot path stays as it was measured.
    let ids =
        if item.slot == NO_SLOT { cache.label_ids(item.series) } else { cache.label_ids_at(item.slot, item.slot_gen) };
    let Some(ids) = ids else {
        stats.unknown.add(&item.payload);
        return None;
    };
    stats.counts.add(&item.payload);
    if item.t > 0 {
        stats.highest = stats.highest.max(item.t);
        stats.lowest = stats.lowest.min(item.t);
    }
    Some(ids)
}

/// How many items ahead a series' cache entry is fetched …
const ENTRY_AHEAD: usize = 16;
/// … and its label run (the entry, fetched earlier, says where it is). See `prefetch.rs`.
const LABELS_AHEAD: usize = 8;

/// Asks the processor for what items `k + ENTRY_AHEAD` and `k + LABELS_AHEAD` will need; returns
/// the slot of the latter, for what else an encoder keeps by slot.
#[inline]
pub(crate) fn prefetch_ahead(items: &[Item], k: usize, cache: &SeriesCache) -> Option<u32> {
    if let Some(item) = items.get(k + ENTRY_AHEAD) {
        cache.prefetch_entry(item.slot);
    }
    let item = items.get(k + LABELS_AHEAD)?;
    cache.prefetch_labels(item.slot);
    Some(item.slot)
}
