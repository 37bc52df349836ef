//! Reads a WAL directory once, to its current end, through `wal-reader`'s [`Replay`] — the same
//! replay the shipper's watcher drives — and collects what it reports besides records. Every rule
//! about damage, holes and torn tails lives in the replay; this only gathers its reports.

use serde::Serialize;
use std::path::Path;
use wal_reader::{CheckpointRef, Error, Record, Replay, ReplayItem, ReplayOptions, Source};

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The checkpoint directory with this index.
    Checkpoint(u64),
    /// The WAL's own segments.
    Wal,
}

/// A damaged span, as `inspect` lists it and every command logs it.
#[derive(Debug, Clone, Serialize)]
pub struct DamageEntry {
    /// The damaged file (a segment, or a checkpoint's segment).
    pub file: String,
    /// Offset of the first bad byte.
    pub offset: u64,
    /// Bytes stepped over.
    pub bytes_skipped: u64,
    /// Records known to be lost.
    pub records_lost: u64,
    /// What was wrong.
    pub error: String,
}

impl DamageEntry {
    /// The entry for a corruption reported by the replay.
    pub fn from_error(e: &Error) -> DamageEntry {
        match e {
            Error::Corruption { path, fragment_offset, skipped, records_lost, source, .. } => DamageEntry {
                file: path.display().to_string(),
                offset: *fragment_offset,
                bytes_skipped: *skipped,
                records_lost: *records_lost,
                error: source.to_string(),
            },
            other => DamageEntry {
                file: String::new(),
                offset: 0,
                bytes_skipped: 0,
                records_lost: 0,
                error: other.to_string(),
            },
        }
    }
}

/// Segments missing from the WAL.
#[derive(Debug, Clone, Serialize)]
pub struct GapEntry {
    /// First missing segment.
    pub first: u64,
    /// Last missing segment.
    pub last: u64,
}

/// What a scan found besides records.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// The checkpoint read, if any.
    pub checkpoint: Option<CheckpointRef>,
    /// Indices of the WAL segments read.
    pub segments: Vec<u64>,
    /// Damage found; reading went on after each span.
    pub damage: Vec<DamageEntry>,
    /// Segments missing; reading went on with the next one that exists.
    pub gaps: Vec<GapEntry>,
    /// Bytes at the end of the newest segment that do not (yet) form a complete record:
    /// (segment, offset, bytes).
    pub incomplete_tail: Option<(u64, u64, u64)>,
}

impl ScanReport {
    /// Whether anything was lost to damage or missing segments.
    pub fn lost_data(&self) -> bool {
        !self.damage.is_empty() || !self.gaps.is_empty()
    }
}

/// Calls `on_record` for every record of the WAL at `dir` (a WAL directory or a Prometheus data
/// directory). Damage and gaps are collected in the report, not fatal; I/O errors are.
pub fn scan(dir: &Path, mut on_record: impl FnMut(Origin, Record<'_>)) -> Result<ScanReport, Error> {
    let mut replay = Replay::open(dir, ReplayOptions::default())?;
    let mut report = ScanReport { checkpoint: replay.checkpoint_read().cloned(), ..Default::default() };
    while let Some(item) = replay.next()? {
        match item {
            ReplayItem::Record { source, record } => {
                let origin = match source {
                    Source::Checkpoint(i) => Origin::Checkpoint(i),
                    _ => Origin::Wal,
                };
                on_record(origin, record)
            }
            ReplayItem::Damage { error, .. } => report.damage.push(DamageEntry::from_error(&error)),
            ReplayItem::Gap(g) => report.gaps.push(GapEntry { first: *g.missing.start(), last: *g.missing.end() }),
            ReplayItem::SegmentEnd { segment } => report.segments.push(segment),
            _ => {}
        }
    }
    if replay.is_tailing() {
        report.segments.push(replay.segment());
    }
    report.incomplete_tail = replay.incomplete_tail();
    Ok(report)
}
