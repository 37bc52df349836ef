//! Replaying a whole WAL directory the way Prometheus does — the last checkpoint, then every
//! segment after it, then the segment still being written — with every rule about damage in one
//! place: padding at a segment's end, torn tails, holes in the numbering, damaged records and
//! damaged checkpoints.

use crate::dir::{last_checkpoint, list_segments, CheckpointRef, SegmentRef};
use crate::error::{io_err, Error};
use crate::live_reader::LiveReader;
use crate::reader::{IoMode, Reader, Ready};
use crate::Record;
use std::fs::File;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wal_format::Position;

/// How often, at most, the directory is listed again while the newest segment is tailed, to
/// notice a newer segment after a hole in the numbering. The next segment's own file is looked for
/// at every call; only a hole needs the listing. Prometheus's watcher lists every 100 ms too.
const RELIST_EVERY: Duration = Duration::from_millis(100);

/// Where a replayed record or damage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The checkpoint directory `checkpoint.NNNNNNNN` with this index. Record positions then
    /// name the checkpoint's own segment files.
    Checkpoint(u64),
    /// A segment of the WAL itself.
    Segment,
}

/// Segments that should have been read but do not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The missing segment indices.
    pub missing: RangeInclusive<u64>,
    /// The checkpoint read, when it covers some of the missing segments: it holds their series
    /// still alive and the samples Prometheus kept of them.
    pub checkpoint: Option<u64>,
    /// The checkpoint read right after this gap, before the next segment: one Prometheus wrote
    /// when it deleted the missing segments while they were being read (see
    /// [`Replay`]). `None` for a gap met at the start of a replay, whose checkpoint came first.
    pub checkpoint_next: Option<u64>,
}

/// One step of a [`Replay`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayItem<'a> {
    /// A record, in WAL order.
    Record {
        /// The checkpoint or the WAL.
        source: Source,
        /// The record and its position.
        record: Record<'a>,
    },
    /// A damaged span, stepped over: only the records it touches are lost, and reading goes on
    /// after it. Always an [`Error::Corruption`].
    Damage {
        /// The checkpoint or the WAL.
        source: Source,
        /// Which file, where, how many bytes and records it cost, and why.
        error: Error,
    },
    /// Segments missing from the numbering (deleted by Prometheus under a slow reader, or by
    /// hand): reading goes on with the next segment that exists.
    Gap(Gap),
    /// The segment being tailed was deleted while it was read. What it held was read; reading
    /// goes on with the next segment once one exists.
    SegmentDeleted {
        /// Its index.
        segment: u64,
    },
    /// The segment was read to its end: every record before `(segment + 1, 0)` has been returned.
    SegmentEnd {
        /// Its index.
        segment: u64,
    },
}

/// Where a [`Replay`] starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// The position whose records the caller needs, if it resumes a saved one. Without it, the
    /// segments replayed are those after the checkpoint (as Prometheus replays its head). With
    /// it, they start at this position's segment when that comes earlier and still exists; when
    /// it no longer exists, the missing segments are reported as a [`Gap`]. Either way, every
    /// segment after the checkpoint is read, because its series may be needed later.
    pub resume: Option<Position>,
    /// How finished segments are read.
    pub io: IoMode,
}

enum Phase {
    Checkpoint {
        reader: Reader,
        index: u64,
    },
    /// Choose the next segment to read.
    Next,
    /// A run of finished segments, read with the [`Reader`]: mapped, which the `wal-reader`
    /// bench measures faster than `read(2)` (see [`IoMode`]).
    Finished {
        reader: Reader,
    },
    /// The newest segment, read with the [`LiveReader`] as Prometheus writes it.
    Tail(Box<Tail>),
    /// The tailed segment was finished and its damage reported: its end comes next.
    Ended(u64),
    /// Only a checkpoint was asked for, and it has been read.
    End,
}

struct Tail {
    reader: LiveReader<File>,
    segment: u64,
    path: PathBuf,
    /// A newer segment exists: this one will not grow; read it to its end and finish it.
    finishing: bool,
    deleted: bool,
}

/// Replays a WAL directory: the last checkpoint, every segment after it, and the newest segment
/// as it grows.
///
/// [`Replay::next`] returns records and what happened between them ([`ReplayItem`]), and
/// `Ok(None)` when it has reached the end of what is written so far; calling it again later reads
/// what was written since, and moves on to newer segments as Prometheus creates them. A segment
/// is read to its end, and its leftover bytes judged as damage, only once a newer segment exists:
/// until then they may be a write in progress.
///
/// Segments missing where the next one was expected are a [`Gap`]. When they were deleted
/// while this replay read the WAL, Prometheus wrote a checkpoint of them first: the newest
/// checkpoint, when it is newer than the one read so far and numbered at least the first missing
/// segment less one, is read right after the gap, then the segments after it — the order of a
/// replay that started then ([`Gap::checkpoint_next`]).
///
/// Damage never ends a replay: a bad record, a torn tail, a damaged checkpoint or a missing
/// segment costs only what it touches, and each is reported once with what it cost. Errors are
/// only for what stops reading altogether (the directory cannot be listed, a segment cannot be
/// read).
pub struct Replay {
    dir: PathBuf,
    io: IoMode,
    checkpoint: Option<CheckpointRef>,
    /// The next segment expected.
    next_segment: u64,
    /// Where the caller wants to start, until the first segment is chosen.
    wanted: Option<u64>,
    phase: Phase,
    listing: Vec<SegmentRef>,
    listed_at: Option<Instant>,
    /// Records and damage reported in the current finished segment, to notice one that holds
    /// only zeros.
    items_in_segment: u64,
    /// A segment end to report at the next call (after the damage reported first).
    pending_end: Option<u64>,
}

impl Replay {
    /// A replay of the WAL at `dir` (a WAL directory or a Prometheus data directory).
    pub fn open(dir: &Path, opts: ReplayOptions) -> Result<Self, Error> {
        let dir = crate::resolve_wal_dir(dir);
        let checkpoint = last_checkpoint(&dir)?;
        let listing = list_segments(&dir)?;
        let oldest = listing.first().map_or(0, |s| s.index);
        let after_checkpoint = checkpoint.as_ref().map(|c| c.index + 1);
        let start = match (opts.resume, after_checkpoint) {
            (Some(p), Some(c)) => p.segment.min(c),
            (Some(p), None) => p.segment.min(oldest),
            (None, Some(c)) => c,
            (None, None) => oldest,
        };
        let phase = match &checkpoint {
            Some(cp) => Phase::Checkpoint { reader: checkpoint_reader(cp, opts.io)?, index: cp.index },
            None => Phase::Next,
        };
        Ok(Replay {
            dir,
            io: opts.io,
            checkpoint,
            next_segment: start,
            wanted: Some(start),
            phase,
            listing,
            listed_at: Some(Instant::now()),
            items_in_segment: 0,
            pending_end: None,
        })
    }

    /// A replay of one checkpoint alone (to refresh series from a checkpoint written while the
    /// WAL is tailed): its records and damage, then `None`.
    pub fn checkpoint(cp: &CheckpointRef, io: IoMode) -> Result<Self, Error> {
        Ok(Replay {
            dir: cp.path.clone(),
            io,
            checkpoint: Some(cp.clone()),
            next_segment: u64::MAX,
            wanted: None,
            phase: Phase::Checkpoint { reader: checkpoint_reader(cp, io)?, index: cp.index },
            listing: Vec::new(),
            listed_at: None,
            items_in_segment: 0,
            pending_end: None,
        })
    }

    /// The checkpoint this replay read (or reads), if any.
    pub fn checkpoint_read(&self) -> Option<&CheckpointRef> {
        self.checkpoint.as_ref()
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment being read, or the next one expected.
    pub fn segment(&self) -> u64 {
        match &self.phase {
            Phase::Tail(t) => t.segment,
            Phase::Finished { reader } => reader.position().segment,
            _ => self.next_segment,
        }
    }

    /// The newest segment is being tailed: `Ok(None)` from [`Replay::next`] now means "nothing
    /// more yet" rather than "a segment is missing".
    pub fn is_tailing(&self) -> bool {
        matches!(self.phase, Phase::Tail(_))
    }

    /// The position just past the bytes of the WAL consumed so far (after a record: just past
    /// its last fragment). `None` while the checkpoint is read or between segments.
    pub fn position(&self) -> Option<Position> {
        match &self.phase {
            Phase::Finished { reader } => Some(reader.position()),
            Phase::Tail(t) => Some(Position::new(t.segment, t.reader.offset())),
            _ => None,
        }
    }

    /// Where the tailed segment's complete records end, when reading stands between records:
    /// a position to resume from.
    pub fn tail_position(&self) -> Option<Position> {
        match &self.phase {
            Phase::Tail(t) if t.reader.at_record_boundary() => Some(Position::new(t.segment, t.reader.offset())),
            _ => None,
        }
    }

    /// Bytes at the end of the tailed segment that do not (yet) form a complete record: its
    /// index, where they start and how many there are. A write in progress, or a torn write if
    /// Prometheus stopped there.
    pub fn incomplete_tail(&self) -> Option<(u64, u64, u64)> {
        let Phase::Tail(t) = &self.phase else { return None };
        let size = t.reader.get_ref().metadata().map_or(0, |m| m.len());
        let end = t.reader.offset();
        let pending = t.reader.pending_bytes() as u64;
        // Zeros after the last record are the unused rest of a page, not an unfinished record.
        (!t.reader.at_record_boundary() || pending > 0 && !t.reader.pending_is_zero())
            .then(|| (t.segment, end, size.saturating_sub(end)))
    }

    /// The next record or event; `Ok(None)` at the end of what is written so far.
    #[allow(clippy::should_implement_trait)] // a lending iterator: items borrow the replay
    pub fn next(&mut self) -> Result<Option<ReplayItem<'_>>, Error> {
        if let Some(segment) = self.pending_end.take() {
            return Ok(Some(ReplayItem::SegmentEnd { segment }));
        }
        loop {
            match &mut self.phase {
                Phase::Checkpoint { reader, index } => {
                    let index = *index;
                    match reader.advance() {
                        Ok(Ready::Record(range)) => {
                            let Phase::Checkpoint { reader, .. } = &self.phase else { unreachable!() };
                            let record = reader.record(range);
                            return Ok(Some(ReplayItem::Record { source: Source::Checkpoint(index), record }));
                        }
                        Ok(Ready::SegmentEnd(_)) => {}
                        Ok(Ready::Done) => {
                            self.phase = if self.wanted.is_some() { Phase::Next } else { Phase::End };
                        }
                        Err(error @ Error::Corruption { .. }) => {
                            return Ok(Some(ReplayItem::Damage { source: Source::Checkpoint(index), error }))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Phase::End => return Ok(None),
                Phase::Ended(segment) => {
                    let segment = *segment;
                    self.phase = Phase::Next;
                    return Ok(Some(ReplayItem::SegmentEnd { segment }));
                }
                Phase::Next => match self.choose_next()? {
                    Some(item) => return Ok(Some(item)),
                    None if matches!(self.phase, Phase::Next) => return Ok(None),
                    None => {}
                },
                Phase::Finished { reader } => match reader.advance() {
                    Ok(Ready::Record(range)) => {
                        self.items_in_segment += 1;
                        let Phase::Finished { reader } = &self.phase else { unreachable!() };
                        let record = reader.record(range);
                        return Ok(Some(ReplayItem::Record { source: Source::Segment, record }));
                    }
                    Ok(Ready::SegmentEnd(segment)) => {
                        self.next_segment = segment + 1;
                        let empty = std::mem::take(&mut self.items_in_segment) == 0;
                        if let Some(error) = empty.then(|| self.zero_segment(segment)).flatten() {
                            self.pending_end = Some(segment);
                            return Ok(Some(ReplayItem::Damage { source: Source::Segment, error }));
                        }
                        return Ok(Some(ReplayItem::SegmentEnd { segment }));
                    }
                    Ok(Ready::Done) => self.phase = Phase::Next,
                    Err(error @ Error::Corruption { .. }) => {
                        self.items_in_segment += 1;
                        return Ok(Some(ReplayItem::Damage { source: Source::Segment, error }));
                    }
                    Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                        // Deleted between the listing and its opening: Prometheus truncated the
                        // WAL under us. Listed again, the segments gone are a gap like any other
                        // (with the checkpoint written with it).
                        self.next_segment = reader.current_segment().map_or(self.next_segment, |s| s.index);
                        self.phase = Phase::Next;
                        self.relist(true)?;
                    }
                    Err(e) => return Err(e),
                },
                Phase::Tail(tail) => match tail.reader.advance() {
                    Ok(Some(range)) => {
                        let Phase::Tail(tail) = &self.phase else { unreachable!() };
                        let record = tail.reader.record(range);
                        return Ok(Some(ReplayItem::Record { source: Source::Segment, record }));
                    }
                    Err(error @ Error::Corruption { .. }) => {
                        return Ok(Some(ReplayItem::Damage { source: Source::Segment, error }))
                    }
                    Err(e) => return Err(e),
                    Ok(None) if tail.finishing && tail.reader.seal() => {}
                    Ok(None) if tail.finishing => {
                        let segment = tail.segment;
                        let finished = tail.reader.finish();
                        self.next_segment = segment + 1;
                        self.phase = Phase::Next;
                        if let Err(error) = finished {
                            // Reported now; the segment's end follows at the next call.
                            self.phase = Phase::Ended(segment);
                            return Ok(Some(ReplayItem::Damage { source: Source::Segment, error }));
                        }
                        return Ok(Some(ReplayItem::SegmentEnd { segment }));
                    }
                    Ok(None) => {
                        // The writer finishes a segment before it creates the next one, so once
                        // a newer segment exists, one more read takes in all this one will hold.
                        let (segment, path) = (tail.segment, tail.path.clone());
                        if self.newer_exists(segment) {
                            if let Phase::Tail(tail) = &mut self.phase {
                                tail.finishing = true;
                            }
                            continue;
                        }
                        let Phase::Tail(tail) = &mut self.phase else { unreachable!() };
                        if !tail.deleted && !path.exists() {
                            tail.deleted = true;
                            return Ok(Some(ReplayItem::SegmentDeleted { segment }));
                        }
                        return Ok(None);
                    }
                },
            }
        }
    }

    /// The damage of a finished segment that yielded nothing: a non-empty file of zeros.
    fn zero_segment(&self, segment: u64) -> Option<Error> {
        let path = self.dir.join(wal_format::segment_file_name(segment));
        let bytes = std::fs::read(&path).ok()?;
        (!bytes.is_empty() && bytes.iter().all(|&b| b == 0)).then_some(Error::Corruption {
            path,
            segment,
            offset: 0,
            fragment_offset: 0,
            skipped: bytes.len() as u64,
            records_lost: 0,
            source: wal_format::Error::ZeroSegment,
        })
    }

    fn gap(&self, missing: RangeInclusive<u64>) -> Gap {
        let checkpoint = self.checkpoint.as_ref().map(|c| c.index).filter(|&c| c >= *missing.start());
        Gap { missing, checkpoint, checkpoint_next: None }
    }

    /// The gap of the `missing` segments, met while reading. When Prometheus deleted them, it
    /// first wrote a checkpoint of them (numbered like the last segment it covers): a checkpoint
    /// newer than the one read so far and numbered at least `missing.start() - 1` is read next,
    /// as at the start of a replay, and the segments after it then. Without one, reading goes on
    /// with the next segment there is.
    fn gap_met(&mut self, missing: RangeInclusive<u64>) -> Result<ReplayItem<'static>, Error> {
        let read = self.checkpoint.as_ref().map(|c| c.index);
        let newer = last_checkpoint(&self.dir)?
            .filter(|c| c.index.saturating_add(1) >= *missing.start() && read.is_none_or(|r| c.index > r));
        let Some(cp) = newer else { return Ok(ReplayItem::Gap(self.gap(missing))) };
        self.phase = Phase::Checkpoint { reader: checkpoint_reader(&cp, self.io)?, index: cp.index };
        self.next_segment = self.next_segment.max(cp.index + 1);
        self.wanted = Some(self.next_segment);
        let index = cp.index;
        self.checkpoint = Some(cp);
        Ok(ReplayItem::Gap(Gap { checkpoint_next: Some(index), ..self.gap(missing) }))
    }

    /// Lists the directory again, at most every [`RELIST_EVERY`] unless `force`.
    fn relist(&mut self, force: bool) -> Result<(), Error> {
        if force || self.listed_at.is_none_or(|t| t.elapsed() >= RELIST_EVERY) {
            self.listing = list_segments(&self.dir)?;
            self.listed_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Whether a segment newer than `segment` exists.
    fn newer_exists(&mut self, segment: u64) -> bool {
        if self.dir.join(wal_format::segment_file_name(segment + 1)).exists() {
            return true;
        }
        // A newer segment after a hole is found by listing, which is rarer.
        self.relist(false).is_ok() && self.listing.last().is_some_and(|s| s.index > segment)
    }

    /// Picks the next segment to read and how. Returns a gap when segments are missing before it;
    /// `None` with the phase left at `Next` when no segment is there yet.
    fn choose_next(&mut self) -> Result<Option<ReplayItem<'static>>, Error> {
        let wanted = self.next_segment;
        if !self.listing.iter().any(|s| s.index >= wanted) {
            self.relist(true)?;
        }
        let Some(pos) = self.listing.iter().position(|s| s.index >= wanted) else { return Ok(None) };
        let first = self.listing[pos].index;
        self.wanted = None;
        if first > wanted {
            self.next_segment = first;
            return self.gap_met(wanted..=first - 1).map(Some);
        }
        // Finished segments: those with a newer one after them, read as one run so that a record
        // may cross from one into the next (Prometheus's writer does that only with records
        // larger than a segment, and its reader reads them).
        let run: Vec<SegmentRef> = self.listing[pos..]
            .iter()
            .zip(&self.listing[pos + 1..])
            .take_while(|(a, b)| a.index + 1 == b.index)
            .map(|(a, _)| a.clone())
            .collect();
        // A segment followed by a hole is finished all the same: a run of its own.
        let is_finished = self.listing.len() > pos + 1;
        let run = if run.is_empty() && is_finished { vec![self.listing[pos].clone()] } else { run };
        if !run.is_empty() {
            let mut reader = Reader::from_segments(run);
            reader.set_io_mode(self.io);
            self.phase = Phase::Finished { reader };
            return Ok(None);
        }
        let seg = &self.listing[pos];
        let file = match File::open(&seg.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.listing.remove(pos);
                self.next_segment = first + 1;
                return self.gap_met(first..=first).map(Some);
            }
            Err(e) => return Err(io_err(&seg.path)(e)),
        };
        let reader = LiveReader::new(file, seg.path.clone(), seg.index);
        self.phase = Phase::Tail(Box::new(Tail {
            reader,
            segment: seg.index,
            path: seg.path.clone(),
            finishing: false,
            deleted: false,
        }));
        Ok(None)
    }
}

fn checkpoint_reader(cp: &CheckpointRef, io: IoMode) -> Result<Reader, Error> {
    let mut reader = Reader::from_segments(list_segments(&cp.path)?);
    reader.set_io_mode(io);
    Ok(reader)
}
