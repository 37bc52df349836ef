//! The loop: checkpoint, segments, tail — and start again after an error, from where it was.

use crate::dispatch::{Dispatcher, Purpose};
use crate::error::Error;
use crate::metrics::WatcherMetrics;
use crate::sink::Sink;
use crate::start::{SampleFilter, StartMode};
use crate::wakeup::Wakeup;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wal_format::Position;
use wal_reader::{last_checkpoint, list_segments, CheckpointRef, LiveReader};

/// How a watcher behaves. `Default` gives Prometheus's behaviour and periods.
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// Which samples to send.
    pub start: StartMode,
    /// Hand exemplars to the sink.
    pub send_exemplars: bool,
    /// Hand native histograms to the sink.
    pub send_histograms: bool,
    /// Hand metadata records to the sink.
    pub send_metadata: bool,
    /// Wake on file-system notifications (inotify). Without them, or where they fail, the
    /// watcher polls every `poll_interval`.
    pub use_notify: bool,
    /// How often the tailed segment is read when nothing wakes the watcher. Prometheus 2.42 polls
    /// every 10 ms; with notifications this is only a safety net.
    pub poll_interval: Duration,
    /// How often to look for a newer segment while tailing (Prometheus: 100 ms).
    pub segment_check_interval: Duration,
    /// How often to look for a new checkpoint to garbage-collect series (Prometheus: 5 s).
    pub checkpoint_check_interval: Duration,
    /// Pause before starting again after an error (Prometheus: 5 s).
    pub retry_interval: Duration,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            start: StartMode::Now,
            send_exemplars: true,
            send_histograms: true,
            send_metadata: true,
            use_notify: true,
            poll_interval: Duration::from_millis(10),
            segment_check_interval: Duration::from_millis(100),
            checkpoint_check_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(5),
        }
    }
}

/// Something worth telling an operator, reported to the callback given to [`Watcher::run`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A pass over the WAL ended in an error; the watcher starts again after `retry_interval`.
    Error(&'a Error),
    /// Damage in a segment; reading went on with the next segment. Data in the damaged part is lost.
    Corruption(&'a wal_reader::Error),
    /// A record did not decode and was skipped.
    BadRecord {
        /// Where it is.
        at: Position,
        /// Why.
        error: &'a wal_format::Error,
    },
    /// The start position lies in segments Prometheus has deleted: reading resumed at `resumed`.
    Gap {
        /// The position asked for.
        wanted: Position,
        /// Where reading resumed.
        resumed: Position,
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

/// How draining a segment's available records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drained {
    /// No complete record is left (for now).
    End,
    /// The watcher was asked to stop.
    Stopped,
    /// The segment is damaged from here on; already reported.
    Damaged,
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

    /// The position after the last record handed to the sink.
    pub fn position(&self) -> Option<Position> {
        self.next
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Follows the WAL until stopped. An error ends a pass; the next pass starts after
    /// `retry_interval` from the position the last one reached, so nothing is skipped (unlike
    /// Prometheus, which restarts from "now"). Events go to `on_event`.
    pub fn run(&mut self, mut on_event: impl FnMut(Event<'_>)) {
        while !self.stopped() {
            match self.pass(false, &mut on_event) {
                Ok(_) => return,
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
    }

    /// Reads the WAL up to its current end and returns: the newest segment is read until nothing
    /// more is there. For backfills and `--once`.
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
        // The first segment after the checkpoint (Prometheus re-reads the checkpoint's own last
        // segment if it has not been deleted yet).
        let first = segments.iter().map(|s| s.index).find(|&i| cp_index.is_none_or(|c| i >= c));
        let first = first.ok_or_else(|| Error::NoSegments { dir: self.dir.clone() })?;
        let position_mode = matches!(self.opts.start, StartMode::Position(_)) || self.next.is_some();
        if position_mode && filter.from.segment < first && filter.from > Position::new(0, 0) {
            let resumed = Position::new(first, 0);
            WatcherMetrics::add(&self.metrics.gaps, 1);
            on_event(Event::Gap { wanted: filter.from, resumed });
            filter.checkpoint_samples = cp_index.is_some_and(|c| filter.from.segment <= c);
            filter.from = resumed;
        } else if position_mode && filter.from.segment > newest {
            // The cursor is ahead of the WAL: Prometheus's WAL was replaced. Read all of it.
            let resumed = Position::new(first, 0);
            WatcherMetrics::add(&self.metrics.gaps, 1);
            on_event(Event::Gap { wanted: filter.from, resumed });
            filter.from = resumed;
            filter.checkpoint_samples = true;
        }
        self.filter.get_or_insert(filter);
        let mut dispatcher = Dispatcher::new(filter, self.opts.clone(), self.metrics.clone());

        if let Some(cp) = &checkpoint {
            let purpose = Purpose::Checkpoint { samples: filter.checkpoint_samples };
            self.read_checkpoint(cp, purpose, &mut dispatcher, on_event)?;
        }
        self.checkpoint_seen = cp_index.max(self.checkpoint_seen);

        let wakeup = Wakeup::new(&self.dir, self.opts.use_notify);
        let mut caught_up = false;
        let mut segment = first;
        loop {
            if self.stopped() {
                return Ok(PassEnd::Stopped);
            }
            self.metrics.current_segment.store(segment, Ordering::Relaxed);
            let end = if segment < newest {
                self.read_finished(segment, &mut dispatcher, on_event)?;
                None
            } else {
                if !caught_up {
                    caught_up = true;
                    on_event(Event::CaughtUp { replay: started.elapsed() });
                }
                self.tail(segment, until_end, &wakeup, &mut dispatcher, on_event)?
            };
            if let Some(end) = end {
                return Ok(end);
            }
            segment += 1;
        }
    }

    fn open(&self, dir: &Path, segment: u64) -> Result<(File, PathBuf, u64), Error> {
        let path = dir.join(wal_format::segment_file_name(segment));
        let file = File::open(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let size = file.metadata().map_err(|source| Error::Io { path: path.clone(), source })?.len();
        Ok((file, path, size))
    }

    fn read_checkpoint(
        &mut self,
        cp: &CheckpointRef,
        purpose: Purpose,
        dispatcher: &mut Dispatcher,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), Error> {
        for seg in list_segments(&cp.path)? {
            let (file, path, size) = self.open(&cp.path, seg.index)?;
            let mut reader = LiveReader::new(file, &path, seg.index);
            // Checkpoint records all stand at the checkpoint's place in the WAL: before the
            // first segment after it.
            let at = Position::new(cp.index, 0);
            while let Some(rec) = reader.next_record()? {
                if let Err(error) = dispatcher.dispatch(&mut self.sink, rec.data, at, cp.index, purpose) {
                    on_event(Event::BadRecord { at: rec.position, error: &error });
                }
            }
            if reader.offset() != size {
                return Err(Error::CheckpointIncomplete { path, read: reader.offset(), size });
            }
        }
        Ok(())
    }

    /// Reads a segment that is no longer written, to its end.
    fn read_finished(
        &mut self,
        segment: u64,
        dispatcher: &mut Dispatcher,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), Error> {
        let (file, path, size) = self.open(&self.dir.clone(), segment)?;
        let mut reader = LiveReader::new(file, &path, segment);
        match self.drain(&mut reader, segment, dispatcher, on_event)? {
            Drained::Stopped => return Ok(()),
            Drained::Damaged => {}
            Drained::End => {
                // Prometheus warns "may have dropped data" here; we count it as damage.
                self.report_torn_tail(&reader, &path, segment, reader.offset(), size, false, on_event);
            }
        }
        self.next = Some(Position::new(segment + 1, 0));
        self.sink.progress(Position::new(segment + 1, 0));
        Ok(())
    }

    /// Hands every complete record `reader` has to the sink, until none is left, the watcher is
    /// stopped, or the segment turns out damaged (reported and counted).
    fn drain(
        &mut self,
        reader: &mut LiveReader<File>,
        segment: u64,
        dispatcher: &mut Dispatcher,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Drained, Error> {
        loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    if let Err(error) =
                        dispatcher.dispatch(&mut self.sink, rec.data, rec.position, segment, Purpose::Segment)
                    {
                        on_event(Event::BadRecord { at: rec.position, error: &error });
                    }
                    self.next = Some(Position::new(segment, reader.offset()));
                    if self.stopped() {
                        return Ok(Drained::Stopped);
                    }
                }
                Ok(None) => return Ok(Drained::End),
                Err(e @ wal_reader::Error::Corruption { .. }) => {
                    WatcherMetrics::add(&self.metrics.corruptions, 1);
                    on_event(Event::Corruption(&e));
                    return Ok(Drained::Damaged);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reports, as damage, bytes of a finished segment (`size` long) after the last complete
    /// record that are not the zero padding of a page — and, with `open_is_torn`, a record left
    /// open. `offset` is the offset the error names.
    #[allow(clippy::too_many_arguments)]
    fn report_torn_tail(
        &self,
        reader: &LiveReader<File>,
        path: &Path,
        segment: u64,
        offset: u64,
        size: u64,
        open_is_torn: bool,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        let end = reader.offset();
        let open = open_is_torn && reader.record_open();
        if !open && (end == size || reader_left_only_padding(path, end, size)) {
            return;
        }
        WatcherMetrics::add(&self.metrics.corruptions, 1);
        let left = size.saturating_sub(end) as usize;
        let e = wal_reader::Error::Corruption {
            path: path.to_path_buf(),
            segment,
            offset,
            fragment_offset: end,
            source: wal_format::Error::TruncatedFragment { needed: left + 1, available: left },
        };
        on_event(Event::Corruption(&e));
    }

    /// Tails the segment being written until a newer one exists and this one is read to its end.
    /// Returns `Some` when the pass should end here (stopped, or at the end with `until_end`).
    fn tail(
        &mut self,
        segment: u64,
        until_end: bool,
        wakeup: &Wakeup,
        dispatcher: &mut Dispatcher,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<PassEnd>, Error> {
        let (file, path, _) = self.open(&self.dir.clone(), segment)?;
        let mut reader = LiveReader::new(file, &path, segment);
        let next_path = self.dir.join(wal_format::segment_file_name(segment + 1));
        let mut last_segment_check = Instant::now();
        let mut last_checkpoint_check = Instant::now();
        let mut damaged = false;
        loop {
            // Whether a newer segment exists must be known before the last read of this one: the
            // writer finishes a segment before it creates the next.
            let newer = next_path.exists();
            if !damaged {
                match self.drain(&mut reader, segment, dispatcher, on_event)? {
                    Drained::Stopped => return Ok(Some(PassEnd::Stopped)),
                    // The rest of this segment cannot be read; wait for the next one.
                    Drained::Damaged => damaged = true,
                    Drained::End => {}
                }
            }
            if newer {
                if !damaged {
                    // A newer segment exists, so this one is finished: what is left is torn.
                    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                    self.report_torn_tail(&reader, &path, segment, size, size, true, on_event);
                }
                self.next = Some(Position::new(segment + 1, 0));
                self.sink.progress(Position::new(segment + 1, 0));
                return Ok(None);
            }
            if !reader.record_open() && !damaged {
                self.sink.progress(Position::new(segment, reader.offset()));
            }
            if until_end {
                return Ok(Some(PassEnd::AtEnd));
            }
            if self.stopped() {
                return Ok(Some(PassEnd::Stopped));
            }
            if last_checkpoint_check.elapsed() >= self.opts.checkpoint_check_interval {
                last_checkpoint_check = Instant::now();
                self.collect_garbage(segment, on_event);
            }
            // Sleep until something changes, but look for a newer segment at least every
            // segment_check_interval.
            let wait = if wakeup.notifying {
                self.opts.segment_check_interval.saturating_sub(last_segment_check.elapsed())
            } else {
                self.opts.poll_interval
            };
            wakeup.wait(wait.max(Duration::from_millis(1)));
            if last_segment_check.elapsed() >= self.opts.segment_check_interval {
                last_segment_check = Instant::now();
            }
        }
    }

    /// Reads a checkpoint newer than the last one seen (and older than the segment being read)
    /// and tells the sink to drop series that died before it. Errors are reported, not fatal:
    /// garbage collection is an optimisation, as in Prometheus.
    fn collect_garbage(&mut self, segment: u64, on_event: &mut dyn FnMut(Event<'_>)) {
        let cp = match last_checkpoint(&self.dir) {
            Ok(Some(cp)) => cp,
            Ok(None) => return,
            Err(e) => {
                on_event(Event::Error(&e.into()));
                return;
            }
        };
        if self.checkpoint_seen.is_some_and(|seen| cp.index <= seen) || cp.index >= segment {
            return;
        }
        let filter = SampleFilter { after_t: i64::MAX, from: Position::new(u64::MAX, 0), checkpoint_samples: false };
        let mut gc = Dispatcher::new(filter, self.opts.clone(), self.metrics.clone());
        match self.read_checkpoint(&cp, Purpose::Gc, &mut gc, on_event) {
            Ok(()) => {
                self.checkpoint_seen = Some(cp.index);
                self.sink.series_reset(cp.index);
                WatcherMetrics::add(&self.metrics.checkpoints_gc, 1);
                on_event(Event::CheckpointGc { index: cp.index });
            }
            Err(e) => on_event(Event::Error(&e)),
        }
    }
}

/// Whether the bytes of `path` from `from` to `size` are all zero: the unused rest of a page.
fn reader_left_only_padding(path: &Path, from: u64, size: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else { return false };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    f.take(size.saturating_sub(from)).read_to_end(&mut buf).is_ok() && buf.iter().all(|&b| b == 0)
}
