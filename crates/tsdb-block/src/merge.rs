//! Merging overlapping blocks as Prometheus's query layer does: series with the same labels
//! are one series, their samples merged by time, a timestamp present twice kept once.

use crate::block::{Block, SeriesIter, SeriesSamples};
use crate::chunkenc::Sample;
use crate::error::Error;
use crate::index::{Label, Series};

/// The series of several blocks merged into one sorted stream: each distinct label set once,
/// with its samples from every block that has it merged by [`merge_samples`]. Blocks list
/// their series in label order, so this is a merge-join that holds one series per block.
///
/// Use it for a group of [`crate::DataDir::overlapping_groups`]; for blocks that do not
/// overlap it is correct too, only needlessly slower than reading them one after the other.
pub fn merge_series(blocks: &[Block]) -> Result<MergedSeries<'_>, Error> {
    let mut iters = Vec::with_capacity(blocks.len());
    let mut heads = Vec::with_capacity(blocks.len());
    for b in blocks {
        let mut it = b.series()?;
        heads.push(it.next().transpose()?);
        iters.push(it);
    }
    Ok(MergedSeries { blocks, iters, heads, failed: false })
}

/// See [`merge_series`].
pub struct MergedSeries<'a> {
    blocks: &'a [Block],
    iters: Vec<SeriesIter<'a>>,
    heads: Vec<Option<Series<'a>>>,
    failed: bool,
}

/// One series of [`merge_series`]: its labels and its merged samples.
pub struct MergedSeriesItem<'a> {
    labels: Vec<Label<'a>>,
    samples: MergedSamples<SeriesSamples<'a>>,
    blocks: usize,
}

impl<'a> MergedSeriesItem<'a> {
    /// The labels, sorted by name.
    pub fn labels(&self) -> &[Label<'a>] {
        &self.labels
    }

    /// How many of the blocks hold this series.
    pub fn block_count(&self) -> usize {
        self.blocks
    }

    /// The samples, in time order, each timestamp once (the earliest-listed block's sample
    /// wins), tombstoned ranges of each block removed.
    pub fn samples(self) -> MergedSamples<SeriesSamples<'a>> {
        self.samples
    }
}

impl<'a> Iterator for MergedSeries<'a> {
    type Item = Result<MergedSeriesItem<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let min = self.heads.iter().flatten().map(|s| s.labels().to_vec()).min()?;
        let mut streams = Vec::new();
        for i in 0..self.heads.len() {
            if self.heads[i].as_ref().is_some_and(|s| s.labels() == min.as_slice()) {
                if let Some(series) = self.heads[i].take() {
                    streams.push(self.blocks[i].samples(&series));
                }
                match self.iters[i].next().transpose() {
                    Ok(next) => self.heads[i] = next,
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        let blocks = streams.len();
        Some(Ok(MergedSeriesItem { labels: min, samples: merge_samples(streams), blocks }))
    }
}

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
