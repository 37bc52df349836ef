//! The series cache: labels by series reference, as the queue sends them (Prometheus keeps the
//! same cache in `storage/remote/queue_manager.go`: `seriesLabels`, `StoreSeries`, `SeriesReset`).
//!
//! Each series' final label set (external labels merged, relabelled, sorted) is stored as a run of
//! varint ids in one boxed slice. A label is held as an interned **label pair**: the body of the
//! remote write 1.0 `Label` message (`0a len name 12 len value`), so `job="api"` is held once no
//! matter how many series carry it, and writing a label into a 1.0 request is one tag byte and
//! one copy — no per-string lookups. A series costs its slot, its index entry and one to three
//! bytes per label.
//!
//! The cache of a remote write 2.0 endpoint ([`SeriesCache::labels_as_strings`]) also keeps a
//! second interner of plain strings (shared with metadata's help and unit): 2.0 lists strings,
//! not pairs, in a request's symbols, and their dense ids let it find a string's symbol by array
//! index instead of by hashing the string. There each pair holds the ids of its name and value,
//! and a label whose value no other label holds yet (a pod's or an instance's name: typically
//! one or two per series) is held as its two string ids instead of as a pair: such a label is
//! written into every request as its strings anyway, and a pair of its own would cost memory and
//! one more lookup per request. Run entries carry their form in their lowest bit
//! ([`Label`]), in the caches of both protocols, so that one iterator ([`LabelEntries`]) reads
//! every run.

use crate::intern::{Interner, SymbolId};
use crate::metadata::Family;
use crate::proto::{get_uvarint32, put_label_body, put_uvarint};
use crate::ref_index::{RefIndex, RefMap};
use crate::relabel::{LabelSet, Relabeler};
use crate::target_metadata::TargetMetadata;
use std::sync::Arc;
use wal_format::record::{LabelsRef, MetricType, RefMetadata, RefSeries, SeriesRef};

struct Entry {
    /// Varint symbol ids, `None` when relabelling dropped the series.
    labels: Option<Box<[u8]>>,
    /// The WAL segment the series was last seen in (Prometheus numbers fit in 32 bits).
    segment: u32,
    /// Bumped each time the slot is reused, so that a queued item of a collected series can
    /// never pick up the labels of the series that took its slot.
    generation: u32,
}

/// Metadata of one series, strings interned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesMetadata {
    pub(crate) metric_type: MetricType,
    pub(crate) unit: SymbolId,
    pub(crate) help: SymbolId,
    /// From a WAL metadata record (which wins), not from the targets' metadata.
    pub(crate) from_wal: bool,
}

/// What the cache knows about a ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Labels are cached in this slot and generation (see [`SeriesCache::label_ids_at`]).
    Stored(u32, u32),
    /// Relabelling dropped the series.
    Dropped,
    /// Never seen (or collected).
    Unknown,
}

/// Labels (and metadata) by series reference.
pub(crate) struct SeriesCache {
    /// Label pairs, as `Label` message bodies.
    pub(crate) pairs: Interner,
    /// Plain strings, with a reference per pair or label entry that holds them, and metadata
    /// strings (help, unit).
    pub(crate) strings: Interner,
    /// Ids in `strings` of each pair's name and value, by pair id, when `by_strings`.
    pair_strings: Vec<[SymbolId; 2]>,
    /// Whether label runs hold [`Label`] entries and pairs their strings' ids: see
    /// [`SeriesCache::labels_as_strings`].
    by_strings: bool,
    /// Ref → slot in `slots`. Queued items carry the slot, so encoding indexes an array instead
    /// of looking the ref up again.
    index: RefIndex,
    slots: Vec<Entry>,
    free: Vec<u32>,
    metadata: RefMap<SeriesMetadata>,
    /// The scrape targets' metadata (from the Prometheus API), if any.
    targets: Option<Arc<TargetMetadata>>,
    /// Whether each series takes its family's metadata from `targets` (remote write 2.0).
    targets_per_series: bool,
    external: LabelSet,
    relabel: Relabeler,
    scratch: LabelSet,
    ids: Vec<u8>,
    pair_buf: Vec<u8>,
}

impl Known {
    /// Slot and generation when stored, else ([`crate::item::NO_SLOT`], 0).
    pub(crate) fn slot_and_generation(self) -> (u32, u32) {
        match self {
            Known::Stored(s, g) => (s, g),
            _ => (crate::item::NO_SLOT, 0),
        }
    }
}

impl SeriesCache {
    pub(crate) fn new(external: LabelSet, relabel: Relabeler) -> SeriesCache {
        SeriesCache {
            pairs: Interner::default(),
            strings: Interner::default(),
            pair_strings: Vec::new(),
            by_strings: false,
            index: RefIndex::default(),
            slots: Vec::new(),
            free: Vec::new(),
            metadata: RefMap::default(),
            targets: None,
            targets_per_series: false,
            external,
            relabel,
            scratch: LabelSet::default(),
            ids: Vec::new(),
            pair_buf: Vec::new(),
        }
    }

    /// Stores (or replaces) series; returns how many were dropped by relabelling.
    pub(crate) fn store(&mut self, series: &[RefSeries<'_>], segment: u64) -> usize {
        let mut dropped = 0;
        for s in series {
            let labels = self.final_labels(s.labels);
            if labels.is_none() {
                dropped += 1;
            }
            let segment = segment.min(u64::from(u32::MAX)) as u32;
            match self.index.get(s.series_ref) {
                Some(slot) => {
                    let e = &mut self.slots[slot as usize];
                    let old = std::mem::replace(&mut e.labels, labels);
                    e.segment = segment;
                    self.release(old.as_deref());
                }
                None => {
                    let slot = match self.free.pop() {
                        Some(slot) => {
                            let e = &mut self.slots[slot as usize];
                            *e = Entry { labels, segment, generation: e.generation.wrapping_add(1) };
                            slot
                        }
                        None => {
                            self.slots.push(Entry { labels, segment, generation: 0 });
                            (self.slots.len() - 1) as u32
                        }
                    };
                    self.index.insert(s.series_ref, slot);
                }
            }
            if self.targets_per_series {
                self.resolve_target_metadata(s.series_ref);
            }
        }
        dropped
    }

    /// Merges external labels, relabels and interns; `None` when dropped.
    fn final_labels(&mut self, labels: LabelsRef<'_>) -> Option<Box<[u8]>> {
        self.ids.clear();
        if self.external.is_empty() && self.relabel.is_empty() && is_sorted_unique(labels) {
            // Fast path: the WAL's labels are already sorted and final.
            for l in labels.iter().filter(|l| !l.value.is_empty()) {
                self.intern_label(l.name, l.value);
            }
            return if self.ids.is_empty() { None } else { Some(self.ids.as_slice().into()) };
        }
        self.scratch.clear();
        for l in labels.iter() {
            self.scratch.set(l.name, l.value);
        }
        for (n, v) in self.external.iter() {
            if self.scratch.get(n).is_none() {
                self.scratch.set(n, v);
            }
        }
        if !self.relabel.apply(&mut self.scratch) {
            return None;
        }
        let scratch = std::mem::take(&mut self.scratch);
        for (n, v) in scratch.iter() {
            self.intern_label(n, v);
        }
        self.scratch = scratch;
        Some(self.ids.as_slice().into())
    }

    /// Interns one label and appends its [`Label`] entry to `ids`: a pair, or (`by_strings`, for
    /// a value of its own) two strings.
    fn intern_label(&mut self, name: &[u8], value: &[u8]) {
        // The value's reference, taken first: the label keeps it if the value is new, a new pair
        // keeps it, an existing pair gives it back.
        let value_id = if self.by_strings {
            let (v, new_value) = self.strings.intern_new(value);
            if new_value {
                let n = self.strings.intern(name);
                put_uvarint(&mut self.ids, (u64::from(n) << 1) | 1);
                put_uvarint(&mut self.ids, u64::from(v));
                return;
            }
            Some(v)
        } else {
            None
        };
        self.pair_buf.clear();
        put_label_body(&mut self.pair_buf, name, value);
        let (id, new) = self.pairs.intern_new(&self.pair_buf);
        match value_id {
            Some(v) if new => {
                let parts = [self.strings.intern(name), v];
                let i = id as usize;
                if self.pair_strings.len() <= i {
                    self.pair_strings.resize(i + 1, [0; 2]);
                }
                self.pair_strings[i] = parts;
            }
            Some(v) => {
                self.strings.release(v);
            }
            None => {}
        }
        put_uvarint(&mut self.ids, u64::from(id) << 1);
    }

    fn release(&mut self, ids: Option<&[u8]>) {
        let Some(ids) = ids else { return };
        for label in LabelEntries::new(ids) {
            match label {
                Label::Pair(id) => {
                    // A 1.0 endpoint's cache keeps no strings of its pairs.
                    if self.pairs.release(id) && self.by_strings {
                        if let Some(&[n, v]) = self.pair_strings.get(id as usize) {
                            self.strings.release(n);
                            self.strings.release(v);
                        }
                    }
                }
                Label::Strings(n, v) => {
                    self.strings.release(n);
                    self.strings.release(v);
                }
            }
        }
    }

    /// Whether this is the cache of a remote write 2.0 endpoint: pairs hold their strings' ids
    /// and labels with a value of their own are held as strings (see the module's comment). Off
    /// by default (remote write 1.0); a cache with series in it keeps its form.
    pub(crate) fn labels_as_strings(&mut self, yes: bool) {
        if self.pairs.id_bound() == 0 && self.strings.id_bound() == 0 {
            self.by_strings = yes;
        }
    }

    /// Ids in [`SeriesCache::strings`] of the name and value of label pair `id` (`None` for an
    /// id that was never handed out, or in a 1.0 endpoint's cache).
    #[inline]
    pub(crate) fn pair_strings(&self, id: SymbolId) -> Option<[SymbolId; 2]> {
        self.pair_strings.get(id as usize).copied()
    }

    /// The name and value of each label of a label run, whichever its form.
    pub(crate) fn labels<'a>(&'a self, ids: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        LabelEntries::new(ids).map(|label| match label {
            Label::Pair(p) => split_pair(self.pairs.get(p)),
            Label::Strings(n, v) => (self.strings.get(n), self.strings.get(v)),
        })
    }

    /// Only records that the series were seen in `segment`.
    pub(crate) fn update_segment(&mut self, refs: impl IntoIterator<Item = SeriesRef>, segment: u64) {
        for r in refs {
            if let Some(slot) = self.index.get(r) {
                self.slots[slot as usize].segment = segment.min(u64::from(u32::MAX)) as u32;
            }
        }
    }

    /// Keeps metadata for refs (2.0 sends it with every series).
    pub(crate) fn store_metadata(&mut self, metadata: &[RefMetadata<'_>]) {
        for m in metadata {
            let meta = SeriesMetadata {
                metric_type: m.metric_type,
                unit: self.strings.intern(m.unit),
                help: self.strings.intern(m.help),
                from_wal: true,
            };
            if let Some(old) = self.metadata.insert(m.series_ref, meta) {
                self.release_metadata(old);
            }
        }
    }

    /// Forgets every series last seen before `segment`; returns how many.
    pub(crate) fn reset(&mut self, segment: u64) -> usize {
        let slots = &self.slots;
        let gone: Vec<SeriesRef> = self
            .index
            .iter()
            .filter(|&(_, s)| u64::from(slots[s as usize].segment) < segment)
            .map(|(r, _)| r)
            .collect();
        for &r in &gone {
            if let Some(slot) = self.index.remove(r) {
                let old = self.slots[slot as usize].labels.take();
                self.release(old.as_deref());
                self.free.push(slot);
            }
        }
        if !gone.is_empty() {
            self.index.rebuild();
        }
        // Metadata whose series is gone now, or was never stored, is collected.
        let orphans: Vec<SeriesRef> = self.metadata.keys().filter(|&&r| self.index.get(r).is_none()).copied().collect();
        for r in orphans {
            if let Some(m) = self.metadata.remove(&r) {
                self.release_metadata(m);
            }
        }
        gone.len()
    }

    /// The targets' metadata held, if any.
    pub(crate) fn targets(&self) -> Option<Arc<TargetMetadata>> {
        self.targets.clone()
    }

    /// Replaces the targets' metadata; with `per_series`, every series without WAL metadata takes
    /// its family's. Returns false (and does nothing) when it equals the metadata already held.
    pub(crate) fn set_targets(&mut self, targets: Arc<TargetMetadata>, per_series: bool) -> bool {
        if self.targets.as_deref() == Some(&*targets) && self.targets_per_series == per_series {
            return false;
        }
        self.targets = Some(targets);
        self.targets_per_series = per_series;
        if per_series {
            let refs: Vec<SeriesRef> = self.index.iter().map(|(r, _)| r).collect();
            for r in refs {
                self.resolve_target_metadata(r);
            }
        }
        true
    }

    /// Gives series `r` its family's metadata from the targets' metadata, unless a WAL record
    /// gave it metadata already; forgets what an earlier lookup gave when its family is gone.
    fn resolve_target_metadata(&mut self, r: SeriesRef) {
        if self.metadata.get(&r).is_some_and(|m| m.from_wal) {
            return;
        }
        let found = match (&self.targets, self.label_ids(r)) {
            (Some(t), Some(ids)) => {
                let (mut name, mut job, mut instance): (&[u8], &[u8], &[u8]) = (b"", b"", b"");
                for (n, v) in self.labels(ids) {
                    match n {
                        b"__name__" => name = v,
                        b"job" => job = v,
                        b"instance" => instance = v,
                        _ => {}
                    }
                }
                t.lookup(job, instance, name).map(|f| (f.metric_type, f.help.clone(), f.unit.clone()))
            }
            _ => None,
        };
        let new = found.map(|(metric_type, help, unit)| SeriesMetadata {
            metric_type,
            unit: self.strings.intern(unit.as_bytes()),
            help: self.strings.intern(help.as_bytes()),
            from_wal: false,
        });
        let old = match new {
            Some(m) => self.metadata.insert(r, m),
            None => self.metadata.remove(&r),
        };
        if let Some(old) = old {
            self.release_metadata(old);
        }
    }

    fn release_metadata(&mut self, m: SeriesMetadata) {
        self.strings.release(m.unit);
        self.strings.release(m.help);
    }

    pub(crate) fn known(&self, r: SeriesRef) -> Known {
        match self.index.get(r) {
            Some(slot) if self.slots[slot as usize].labels.is_some() => {
                Known::Stored(slot, self.slots[slot as usize].generation)
            }
            Some(_) => Known::Dropped,
            None => Known::Unknown,
        }
    }

    /// The series' label ids (varint pairs), if stored.
    #[inline]
    pub(crate) fn label_ids(&self, r: SeriesRef) -> Option<&[u8]> {
        let slot = self.index.get(r)?;
        self.slots.get(slot as usize).and_then(|e| e.labels.as_deref())
    }

    /// The label ids of a slot and generation returned by [`SeriesCache::known`]; `None` if the
    /// slot has since been collected or reused.
    #[inline]
    pub(crate) fn label_ids_at(&self, slot: u32, generation: u32) -> Option<&[u8]> {
        self.slots.get(slot as usize).filter(|e| e.generation == generation).and_then(|e| e.labels.as_deref())
    }

    /// Asks the processor to fetch the cache entry of `slot` ahead of use (see `prefetch.rs`).
    #[inline]
    pub(crate) fn prefetch_entry(&self, slot: u32) {
        if let Some(e) = self.slots.get(slot as usize) {
            crate::prefetch::line((e as *const Entry).cast());
        }
    }

    /// Asks the processor to fetch the label run of `slot`, whose entry it should hold already.
    #[inline]
    pub(crate) fn prefetch_labels(&self, slot: u32) {
        if let Some(run) = self.slots.get(slot as usize).and_then(|e| e.labels.as_deref()) {
            crate::prefetch::line(run.as_ptr());
        }
    }

    /// `{name="value", …}` of a label run, for log lines about one series.
    pub(crate) fn labels_text(&self, ids: &[u8]) -> String {
        let mut out = String::from("{");
        for (i, (n, v)) in self.labels(ids).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&String::from_utf8_lossy(n));
            out.push('=');
            out.push_str(&format!("{:?}", String::from_utf8_lossy(v)));
        }
        out.push('}');
        out
    }

    /// What remote write 1.0 sends as metadata: the distinct `(family, type, help, unit)` of
    /// every stored series with metadata from a WAL record (the family is the series'
    /// `__name__`), sorted, then the targets' families that no WAL record named.
    pub(crate) fn metadata_families(&self) -> Vec<Family> {
        let mut out = std::collections::BTreeSet::new();
        for (r, m) in self.metadata.iter().filter(|(_, m)| m.from_wal) {
            let Some(ids) = self.label_ids(*r) else { continue };
            let name = self.labels(ids).find(|(n, _)| *n == b"__name__");
            if let Some((_, v)) = name {
                let key = (
                    v.to_vec(),
                    m.metric_type.byte(),
                    self.strings.get(m.help).to_vec(),
                    self.strings.get(m.unit).to_vec(),
                );
                out.insert(key);
            }
        }
        let mut families: Vec<Family> =
            out.into_iter().map(|(f, t, h, u)| (f, MetricType::from_byte(t), h, u)).collect();
        if let Some(t) = &self.targets {
            let from_wal: std::collections::HashSet<Vec<u8>> = families.iter().map(|f| f.0.clone()).collect();
            families.extend(t.families().iter().filter(|f| !from_wal.contains(&f.0)).cloned());
        }
        families
    }

    #[inline]
    pub(crate) fn metadata(&self, r: SeriesRef) -> Option<SeriesMetadata> {
        // Without any metadata (Prometheus 2.x WAL, no `--prometheus.url`), skip hashing the ref:
        // remote write 2.0 asks for every sample.
        if self.metadata.is_empty() {
            return None;
        }
        self.metadata.get(&r).copied()
    }

    /// Number of stored (not dropped) series.
    pub(crate) fn len(&self) -> usize {
        self.index.iter().filter(|&(_, s)| self.slots[s as usize].labels.is_some()).count()
    }

    #[cfg(test)]
    pub(crate) fn metadata_len(&self) -> usize {
        self.metadata.len()
    }

    /// Approximate heap bytes: map slots, label id runs, interned strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        let meta_slot = std::mem::size_of::<(SeriesRef, SeriesMetadata)>() + 1;
        self.index.heap_bytes()
            + self.slots.capacity() * std::mem::size_of::<Entry>()
            + self.free.capacity() * 4
            + self.slots.iter().map(|e| e.labels.as_ref().map_or(0, |l| l.len())).sum::<usize>()
            + self.metadata.capacity() * meta_slot
            + self.pairs.heap_bytes()
            + self.pair_strings.capacity() * std::mem::size_of::<[SymbolId; 2]>()
            + self.strings.heap_bytes()
    }
}

/// An entry of a label run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// A pair id (stored as `id << 1`).
    Pair(SymbolId),
    /// The string ids of a name and a value (stored as `name << 1 | 1`, then `value`; only in a
    /// 2.0 endpoint's cache).
    Strings(SymbolId, SymbolId),
}

/// Iterates the entries of a label run. (Ids stay below 2^31 once shifted: that many strings
/// would not fit in memory.)
pub(crate) struct LabelEntries<'a> {
    cur: &'a [u8],
}

impl<'a> LabelEntries<'a> {
    pub(crate) fn new(ids: &'a [u8]) -> Self {
        LabelEntries { cur: ids }
    }
}

impl Iterator for LabelEntries<'_> {
    type Item = Label;
    #[inline]
    fn next(&mut self) -> Option<Label> {
        let x = get_uvarint32(&mut self.cur)?;
        Some(if x & 1 == 0 { Label::Pair(x >> 1) } else { Label::Strings(x >> 1, get_uvarint32(&mut self.cur)?) })
    }
}

/// Name and value of a `Label` message body made by `SeriesCache::intern_label`.
#[inline]
pub(crate) fn split_pair(body: &[u8]) -> (&[u8], &[u8]) {
    fn field<'a>(cur: &mut &'a [u8]) -> &'a [u8] {
        let Some((_, rest)) = cur.split_first() else { return &[] };
        let mut r = rest;
        let len = (get_uvarint32(&mut r).unwrap_or(0) as usize).min(r.len());
        let (s, tail) = r.split_at(len);
        *cur = tail;
        s
    }
    let mut cur = body;
    let name = field(&mut cur);
    let value = field(&mut cur);
    (name, value)
}

fn is_sorted_unique(labels: LabelsRef<'_>) -> bool {
    let mut prev: Option<&[u8]> = None;
    for l in labels.iter() {
        if prev.is_some_and(|p| p >= l.name) {
            return false;
        }
        prev = Some(l.name);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relabel::{Action, RelabelConfig};
    use wal_format::record::Labels;

    fn labels_of(c: &SeriesCache, r: SeriesRef) -> Vec<(String, String)> {
        let ids = c.label_ids(r).unwrap_or_default();
        c.labels(ids)
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn external_labels_merge_table() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(Pairs, Pairs, Pairs)] = &[
            (&[("a", "1")], &[], &[("a", "1")]),
            (&[("b", "1")], &[("a", "e")], &[("a", "e"), ("b", "1")]),
            (&[("a", "1"), ("c", "3")], &[("b", "e")], &[("a", "1"), ("b", "e"), ("c", "3")]),
            (&[("a", "1")], &[("z", "e")], &[("a", "1"), ("z", "e")]),
            (&[("a", "own")], &[("a", "ext")], &[("a", "own")]),
            (&[], &[("a", "e"), ("b", "f")], &[("a", "e"), ("b", "f")]),
            (&[("b", "1")], &[("a", "e"), ("c", "f")], &[("a", "e"), ("b", "1"), ("c", "f")]),
            (&[("a", "1"), ("b", "2")], &[("b", "x"), ("c", "3")], &[("a", "1"), ("b", "2"), ("c", "3")]),
        ];
        for (series, ext, want) in cases {
            let mut c = SeriesCache::new(LabelSet::from_pairs(ext.iter().copied()), Relabeler::default());
            let l = Labels::from_pairs(series.iter().copied());
            c.store(&[RefSeries { series_ref: 1, labels: l.as_ref() }], 0);
            assert_eq!(labels_of(&c, 1), pairs(want), "{series:?} + {ext:?}");
        }
    }

    #[test]
    fn relabel_sees_external_labels_and_drops() {
        let rules = [RelabelConfig {
            source_labels: vec!["region".into()],
            regex: "eu.*".into(),
            action: Action::Drop,
            ..Default::default()
        }];
        let mut c =
            SeriesCache::new(LabelSet::from_pairs([("region", "eu1")]), Relabeler::new(&rules).unwrap_or_default());
        let l = Labels::from_pairs([("__name__", "up")]);
        let l2 = Labels::from_pairs([("__name__", "up"), ("region", "us")]);
        let n = c.store(
            &[RefSeries { series_ref: 1, labels: l.as_ref() }, RefSeries { series_ref: 2, labels: l2.as_ref() }],
            0,
        );
        assert_eq!(n, 1);
        assert_eq!(c.known(1), Known::Dropped);
        assert!(matches!(c.known(2), Known::Stored(..)));
        assert_eq!(c.known(3), Known::Unknown);
    }

    #[test]
    fn series_reset_keeps_newer_segments() {
        for by_strings in [true, false] {
            let mut c = SeriesCache::new(LabelSet::default(), Relabeler::default());
            c.labels_as_strings(by_strings);
            for seg in 0..4u64 {
                for i in 0..25u64 {
                    let r = seg * 100 + i;
                    let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", r.to_string())]);
                    c.store(&[RefSeries { series_ref: r, labels: l.as_ref() }], seg);
                    c.store_metadata(&[RefMetadata {
                        series_ref: r,
                        metric_type: MetricType::Counter,
                        unit: b"",
                        help: b"h",
                    }]);
                }
            }
            assert_eq!(c.reset(2), 50);
            assert_eq!(c.len(), 50);
            assert_eq!(c.metadata_len(), 50);
            assert_eq!(c.known(150), Known::Unknown);
            assert!(matches!(c.known(210), Known::Stored(..)));
            assert_eq!(labels_of(&c, 210), pairs(&[("__name__", "m"), ("i", "210")]));
            if by_strings {
                // Each `i` value was new, so held as strings; the shared name pair.
                // "__name__", "m", "i", 50 values of `i`, the help "h" and the empty unit.
                assert_eq!((c.pairs.len(), c.strings.len()), (1, 3 + 50 + 2));
                let first = c.label_ids(210).and_then(|ids| LabelEntries::new(ids).last());
                let strings = match first {
                    Some(Label::Strings(n, v)) => Some([c.strings.get(n), c.strings.get(v)]),
                    _ => None,
                };
                assert_eq!(strings, Some([&b"i"[..], &b"210"[..]]), "a label of its own, by its strings");
                let first = c.label_ids(210).and_then(|ids| LabelEntries::new(ids).next());
                let pair = match first {
                    Some(Label::Pair(p)) => c.pair_strings(p).map(|p| p.map(|s| c.strings.get(s).to_vec())),
                    _ => None,
                };
                assert_eq!(pair, Some([b"__name__".to_vec(), b"m".to_vec()]), "a shared label, by its pair");
            } else {
                // 50 `i` pairs + the shared name pair; the help "h" and the empty unit.
                assert_eq!((c.pairs.len(), c.strings.len()), (50 + 1, 2));
            }
            c.reset(10);
            assert_eq!(c.pairs.len(), 0, "interner hygiene: everything released exactly once");
            assert_eq!(c.strings.len(), 0);
        }
    }

    #[test]
    fn overwrite_releases_old_strings() {
        for by_strings in [true, false] {
            let mut c = SeriesCache::new(LabelSet::default(), Relabeler::default());
            c.labels_as_strings(by_strings);
            for v in 0..100 {
                let l = Labels::from_pairs([("a", format!("v{v}"))]);
                c.store(&[RefSeries { series_ref: 7, labels: l.as_ref() }], 0);
            }
            // Each new value is held as strings; the old one is released.
            assert_eq!(c.pairs.len() + c.strings.len(), if by_strings { 2 } else { 1 });
            assert_eq!(labels_of(&c, 7), pairs(&[("a", "v99")]));
        }
    }

    #[test]
    fn reused_slot_never_serves_old_items() {
        let mut c = SeriesCache::new(LabelSet::default(), Relabeler::default());
        let a = Labels::from_pairs([("a", "1")]);
        c.store(&[RefSeries { series_ref: 1, labels: a.as_ref() }], 0);
        let (slot, generation) = c.known(1).slot_and_generation();
        assert!(c.label_ids_at(slot, generation).is_some());
        c.reset(1);
        let b = Labels::from_pairs([("b", "2")]);
        c.store(&[RefSeries { series_ref: 2, labels: b.as_ref() }], 1);
        let (slot2, gen2) = c.known(2).slot_and_generation();
        assert_eq!(slot2, slot, "slot reused");
        assert!(c.label_ids_at(slot, generation).is_none(), "the old generation is gone");
        assert!(c.label_ids_at(slot2, gen2).is_some());
    }

    #[test]
    fn target_metadata_per_series_and_wal_records_win() {
        use crate::target_metadata::{TargetEntry, TargetMetadata};
        let entry = |family: &str, t, help: &str| TargetEntry {
            job: "node".into(),
            instance: "h:9100".into(),
            family: family.into(),
            metric_type: t,
            help: help.into(),
            unit: String::new(),
        };
        let targets = Arc::new(TargetMetadata::new([
            entry("lat", MetricType::Histogram, "latency"),
            entry("temp", MetricType::Gauge, "from the API"),
        ]));
        let mut c = SeriesCache::new(LabelSet::default(), Relabeler::default());
        let series =
            |name: &str, job: &str| Labels::from_pairs([("__name__", name), ("instance", "h:9100"), ("job", job)]);
        let (a, b, other) = (series("lat_bucket", "node"), series("temp", "node"), series("temp", "other"));
        c.store(&[RefSeries { series_ref: 1, labels: a.as_ref() }, RefSeries { series_ref: 2, labels: b.as_ref() }], 0);
        assert!(c.set_targets(targets.clone(), true));
        assert!(!c.set_targets(targets.clone(), true), "the same metadata again changes nothing");
        let help = |c: &SeriesCache, r| c.metadata(r).map(|m| c.strings.get(m.help).to_vec());
        assert_eq!(help(&c, 1), Some(b"latency".to_vec()), "a series stored before the metadata");
        c.store(&[RefSeries { series_ref: 3, labels: other.as_ref() }], 0);
        assert_eq!(help(&c, 3), None, "another target");
        c.store_metadata(&[RefMetadata { series_ref: 2, metric_type: MetricType::Gauge, unit: b"", help: b"wal" }]);
        assert_eq!(help(&c, 2), Some(b"wal".to_vec()));
        // The API's families are refreshed: the WAL record still wins, a vanished family is forgotten.
        c.set_targets(Arc::new(TargetMetadata::new([entry("temp", MetricType::Gauge, "newer")])), true);
        assert_eq!(help(&c, 2), Some(b"wal".to_vec()));
        assert_eq!(help(&c, 1), None);
        // 1.0 families: the WAL's first, then the API's families no WAL record named.
        let fams = c.metadata_families();
        assert_eq!(fams.len(), 1, "{fams:?}");
        assert_eq!(fams[0].2, b"wal".to_vec());
        c.set_targets(targets, false);
        let names: Vec<_> = c.metadata_families().into_iter().map(|f| (f.0, f.2)).collect();
        assert_eq!(names, [(b"temp".to_vec(), b"wal".to_vec()), (b"lat".to_vec(), b"latency".to_vec())]);
        c.reset(10);
        assert_eq!(c.strings.len(), 0, "every interned help and unit released");
    }

    #[test]
    fn update_segment_protects_from_reset() {
        let mut c = SeriesCache::new(LabelSet::default(), Relabeler::default());
        let a = Labels::from_pairs([("a", "1")]);
        let b = Labels::from_pairs([("b", "1")]);
        c.store(&[RefSeries { series_ref: 1, labels: a.as_ref() }, RefSeries { series_ref: 2, labels: b.as_ref() }], 0);
        c.update_segment([2], 5);
        assert_eq!(c.reset(3), 1);
        assert_eq!(c.known(1), Known::Unknown);
        assert!(matches!(c.known(2), Known::Stored(..)));
    }
}
