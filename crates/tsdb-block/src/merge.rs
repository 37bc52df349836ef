//! Merging the samples of one series from several overlapping blocks, as Prometheus's query
//! layer does.

use crate::chunkenc::Sample;
use crate::error::Error;

/// Merges streams of samples of the same series, each in ascending time order, into one
/// ascending stream. A timestamp present in several streams is yielded once, from the stream
/// listed first. The first error of any stream is yielded and ends the merge.
pub fn merge_samples<I>(streams: Vec<I>) -> MergedSamples<I>
where
    I: Iterator<Item = Result<Sample, Error>>,
{
    let heads = streams.iter().map(|_| None).collect();
    MergedSamples { streams, heads, started: false, failed: false }
}

/// See [`merge_samples`].
pub struct MergedSamples<I> {
    streams: Vec<I>,
    heads: Vec<Option<Sample>>,
    started: bool,
    failed: bool,
}

impl<I: Iterator<Item = Result<Sample, Error>>> MergedSamples<I> {
    fn refill(&mut self, i: usize) -> Result<(), Error> {
        self.heads[i] = self.streams[i].next().transpose()?;
        Ok(())
    }
}

impl<I: Iterator<Item = Result<Sample, Error>>> Iterator for MergedSamples<I> {
    type Item = Result<Sample, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.streams.len() {
                if let Err(e) = self.refill(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let min_t = self.heads.iter().flatten().map(|s| s.t).min()?;
        let mut out = None;
        for i in 0..self.heads.len() {
            if self.heads[i].as_ref().is_some_and(|s| s.t == min_t) {
                let s = self.heads[i].take();
                if out.is_none() {
                    out = s;
                }
                if let Err(e) = self.refill(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        out.map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::Value;

    fn s(t: i64, v: f64) -> Result<Sample, Error> {
        Ok(Sample { t, st: 0, value: Value::Float(v) })
    }

    #[test]
    fn merges_in_time_order_and_keeps_the_first_duplicate() {
        let a = vec![s(1, 1.0), s(3, 1.0), s(5, 1.0)];
        let b = vec![s(2, 2.0), s(3, 2.0), s(6, 2.0)];
        let got: Vec<(i64, Value)> =
            merge_samples(vec![a.into_iter(), b.into_iter()]).map(|r| r.map(|s| (s.t, s.value)).unwrap()).collect();
        let want: Vec<(i64, Value)> =
            [(1, 1.0), (2, 2.0), (3, 1.0), (5, 1.0), (6, 2.0)].into_iter().map(|(t, v)| (t, Value::Float(v))).collect();
        assert_eq!(got, want);
    }
}
