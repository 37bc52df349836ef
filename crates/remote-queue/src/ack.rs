//! Acknowledgement tracking: which WAL positions are fully done.
//!
//! Every append call that queues at least one item registers an entry `(position, outstanding)`
//! and gets a sequence number; its items carry that number. When a batch finishes (accepted, or
//! failed and counted) its items are subtracted from their entries. Entries complete in any
//! order, but the watermark only moves past an entry once every earlier entry is complete too,
//! so it can never pass an item that is still queued, in flight or being retried — whatever the
//! shard count, and across resharding.

use std::collections::VecDeque;
use std::sync::Mutex;
use wal_format::Position;

#[derive(Default)]
struct Inner {
    /// Sequence number of `entries[0]`.
    base: u64,
    entries: VecDeque<(Position, u64)>,
    /// Position of the newest entry that completed with all earlier ones.
    last_done: Option<Position>,
}

impl Inner {
    fn pop_done(&mut self) {
        while let Some(&(pos, 0)) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
            self.last_done = Some(pos);
        }
    }
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct AckTracker {
    inner: Mutex<Inner>,
}

impl AckTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` inconsistent (every update is a single step).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `outstanding` items read at `pos`; returns the sequence number they must carry.
    pub(crate) fn register(&self, pos: Position, outstanding: u64) -> u64 {
        let mut g = self.lock();
        if outstanding == 0 {
            // Consecutive empty entries collapse into one, so that a stream of records without
            // points (series, tombstones) cannot grow the queue while a batch is retried.
            if let Some(back) = g.entries.back_mut() {
                if back.1 == 0 {
                    back.0 = pos;
                    return g.base + g.entries.len() as u64 - 1;
                }
            }
        }
        let seq = g.base + g.entries.len() as u64;
        g.entries.push_back((pos, outstanding));
        g.pop_done();
        seq
    }

    /// Marks `n` items of entry `seq` as done.
    pub(crate) fn done(&self, runs: &[(u64, u64)]) {
        let mut g = self.lock();
        for &(seq, n) in runs {
            let Some(idx) = seq.checked_sub(g.base) else { continue };
            if let Some(e) = g.entries.get_mut(idx as usize) {
                e.1 = e.1.saturating_sub(n);
            }
        }
        g.pop_done();
    }

    /// The position below which everything is done (see [`crate::QueueManager::low_watermark`]).
    pub(crate) fn low_watermark(&self) -> Option<Position> {
        let g = self.lock();
        match g.entries.front() {
            Some(&(pos, _)) => Some(pos),
            None => g.last_done,
        }
    }

    /// Sequence number of the oldest incomplete entry (or the next one to be handed out).
    pub(crate) fn oldest_outstanding(&self) -> u64 {
        self.lock().base
    }

    /// The next sequence number [`AckTracker::register`] will hand out.
    pub(crate) fn next_seq(&self) -> u64 {
        let g = self.lock();
        g.base + g.entries.len() as u64
    }
}

/// Groups the acknowledgement numbers of consecutive items: `[5,5,5,6,5]` → `[(5,3),(6,1),(5,1)]`.
pub(crate) fn runs(acks: impl IntoIterator<Item = u64>, out: &mut Vec<(u64, u64)>) {
    out.clear();
    for a in acks {
        match out.last_mut() {
            Some((s, n)) if *s == a => *n += 1,
            _ => out.push((a, 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(o: u64) -> Position {
        Position { segment: 0, offset: o }
    }

    #[test]
    fn watermark_waits_for_oldest() {
        let t = AckTracker::default();
        assert_eq!(t.low_watermark(), None);
        let a = t.register(p(10), 2);
        let b = t.register(p(20), 1);
        assert_eq!(t.low_watermark(), Some(p(10)));
        t.done(&[(b, 1)]);
        assert_eq!(t.low_watermark(), Some(p(10)), "later entry done first does not move it");
        t.done(&[(a, 1)]);
        assert_eq!(t.low_watermark(), Some(p(10)));
        t.done(&[(a, 1)]);
        assert_eq!(t.low_watermark(), Some(p(20)), "everything done: the last position");
        assert_eq!(t.oldest_outstanding(), t.next_seq());
        let c = t.register(p(30), 0);
        assert_eq!(c, 2);
        assert_eq!(t.low_watermark(), Some(p(30)));
    }

    #[test]
    fn empty_entries_collapse() {
        let t = AckTracker::default();
        let a = t.register(p(1), 1);
        for o in 2..1000 {
            t.register(p(o), 0);
        }
        assert_eq!(t.lock().entries.len(), 2);
        assert_eq!(t.low_watermark(), Some(p(1)));
        t.done(&[(a, 1)]);
        assert_eq!(t.low_watermark(), Some(p(999)));
    }

    #[test]
    fn run_grouping() {
        let mut out = Vec::new();
        runs([5, 5, 5, 6, 5], &mut out);
        assert_eq!(out, vec![(5, 3), (6, 1), (5, 1)]);
    }
}
