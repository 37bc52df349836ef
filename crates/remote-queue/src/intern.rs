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

/// Strings up to this long (length prefix included) are kept in their slot: no allocation of
/// their own, no pointer to follow when encoding, and [`Interner::append_prefixed`] copies them as
/// one block of fixed size rather than calling memcpy — label pairs are mostly this short, and
/// copying them was the largest cost of encoding a 1.0 request after snappy.
const INLINE: usize = 30;

/// A string preceded by its length as a protobuf varint, so that encoders can copy a
/// length-delimited field body in one piece.
enum Stored {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Stored {
    fn new(prefixed: &[u8]) -> Stored {
        if prefixed.len() <= INLINE {
            let mut data = [0; INLINE];
            data[..prefixed.len()].copy_from_slice(prefixed);
            Stored::Inline { len: prefixed.len() as u8, data }
        } else {
            Stored::Heap(prefixed.into())
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Stored::Inline { len, data } => &data[..*len as usize],
            Stored::Heap(b) => b,
        }
    }

    /// Appends the bytes to `buf`; returns their length.
    #[inline]
    fn append_to(&self, buf: &mut Vec<u8>) -> usize {
        match self {
            Stored::Inline { len, data } => {
                // The whole array, then cut back: a copy of a size known at compile time.
                let end = buf.len() + *len as usize;
                buf.extend_from_slice(data);
                buf.truncate(end);
                *len as usize
            }
            Stored::Heap(b) => {
                buf.extend_from_slice(b);
                b.len()
            }
        }
    }

    fn heap_len(&self) -> usize {
        match self {
            Stored::Inline { .. } => 0,
            Stored::Heap(b) => b.len(),
        }
    }
}

struct Slot {
    bytes: Stored,
    /// Number of holders; 0 means the slot is on the free list.
    refs: u32,
}

/// Strings by id, with reference counts so that garbage-collected series release their strings.
pub(crate) struct Interner {
    table: HashTable<SymbolId>,
    slots: Vec<Slot>,
    free: Vec<SymbolId>,
    hasher: DefaultHashBuilder,
    /// Changes whenever an id stops meaning the string it meant: see [`Interner::version`].
    version: u64,
}

/// Hands every interner a distinct range of versions.
static NEXT_INTERNER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Default for Interner {
    fn default() -> Self {
        // The high 24 bits tell interners apart, the low 40 count freed strings.
        let version = NEXT_INTERNER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 40;
        Interner {
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            version,
        }
    }
}

impl Interner {
    /// The id of `s`, adding it if new; takes one reference.
    pub(crate) fn intern(&mut self, s: &[u8]) -> SymbolId {
        self.intern_new(s).0
    }

    /// The id of `s` and whether it was added by this call; takes one reference.
    pub(crate) fn intern_new(&mut self, s: &[u8]) -> (SymbolId, bool) {
        let hash = self.hasher.hash_one(s);
        let slots = &self.slots;
        if let Some(&id) = self.table.find(hash, |&id| unprefix(slots[id as usize].bytes.as_slice()) == s) {
            self.slots[id as usize].refs += 1;
            return (id, false);
        }
        let mut bytes = Vec::with_capacity(s.len() + 2);
        crate::proto::put_uvarint(&mut bytes, s.len() as u64);
        bytes.extend_from_slice(s);
        let slot = Slot { bytes: Stored::new(&bytes), refs: 1 };
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
        self.table.insert_unique(hash, id, |&i| hasher.hash_one(unprefix(slots[i as usize].bytes.as_slice())));
        (id, true)
    }

    /// The id of `s` if it is interned; takes no reference.
    pub(crate) fn find(&self, s: &[u8]) -> Option<SymbolId> {
        let hash = self.hasher.hash_one(s);
        let slots = &self.slots;
        self.table.find(hash, |&id| unprefix(slots[id as usize].bytes.as_slice()) == s).copied()
    }

    /// Drops one reference to `id`; the string is freed with the last one, and then this returns
    /// true.
    pub(crate) fn release(&mut self, id: SymbolId) -> bool {
        let Some(slot) = self.slots.get_mut(id as usize) else { return false };
        if slot.refs == 0 {
            // Releasing a free slot would corrupt the free list; Prometheus counts this case in
            // `string_interner_zero_reference_releases_total`. It cannot happen through the cache.
            debug_assert!(false, "release of unreferenced symbol {id}");
            return false;
        }
        slot.refs -= 1;
        if slot.refs == 0 {
            let hash = self.hasher.hash_one(unprefix(slot.bytes.as_slice()));
            if let Ok(entry) = self.table.find_entry(hash, |&i| i == id) {
                entry.remove();
            }
            self.slots[id as usize].bytes = Stored::Heap(Box::default());
            self.free.push(id);
            self.version = self.version.wrapping_add(1);
            return true;
        }
        false
    }

    /// One more than the highest id ever handed out: ids are dense, so arrays indexed by id
    /// need this many entries.
    pub(crate) fn id_bound(&self) -> usize {
        self.slots.len()
    }

    /// Equal between two calls only if every id that was valid at the first still names the same
    /// string at the second (and both came from this interner): lets an encoder keep what it
    /// learnt about ids from one request to the next.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The string of `id` (empty for an unknown id).
    pub(crate) fn get(&self, id: SymbolId) -> &[u8] {
        unprefix(self.get_prefixed(id))
    }

    /// The string of `id` preceded by its varint length (`[0]` for an unknown id).
    #[inline]
    pub(crate) fn get_prefixed(&self, id: SymbolId) -> &[u8] {
        self.slots.get(id as usize).map_or(&[0], |s| s.bytes.as_slice())
    }

    /// Appends what [`Interner::get_prefixed`] returns to `buf`; returns its length (1: the empty
    /// string), so that a caller need not read back what was just written.
    #[inline]
    pub(crate) fn append_prefixed(&self, id: SymbolId, buf: &mut Vec<u8>) -> usize {
        match self.slots.get(id as usize) {
            Some(slot) => slot.bytes.append_to(buf),
            None => {
                buf.push(0);
                1
            }
        }
    }

    /// [`Interner::append_prefixed`] for a string that has one holder only (a label value no
    /// other label or metadata holds); `None`, appending nothing, for any other id.
    #[inline]
    pub(crate) fn append_sole(&self, id: SymbolId, buf: &mut Vec<u8>) -> Option<usize> {
        match self.slots.get(id as usize) {
            Some(slot) if slot.refs == 1 => Some(slot.bytes.append_to(buf)),
            _ => None,
        }
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
            + self.slots.iter().map(|s| s.bytes.heap_len()).sum::<usize>()
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
    fn short_and_long_strings_append_alike() {
        let mut i = Interner::default();
        for len in [0usize, 1, 28, 29, 30, 31, 127, 128, 300] {
            let s: Vec<u8> = (0..len).map(|k| b'a' + (k % 26) as u8).collect();
            let id = i.intern(&s);
            let mut buf = vec![7u8];
            i.append_prefixed(id, &mut buf);
            assert_eq!(&buf[1..], i.get_prefixed(id), "len {len}");
            assert_eq!(i.get(id), &s[..], "len {len}");
            assert_eq!(buf[0], 7);
        }
        let mut buf = Vec::new();
        i.append_prefixed(9999, &mut buf);
        assert_eq!(buf, [0], "an unknown id appends an empty string");
    }

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
        let v = i.version();
        i.release(a);
        assert_ne!(i.version(), v, "a freed id changes the version");
        assert_ne!(Interner::default().version(), i.version(), "interners differ");
        assert_eq!(i.len(), 1);
        let c = i.intern(b"other");
        assert_eq!(c, a, "freed id is reused");
        assert_eq!(i.get(c), b"other");
        assert_eq!(i.intern(b"job"), 2, "a freed string is interned anew");
    }

    #[test]
    fn new_strings_lookups_and_frees_are_reported() {
        let mut i = Interner::default();
        assert_eq!(i.intern_new(b"a"), (0, true));
        assert_eq!(i.intern_new(b"a"), (0, false));
        assert_eq!(i.intern_new(b"b"), (1, true));
        assert_eq!(i.id_bound(), 2);
        assert_eq!(i.find(b"a"), Some(0));
        assert_eq!(i.find(b"c"), None);
        assert!(!i.release(0), "one reference left");
        assert!(i.release(0), "the last reference frees");
        assert_eq!(i.find(b"a"), None);
        assert!(!i.release(7), "an unknown id frees nothing");
        assert_eq!(i.intern_new(b"c"), (0, true), "the freed id is reused");
        assert_eq!(i.id_bound(), 2);
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
