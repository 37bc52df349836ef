//! Label sets as the WAL stores them: a uvarint count, then (name, value) length-prefixed strings.

use crate::varint::{put_bytes, put_uvarint, Cursor, ReadFail};
use std::fmt;

/// One label, borrowed. Names and values are bytes because Prometheus does not check UTF-8 in the
/// WAL; use [`Label::name_str`] / [`Label::value_str`] where text is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name, e.g. `__name__` or `job`.
    pub name: &'a [u8],
    /// The label value.
    pub value: &'a [u8],
}

impl<'a> Label<'a> {
    /// The name as text, with invalid UTF-8 replaced.
    pub fn name_str(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.name)
    }
    /// The value as text, with invalid UTF-8 replaced.
    pub fn value_str(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.value)
    }
}

/// A label set borrowed from a decoded record. Its structure was checked when the record was
/// decoded, so iterating it cannot fail and allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsRef<'a> {
    count: usize,
    /// The encoded (name, value) pairs, without the leading count.
    pairs: &'a [u8],
}

impl<'a> LabelsRef<'a> {
    /// The empty label set.
    pub const EMPTY: LabelsRef<'static> = LabelsRef { count: 0, pairs: &[] };

    /// Reads one label set at the cursor, checking every length.
    pub(crate) fn decode(cur: &mut Cursor<'a>) -> Result<Self, ReadFail> {
        // Each label needs at least two length bytes.
        let count = cur.count(2)?;
        let mut probe = cur.clone();
        let start = probe.pos();
        for _ in 0..count {
            probe.bytes()?;
            probe.bytes()?;
        }
        let len = probe.pos() - start;
        let pairs = cur.take(len)?;
        Ok(LabelsRef { count, pairs })
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The labels in their stored order (Prometheus stores them sorted by name).
    pub fn iter(&self) -> LabelsIter<'a> {
        LabelsIter { cur: Cursor::new(self.pairs), left: self.count }
    }

    /// The value of the label called `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// Sum of the byte lengths of every name and value.
    pub fn byte_len(&self) -> usize {
        self.iter().map(|l| l.name.len() + l.value.len()).sum()
    }

    /// Copies the set into an owned [`Labels`].
    pub fn to_owned(&self) -> Labels {
        Labels { count: self.count, pairs: self.pairs.to_vec() }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        put_uvarint(buf, self.count as u64);
        buf.extend_from_slice(self.pairs);
    }
}

impl fmt::Debug for LabelsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|l| (l.name_str(), l.value_str()))).finish()
    }
}

impl fmt::Display for LabelsRef<'_> {
    /// Prometheus's text form: `{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name_str(), l.value_str())?;
        }
        f.write_str("}")
    }
}

/// Iterator over a [`LabelsRef`].
#[derive(Debug, Clone)]
pub struct LabelsIter<'a> {
    cur: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Checked at decode time; an error here would mean a bug, so end the iteration.
        let name = self.cur.bytes().ok()?;
        let value = self.cur.bytes().ok()?;
        Some(Label { name, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// An owned label set, kept in its WAL encoding so that writing it out is a copy.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    count: usize,
    pairs: Vec<u8>,
}

impl Labels {
    /// Builds a label set from (name, value) pairs, kept in the order given. Prometheus sorts
    /// labels by name; use [`Labels::from_pairs_sorted`] to get that order.
    pub fn from_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut out = Labels::default();
        for (n, v) in pairs {
            put_bytes(&mut out.pairs, n.as_ref());
            put_bytes(&mut out.pairs, v.as_ref());
            out.count += 1;
        }
        out
    }

    /// Builds a label set from pairs, sorted by name as Prometheus stores them.
    pub fn from_pairs_sorted<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<(N, V)> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        Self::from_pairs(v)
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> LabelsRef<'_> {
        LabelsRef { count: self.count, pairs: &self.pairs }
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_ref(), f)
    }
}
