//! `walship inspect`: a summary of what a WAL holds.

use crate::error::{check_dir, CliError, EXIT_DATA_LOST};
use crate::scan::{scan, DamageEntry, GapEntry, Origin};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use wal_format::record::{self, RecordType};
use wal_reader::Error;

/// A record whose frame was sound but whose contents do not decode.
#[derive(Debug, Serialize)]
pub struct BadRecordEntry {
    /// Segment file.
    pub segment: String,
    /// Offset of the record.
    pub offset: u64,
    /// What was wrong.
    pub error: String,
}

/// A persisted block of the data directory, as `inspect` lists it beside the WAL.
#[derive(Debug, Default, Serialize)]
pub struct BlockSummary {
    /// Its ULID.
    pub ulid: String,
    /// Start of its time range (ms, inclusive).
    pub min_time: i64,
    /// End of its time range (ms, exclusive).
    pub max_time: i64,
    /// Compaction level.
    pub level: u32,
    /// Series in its index.
    pub series: u64,
    /// Samples its chunks hold, from their headers (as written: tombstones not applied).
    pub samples: u64,
    /// Chunks per encoding (xor, histogram, floathistogram, …).
    pub chunks: std::collections::BTreeMap<String, u64>,
    /// Series with deleted ranges (tombstones).
    pub series_with_tombstones: usize,
    /// What its `meta.json` says: series, samples, chunks.
    pub meta_stats: [u64; 3],
    /// Why it could not be read in full, if it could not.
    pub error: Option<String>,
}

/// The summary. Counts include the checkpoint.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Distinct series refs declared by Series records.
    pub series: usize,
    /// Distinct refs with at least one float sample.
    pub series_with_samples: usize,
    /// Float sample entries.
    pub samples: u64,
    /// Integer native-histogram samples.
    pub histogram_samples: u64,
    /// Float native-histogram samples.
    pub float_histogram_samples: u64,
    /// Exemplars.
    pub exemplars: u64,
    /// Tombstone intervals.
    pub tombstones: u64,
    /// Metadata entries.
    pub metadata: u64,
    /// Mmap markers.
    pub mmap_markers: u64,
    /// Records by type name.
    pub records: std::collections::BTreeMap<String, u64>,
    /// Smallest float sample timestamp (ms).
    pub min_time: Option<i64>,
    /// Largest float sample timestamp (ms).
    pub max_time: Option<i64>,
    /// WAL segment indices read.
    pub segments: Vec<u64>,
    /// The checkpoint read (its directory name).
    pub checkpoint: Option<String>,
    /// Damaged spans: file, offset of the first bad byte, bytes skipped, records lost. Reading
    /// went on after each.
    pub damage: Vec<DamageEntry>,
    /// Segments missing from the numbering.
    pub gaps: Vec<GapEntry>,
    /// Records that do not decode (each skipped).
    pub bad_records: Vec<BadRecordEntry>,
    /// Bytes at the end of the newest segment not (yet) forming a record: {segment, offset, bytes}.
    pub incomplete_tail: Option<serde_json::Value>,
    /// Bytes of WAL read.
    pub bytes: u64,
    /// The persisted blocks of the data directory (empty for a bare WAL directory).
    pub blocks: Vec<BlockSummary>,
    /// Block directories left out (marked for deletion, superseded), with why.
    pub blocks_skipped: Vec<String>,
}

#[derive(Default)]
struct Counter {
    sum: Summary,
    series: crate::refset::RefSet,
    with_samples: crate::refset::RefSet,
    samples: Vec<record::RefSample>,
    hist: Vec<record::RefHistogramSample>,
    fhist: Vec<record::RefFloatHistogramSample>,
    decode_errors: Vec<BadRecordEntry>,
}

impl Counter {
    fn record(&mut self, data: &[u8]) -> Result<(), wal_format::Error> {
        let typ = RecordType::of(data);
        *self.sum.records.entry(typ.name().to_string()).or_default() += 1;
        match typ {
            RecordType::Series => {
                let mut v = Vec::new();
                record::decode_series(data, &mut v)?;
                for s in &v {
                    self.series.insert(s.series_ref);
                }
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                self.samples.clear();
                record::decode_samples(data, &mut self.samples)?;
                let (mut lo, mut hi) = (self.sum.min_time.unwrap_or(i64::MAX), self.sum.max_time.unwrap_or(i64::MIN));
                for s in &self.samples {
                    lo = lo.min(s.t);
                    hi = hi.max(s.t);
                    self.with_samples.insert(s.series_ref);
                }
                if !self.samples.is_empty() {
                    (self.sum.min_time, self.sum.max_time) = (Some(lo), Some(hi));
                }
                self.sum.samples += self.samples.len() as u64;
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                self.hist.clear();
                record::decode_histogram_samples(data, &mut self.hist)?;
                self.sum.histogram_samples += self.hist.len() as u64;
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                self.fhist.clear();
                record::decode_float_histogram_samples(data, &mut self.fhist)?;
                self.sum.float_histogram_samples += self.fhist.len() as u64;
            }
            RecordType::Exemplars => {
                let mut v = Vec::new();
                record::decode_exemplars(data, &mut v)?;
                self.sum.exemplars += v.len() as u64;
            }
            RecordType::Tombstones => {
                let mut v = Vec::new();
                record::decode_tombstones(data, &mut v)?;
                self.sum.tombstones += v.len() as u64;
            }
            RecordType::Metadata => {
                let mut v = Vec::new();
                record::decode_metadata(data, &mut v)?;
                self.sum.metadata += v.len() as u64;
            }
            RecordType::MmapMarkers => {
                let mut v = Vec::new();
                record::decode_mmap_markers(data, &mut v)?;
                self.sum.mmap_markers += v.len() as u64;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Summary {
    /// Whether anything was lost: damage, missing segments, records that do not decode.
    pub fn lost_data(&self) -> bool {
        !self.damage.is_empty()
            || !self.gaps.is_empty()
            || !self.bad_records.is_empty()
            || self.blocks.iter().any(|b| b.error.is_some())
    }
}

/// Lists the blocks of the data directory that holds `dir` (empty when there is none), read from
/// their index and chunk headers: no sample is decoded.
pub fn inspect_blocks(dir: &Path) -> Result<(Vec<BlockSummary>, Vec<String>), tsdb_block::Error> {
    let data_dir = crate::history::data_dir_of(dir);
    let data = tsdb_block::DataDir::open(&data_dir)?;
    let skipped = data.skipped().iter().map(|(p, why)| format!("{} ({why:?})", p.display())).collect();
    let mut out = Vec::new();
    for b in data.blocks() {
        let m = b.meta();
        let mut s = BlockSummary {
            ulid: m.ulid.clone(),
            min_time: m.min_time,
            max_time: m.max_time,
            level: m.compaction.level,
            meta_stats: [m.stats.num_series, m.stats.num_samples, m.stats.num_chunks],
            ..Default::default()
        };
        if let Err(e) = count_block(b, &mut s) {
            s.error = Some(e.to_string());
        }
        out.push(s);
    }
    Ok((out, skipped))
}

fn count_block(b: &tsdb_block::BlockDir, s: &mut BlockSummary) -> Result<(), tsdb_block::Error> {
    let block = b.open()?;
    s.series_with_tombstones = block.tombstones().len();
    for series in block.series()? {
        let series = series?;
        s.series += 1;
        for c in series.chunks() {
            let chunk = block.chunk_files().chunk(c.chunk_ref)?.chunk();
            *s.chunks.entry(chunk.encoding().name().to_string()).or_default() += 1;
            s.samples += u64::from(chunk.num_samples().unwrap_or(0));
        }
    }
    Ok(())
}

/// Reads the WAL at `dir` and summarises it.
pub fn inspect(dir: &Path) -> Result<Summary, Error> {
    let mut c = Counter::default();
    let report = scan(dir, |origin, rec| {
        c.sum.bytes += rec.data.len() as u64;
        if let Err(e) = c.record(rec.data) {
            let segment = match origin {
                Origin::Checkpoint(i) => format!("{}/{:08}", wal_format::checkpoint_dir_name(i), rec.position.segment),
                Origin::Wal => format!("{:08}", rec.position.segment),
            };
            c.decode_errors.push(BadRecordEntry { segment, offset: rec.position.offset, error: e.to_string() });
        }
    })?;
    let mut sum = c.sum;
    sum.series = c.series.len();
    sum.series_with_samples = c.with_samples.len();
    sum.segments = report.segments;
    sum.checkpoint = report.checkpoint.map(|c| wal_format::checkpoint_dir_name(c.index));
    sum.damage = report.damage;
    sum.gaps = report.gaps;
    sum.bad_records = c.decode_errors;
    sum.incomplete_tail = report
        .incomplete_tail
        .map(|(segment, offset, bytes)| serde_json::json!({"segment": segment, "offset": offset, "bytes": bytes}));
    Ok(sum)
}

/// `walship inspect DIR`: prints the summary of a WAL, of a data directory's WAL and blocks, or of
/// a data directory of blocks alone, as text or (`json`) JSON. Exit code [`EXIT_DATA_LOST`] when
/// some of the WAL was lost to damage or gaps.
pub fn run(dir: &Path, json: bool) -> Result<ExitCode, CliError> {
    let checked = check_dir(dir);
    let (blocks, blocks_skipped) = match inspect_blocks(dir) {
        Ok(b) => b,
        Err(e) => {
            // A wrong path is said as for a WAL.
            checked?;
            return Err(CliError::Usage(format!("{}: {e}", dir.display())));
        }
    };
    let mut summary = match checked {
        Ok(()) => inspect(dir)?,
        // A data directory of blocks alone (a snapshot) is summarised without a WAL.
        Err(_) if !blocks.is_empty() => Summary::default(),
        Err(e) => return Err(e),
    };
    summary.blocks = blocks;
    summary.blocks_skipped = blocks_skipped;
    if json {
        let s = serde_json::to_string_pretty(&summary).map_err(|e| CliError::Output(e.into()))?;
        println!("{s}");
    } else {
        print!("{}", render_text(&summary));
    }
    Ok(if summary.lost_data() { ExitCode::from(EXIT_DATA_LOST) } else { ExitCode::SUCCESS })
}

/// The summary as an operator reads it.
pub fn render_text(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = |x: Option<i64>| x.map_or("-".to_string(), |v| v.to_string());
    let _ = writeln!(out, "checkpoint:              {}", s.checkpoint.as_deref().unwrap_or("none"));
    let seg = match (s.segments.first(), s.segments.last()) {
        (Some(a), Some(b)) => format!("{a:08}..{b:08} ({} segments)", s.segments.len()),
        _ => "none".into(),
    };
    let _ = writeln!(out, "segments:                {seg}");
    let _ = writeln!(out, "series:                  {}", s.series);
    let _ = writeln!(out, "series with samples:     {}", s.series_with_samples);
    let _ = writeln!(out, "samples:                 {}", s.samples);
    let _ = writeln!(out, "histogram samples:       {}", s.histogram_samples);
    let _ = writeln!(out, "float histogram samples: {}", s.float_histogram_samples);
    let _ = writeln!(out, "exemplars:               {}", s.exemplars);
    let _ = writeln!(out, "metadata:                {}", s.metadata);
    let _ = writeln!(out, "tombstones:              {}", s.tombstones);
    let _ = writeln!(out, "time range (ms):         {} .. {}", t(s.min_time), t(s.max_time));
    for d in &s.damage {
        let _ = writeln!(
            out,
            "damage:                  {} at {}: {} ({} bytes skipped, {} records lost)",
            d.file, d.offset, d.error, d.bytes_skipped, d.records_lost
        );
    }
    for g in &s.gaps {
        let _ = writeln!(out, "missing segments:        {:08}..{:08}", g.first, g.last);
    }
    for b in &s.bad_records {
        let _ = writeln!(out, "record does not decode:  {} at {}: {}", b.segment, b.offset, b.error);
    }
    if let Some(tail) = &s.incomplete_tail {
        let _ = writeln!(out, "incomplete tail:         {tail} (a write in progress, or a torn write)");
    }
    if !s.blocks.is_empty() {
        let _ = writeln!(out, "blocks:                  {}", s.blocks.len());
    }
    for b in &s.blocks {
        let chunks: Vec<String> = b.chunks.iter().map(|(e, n)| format!("{n} {e}")).collect();
        let _ = writeln!(
            out,
            "  {} [{}, {}) level {}: {} series, {} samples, chunks: {}; {} series with tombstones",
            b.ulid,
            b.min_time,
            b.max_time,
            b.level,
            b.series,
            b.samples,
            if chunks.is_empty() { "none".to_string() } else { chunks.join(", ") },
            b.series_with_tombstones
        );
        if let Some(e) = &b.error {
            let _ = writeln!(out, "    unreadable: {e}");
        }
    }
    for k in &s.blocks_skipped {
        let _ = writeln!(out, "  skipped {k}");
    }
    out
}
