//! A reference-counted string interner with `u32` handles.
//!
//! The series cache stores each label set as a short run of varint ids instead of copies of the
//! labels (see `series.rs`): `job="node"` is held once no matter how many series carry it. Each
//! entry keeps its length as a protobuf varint in front, so an encoder copies a whole
//! length-delimited field body in one piece.

use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// A symbol id.
pub(crate) type SymbolId = u32;

struct Slot {
    /// The string preceded by its length as a protobuf varint, so that encoders can copy a
    /// length-delimited field body in one piece.
    bytes: Box<[u8]>,
    /// Number of holders; 0 means the slot is on the free list.
    refs: u32,
}

/// Strings by id, with reference counts so that garbage-collected series release their strings.
pub(crate) struct Interner {
    table: HashTable<SymbolId>,
    slots: Vec<Slot>,
    free: Vec<SymbolId>,
    hasher: DefaultHashBuilder,
}

impl Default for Interner {
    fn default() -> Self {
        Interner { table: HashTable::new(), slots: Vec::new(), free: Vec::new(), hasher: DefaultHashBuilder::default() }
    }
}

impl Interner {
    /// The id of `s`, adding it if new; takes one reference.
    pub(crate) fn intern(&mut self, s: &[u8]) -> SymbolId {
        let hash = self.hasher.hash_one(s);
        let slots = &self.slots;
        if let Some(&id) = self.table.find(hash, |&id| unprefix(&slots[id as usize].bytes) == s) {
            self.slots[id as usize].refs += 1;
            return id;
        }
        let mut bytes = Vec::with_capacity(s.len() + 2);
        crate::proto::put_uvarint(&mut bytes, s.len() as u64);
        bytes.extend_from_slice(s);
        let slot = Slot { bytes: bytes.into_boxed_slice(), refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as SymbolId
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table.insert_unique(hash, id, |&i| hasher.hash_one(unprefix(&slots[i as usize].bytes)));
        id
    }

    /// Drops one reference to `id`; the string is freed with the last one.
    pub(crate) fn release(&mut self, id: SymbolId) {
        let Some(slot) = self.slots.get_mut(id as usize) else { return };
        if slot.refs == 0 {
            // Releasing a free slot would corrupt the free list; Prometheus counts this case in
            // `string_interner_zero_reference_releases_total`. It cannot happen through the cache.
            debug_assert!(false, "release of unreferenced symbol {id}");
            return;
        }
        slot.refs -= 1;
        if slot.refs == 0 {
            let hash = self.hasher.hash_one(unprefix(&slot.bytes));
            if let Ok(entry) = self.table.find_entry(hash, |&i| i == id) {
                entry.remove();
            }
            self.slots[id as usize].bytes = Box::default();
            self.free.push(id);
        }
    }

    /// The string of `id` (empty for an unknown id).
    pub(crate) fn get(&self, id: SymbolId) -> &[u8] {
        unprefix(self.get_prefixed(id))
    }

    /// The string of `id` preceded by its varint length (`[0]` for an unknown id).
    #[inline]
    pub(crate) fn get_prefixed(&self, id: SymbolId) -> &[u8] {
        self.slots.get(id as usize).map_or(&[0], |s| &s.bytes)
    }

    /// Number of live strings.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Approximate heap bytes held (tables, slots, string bytes).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<SymbolId>() + 1)
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * std::mem::size_of::<SymbolId>()
            + self.slots.iter().map(|s| s.bytes.len()).sum::<usize>()
    }
}

/// Skips the varint length prefix.
#[inline]
fn unprefix(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|&x| x < 0x80).map_or(b.len(), |i| i + 1);
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_release_reuse() {
        let mut i = Interner::default();
        let a = i.intern(b"job");
        let b = i.intern(b"node");
        assert_eq!(i.intern(b"job"), a);
        assert_ne!(a, b);
        assert_eq!(i.get(a), b"job");
        i.release(a);
        assert_eq!(i.get(a), b"job", "one reference left");
        i.release(a);
        assert_eq!(i.len(), 1);
        let c = i.intern(b"other");
        assert_eq!(c, a, "freed id is reused");
        assert_eq!(i.get(c), b"other");
        assert_eq!(i.intern(b"job"), 2, "a freed string is interned anew");
    }

    #[test]
    fn many_strings_roundtrip() {
        let mut i = Interner::default();
        let ids: Vec<_> = (0..10_000).map(|n| i.intern(format!("v{n}").as_bytes())).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(i.get(*id), format!("v{n}").as_bytes());
        }
        for id in &ids {
            i.release(*id);
        }
        assert_eq!(i.len(), 0);
    }
}
