//! What a shard queues: one data point of one series, plus the acknowledgement it belongs to.

use crate::relabel::LabelSet;
use wal_format::record::{FloatHistogram, Histogram, SeriesRef};

/// The data of a queued point. Boxes keep the common case (a float sample) small.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Sample(f64),
    Exemplar(Box<ExemplarData>),
    Histogram(Box<Histogram>),
    FloatHistogram(Box<FloatHistogram>),
}

#[derive(Debug, Clone)]
pub(crate) struct ExemplarData {
    pub(crate) value: f64,
    pub(crate) labels: LabelSet,
}

/// `Item::slot` when the slot is not known (tests); encoders then look the ref up.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// One queued point.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) series: SeriesRef,
    /// The series' slot in the cache ([`NO_SLOT`]: look it up by `series`).
    pub(crate) slot: u32,
    /// The slot's generation when the item was queued.
    pub(crate) slot_gen: u32,
    /// The acknowledgement entry ([`crate::ack::AckTracker`]) of the append call it came from.
    pub(crate) ack: u64,
    pub(crate) t: i64,
    /// Start timestamp (0 = unset), sent by 2.0 only.
    pub(crate) st: i64,
    pub(crate) payload: Payload,
}

/// Counts of points per kind, as the metrics split them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KindCounts {
    pub(crate) samples: u64,
    pub(crate) exemplars: u64,
    pub(crate) histograms: u64,
}

impl KindCounts {
    pub(crate) fn add(&mut self, p: &Payload) {
        match p {
            Payload::Sample(_) => self.samples += 1,
            Payload::Exemplar(_) => self.exemplars += 1,
            Payload::Histogram(_) | Payload::FloatHistogram(_) => self.histograms += 1,
        }
    }

    pub(crate) fn of(items: &[Item]) -> KindCounts {
        let mut c = KindCounts::default();
        for i in items {
            c.add(&i.payload);
        }
        c
    }

    /// Counts of the items with a timestamp before `floor`.
    pub(crate) fn of_older(items: &[Item], floor: i64) -> KindCounts {
        let mut c = KindCounts::default();
        for i in items.iter().filter(|i| i.t < floor) {
            c.add(&i.payload);
        }
        c
    }

    pub(crate) fn total(&self) -> u64 {
        self.samples + self.exemplars + self.histograms
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// `self − other`, per kind, floored at 0.
    pub(crate) fn saturating_sub(&self, other: &KindCounts) -> KindCounts {
        KindCounts {
            samples: self.samples.saturating_sub(other.samples),
            exemplars: self.exemplars.saturating_sub(other.exemplars),
            histograms: self.histograms.saturating_sub(other.histograms),
        }
    }

    pub(crate) fn plus(&self, other: &KindCounts) -> KindCounts {
        KindCounts {
            samples: self.samples + other.samples,
            exemplars: self.exemplars + other.exemplars,
            histograms: self.histograms + other.histograms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_stays_small() {
        assert!(std::mem::size_of::<Item>() <= 56, "{}", std::mem::size_of::<Item>());
    }
}
