//! `walship dump --blocks` / `--block ULID`: the samples of persisted blocks, in the JSON-lines
//! (or text) schema of the WAL dump. A block has no WAL position: each line names its block, and
//! `ref` is the series' reference in that block's index.

use crate::dump::{float_histogram_json, float_json, histogram_json, labels_json, Filter, Format};
use crate::history::{convert_float_histogram, convert_histogram};
use crate::matcher::matches_all;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use tsdb_block::DataDir;
use wal_format::record::Labels;

/// Which blocks to dump.
#[derive(Debug, Clone)]
pub enum Which {
    /// Every block of the data directory.
    All,
    /// These ULIDs.
    Only(Vec<String>),
}

/// Prints the series and samples of the chosen blocks of the data directory `dir`, in time
/// order per series, tombstoned ranges removed. Returns whether anything could not be read (each
/// such error is printed to stderr with its file and offset).
pub fn dump_blocks(
    dir: &Path,
    which: &Which,
    filter: &Filter,
    format: Format,
    out: impl Write,
) -> Result<bool, crate::error::CliError> {
    let data =
        DataDir::open(&crate::history::data_dir_of(dir)).map_err(|e| crate::error::CliError::Usage(e.to_string()))?;
    let chosen: Vec<_> = match which {
        Which::All => data.blocks().iter().collect(),
        Which::Only(ulids) => {
            let mut v = Vec::new();
            for u in ulids {
                let b = data.blocks().iter().find(|b| b.meta().ulid.eq_ignore_ascii_case(u));
                v.push(b.ok_or_else(|| crate::error::CliError::Usage(format!("{}: no block {u}", dir.display())))?);
            }
            v
        }
    };
    let mut out = std::io::BufWriter::new(out);
    let mut failed = false;
    let (lo, hi) = (filter.min_time.unwrap_or(i64::MIN), filter.max_time.unwrap_or(i64::MAX));
    let result: std::io::Result<()> = (|| {
        for b in chosen {
            let ulid = &b.meta().ulid;
            let block = match b.open() {
                Ok(x) => x,
                Err(e) => {
                    failed = true;
                    eprintln!("walship: block {ulid}: {e}");
                    continue;
                }
            };
            let series_iter = match block.series() {
                Ok(x) => x,
                Err(e) => {
                    failed = true;
                    eprintln!("walship: block {ulid}: {e}");
                    continue;
                }
            };
            for series in series_iter {
                let series = match series {
                    Ok(s) => s,
                    Err(e) => {
                        failed = true;
                        eprintln!("walship: block {ulid}: {e}");
                        break;
                    }
                };
                let r = series.series_ref();
                if !filter.refs.is_empty() && !filter.refs.contains(&r) {
                    continue;
                }
                let labels = Labels::from_pairs(series.labels().iter().map(|l| (l.name, l.value)));
                if !filter.matchers.is_empty() && !matches_all(&filter.matchers, &labels.as_ref()) {
                    continue;
                }
                let (mut floats, mut hists, mut fhists) = (Vec::new(), Vec::new(), Vec::new());
                for sample in block.samples_between(&series, lo, hi) {
                    match sample {
                        Ok(s) => match s.value {
                            tsdb_block::Value::Float(v) => floats.push(json!({"ref": r, "t": s.t, "v": float_json(v)})),
                            tsdb_block::Value::Histogram(h) => hists.push(
                                json!({"ref": r, "t": s.t, "st": s.st, "h": histogram_json(&convert_histogram(*h))}),
                            ),
                            tsdb_block::Value::FloatHistogram(h) => fhists.push(json!({"ref": r, "t": s.t, "st": s.st,
                                "h": float_histogram_json(&convert_float_histogram(*h))})),
                        },
                        Err(e) => {
                            failed = true;
                            eprintln!("walship: block {ulid}: {e}");
                            break;
                        }
                    }
                }
                let series_entry = json!({"ref": r, "labels": labels_json(&labels.as_ref())});
                line(&mut out, format, ulid, "series", vec![series_entry])?;
                for (typ, entries) in
                    [("samples", floats), ("histogram_samples", hists), ("float_histogram_samples", fhists)]
                {
                    if !entries.is_empty() {
                        line(&mut out, format, ulid, typ, entries)?;
                    }
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(crate::error::CliError::Output(e));
        }
    }
    Ok(failed)
}

fn line(out: &mut impl Write, format: Format, block: &str, typ: &str, entries: Vec<Value>) -> std::io::Result<()> {
    match format {
        Format::Jsonl => {
            let mut l = Map::new();
            l.insert("block".into(), block.into());
            l.insert("type".into(), typ.into());
            l.insert(typ.into(), Value::Array(entries));
            serde_json::to_writer(&mut *out, &Value::Object(l))?;
            writeln!(out)
        }
        Format::Text => {
            write!(out, "{block} {typ} ({} entries)", entries.len())?;
            for e in entries {
                write!(out, " {e}")?;
            }
            writeln!(out)
        }
    }
}
