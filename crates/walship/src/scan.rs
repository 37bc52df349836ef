//! Walks a WAL directory the way Prometheus replays it: the last checkpoint, then every segment
//! after it. Finished segments are read with the strict [`Reader`]; the newest segment may still
//! be written, so it is read with the [`LiveReader`] and a partly written tail is reported as
//! such, not as damage.

use std::fs::File;
use std::path::{Path, PathBuf};
use wal_reader::{last_checkpoint, list_segments, CheckpointRef, Error, LiveReader, Reader, Record};

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The checkpoint directory with this index.
    Checkpoint(u64),
    /// The WAL's own segments.
    Wal,
}

/// What a scan found besides records.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// The checkpoint read, if any.
    pub checkpoint: Option<CheckpointRef>,
    /// Indices of the WAL segments read.
    pub segments: Vec<u64>,
    /// Damage found; reading went on with the next segment after each.
    pub corruptions: Vec<Error>,
    /// Bytes at the end of the newest segment that do not (yet) form a complete record.
    pub incomplete_tail: Option<(u64, u64, u64)>,
}

/// Calls `on_record` for every record of the WAL at `dir` (a WAL directory or a Prometheus data
/// directory). Corruption is collected in the report, not fatal; I/O errors on the directory are.
pub fn scan(dir: &Path, mut on_record: impl FnMut(Origin, Record<'_>)) -> Result<ScanReport, Error> {
    let dir = wal_reader::resolve_wal_dir(dir);
    let mut report = ScanReport { checkpoint: last_checkpoint(&dir)?, ..Default::default() };
    if let Some(cp) = &report.checkpoint {
        let mut reader = Reader::open(&cp.path)?;
        drain(&mut reader, &mut report.corruptions, |r| on_record(Origin::Checkpoint(cp.index), r))?;
    }
    let from = report.checkpoint.as_ref().map(|c| c.index + 1);
    let segments: Vec<_> = list_segments(&dir)?.into_iter().filter(|s| from.is_none_or(|f| s.index >= f)).collect();
    report.segments = segments.iter().map(|s| s.index).collect();
    let Some((newest, finished)) = segments.split_last() else { return Ok(report) };
    let mut reader = Reader::from_segments(finished.to_vec());
    drain(&mut reader, &mut report.corruptions, |r| on_record(Origin::Wal, r))?;

    let file = File::open(&newest.path).map_err(|source| Error::Io { path: newest.path.clone(), source })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut live = LiveReader::new(file, newest.path.clone(), newest.index);
    loop {
        match live.next_record() {
            Ok(Some(r)) => on_record(Origin::Wal, r),
            Ok(None) => break,
            Err(e @ Error::Corruption { .. }) => {
                report.corruptions.push(e);
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    }
    // Trailing zeros are the unused rest of a page, not an unfinished record.
    let end = live.offset();
    if live.record_open() || !tail_is_zero(&newest.path, end, size) {
        report.incomplete_tail = Some((newest.index, end, size - end));
    }
    Ok(report)
}

fn drain(reader: &mut Reader, corruptions: &mut Vec<Error>, mut f: impl FnMut(Record<'_>)) -> Result<(), Error> {
    loop {
        match reader.next_record() {
            Ok(Some(r)) => f(r),
            Ok(None) => return Ok(()),
            Err(e @ Error::Corruption { .. }) => {
                corruptions.push(e);
                reader.skip_segment();
            }
            Err(e) => return Err(e),
        }
    }
}

fn tail_is_zero(path: &PathBuf, from: u64, size: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if from >= size {
        return true;
    }
    let Ok(mut f) = File::open(path) else { return false };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    f.take(size - from).read_to_end(&mut buf).is_ok() && buf.iter().all(|&b| b == 0)
}
