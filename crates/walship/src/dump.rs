//! `walship dump`: every record, one per line, as text or JSON lines.

use crate::matcher::{matches_all, Matcher};
use crate::scan::{scan, Origin};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use wal_format::record::{self, Labels, LabelsRef, RecordType, STALE_NAN_BITS};

/// What to print.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only entries of these series refs (all when empty).
    pub refs: Vec<u64>,
    /// Only entries of series whose labels match.
    pub matchers: Vec<Matcher>,
    /// Only samples at or after this time (ms).
    pub min_time: Option<i64>,
    /// Only samples at or before this time (ms).
    pub max_time: Option<i64>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One human-readable line per record.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// A float as JSON: a number that parses back to the same bits when finite, else a string.
pub fn float_json(v: f64) -> Value {
    if v.is_finite() {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    } else if v.to_bits() == STALE_NAN_BITS {
        Value::from("StaleNaN")
    } else if v.is_nan() {
        Value::from("NaN")
    } else if v > 0.0 {
        Value::from("+Inf")
    } else {
        Value::from("-Inf")
    }
}

pub(crate) fn labels_json(l: &LabelsRef<'_>) -> Value {
    Value::Object(l.iter().map(|l| (l.name_str().into_owned(), Value::from(l.value_str().into_owned()))).collect())
}

struct Dumper<'f, W> {
    filter: &'f Filter,
    format: Format,
    out: W,
    /// Labels of every series seen so far, when label matchers need them.
    labels: HashMap<u64, Labels>,
    /// Records that did not decode.
    bad_records: u64,
}

impl<W: Write> Dumper<'_, W> {
    fn keep(&self, series_ref: u64) -> bool {
        if !self.filter.refs.is_empty() && !self.filter.refs.contains(&series_ref) {
            return false;
        }
        if self.filter.matchers.is_empty() {
            return true;
        }
        self.labels.get(&series_ref).is_some_and(|l| matches_all(&self.filter.matchers, &l.as_ref()))
    }

    fn in_time(&self, t: i64) -> bool {
        self.filter.min_time.is_none_or(|m| t >= m) && self.filter.max_time.is_none_or(|m| t <= m)
    }

    fn entries(&mut self, data: &[u8]) -> Result<Option<(&'static str, Vec<Value>)>, wal_format::Error> {
        let typ = RecordType::of(data);
        let out = match typ {
            RecordType::Series => {
                let mut v = Vec::new();
                record::decode_series(data, &mut v)?;
                if !self.filter.matchers.is_empty() {
                    for s in &v {
                        self.labels.insert(s.series_ref, s.labels.to_owned());
                    }
                }
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref))
                    .map(|s| json!({"ref": s.series_ref, "labels": labels_json(&s.labels)}))
                    .collect();
                ("series", e)
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let mut v = Vec::new();
                record::decode_samples(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref) && self.in_time(s.t))
                    .map(|s| {
                        let mut o = json!({"ref": s.series_ref, "t": s.t, "v": float_json(s.v)});
                        if typ == RecordType::SamplesV2 {
                            o["st"] = s.st.into();
                        }
                        o
                    })
                    .collect();
                ("samples", e)
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                let mut v = Vec::new();
                record::decode_histogram_samples(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref) && self.in_time(s.t))
                    .map(|s| json!({"ref": s.series_ref, "t": s.t, "st": s.st, "h": histogram_json(&s.h)}))
                    .collect();
                ("histogram_samples", e)
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let mut v = Vec::new();
                record::decode_float_histogram_samples(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref) && self.in_time(s.t))
                    .map(|s| json!({"ref": s.series_ref, "t": s.t, "st": s.st, "h": float_histogram_json(&s.fh)}))
                    .collect();
                ("float_histogram_samples", e)
            }
            RecordType::Exemplars => {
                let mut v = Vec::new();
                record::decode_exemplars(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref) && self.in_time(s.t))
                    .map(|s| json!({"ref": s.series_ref, "t": s.t, "v": float_json(s.v), "labels": labels_json(&s.labels)}))
                    .collect();
                ("exemplars", e)
            }
            RecordType::Tombstones => {
                let mut v = Vec::new();
                record::decode_tombstones(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref))
                    .map(|s| json!({"ref": s.series_ref, "mint": s.min_t, "maxt": s.max_t}))
                    .collect();
                ("tombstones", e)
            }
            RecordType::MmapMarkers => {
                let mut v = Vec::new();
                record::decode_mmap_markers(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref))
                    .map(|s| json!({"ref": s.series_ref, "mmap_ref": s.mmap_ref}))
                    .collect();
                ("mmap_markers", e)
            }
            RecordType::Metadata => {
                let mut v = Vec::new();
                record::decode_metadata(data, &mut v)?;
                let e = v
                    .iter()
                    .filter(|s| self.keep(s.series_ref))
                    .map(|m| {
                        json!({"ref": m.series_ref, "type": m.metric_type.name(),
                            "unit": String::from_utf8_lossy(m.unit), "help": String::from_utf8_lossy(m.help)})
                    })
                    .collect();
                ("metadata", e)
            }
            _ => return Ok(None),
        };
        Ok(Some(out))
    }

    fn record(&mut self, origin: Origin, segment: u64, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let (typ, entries) = match self.entries(data) {
            Ok(Some(x)) => x,
            Ok(None) => {
                eprintln!(
                    "walship: segment {segment:08} offset {offset}: unknown record type {}",
                    RecordType::of(data)
                );
                return Ok(());
            }
            Err(e) => {
                self.bad_records += 1;
                eprintln!("walship: record does not decode in segment {segment:08} at offset {offset}: {e}");
                return Ok(());
            }
        };
        let filtering = !self.filter.refs.is_empty()
            || !self.filter.matchers.is_empty()
            || self.filter.min_time.is_some()
            || self.filter.max_time.is_some();
        if entries.is_empty() && filtering {
            return Ok(());
        }
        let mut line = Map::new();
        line.insert("segment".into(), segment.into());
        line.insert("offset".into(), offset.into());
        if let Origin::Checkpoint(i) = origin {
            line.insert("checkpoint".into(), i.into());
        }
        line.insert("type".into(), typ.into());
        match self.format {
            Format::Jsonl => {
                line.insert(typ.into(), Value::Array(entries));
                serde_json::to_writer(&mut self.out, &Value::Object(line))?;
                writeln!(self.out)
            }
            Format::Text => {
                let place = match origin {
                    Origin::Checkpoint(i) => format!("{}/{segment:08}", wal_format::checkpoint_dir_name(i)),
                    Origin::Wal => format!("{segment:08}"),
                };
                write!(self.out, "{place}:{offset} {typ} ({} entries)", entries.len())?;
                for e in entries {
                    write!(self.out, " {e}")?;
                }
                writeln!(self.out)
            }
        }
    }
}

pub(crate) fn histogram_json(h: &record::Histogram) -> Value {
    let spans =
        |s: &[record::Span]| s.iter().map(|s| json!({"offset": s.offset, "length": s.length})).collect::<Vec<_>>();
    json!({"counter_reset_hint": h.counter_reset_hint, "schema": h.schema, "zero_threshold": float_json(h.zero_threshold),
        "zero_count": h.zero_count, "count": h.count, "sum": float_json(h.sum),
        "positive_spans": spans(&h.positive_spans), "negative_spans": spans(&h.negative_spans),
        "positive_buckets": h.positive_buckets, "negative_buckets": h.negative_buckets,
        "custom_values": h.custom_values.iter().map(|v| float_json(*v)).collect::<Vec<_>>()})
}

pub(crate) fn float_histogram_json(h: &record::FloatHistogram) -> Value {
    let spans =
        |s: &[record::Span]| s.iter().map(|s| json!({"offset": s.offset, "length": s.length})).collect::<Vec<_>>();
    let floats = |v: &[f64]| v.iter().map(|v| float_json(*v)).collect::<Vec<_>>();
    json!({"counter_reset_hint": h.counter_reset_hint, "schema": h.schema, "zero_threshold": float_json(h.zero_threshold),
        "zero_count": float_json(h.zero_count), "count": float_json(h.count), "sum": float_json(h.sum),
        "positive_spans": spans(&h.positive_spans), "negative_spans": spans(&h.negative_spans),
        "positive_buckets": floats(&h.positive_buckets), "negative_buckets": floats(&h.negative_buckets),
        "custom_values": floats(&h.custom_values)})
}

/// Prints every record of the WAL at `dir` to `out`; damage goes to stderr. Returns whether
/// anything was lost (damage, missing segments, records that do not decode).
pub fn dump(dir: &Path, filter: &Filter, format: Format, out: impl Write) -> Result<bool, crate::error::CliError> {
    let mut d = Dumper { filter, format, out: std::io::BufWriter::new(out), labels: HashMap::new(), bad_records: 0 };
    let mut io_error = None;
    let report = scan(dir, |origin, rec| {
        if io_error.is_none() {
            if let Err(e) = d.record(origin, rec.position.segment, rec.position.offset, rec.data) {
                io_error = Some(e);
            }
        }
    })?;
    if let Some(e) = io_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(crate::error::CliError::Output(e));
        }
    }
    d.out.flush().or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) })?;
    for d in &report.damage {
        eprintln!(
            "walship: WAL damage skipped: file={} offset={} bytes_skipped={} records_lost={} err={:?}",
            d.file, d.offset, d.bytes_skipped, d.records_lost, d.error
        );
    }
    for g in &report.gaps {
        eprintln!("walship: segments {:08}..{:08} are missing; reading went on with the next one", g.first, g.last);
    }
    if let Some((seg, off, bytes)) = report.incomplete_tail {
        eprintln!("walship: segment {seg:08} ends with {bytes} bytes after offset {off} that are not a complete record (a write in progress?)");
    }
    Ok(report.lost_data() || d.bad_records > 0)
}
