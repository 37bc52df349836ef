//! Remote write 2.0: `io.prometheus.write.v2.Request` with a symbols table.
//!
//! Every string a request references is listed once in its `symbols`; the table's size follows
//! the request, not the cache. The series cache of a 2.0 endpoint gives every string it holds a
//! dense id (see `series.rs`), so a string's symbol is found without hashing it: `by_id` is an
//! array indexed by string id whose entries carry the symbol's index, already encoded as a
//! varint, and the number of the request that last used it; entries stamped since the current
//! table was started are in the table, so starting a new one clears nothing.
//!
//! A label held as a pair (`job="api"`, shared by many series) finds both refs, already packed,
//! by pair id in [`RecentIds`], a direct-mapped array: one load and one eight-byte store, as in
//! 1.0. A pair evicted by another one that maps to the same entry is looked up through its string
//! ids again and finds its symbols already in the table, so deduplication never depends on that
//! array. A label held as its two strings (a value no other series has, such as a pod's name)
//! skips the pair lookup: its value is new to nearly every request anyway, and costs one copy
//! into `symbols`. While no other label holds that value, a fresh table does not even look it up
//! in `by_id` (one cache miss per value in a large cache, whose string ids a shard's requests
//! meet scattered). Only strings the cache does not hold (exemplar labels, and labels of a cache
//! made for 1.0) are looked up by content. Labels of these two kinds, nearly all of them, are
//! written by a loop that calls nothing ([`RecentIds::push_hits`], [`SymbolTable::push_fresh`]),
//! so that what it reads of the table stays in registers; the rest leave it one by one.
//!
//! **Keeping the table.** A shard whose requests carry the same series again and again (every
//! shard whose series fit one request) would rebuild the same symbols in every request. So when
//! most series of a request were also in the previous one, the next request starts from this
//! one's table instead of an empty one, and all of its ids stay known. A kept table is sent
//! whole, so it is given up as soon as a request carries less than three quarters of the series
//! it was built for (and whenever the series cache frees an id, which could then name another
//! string). While a table is kept, a series' `labels_refs` do not change: a series the previous
//! request carried copies its refs from that request's buffer ([`Memo`]) instead of looking up
//! its labels one by one; so does a series met earlier in the same request.
//!
//! Each series is written in place with one-byte length slots, filled in afterwards: a typical
//! series' body is shorter than 128 bytes, so no body is moved to fit its length.

use crate::batch_stats::{admit, prefetch_ahead, BatchStats};
use crate::intern::SymbolId;
use crate::item::{Item, Payload, NO_SLOT};
use crate::point_proto::{put_float_histogram, put_histogram, put_sample};
use crate::proto::*;
use crate::series::{split_pair, Label, LabelEntries, SeriesCache};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Per-shard 2.0 encoding state; every buffer is reused from request to request.
#[derive(Default)]
pub(crate) struct SymbolTable {
    /// Encoded `symbols` fields (field 4), in index order.
    symbols: Vec<u8>,
    /// Number of symbols in `symbols`.
    count: u32,
    /// `count` encoded by [`enc_ref`]: the ref of the next symbol, kept up to date so that a new
    /// symbol's ref costs an increment rather than an encoding.
    count_ref: u64,
    /// By string id of the series cache: `request << STAMP_SHIFT | ref`, `ref` being the string's
    /// symbol index encoded by [`enc_ref`] and `request` the number of the request that added it
    /// (0: none). Meaningful only when `request >= table_start`.
    by_id: Vec<u64>,
    /// Number of this request, from 1 up to [`REQUEST_LIMIT`].
    request: u32,
    /// Number of the request that started the current table.
    table_start: u32,
    /// Number of the request that started the table before it.
    prev_start: u32,
    /// Symbols of strings the series cache does not hold, as (index, start in `symbols`,
    /// length), hashed by their string.
    others: HashTable<(u32, u32, u32)>,
    hasher: DefaultHashBuilder,
    /// Both refs of label pairs met since the table was started, by pair id.
    pairs: RecentIds,
    /// Versions of the series cache's two interners when their ids were learnt.
    seen: (u64, u64),
    /// Whether the next request starts from this request's table.
    keep: bool,
    /// Whether this request started from an empty table.
    fresh: bool,
    /// Distinct series this request carries.
    used: usize,
    /// Fresh requests: those of `used` that the previous table was built for.
    overlap: usize,
    /// Distinct series the current table was built for.
    in_table: usize,
    /// Encoded `TimeSeries` fields (field 5) of this request.
    series: Vec<u8>,
    /// `series` of the previous request (the two are swapped at each request).
    prev_series: Vec<u8>,
    /// By cache slot: where the series' `labels_refs` were last written.
    memo: Vec<Memo>,
    /// Label refs of an exemplar.
    ex_refs: Vec<u32>,
    /// Whether values held by one label only are added without consulting `by_id` (see
    /// [`SymbolTable::own_value`]): in a fresh table, until the request's first exemplar.
    own_fast: bool,
    /// The string ids and symbol indices of those values, for `by_id` should this table be needed
    /// past that.
    own_added: Vec<(SymbolId, u32)>,
}

/// Bit of a `by_id` entry where the request number starts (below it: a ref made by [`enc_ref`]).
const STAMP_SHIFT: u32 = 43;
/// A ref made by [`enc_ref`]: the bits of a `by_id` entry below its request number.
const REF_MASK: u64 = (1 << STAMP_SHIFT) - 1;
/// Request numbers fit the 21 bits above a ref; at this one `by_id` and the memos are cleared and
/// numbering starts again (once every two million requests).
const REQUEST_LIMIT: u32 = 1 << (64 - STAMP_SHIFT);

/// One entry of [`RecentIds`]: 16 bytes, so that more of the array stays in the processor's
/// caches.
#[derive(Clone, Copy, Default)]
struct Recent {
    /// `table << 32 | id`.
    key: u64,
    value: u64,
}

/// Where the `labels_refs` field of the series in a cache slot was last written, in 8 bytes (an
/// encoder keeps one per slot of the cache): `gen << 48 | request << 27 | at`. `gen` is the low
/// 16 bits of the slot's generation then (another series may take the slot later; a field is
/// reused only by the request after the one that wrote it, and no slot changes hands 65536 times
/// between two requests), `request` the number of the request that wrote it (0: none), and `at`
/// the field's start, its tag, in that request's `series` buffer; its length follows the tag.
#[derive(Clone, Copy, Default)]
struct Memo(u64);

/// Bits of [`Memo`] below its request number: where the field starts (buffers of up to 128 MiB).
const MEMO_AT_BITS: u32 = 27;
/// Bit of [`Memo`] where the generation starts (the request number fits the 21 bits below).
const MEMO_GEN_SHIFT: u32 = MEMO_AT_BITS + (64 - STAMP_SHIFT);

impl Memo {
    fn new(gen: u32, request: u32, at: usize) -> Option<Memo> {
        let gen = u64::from(gen as u16) << MEMO_GEN_SHIFT;
        (at < 1 << MEMO_AT_BITS).then(|| Memo(gen | (u64::from(request) << MEMO_AT_BITS) | at as u64))
    }

    fn is_gen(self, gen: u32) -> bool {
        (self.0 >> MEMO_GEN_SHIFT) as u16 == gen as u16
    }

    fn request(self) -> u32 {
        (self.0 >> MEMO_AT_BITS) as u32 & (REQUEST_LIMIT - 1)
    }

    fn at(self) -> usize {
        (self.0 & ((1 << MEMO_AT_BITS) - 1)) as usize
    }
}

/// The refs of the `labels_refs` field (field 1 of `TimeSeries`) that starts at `at` in `buf`.
fn field_refs(buf: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    if buf.get(at) != Some(&0x0a) {
        return None;
    }
    let mut cur = buf.get(at + 1..)?;
    let after_tag = cur.len();
    let len = get_uvarint32(&mut cur)? as usize;
    let start = at + 1 + (after_tag - cur.len());
    (start + len <= buf.len()).then_some(start..start + len)
}

/// Remembers, for label pair ids of the series cache, the pair's two refs (encoded) in the
/// current table. A lossy cache: a pair missing from it is looked up through its string ids.
/// While a table is kept, labels held as strings are remembered too, by their value's string id
/// with [`STRING_KEY`] set.
#[derive(Default)]
struct RecentIds {
    /// A power-of-two length.
    slots: Vec<Recent>,
    /// Number of the current table, never 0 (a zeroed entry is therefore never current).
    table: u32,
    /// Entries written since the table was started.
    held: usize,
    /// Entries the previous table had been written when it was given up.
    held_before: usize,
}

/// Entries of [`RecentIds`] to start with, and at most (16 bytes each).
const RECENT_MIN: usize = 1 << 12;
const RECENT_MAX: usize = 1 << 20;

/// Set in the key of a label held as strings (pair ids, stored shifted by one, stay below it).
const STRING_KEY: u32 = 1 << 31;

/// Entry of `id` in an array of `len` (a power of two) entries: ids are dense slot numbers, so
/// their low bits spread them evenly; string keys use the other half first, so that the few pair
/// ids and string ids that are both small do not keep evicting each other.
#[inline]
fn recent_index(id: SymbolId, len: usize) -> usize {
    let half = if id & STRING_KEY != 0 { len >> 1 } else { 0 };
    (id as usize ^ half) & len.wrapping_sub(1)
}

/// The entries of the current table of a [`RecentIds`].
#[derive(Clone, Copy)]
struct CurrentIds<'a> {
    slots: &'a [Recent],
    /// The table's number, shifted as in a key.
    table: u64,
}

impl CurrentIds<'_> {
    /// The value of `id` when the table holds it.
    #[inline(always)]
    fn hit(self, id: SymbolId) -> Option<u64> {
        match self.slots.get(recent_index(id, self.slots.len())) {
            Some(e) if e.key == self.table | u64::from(id) => Some(e.value),
            _ => None,
        }
    }
}

impl RecentIds {
    /// Forgets every entry, by numbering tables rather than by clearing.
    fn new_table(&mut self) {
        self.held_before = self.held;
        self.held = 0;
        self.table = self.table.wrapping_add(1);
        if self.table == 0 || self.slots.is_empty() {
            let len = self.slots.len().max(RECENT_MIN);
            self.slots.clear();
            self.slots.resize(len, Recent::default());
            self.table = 1;
        }
    }

    /// Sizes the array for a request: about four entries per id the table holds, or the last one
    /// held when it was given up (a fresh table of a shard whose requests take turns over its
    /// series fills about as much as the last one did).
    fn fit(&mut self) {
        let want = (self.held.max(self.held_before) * 4).clamp(RECENT_MIN, RECENT_MAX).next_power_of_two();
        if want > self.slots.len() {
            // Entries of the current table move to where the longer array wants them.
            let old = std::mem::replace(&mut self.slots, vec![Recent::default(); want]);
            for e in old.into_iter().filter(|e| (e.key >> 32) as u32 == self.table) {
                let i = recent_index(e.key as u32, want);
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = e;
                }
            }
        }
    }

    #[inline]
    fn index(&self, id: SymbolId) -> usize {
        recent_index(id, self.slots.len())
    }

    /// The value of `id` when the current table holds it.
    #[inline(always)]
    fn hit(&self, id: SymbolId) -> Option<u64> {
        self.current().hit(id)
    }

    /// The entries of the current table, for a loop to keep in registers.
    #[inline(always)]
    fn current(&self) -> CurrentIds<'_> {
        CurrentIds { slots: &self.slots, table: u64::from(self.table) << 32 }
    }

    /// Writes the refs of the labels `labels` yields while they are pairs this table holds (most
    /// labels of most series); returns the first other label. A loop of its own that calls
    /// nothing, so that the array's and the buffer's bounds stay in registers.
    #[inline(always)]
    fn push_hits(&self, labels: &mut LabelEntries<'_>, refs: &mut RefsWriter, out: &mut Vec<u8>) -> Option<Label> {
        let current = self.current();
        loop {
            let label = labels.next()?;
            match label {
                Label::Pair(p) => match current.hit(p) {
                    Some(packed) => refs.push(packed, out),
                    None => return Some(label),
                },
                Label::Strings(..) => return Some(label),
            }
        }
    }

    #[inline]
    fn put(&mut self, id: SymbolId, value: u64) {
        let i = self.index(id);
        let key = (u64::from(self.table) << 32) | u64::from(id);
        self.held += 1;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Recent { key, value };
        }
    }
}

impl SymbolTable {
    /// Starts a request: from an empty table, or from the last one when it is kept.
    fn begin(&mut self, cache: &SeriesCache) {
        let seen = (cache.pairs.version(), cache.strings.version());
        let ids_valid = seen == self.seen;
        self.seen = seen;
        self.fresh = !(self.keep && ids_valid);
        self.request += 1;
        if self.request >= REQUEST_LIMIT {
            self.by_id.fill(0);
            self.memo.fill(Memo::default());
            self.request = 1;
            self.table_start = 1;
            self.fresh = true;
        }
        if self.fresh {
            self.symbols.clear();
            self.others.clear();
            // symbols[0] is always "" (repeated string elements are written even when empty).
            self.symbols.extend_from_slice(&[SYMBOLS_TAG, 0]);
            self.count = 1;
            self.count_ref = enc_ref(1);
            // Stamps 0 (never used) are never in the previous table.
            self.prev_start = self.table_start.max(1);
            self.table_start = self.request;
            self.in_table = 0;
            self.pairs.new_table();
        }
        // Entries for ids the cache handed out since: zero, so never in the table.
        let ids = cache.strings.id_bound();
        if self.by_id.len() < ids {
            self.by_id.resize(ids, 0);
        }
        self.pairs.fit();
        self.used = 0;
        self.overlap = 0;
        self.own_added.clear();
        std::mem::swap(&mut self.series, &mut self.prev_series);
        self.series.clear();
    }

    /// Decides whether the next request starts from this table.
    fn end(&mut self) {
        self.keep = if self.fresh {
            self.used > 0 && self.overlap * 4 >= self.used * 3
        } else {
            self.used * 4 >= self.in_table * 3
        };
        if self.keep {
            self.record_own_values();
        }
    }

    /// Enters the values [`SymbolTable::own_value`] added into `by_id`, and stops adding them
    /// that way: for a table that outlives its request, or a request whose repeated series may
    /// meet their values again.
    #[cold]
    fn record_own_values(&mut self) {
        self.own_fast = false;
        // Taken out for the loop and put back empty, so that its buffer is kept.
        let mut added = std::mem::take(&mut self.own_added);
        for &(id, i) in &added {
            self.enter(id, enc_ref(i));
        }
        added.clear();
        self.own_added = added;
    }

    /// The symbol ref of a label's value in a fresh table, for a label held as strings. Such a
    /// value was new when its series was stored; while no other label or metadata holds it too,
    /// only its own series can have put it into this table, and a series met again in a request
    /// copies its refs (see [`SymbolTable::reuse_refs`]). So it is new here and is appended
    /// without a look at `by_id`, whose entries are scattered over memory in proportion to the
    /// whole series cache: one cache miss less per such value. A value that others hold too goes
    /// through [`SymbolTable::string`].
    #[inline]
    fn own_value(&mut self, cache: &SeriesCache, id: SymbolId) -> u64 {
        if self.own_fast {
            if let Some((i, r)) = list_sole(&mut self.symbols, (&mut self.count, &mut self.count_ref), cache, id) {
                self.own_added.push((id, i));
                return r;
            }
        }
        self.string(cache, id)
    }

    /// The symbol index of the series cache's string `id`, encoded by [`enc_ref`], adding it if
    /// new; "" is always 0.
    #[inline(always)]
    fn string(&mut self, cache: &SeriesCache, id: SymbolId) -> u64 {
        // `begin` sized the array for every id of the cache; an id past it names no string.
        let Some(&e) = self.by_id.get(id as usize) else { return EMPTY_REF };
        if let Some(r) = listed_ref(e, self.table_start) {
            return r;
        }
        self.add(cache, id)
    }

    /// [`SymbolTable::string`] for a string not in the table: out of line, so that the common
    /// case stays a load and a compare.
    #[inline(never)]
    fn add(&mut self, cache: &SeriesCache, id: SymbolId) -> u64 {
        let at = self.symbols.len();
        self.symbols.push(SYMBOLS_TAG);
        let copied = cache.strings.append_prefixed(id, &mut self.symbols);
        let (_, r) = self.listed(at, copied);
        self.enter(id, r);
        r
    }

    /// The index of the symbol whose tag was pushed at `at` and whose length-prefixed string
    /// (`copied` bytes) followed it; an empty string (a lone zero length byte) is taken back, as
    /// "" is always symbol 0.
    #[inline(always)]
    fn listed(&mut self, at: usize, copied: usize) -> (u32, u64) {
        if copied == 1 {
            self.symbols.truncate(at);
            return (0, EMPTY_REF);
        }
        self.next_symbol()
    }

    /// Takes the next symbol index; returns it and its ref.
    #[inline(always)]
    fn next_symbol(&mut self) -> (u32, u64) {
        take_symbol((&mut self.count, &mut self.count_ref))
    }

    /// Notes in `by_id` that the cache's string `id` is in this table as `r`.
    #[inline]
    fn enter(&mut self, id: SymbolId, r: u64) {
        if let Some(e) = self.by_id.get_mut(id as usize) {
            *e = (u64::from(self.request) << STAMP_SHIFT) | r;
        }
    }

    /// The symbol index of `s`, adding it if new; "" is always 0. A string the series cache holds
    /// goes through [`SymbolTable::string`], so that it is listed once whichever way it came.
    fn sym(&mut self, cache: &SeriesCache, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(id) = cache.strings.find(s) {
            return enc_index(self.string(cache, id));
        }
        let hash = self.hasher.hash_one(s);
        let symbols = &self.symbols;
        let text = |&(_, start, len): &(u32, u32, u32)| symbols.get(start as usize..(start + len) as usize);
        if let Some(&(i, _, _)) = self.others.find(hash, |e| text(e) == Some(s)) {
            return i;
        }
        self.symbols.push(SYMBOLS_TAG);
        put_uvarint(&mut self.symbols, s.len() as u64);
        let start = self.symbols.len() as u32;
        self.symbols.extend_from_slice(s);
        let (i, _) = self.next_symbol();
        let (symbols, hasher) = (&self.symbols, &self.hasher);
        self.others.insert_unique(hash, (i, start, s.len() as u32), |&(_, start, len)| {
            hasher.hash_one(symbols.get(start as usize..(start + len) as usize).unwrap_or_default())
        });
        i
    }

    /// The name and value refs of label pair `id`, as [`pack_refs`] packs them, or the two refs
    /// (encoded by [`enc_ref`]) when they need more than seven bytes. Out of line: the loop
    /// calls it only when [`RecentIds::hit`] missed.
    #[inline(never)]
    fn pair_refs(&mut self, cache: &SeriesCache, id: SymbolId) -> Result<u64, (u64, u64)> {
        let (n, v) = match cache.pair_strings(id) {
            Some([name, value]) => (self.string(cache, name), self.string(cache, value)),
            // A cache made for 1.0 keeps no string ids: look the strings up by content.
            None => {
                let (name, value) = split_pair(cache.pairs.get(id));
                (enc_ref(self.sym(cache, name)), enc_ref(self.sym(cache, value)))
            }
        };
        let packed = pack_refs(n, v).ok_or((n, v))?;
        self.pairs.put(id, packed);
        Ok(packed)
    }

    /// Counts the series in cache slot `slot` (generation `gen`) into this request and, when its
    /// `labels_refs` as this table encodes them were written by this request or the previous one,
    /// appends them from there; returns whether it did.
    #[inline]
    fn reuse_refs(&mut self, slot: u32, gen: u32) -> bool {
        if slot == NO_SLOT {
            return false;
        }
        if slot as usize >= self.memo.len() {
            self.memo.resize((slot as usize + 1).next_power_of_two(), Memo::default());
        }
        let Some(&m) = self.memo.get(slot as usize) else { return false };
        let (same, request) = (m.is_gen(gen), m.request());
        if same && request == self.request {
            // Met earlier in this request: counted already.
            if let Some(refs) = field_refs(&self.series, m.at()) {
                self.series.extend_from_within(refs);
                return true;
            }
            // Looked up again in full (never expected): its values too.
            self.record_own_values();
            return false;
        }
        self.used += 1;
        if same && request >= self.table_start {
            // In the (kept) table; the refs of the previous request are still at hand.
            if request + 1 == self.request {
                if let Some(refs) = field_refs(&self.prev_series, m.at()).and_then(|r| self.prev_series.get(r)) {
                    self.series.extend_from_slice(refs);
                    return true;
                }
            }
            return false;
        }
        self.in_table += 1;
        self.overlap += usize::from(same && request >= self.prev_start);
        false
    }

    /// Notes that the `labels_refs` field of the series in `slot` starts at `at` in `series`;
    /// returns whether it could.
    #[inline]
    fn remember(&mut self, slot: u32, gen: u32, at: usize) -> bool {
        if let (Some(m), Some(new)) = (self.memo.get_mut(slot as usize), Memo::new(gen, self.request, at)) {
            *m = new;
            return true;
        }
        false
    }

    /// [`RecentIds::push_hits`] for a table that lists values of their own without `by_id` (see
    /// [`SymbolTable::own_value`]): writes the refs of such values too, when their name is in the
    /// table already. Like that loop, it calls nothing: the table's counts and arrays stay in
    /// registers (about 2 % of a 2.0 request's cost when each series has values of its own).
    #[inline(always)]
    fn push_fresh(
        &mut self,
        cache: &SeriesCache,
        labels: &mut LabelEntries<'_>,
        refs: &mut RefsWriter,
    ) -> Option<Label> {
        let SymbolTable { pairs, series, symbols, count, count_ref, by_id, own_added, table_start, .. } = self;
        let current = pairs.current();
        let (by_id, table_start) = (by_id.as_slice(), *table_start);
        let (mut c, mut cr) = (*count, *count_ref);
        let other = loop {
            let Some(label) = labels.next() else { break None };
            match label {
                Label::Pair(p) => match current.hit(p) {
                    Some(packed) => refs.push(packed, series),
                    None => break Some(label),
                },
                Label::Strings(n, v) => {
                    // What `string` and `own_value` do, in the cases they need no call.
                    let Some(name) = by_id.get(n as usize).and_then(|&e| listed_ref(e, table_start)) else {
                        break Some(label);
                    };
                    let Some((i, r)) = list_sole(symbols, (&mut c, &mut cr), cache, v) else { break Some(label) };
                    own_added.push((v, i));
                    refs.push_pair(name, r, series);
                }
            }
        };
        (*count, *count_ref) = (c, cr);
        other
    }

    /// Writes the `labels_refs` of a label run.
    #[inline]
    fn label_refs(&mut self, cache: &SeriesCache, ids: &[u8]) {
        let mut refs = RefsWriter::new(&self.series);
        let mut labels = LabelEntries::new(ids);
        loop {
            // The common labels by a loop of their own, the others one by one here.
            let other = if self.own_fast {
                self.push_fresh(cache, &mut labels, &mut refs)
            } else {
                self.pairs.push_hits(&mut labels, &mut refs, &mut self.series)
            };
            let Some(label) = other else { break };
            match label {
                // Not in `pairs`. A cache made for 1.0 holds pairs only, whose strings
                // `pair_refs` looks up by content.
                Label::Pair(p) => match self.pair_refs(cache, p) {
                    Ok(packed) => refs.push(packed, &mut self.series),
                    Err((n, v)) => refs.push_pair(n, v, &mut self.series),
                },
                Label::Strings(n, v) if self.fresh => {
                    // A value of its own: new to nearly every fresh table, so no pair lookup.
                    let (n, v) = (self.string(cache, n), self.own_value(cache, v));
                    refs.push_pair(n, v, &mut self.series);
                }
                Label::Strings(n, v) => {
                    // A kept table holds it already: its refs packed, by value.
                    if let Some(packed) = self.pairs.hit(v | STRING_KEY) {
                        refs.push(packed, &mut self.series);
                        continue;
                    }
                    let (rn, rv) = (self.string(cache, n), self.string(cache, v));
                    if let Some(packed) = pack_refs(rn, rv) {
                        self.pairs.put(v | STRING_KEY, packed);
                    }
                    refs.push_pair(rn, rv, &mut self.series);
                }
            }
        }
        refs.finish(&mut self.series);
    }

    /// Encodes a whole request; the request is [`SymbolTable::parts`] one after the other.
    /// Out of line, as `encode_v1` is: how each protocol's encoder is compiled then does not
    /// depend on where it is called from (a shard, the benchmark), whose inlining otherwise moved
    /// the benchmark's 2.0/1.0 ratio by a few percent from one build to the next.
    #[inline(never)]
    pub(crate) fn encode(&mut self, items: &[Item], cache: &SeriesCache, min_ts: Option<i64>) -> BatchStats {
        self.begin(cache);
        self.own_fast = self.fresh;
        let mut stats = BatchStats { lowest: i64::MAX, ..Default::default() };
        for (k, item) in items.iter().enumerate() {
            if let Some(slot) = prefetch_ahead(items, k, cache) {
                if let Some(m) = self.memo.get(slot as usize) {
                    crate::prefetch::line((m as *const Memo).cast());
                }
            }
            let Some(ids) = admit(item, cache, min_ts, &mut stats) else { continue };
            // The `Metadata` message: type, help ref, unit ref (0 when unknown).
            let (typ, help, unit) = match cache.metadata(item.series) {
                Some(m) => {
                    stats.with_metadata += 1;
                    let (help, unit) = (self.string(cache, m.help), self.string(cache, m.unit));
                    (metric_type_enum(m.metric_type), enc_index(help), enc_index(unit))
                }
                None => (0, 0, 0),
            };
            // Written in place: the `TimeSeries` tag, a one-byte slot for its length, the
            // `labels_refs` tag and a one-byte slot for its length; the slots are filled (and
            // widened in the rare case a length needs more than one byte) once the body is written.
            // Each id takes at least one byte of `ids` and gives at most ten bytes of refs.
            let start = self.series.len();
            self.series.reserve(ids.len() * 10 + 64);
            self.series.extend_from_slice(&[0x2a, 0, 0x0a, 0]);
            let (slot, gen) = if item.slot == NO_SLOT {
                cache.known(item.series).slot_and_generation()
            } else {
                (item.slot, item.slot_gen)
            };
            if !self.reuse_refs(slot, gen) {
                if slot == NO_SLOT && self.own_fast {
                    // Not remembered, so met again in full: its values must be found in `by_id`.
                    self.record_own_values();
                }
                self.label_refs(cache, ids);
            }
            let refs_len = self.series.len() - (start + 4);
            if refs_len == 0 {
                // No labels: no `labels_refs` field.
                self.series.truncate(start + 2);
            } else {
                fill_len(&mut self.series, start + 3, refs_len);
            }
            match &item.payload {
                Payload::Sample(v) => put_sample(&mut self.series, 2, *v, item.t, item.st),
                Payload::Histogram(h) => put_histogram(&mut self.series, 3, h, item.t, item.st),
                Payload::FloatHistogram(h) => put_float_histogram(&mut self.series, 3, h, item.t, item.st),
                Payload::Exemplar(e) => {
                    // Its labels are looked up by content and may name a value added by
                    // `own_value`: `by_id` must tell whether such a value is in the table.
                    if self.own_fast {
                        self.record_own_values();
                    }
                    self.ex_refs.clear();
                    for (n, v) in e.labels.iter() {
                        let (n, v) = (self.sym(cache, n), self.sym(cache, v));
                        self.ex_refs.extend_from_slice(&[n, v]);
                    }
                    let ex = begin_len(&mut self.series, 4);
                    put_packed_u32(&mut self.series, 1, &self.ex_refs);
                    put_double(&mut self.series, 2, e.value);
                    put_int(&mut self.series, 3, item.t as u64);
                    end_len(&mut self.series, ex);
                }
            }
            put_metadata(&mut self.series, [typ, u64::from(help), u64::from(unit)]);
            let body = self.series.len() - (start + 2);
            let before = self.series.len();
            fill_len(&mut self.series, start + 1, body);
            if refs_len > 0 {
                // The field's tag follows the series' length, however long that became.
                let remembered = self.remember(slot, gen, start + 2 + (self.series.len() - before));
                if !remembered && self.own_fast {
                    self.record_own_values();
                }
            }
        }
        self.end();
        stats
    }

    /// The last request in two parts, its `symbols` then its `timeseries`: compressed one after
    /// the other into one snappy stream (see `encode.rs`) rather than copied together first.
    pub(crate) fn parts(&self) -> [&[u8]; 2] {
        [&self.symbols, &self.series]
    }
}

/// The ref in a `by_id` entry when the table started at request `table_start` holds its string.
#[inline(always)]
fn listed_ref(entry: u64, table_start: u32) -> Option<u64> {
    ((entry >> STAMP_SHIFT) as u32 >= table_start).then_some(entry & REF_MASK)
}

/// Takes the next symbol index of a table from its `count` and `count_ref` (see [`SymbolTable`]);
/// returns it and its ref.
#[inline(always)]
fn take_symbol((count, count_ref): (&mut u32, &mut u64)) -> (u32, u64) {
    let taken = (*count, *count_ref);
    *count += 1;
    *count_ref = next_ref(*count_ref, *count);
    taken
}

/// Lists the series cache's string `id` in `symbols` when no other label or metadata holds it
/// (see [`SymbolTable::own_value`]), as the symbol `next` gives ([`take_symbol`]); returns its
/// index and ref. `None`, having listed nothing, for a string that others hold too, and for ""
/// (always symbol 0).
#[inline(always)]
fn list_sole(
    symbols: &mut Vec<u8>,
    next: (&mut u32, &mut u64),
    cache: &SeriesCache,
    id: SymbolId,
) -> Option<(u32, u64)> {
    let at = symbols.len();
    symbols.push(SYMBOLS_TAG);
    match cache.strings.append_sole(id, symbols) {
        // More than the lone length byte of "".
        Some(copied) if copied > 1 => Some(take_symbol(next)),
        _ => {
            symbols.truncate(at);
            None
        }
    }
}

/// Tag of `Request.symbols` (field 4, length-delimited).
const SYMBOLS_TAG: u8 = 0x22;

/// `Metadata { type = 1; help_ref = 3; unit_ref = 4 }` as field 5 of `TimeSeries`, written even
/// when empty, as Prometheus does.
#[inline]
fn put_metadata(buf: &mut Vec<u8>, [typ, help, unit]: [u64; 3]) {
    if typ | help | unit == 0 {
        // No metadata known (every series of a Prometheus 2.x WAL without the targets' metadata).
        buf.extend_from_slice(&[0x2a, 0]);
        return;
    }
    let field_len = |v: u64| if v == 0 { 0 } else { 1 + uvarint_len(v) };
    let md_len = field_len(typ) + field_len(help) + field_len(unit);
    put_tag(buf, 5, WIRE_LEN);
    put_uvarint(buf, md_len as u64);
    put_int(buf, 1, typ);
    put_int(buf, 3, help);
    put_int(buf, 4, unit);
}

/// Writes `len` into the one-byte length slot at `slot`, widening the slot (moving what follows)
/// when the length needs more than one byte.
#[inline]
fn fill_len(buf: &mut Vec<u8>, slot: usize, len: usize) {
    if len < 0x80 {
        if let Some(b) = buf.get_mut(slot) {
            *b = len as u8;
        }
        return;
    }
    widen_len(buf, slot, len);
}

/// [`fill_len`] for a length of more than one byte: rare, kept out of the loop.
#[cold]
#[inline(never)]
fn widen_len(buf: &mut Vec<u8>, slot: usize, len: usize) {
    let mut prefix = [0u8; 10];
    let n = write_uvarint(&mut prefix, len as u64);
    buf.splice(slot..slot + 1, prefix[..n].iter().copied());
}

/// Writes the `labels_refs` of one series straight into the request's buffer: each pair's refs
/// cost one eight-byte store rather than a growth check and a length update of the buffer. The
/// buffer is lengthened 64 zero bytes at a time ahead of the refs and cut back to them at the end.
/// (Gathering the refs in a stack array and copying it over was slower: the copy's wide loads
/// waited for the eight-byte stores before them — store forwarding fails on such overlaps.)
struct RefsWriter {
    /// End of the refs written so far.
    end: usize,
}

/// Zero bytes [`RefsWriter`] adds at a time: the refs of about eight typical labels.
const REFS_CHUNK: usize = 64;

impl RefsWriter {
    /// Starts writing at the end of `out`.
    #[inline]
    fn new(out: &[u8]) -> Self {
        RefsWriter { end: out.len() }
    }

    /// Appends refs packed by [`pack_refs`].
    #[inline]
    fn push(&mut self, packed: u64, out: &mut Vec<u8>) {
        if out.len() < self.end + 8 {
            out.truncate(self.end);
            out.extend_from_slice(&[0u8; REFS_CHUNK]);
        }
        // All eight bytes; the end moves by the refs' length only.
        if let Some(dst) = out.get_mut(self.end..self.end + 8) {
            dst.copy_from_slice(&packed.to_le_bytes());
        }
        self.end += (packed >> 56) as usize;
    }

    /// Appends a name's and a value's refs made by [`enc_ref`].
    #[inline(always)]
    fn push_pair(&mut self, n: u64, v: u64, out: &mut Vec<u8>) {
        match pack_refs(n, v) {
            Some(packed) => self.push(packed, out),
            // Symbol indices past 2^21: written one by one.
            None => {
                self.finish(out);
                put_ref(out, n);
                put_ref(out, v);
                self.end = out.len();
            }
        }
    }

    /// Cuts `out` back to the refs written, so that others can append.
    #[inline]
    fn finish(&mut self, out: &mut Vec<u8>) {
        out.truncate(self.end);
    }
}

/// Two refs encoded by [`enc_ref`] as varints in the low seven bytes of a `u64`, their total
/// length in the top byte; `None` when they need more than seven bytes.
#[inline]
fn pack_refs(n: u64, v: u64) -> Option<u64> {
    let (ln, lv) = (n >> 40, v >> 40);
    if ln + lv > 7 {
        return None;
    }
    Some((n & VARINT_MASK) | ((v & VARINT_MASK) << (8 * ln)) | ((ln + lv) << 56))
}

/// A symbol index as its varint (little-endian order) in the low five bytes, the varint's length
/// in the next byte: what a new pair needs of its two strings, worked out once per string.
#[inline]
fn enc_ref(i: u32) -> u64 {
    let (w, len) = varint_word(i);
    w | ((len as u64) << 40)
}

/// [`enc_ref`] of `i`, given `r`, that of `i - 1`: while the low seven bits of `i - 1` are not all
/// set, only the varint's first byte changes, by one.
#[inline(always)]
fn next_ref(r: u64, i: u32) -> u64 {
    if r & 0x7f != 0x7f {
        r + 1
    } else {
        enc_ref(i)
    }
}

/// The symbol index a ref made by [`enc_ref`] encodes.
fn enc_index(r: u64) -> u32 {
    let len = ((r >> 40) as u32).min(5);
    (0..len).fold(0u32, |v, k| v | ((((r >> (8 * k)) & 0x7f) as u32) << (7 * k)))
}

/// Appends a ref made by [`enc_ref`] as its varint.
#[inline]
fn put_ref(buf: &mut Vec<u8>, r: u64) {
    let end = buf.len() + ((r >> 40) as usize).min(5);
    buf.extend_from_slice(&(r & VARINT_MASK).to_le_bytes());
    buf.truncate(end);
}

/// The varint bytes of a ref made by [`enc_ref`].
const VARINT_MASK: u64 = (1 << 40) - 1;
/// [`enc_ref`] of 0 (the empty string).
const EMPTY_REF: u64 = 1 << 40;

/// `v` as a varint in the low bytes of a `u64` (little-endian order), and its length. Built
/// without a branch per byte: the 7-bit groups are spread over the bytes and the continuation
/// bit set on all but the last. Building the bytes in a register rather than in an array
/// matters: a byte stored into memory and then read back as part of a wider word stalls the
/// processor.
#[inline]
fn varint_word(v: u32) -> (u64, usize) {
    let x = u64::from(v);
    let spread =
        (x & 0x7f) | ((x & 0x3f80) << 1) | ((x & 0x1f_c000) << 2) | ((x & 0xfe0_0000) << 3) | ((x & 0xf000_0000) << 4);
    let len = uvarint_len(x);
    (spread | (0x8080_8080u64 & ((1u64 << (8 * (len - 1))) - 1)), len)
}

/// Appends `v` as a varint: eight bytes copied (a copy of fixed size), then cut back.
#[inline]
fn put_varint32(buf: &mut Vec<u8>, v: u32) {
    let (w, len) = varint_word(v);
    let end = buf.len() + len;
    buf.extend_from_slice(&w.to_le_bytes());
    buf.truncate(end);
}

/// A packed `repeated uint32` field.
fn put_packed_u32(buf: &mut Vec<u8>, field: u32, vals: &[u32]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| uvarint_len(u64::from(v))).sum();
    put_tag(buf, field, WIRE_LEN);
    put_uvarint(buf, len as u64);
    for &v in vals {
        put_varint32(buf, v);
    }
}

/// `io.prometheus.write.v2.Metadata.MetricType`: the WAL's numbering for known types, else 0.
fn metric_type_enum(t: wal_format::record::MetricType) -> u64 {
    match t.byte() {
        b @ 1..=7 => u64::from(b),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint32_matches_the_general_writer() {
        for v in [0u32, 1, 127, 128, 300, 16383, 16384, (1 << 21) - 1, 1 << 21, (1 << 28) - 1, 1 << 28, u32::MAX] {
            let (mut a, mut b) = (vec![9u8], vec![9u8]);
            put_varint32(&mut a, v);
            put_uvarint(&mut b, u64::from(v));
            assert_eq!(a, b, "{v}");
        }
    }

    #[test]
    fn next_ref_follows_enc_ref() {
        // Every index up to just past the first that takes four varint bytes.
        let mut r = enc_ref(0);
        for i in 1..=(1u32 << 22) + 300 {
            r = next_ref(r, i);
            assert_eq!(r, enc_ref(i), "{i}");
        }
    }

    #[test]
    fn packed_refs_are_two_varints() {
        for (n, v) in [
            (0u32, 0u32),
            (1, 127),
            (128, 5),
            (300, 16384),
            (16383, 16383),
            ((1 << 21) - 1, 1),
            (1 << 21, 1 << 21),
            (1 << 28, u32::MAX),
        ] {
            let mut want = Vec::new();
            put_uvarint(&mut want, u64::from(n));
            put_uvarint(&mut want, u64::from(v));
            assert_eq!(enc_index(enc_ref(n)), n);
            let mut one = Vec::new();
            put_ref(&mut one, enc_ref(n));
            put_ref(&mut one, enc_ref(v));
            assert_eq!(one, want, "{n} {v}");
            match pack_refs(enc_ref(n), enc_ref(v)) {
                Some(w) => {
                    let len = (w >> 56) as usize;
                    assert_eq!(&w.to_le_bytes()[..len], &want[..], "{n} {v}");
                }
                None => assert!(want.len() > 7, "{n} {v} fits"),
            }
        }
    }

    #[test]
    fn memo_packs_generation_request_and_place() {
        let m = Memo::new(0x1_2345, REQUEST_LIMIT - 1, (1 << MEMO_AT_BITS) - 1).unwrap_or_default();
        assert!(m.is_gen(0x1_2345) && m.is_gen(0x2345) && !m.is_gen(0x2346));
        assert_eq!((m.request(), m.at()), (REQUEST_LIMIT - 1, (1 << MEMO_AT_BITS) - 1));
        assert!(Memo::new(1, 1, 1 << MEMO_AT_BITS).is_none(), "past the bits for a place");
        assert_eq!(Memo::default().request(), 0, "never a request's number");
        // The refs of a field whose length takes two bytes; a place that is not a field's tag.
        let mut buf = vec![7, 0x0a, 0x81, 0x01];
        buf.extend(std::iter::repeat_n(5u8, 129));
        assert_eq!(field_refs(&buf, 1), Some(4..133));
        assert_eq!(field_refs(&buf, 0), None);
        buf.pop();
        assert_eq!(field_refs(&buf, 1), None, "cut short");
    }

    #[test]
    fn recent_ids_forget_old_tables_and_collisions() {
        let mut r = RecentIds::default();
        r.new_table();
        r.fit();
        let n = r.slots.len() as u32;
        r.put(5, 12);
        assert_eq!(r.hit(5), Some(12));
        assert_eq!(r.hit(5 + n), None, "same entry, other id");
        // A label held as strings, keyed by its value's id, does not evict the pair of that id.
        r.put(5 | STRING_KEY, 56);
        assert_eq!((r.hit(5), r.hit(5 | STRING_KEY)), (Some(12), Some(56)));
        r.new_table();
        assert_eq!(r.hit(5), None, "an old table's entry");
        r.put(5 + n, 34);
        assert_eq!((r.hit(5), r.hit(5 + n)), (None, Some(34)), "evicted");
        // Growing keeps the entries of the current table.
        for id in 0..3 * RECENT_MIN as u32 {
            r.put(id, u64::from(id));
        }
        r.fit();
        assert!(r.slots.len() > RECENT_MIN);
        assert_eq!(r.hit(3 * RECENT_MIN as u32 - 1), Some(3 * RECENT_MIN as u64 - 1));
        // Wrapping the table number clears the array instead of reusing old numbers.
        r.table = u32::MAX;
        r.put(7, 1);
        r.new_table();
        assert_eq!(r.table, 1);
        assert_eq!(r.hit(7), None);
    }
}
