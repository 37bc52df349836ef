//! Where to start: which samples of the WAL the sink gets.

use wal_format::Position;

/// Which samples the watcher hands to its sink. Series are always read from the checkpoint and
/// every segment, whatever the mode: a sample is useless without its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Prometheus's behaviour: samples with a timestamp after the moment the watcher started.
    /// Segments older than the newest one at start are read for series only, which makes start-up
    /// over a large WAL fast.
    Now,
    /// Samples with a timestamp after this one (ms since the epoch), from every segment.
    Timestamp(i64),
    /// Every sample of every segment, and those the checkpoint kept: a backfill.
    Beginning,
    /// Resume a saved cursor: samples of records at or after this position; series from
    /// everything before it. If Prometheus has since deleted that segment, reading resumes at the
    /// oldest data left (the checkpoint's samples, then the oldest segment) and the gap is
    /// reported.
    Position(Position),
}

/// The filter a start mode becomes once the WAL has been looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleFilter {
    /// Samples must have a timestamp greater than this.
    pub(crate) after_t: i64,
    /// Samples of records before this position are not sent.
    pub(crate) from: Position,
    /// Whether the checkpoint's samples are sent.
    pub(crate) checkpoint_samples: bool,
}

impl SampleFilter {
    /// The filter for `mode`, given the checkpoint index and the newest segment when the pass
    /// started, and the time now (ms).
    pub(crate) fn new(mode: StartMode, checkpoint: Option<u64>, newest_segment: u64, now_ms: i64) -> Self {
        match mode {
            StartMode::Now => {
                SampleFilter { after_t: now_ms, from: Position::new(newest_segment, 0), checkpoint_samples: false }
            }
            StartMode::Timestamp(t) => SampleFilter { after_t: t, from: Position::new(0, 0), checkpoint_samples: true },
            StartMode::Beginning => {
                SampleFilter { after_t: i64::MIN, from: Position::new(0, 0), checkpoint_samples: true }
            }
            StartMode::Position(p) => SampleFilter {
                after_t: i64::MIN,
                from: p,
                // The cursor points into segments the checkpoint replaced: what the checkpoint
                // kept of them is the closest we can get.
                checkpoint_samples: checkpoint.is_some_and(|c| p.segment <= c),
            },
        }
    }

    /// Whether records at `at` may carry samples for the sink.
    pub(crate) fn wants_record(&self, at: Position) -> bool {
        at >= self.from
    }
}
