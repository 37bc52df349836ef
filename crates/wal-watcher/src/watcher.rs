//! The loop: checkpoint, segments, tail — and start again after an error, from where it was.

use crate::dispatch::{Dispatcher, Failed, Purpose};
use crate::error::Error;
use crate::metrics::WatcherMetrics;
use crate::options::WatcherOptions;
use crate::sink::{GapAnswer, Sink};
use crate::start::{SampleFilter, StartMode};
use crate::wakeup::Wakeup;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wal_format::Position;
use wal_reader::{last_checkpoint, list_segments, IoMode, Replay, ReplayItem, ReplayOptions, Source};

/// Something worth telling an operator, reported to the callback given to [`Watcher::run`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A pass over the WAL ended in an error; the watcher starts again after `retry_interval`.
    Error(&'a Error),
    /// A damaged span of a segment or checkpoint (always a [`wal_reader::Error::Corruption`],
    /// which names the file, the offset, the bytes skipped and the records lost). Reading went on
    /// right after it: only the records it touched are lost.
    Corruption(&'a wal_reader::Error),
    /// A record did not decode and was skipped.
    BadRecord {
        /// Where it is.
        at: Position,
        /// Why.
        error: &'a wal_format::Error,
    },
    /// Segments that should have been read do not exist (Prometheus deleted them under a
    /// lagging reader, or they were removed by hand): reading went on with the next segment.
    Gap {
        /// The missing segments.
        missing: std::ops::RangeInclusive<u64>,
        /// The checkpoint read, when it covers some of them (it kept their live series and the
        /// samples Prometheus had not yet persisted in a block).
        checkpoint: Option<u64>,
        /// The newest sample timestamp read before the gap (ms), if any.
        newest_before_ms: Option<i64>,
        /// The first sample timestamp read after it (ms), if any.
        first_after_ms: Option<i64>,
    },
    /// The saved position lies beyond the newest segment: Prometheus's WAL was replaced (a new
    /// data directory). The whole WAL is read.
    CursorAhead {
        /// The position asked for.
        cursor: Position,
        /// The newest segment there is.
        newest: u64,
    },
    /// The segment being tailed was deleted while it was read. What it held was read.
    SegmentDeleted {
        /// Its index.
        segment: u64,
    },
    /// A new checkpoint was read and series older than it dropped.
    CheckpointGc {
        /// Its index.
        index: u64,
    },
    /// Caught up with the end of the WAL: from here on, samples arrive as Prometheus writes them.
    CaughtUp {
        /// Time since the pass started.
        replay: Duration,
    },
}

/// Stops a running watcher from another thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
}

impl StopHandle {
    /// Asks the watcher to stop; it returns from `run` within one poll interval (or as soon as a
    /// blocking sink call returns).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Where a pass stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassEnd {
    Stopped,
    /// Caught up with the end of the WAL (only when asked to stop there).
    AtEnd,
}

/// Follows one WAL directory and feeds a [`Sink`].
pub struct Watcher<S> {
    dir: PathBuf,
    opts: WatcherOptions,
    sink: S,
    metrics: Arc<WatcherMetrics>,
    stop: Arc<AtomicBool>,
    /// The filter of the first pass; later passes keep its time bound and move its position on.
    filter: Option<SampleFilter>,
    /// The position after the last record handed over: where a new pass resumes.
    next: Option<Position>,
    /// The last checkpoint whose series were read.
    checkpoint_seen: Option<u64>,
    /// The newest sample timestamp the sink has taken, over all passes.
    newest_taken: Option<i64>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl<S: Sink> Watcher<S> {
    /// A watcher of the WAL at `dir` (a WAL directory or a Prometheus data directory).
    pub fn new(dir: impl AsRef<Path>, opts: WatcherOptions, sink: S) -> Self {
        Watcher {
            dir: wal_reader::resolve_wal_dir(dir.as_ref()),
            opts,
            sink,
            metrics: Arc::new(WatcherMetrics::default()),
            stop: Arc::new(AtomicBool::new(false)),
            filter: None,
            next: None,
            checkpoint_seen: None,
            newest_taken: None,
        }
    }

    /// A handle to stop [`Watcher::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { stop: self.stop.clone() }
    }

    /// The watcher's counters, to share with a metrics endpoint.
    pub fn metrics(&self) -> Arc<WatcherMetrics> {
        self.metrics.clone()
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Changes which samples the watcher starts with. Only the first pass looks at it: call it
    /// before [`Watcher::run`] (a shipper that first sends what older storage holds learns only
    /// then where the WAL must take over); later passes resume where the last one stopped.
    pub fn set_start(&mut self, start: StartMode) {
        self.opts.start = start;
    }

    /// The position after the last record handed to the sink.
    pub fn position(&self) -> Option<Position> {
        self.next
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Follows the WAL until stopped, by its [`StopHandle`] or by its sink answering `false`
    /// (then `Ok`), or until the sink fails (then [`Error::Sink`]). An error reading the WAL ends
    /// a pass; the next pass starts after `retry_interval` from the position the last one
    /// reached, so nothing is skipped (unlike Prometheus, which restarts from "now"). Events go to
    /// `on_event`.
    pub fn run(&mut self, mut on_event: impl FnMut(Event<'_>)) -> Result<(), Error> {
        while !self.stopped() {
            match self.pass(false, &mut on_event) {
                Ok(_) => return Ok(()),
                Err(e @ Error::Sink(_)) => return Err(e),
                Err(e) => {
                    WatcherMetrics::add(&self.metrics.errors, 1);
                    on_event(Event::Error(&e));
                    let until = Instant::now() + self.opts.retry_interval;
                    while !self.stopped() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(20).min(self.opts.retry_interval));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the WAL up to its current end and returns: the newest segment is read until nothing
    /// more is there. For backfills and `--once`. Stops early, with `Ok`, when stopped or when the
    /// sink answers `false`.
    pub fn run_to_end(&mut self, mut on_event: impl FnMut(Event<'_>)) -> Result<(), Error> {
        self.pass(true, &mut on_event).map(|_| ())
    }

    fn pass(&mut self, until_end: bool, on_event: &mut dyn FnMut(Event<'_>)) -> Result<PassEnd, Error> {
        let started = Instant::now();
        let segments = list_segments(&self.dir)?;
        let newest = segments.last().ok_or_else(|| Error::NoSegments { dir: self.dir.clone() })?.index;
        let checkpoint = last_checkpoint(&self.dir)?;
        let cp_index = checkpoint.as_ref().map(|c| c.index);
        let mut filter = match (self.filter, self.next) {
            (Some(f), Some(next)) => SampleFilter { from: next, checkpoint_samples: false, ..f },
            (Some(f), None) => f,
            (None, _) => SampleFilter::new(self.opts.start, cp_index, newest, now_ms()),
        };
        let position_mode = matches!(self.opts.start, StartMode::Position(_)) || self.next.is_some();
        let mut resume = (position_mode && filter.from > Position::new(0, 0)).then_some(filter.from);
        if resume.is_some_and(|p| p.segment > newest) {
            // The cursor is ahead of the WAL: Prometheus's WAL was replaced. Read all of it.
            WatcherMetrics::add(&self.metrics.gaps, 1);
            on_event(Event::CursorAhead { cursor: filter.from, newest });
            filter.from = Position::new(0, 0);
            filter.checkpoint_samples = true;
            resume = None;
        }
        self.filter.get_or_insert(filter);
        // The checkpoint written with a gap met while running: its index, where its records
        // stand (the gap's place), and the time its samples must be newer than.
        let mut gap_checkpoint: Option<(u64, Position, i64)> = None;
        // A pass that resumes (after an error, or after its sink stopped it) in segments
        // Prometheus has since checkpointed and deleted reads that checkpoint before it meets
        // the gap: the sink is told now, as of a gap met while running, so that the checkpoint's
        // samples it wants are not skipped as older than the cursor.
        let mut gap_told: Option<u64> = None;
        if let (Some(p), Some(c), Some(_)) = (resume, cp_index, self.next) {
            let oldest = segments.first().map_or(p.segment, |s| s.index);
            if p.segment <= c && oldest > p.segment {
                let Some(after) = self.ask_gap(p.segment..=oldest - 1, Some(c), self.newest_taken)? else {
                    return Ok(PassEnd::Stopped);
                };
                gap_checkpoint = Some((c, Position::new(c, 0), after));
                gap_told = Some(p.segment);
            }
        }
        let mut dispatcher = Dispatcher::new(filter, self.opts.clone(), self.metrics.clone());
        let mut replay = Replay::open(&self.dir, ReplayOptions { resume, ..Default::default() })?;
        // The segment read first (after the checkpoint, if any), before any of it is read.
        self.metrics.current_segment.store(replay.segment(), Ordering::Relaxed);
        self.checkpoint_seen = cp_index.max(self.checkpoint_seen);

        let wakeup = Wakeup::new(&self.dir, self.opts.use_notify);
        let mut caught_up = false;
        let mut pending_gap: Option<PendingGap> = None;
        let mut last_checkpoint_check = Instant::now();
        loop {
            if self.stopped() {
                return Ok(PassEnd::Stopped);
            }
            let item = replay.next()?;
            let at_end = item.is_none();
            match item {
                Some(ReplayItem::Record { source, record }) => {
                    let (at, segment, purpose) = match (source, gap_checkpoint) {
                        // After a gap met while running, the checkpoint's records stand at the
                        // gap's place: after everything read before it.
                        (Source::Checkpoint(index), Some((c, at, after))) if c == index => {
                            (at, index, Purpose::Checkpoint { samples_after: Some(after) })
                        }
                        // Checkpoint records all stand at the checkpoint's place in the WAL:
                        // before the first segment after it.
                        (Source::Checkpoint(index), _) => (
                            Position::new(index, 0),
                            index,
                            Purpose::Checkpoint {
                                samples_after: dispatcher.filter.checkpoint_samples.then_some(i64::MIN),
                            },
                        ),
                        _ => (record.position, record.position.segment, Purpose::Segment),
                    };
                    match dispatcher.dispatch(&mut self.sink, record.data, at, segment, purpose) {
                        Ok(true) => self.newest_taken = self.newest_taken.max(dispatcher.newest_taken()),
                        // The sink wants no more: stop before this record, which it may not
                        // have taken.
                        Ok(false) => return Ok(PassEnd::Stopped),
                        Err(Failed::Decode(error)) => on_event(Event::BadRecord { at: record.position, error: &error }),
                        Err(Failed::Sink(e)) => return Err(Error::Sink(Box::new(e))),
                    }
                    if source != Source::Segment && pending_gap.is_some() {
                        // The time a gap ended at is that of the first segment after it.
                        dispatcher.take_first_timestamp();
                    }
                    if source == Source::Segment {
                        self.metrics.current_segment.store(segment, Ordering::Relaxed);
                        self.next = replay.position();
                        if let Some(gap) = pending_gap.as_mut() {
                            gap.after_t = gap.after_t.or(dispatcher.take_first_timestamp());
                            if gap.after_t.is_some() {
                                report_gap(pending_gap.take(), on_event);
                            }
                        }
                    }
                }
                Some(ReplayItem::Damage { error, .. }) => {
                    WatcherMetrics::add(&self.metrics.corruptions, 1);
                    if let wal_reader::Error::Corruption { skipped, records_lost, .. } = &error {
                        WatcherMetrics::add(&self.metrics.bytes_skipped, *skipped);
                        WatcherMetrics::add(&self.metrics.records_lost, *records_lost);
                    }
                    on_event(Event::Corruption(&error));
                }
                Some(ReplayItem::Gap(gap)) => {
                    WatcherMetrics::add(&self.metrics.gaps, 1);
                    report_gap(pending_gap.take(), on_event);
                    dispatcher.take_first_timestamp();
                    let before_t = self.newest_read();
                    // Met while running (something was read before it): the sink is told before
                    // anything after it, and says which of the checkpoint's samples it wants
                    // (unless it was told when this pass opened).
                    if self.next.is_some() && gap_told != Some(*gap.missing.start()) {
                        let Some(after) = self.ask_gap(gap.missing.clone(), gap.checkpoint_next, before_t)? else {
                            return Ok(PassEnd::Stopped);
                        };
                        let at = Position::new(*gap.missing.start(), 0);
                        gap_checkpoint = gap.checkpoint_next.map(|c| (c, at.max(Position::new(c, 0)), after));
                    }
                    pending_gap = Some(PendingGap { gap, before_t, after_t: None });
                }
                Some(ReplayItem::SegmentDeleted { segment }) => on_event(Event::SegmentDeleted { segment }),
                Some(ReplayItem::SegmentEnd { segment }) => {
                    report_gap(pending_gap.take(), on_event);
                    self.next = Some(Position::new(segment + 1, 0));
                    if !answer(self.sink.progress(Position::new(segment + 1, 0)))? {
                        return Ok(PassEnd::Stopped);
                    }
                    self.metrics.current_segment.store(segment + 1, Ordering::Relaxed);
                }
                Some(_) => {}
                None => {}
            }
            if !at_end {
                continue;
            }
            // The end of what is written so far.
            report_gap(pending_gap.take(), on_event);
            self.metrics.current_segment.store(replay.segment(), Ordering::Relaxed);
            if replay.is_tailing() {
                if !caught_up {
                    caught_up = true;
                    on_event(Event::CaughtUp { replay: started.elapsed() });
                }
                if let Some(p) = replay.tail_position() {
                    self.next = Some(p);
                    if !answer(self.sink.progress(p))? {
                        return Ok(PassEnd::Stopped);
                    }
                }
            }
            if until_end {
                return Ok(PassEnd::AtEnd);
            }
            if self.stopped() {
                return Ok(PassEnd::Stopped);
            }
            if last_checkpoint_check.elapsed() >= self.opts.checkpoint_check_interval {
                last_checkpoint_check = Instant::now();
                if !self.collect_garbage(replay.segment(), on_event)? {
                    return Ok(PassEnd::Stopped);
                }
            }
            // Sleep until something changes, but look for a newer segment at least every
            // segment_check_interval.
            let wait = if wakeup.notifying { self.opts.segment_check_interval } else { self.opts.poll_interval };
            wakeup.wait(wait.max(Duration::from_millis(1)));
        }
    }

    /// Tells the sink of the gap of the `missing` segments (with the `checkpoint` that stands in
    /// for them) and returns the time that checkpoint's samples must be newer than: by default
    /// `before`, the newest sample before the gap. `None`: the sink says stop.
    fn ask_gap(
        &mut self,
        missing: std::ops::RangeInclusive<u64>,
        checkpoint: Option<u64>,
        before: Option<i64>,
    ) -> Result<Option<i64>, Error> {
        match self.sink.gap(missing, checkpoint) {
            Ok(GapAnswer::Stop) => Ok(None),
            Ok(GapAnswer::GoOn) => Ok(Some(before.unwrap_or(i64::MIN))),
            Ok(GapAnswer::From(t)) => Ok(Some(t.saturating_sub(1))),
            Err(e) => Err(Error::Sink(Box::new(e))),
        }
    }

    /// The newest sample timestamp read so far, if any.
    fn newest_read(&self) -> Option<i64> {
        let t = self.metrics.newest_timestamp_ms.load(Ordering::Relaxed);
        (t > 0).then_some(t)
    }

    /// Reads a checkpoint newer than the last one seen (and older than the segment being read)
    /// and tells the sink to drop series that died before it. Errors are reported, not fatal:
    /// garbage collection is an optimisation, as in Prometheus. A damaged checkpoint refreshes
    /// what it can but drops nothing: series in its lost records may still be alive. Returns the
    /// sink's answer.
    fn collect_garbage(&mut self, segment: u64, on_event: &mut dyn FnMut(Event<'_>)) -> Result<bool, Error> {
        let cp = match last_checkpoint(&self.dir) {
            Ok(Some(cp)) => cp,
            Ok(None) => return Ok(true),
            Err(e) => {
                on_event(Event::Error(&e.into()));
                return Ok(true);
            }
        };
        if self.checkpoint_seen.is_some_and(|seen| cp.index <= seen) || cp.index >= segment {
            return Ok(true);
        }
        let filter = SampleFilter { after_t: i64::MAX, from: Position::new(u64::MAX, 0), checkpoint_samples: false };
        let mut gc = Dispatcher::new(filter, self.opts.clone(), self.metrics.clone());
        let mut replay = match Replay::checkpoint(&cp, IoMode::default()) {
            Ok(r) => r,
            Err(e) => {
                on_event(Event::Error(&e.into()));
                return Ok(true);
            }
        };
        let mut damaged = false;
        loop {
            match replay.next() {
                Ok(Some(ReplayItem::Record { record, .. })) => {
                    match gc.dispatch(&mut self.sink, record.data, record.position, cp.index, Purpose::Gc) {
                        Ok(true) => {}
                        Ok(false) => return Ok(false),
                        Err(Failed::Decode(error)) => on_event(Event::BadRecord { at: record.position, error: &error }),
                        Err(Failed::Sink(e)) => return Err(Error::Sink(Box::new(e))),
                    }
                }
                Ok(Some(ReplayItem::Damage { error, .. })) => {
                    damaged = true;
                    WatcherMetrics::add(&self.metrics.corruptions, 1);
                    on_event(Event::Corruption(&error));
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    on_event(Event::Error(&e.into()));
                    return Ok(true);
                }
            }
        }
        self.checkpoint_seen = Some(cp.index);
        if !damaged && !answer(self.sink.series_reset(cp.index))? {
            return Ok(false);
        }
        WatcherMetrics::add(&self.metrics.checkpoints_gc, 1);
        on_event(Event::CheckpointGc { index: cp.index });
        Ok(true)
    }
}

/// A sink's answer, its error boxed as the watcher's.
fn answer<E: std::error::Error + Send + Sync + 'static>(r: Result<bool, E>) -> Result<bool, Error> {
    r.map_err(|e| Error::Sink(Box::new(e)))
}

/// A gap waiting for the first sample after it, so that its report can say which time range the
/// missing segments held.
struct PendingGap {
    gap: wal_reader::Gap,
    before_t: Option<i64>,
    after_t: Option<i64>,
}

fn report_gap(gap: Option<PendingGap>, on_event: &mut dyn FnMut(Event<'_>)) {
    if let Some(g) = gap {
        on_event(Event::Gap {
            missing: g.gap.missing,
            checkpoint: g.gap.checkpoint,
            newest_before_ms: g.before_t,
            first_after_ms: g.after_t,
        });
    }
}
