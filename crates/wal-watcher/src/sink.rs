//! The consumer side of the watcher: what it hands every record to.

use wal_format::record::{RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries};
use wal_format::Position;

/// Receives what the watcher reads, in WAL order, on the watcher's thread.
///
/// The `append_*` calls may block (a full queue downstream): the watcher simply stops reading
/// until they return, which is how backpressure reaches the WAL. Once a call returns, the watcher
/// never offers that data again — except after a restart from an earlier [`Position`], which is
/// how a consumer gets at-least-once delivery: it acknowledges positions, and resumes from the
/// last one it acknowledged.
///
/// Every call answers whether the watcher should go on:
/// - `Ok(true)`: go on reading.
/// - `Ok(false)`: stop. The watcher reads nothing more and [`crate::Watcher::run`] (or
///   `run_to_end`) returns `Ok(())` at once; [`crate::Watcher::position`] then stands before the
///   record of this call, whose data the sink need not have taken (a queue that is shutting down
///   refuses it). This is how a consumer stops the watcher from inside.
/// - `Err(e)`: stop with an error: `run` returns [`crate::Error::Sink`] holding `e`. The watcher
///   does not retry a sink's error as it retries the WAL's.
///
/// Every `append_*` call carries the position of the record its data came from. Only
/// [`Sink::append_samples`] and [`Sink::store_series`] must be implemented; the rest default to
/// taking nothing and going on (a consumer that ignores histograms, say).
pub trait Sink {
    /// Why the sink failed. Use [`std::convert::Infallible`] for a sink that cannot fail.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Series declared by a Series record in `segment` (for the checkpoint: the checkpoint's
    /// index). Samples refer to series by their `series_ref`.
    fn store_series(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Self::Error>;

    /// Float samples from the record at `at`, already filtered by the start mode.
    fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error>;

    /// Series found again in a new checkpoint: they are still alive as of `segment`. Called for
    /// every series of the checkpoint, then [`Sink::series_reset`] with the same segment.
    /// The default treats them as newly stored.
    fn update_series_segment(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Self::Error> {
        self.store_series(series, segment)
    }

    /// Garbage collection after a new checkpoint: drop every series last seen in a segment below
    /// `segment`; Prometheus no longer has them.
    fn series_reset(&mut self, _segment: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// Exemplars from the record at `at` (when the watcher is configured to send them).
    fn append_exemplars(&mut self, _exemplars: &[RefExemplar<'_>], _at: Position) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// Integer native histograms from the record at `at`, filtered by the start mode.
    fn append_histograms(&mut self, _histograms: &[RefHistogramSample], _at: Position) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// Float native histograms from the record at `at`, filtered by the start mode.
    fn append_float_histograms(
        &mut self,
        _histograms: &[RefFloatHistogramSample],
        _at: Position,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// Metric metadata from the record at `at`.
    fn store_metadata(&mut self, _metadata: &[RefMetadata<'_>], _at: Position) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// The segments `missing` were gone when they were to be read, after the watcher had read
    /// what came before them: Prometheus deleted them under a lagging reader (or between two
    /// passes, when a pass resumes after an error or a stop). Called before anything read after
    /// them. `checkpoint` is the checkpoint Prometheus wrote with the
    /// deletion, when there is one: its series and (as the answer says) its samples come next,
    /// at the checkpoint's place (the first missing segment's, if later), then the segments after it.
    ///
    /// The default takes the checkpoint's samples newer than the newest sample read before the
    /// gap; a sink that got the missing time range from elsewhere (persisted blocks) says where
    /// that ended with [`GapAnswer::From`].
    fn gap(
        &mut self,
        _missing: std::ops::RangeInclusive<u64>,
        _checkpoint: Option<u64>,
    ) -> Result<GapAnswer, Self::Error> {
        Ok(GapAnswer::GoOn)
    }

    /// Everything before `next` has been handed over (or had nothing for the sink). Called when
    /// the watcher has caught up with the WAL and at the end of each segment, so a consumer can
    /// move its acknowledged position past records that carried nothing for it.
    fn progress(&mut self, _next: Position) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// What a [`Sink`] wants after a gap met while running ([`Sink::gap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapAnswer {
    /// Go on; of the checkpoint written with the gap, take the samples newer than the newest
    /// sample read before the gap (for a gap a resumed pass opens on, the newest the sink took).
    GoOn,
    /// Go on; of the checkpoint written with the gap, take the samples at or after this time
    /// (ms since the epoch): the sink has what came before from elsewhere.
    From(i64),
    /// Stop before anything read after the gap, as a sink call answering `false` does.
    Stop,
}

macro_rules! forward {
    () => {
        type Error = S::Error;
        fn store_series(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Self::Error> {
            (**self).store_series(series, segment)
        }
        fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error> {
            (**self).append_samples(samples, at)
        }
        fn update_series_segment(&mut self, series: &[RefSeries<'_>], segment: u64) -> Result<bool, Self::Error> {
            (**self).update_series_segment(series, segment)
        }
        fn series_reset(&mut self, segment: u64) -> Result<bool, Self::Error> {
            (**self).series_reset(segment)
        }
        fn append_exemplars(&mut self, exemplars: &[RefExemplar<'_>], at: Position) -> Result<bool, Self::Error> {
            (**self).append_exemplars(exemplars, at)
        }
        fn append_histograms(&mut self, histograms: &[RefHistogramSample], at: Position) -> Result<bool, Self::Error> {
            (**self).append_histograms(histograms, at)
        }
        fn append_float_histograms(
            &mut self,
            histograms: &[RefFloatHistogramSample],
            at: Position,
        ) -> Result<bool, Self::Error> {
            (**self).append_float_histograms(histograms, at)
        }
        fn store_metadata(&mut self, metadata: &[RefMetadata<'_>], at: Position) -> Result<bool, Self::Error> {
            (**self).store_metadata(metadata, at)
        }
        fn gap(
            &mut self,
            missing: std::ops::RangeInclusive<u64>,
            checkpoint: Option<u64>,
        ) -> Result<GapAnswer, Self::Error> {
            (**self).gap(missing, checkpoint)
        }
        fn progress(&mut self, next: Position) -> Result<bool, Self::Error> {
            (**self).progress(next)
        }
    };
}

impl<S: Sink + ?Sized> Sink for &mut S {
    forward!();
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    forward!();
}
