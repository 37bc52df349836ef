//! Isolating the series a remote rejects, so that their neighbours in the batch are not dropped
//! with them (`queue_config.isolate_rejected_series`, a walship extension).
//!
//! A remote that refuses one series usually refuses the whole request holding it (Prometheus's
//! own receiver rolls the request back on the first bad sample). The batch is therefore regrouped
//! by series — each series' items stay together and in their order, so per-series order holds
//! whatever is resent — and bisected over series: each rejected part is split in two halves that
//! are sent one after the other; accepted halves are done, rejected halves of two or more series
//! are split again, and a rejected half of one series is that series: dropped, counted failed,
//! logged with the server's message and its labels.
//!
//! Cost: with one rejected series among `s`, every round sends two halves and one of them is
//! rejected, so isolation takes `2·⌈log2 s⌉` extra requests. Several rejected series cost more,
//! so a batch may spend at most `4·⌈log2 s⌉` extra requests (two bad series fully isolated);
//! what is still unresolved when that is spent is dropped as rejected, with one log line saying
//! so. This bounds the load a receiver that refuses everything (a wrong path answering 404 to
//! every request) can cause.

use crate::batch_send::{BatchSend, Rejection, Settled};
use crate::item::Item;

/// Extra requests a batch of `units` series may spend on isolation: twice what one bad series
/// needs, so two bad series are isolated fully.
pub(crate) fn budget(units: usize) -> usize {
    4 * ceil_log2(units)
}

fn ceil_log2(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        (usize::BITS - (n - 1).leading_zeros()) as usize
    }
}

/// Settles a batch whose whole request was rejected with `first`; false when a hard stop (or a
/// refusal of the credentials) abandoned it.
pub(crate) fn isolate(s: &mut BatchSend<'_>, batch: &[Item], floor_seen: Option<i64>, first: Rejection) -> bool {
    // A stable sort keeps each series' items in their original (timestamp) order.
    let mut items: Vec<Item> = batch.to_vec();
    items.sort_by_key(|i| i.series);
    let mut bounds = vec![0];
    for i in 1..items.len() {
        if items[i].series != items[i - 1].series {
            bounds.push(i);
        }
    }
    bounds.push(items.len());
    let units = bounds.len() - 1;
    if units < 2 {
        s.settle_rejected(&first, batch, true);
        return true;
    }
    s.resending = true;
    let budget = budget(units);
    let mut spent = 0;
    // Ranges of series (indices into `bounds`) a request was rejected for, still to split, with
    // that request was encoded at.
    // the age floor that request was encoded at and what it held.
    let mut rejected = vec![(0, units, floor_seen, first.sent)];
    let mut last_message = first.message;
    while let Some((a, b, floor, held)) = rejected.pop() {
        if spent + 2 > budget {
            rejected.push((a, b, floor, held));
            break;
        }
        let mid = a + (b - a) / 2;
        for (x, y) in [(a, mid), (mid, b)] {
            let part = &items[bounds[x]..bounds[y]];
            let mut f = floor;
            spent += 1;
            s.ctx.metrics.isolation_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match s.request(part, &mut f) {
                Settled::Abandoned => return false,
                Settled::Empty => {}
                Settled::Accepted { sent, written, protocol } => s.settle_accepted(sent, written, protocol),
                Settled::Rejected(r) if r.splittable() && y - x >= 2 => {
                    last_message = r.message;
                    rejected.push((x, y, f, r.sent));
                }
                Settled::Rejected(r) => s.settle_rejected(&r, part, true),
            }
        }
    }
    if !rejected.is_empty() {
        let series: usize = rejected.iter().map(|&(a, b, ..)| b - a).sum();
        let mut left = Vec::new();
        let mut held = crate::item::KindCounts::default();
        for &(a, b, _, h) in &rejected {
            left.extend_from_slice(&items[bounds[a]..bounds[b]]);
            held = held.plus(&h);
        }
        // One (rate-limited) line for the lot, with the server's last word.
        let r = Rejection {
            sent: held,
            status: None,
            message: format!(
                "isolating rejected series stopped after {spent} extra requests (the bound for {units} series), \
                 {series} series not isolated are dropped as rejected; the remote said: {last_message}"
            ),
            written: Default::default(),
        };
        s.settle_rejected(&r, &left, false);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound() {
        assert_eq!([1, 2, 3, 4, 5, 200, 256, 257].map(ceil_log2), [0, 1, 2, 2, 3, 8, 8, 9]);
        assert_eq!(budget(200), 32);
    }
}
