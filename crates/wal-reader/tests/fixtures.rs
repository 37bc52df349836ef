//! The readers against WALs written by real Prometheus processes.

mod common;

use common::*;
use wal_format::record::{self, RecordType, RefSample};

/// The figures `prometheus-go-writer/*.EXPECTED.json` holds, computed by Prometheus's own reader.
#[test]
fn go_writer_fixtures_give_prometheus_figures() {
    for name in ["none", "snappy"] {
        let dir = testdata().join("prometheus-go-writer").join(name);
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.with_extension("EXPECTED.json")).unwrap()).unwrap();
        let (mut rec_series, mut rec_samples, mut rec_other) = (0u64, 0u64, 0u64);
        let (mut series, mut label_bytes, mut sum_series_ref) = (0u64, 0u64, 0u64);
        let (mut samples, mut sum_ref, mut sum_t, mut xor_v) = (0u64, 0u64, 0i64, 0u64);
        let mut s_buf: Vec<RefSample> = Vec::new();
        for (_, rec) in read_all(&dir) {
            match RecordType::of(&rec) {
                RecordType::Series => {
                    rec_series += 1;
                    let mut v = Vec::new();
                    record::decode_series(&rec, &mut v).unwrap();
                    for s in v {
                        series += 1;
                        label_bytes += s.labels.byte_len() as u64;
                        sum_series_ref = sum_series_ref.wrapping_add(s.series_ref);
                    }
                }
                RecordType::Samples => {
                    rec_samples += 1;
                    s_buf.clear();
                    record::decode_samples(&rec, &mut s_buf).unwrap();
                    for s in &s_buf {
                        samples += 1;
                        sum_ref = sum_ref.wrapping_add(s.series_ref);
                        sum_t = sum_t.wrapping_add(s.t);
                        xor_v ^= s.v.to_bits();
                    }
                }
                _ => rec_other += 1,
            }
        }
        let got = serde_json::json!({
            "rec_series": rec_series, "rec_samples": rec_samples, "rec_other": rec_other,
            "series": series, "samples": samples, "label_bytes": label_bytes,
            "sum_ref": sum_ref, "sum_t": sum_t, "xor_v": format!("{xor_v:016x}"), "sum_series_ref": sum_series_ref,
        });
        assert_eq!(got, expected, "{name}");
    }
}

/// Both I/O modes of the Reader read the same records.
#[test]
fn mmap_and_read_modes_agree_on_real_wals() {
    for dir in fixture_dirs() {
        let mut r = wal_reader::Reader::open(&dir).unwrap();
        r.set_io_mode(wal_reader::IoMode::Read);
        let mut via_read = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            via_read.push((rec.position, rec.data.to_vec()));
        }
        assert!(via_read == read_all(&dir), "{}", dir.display());
    }
}

/// Reader and LiveReader agree on every record and position of every real WAL.
#[test]
fn reader_and_live_reader_agree_on_real_wals() {
    for dir in fixture_dirs() {
        let a = read_all(&dir);
        let b = live_read_all(&dir);
        assert!(!a.is_empty(), "{}", dir.display());
        assert_eq!(a.len(), b.len(), "{}", dir.display());
        assert!(a == b, "{}: records differ", dir.display());
    }
}

/// Positions are strictly increasing and point at the record's first fragment.
#[test]
fn positions_increase_and_point_at_first_fragments() {
    for dir in fixture_dirs() {
        let recs = read_all(&dir);
        for w in recs.windows(2) {
            assert!(w[0].0 < w[1].0, "{}: {} then {}", dir.display(), w[0].0, w[1].0);
        }
        // Reading a segment from a record's position on yields that record first.
        for (pos, data) in recs.iter().step_by(97) {
            let path = dir.join(wal_format::segment_file_name(pos.segment));
            let mut f = std::fs::File::open(&path).unwrap();
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(pos.offset)).unwrap();
            let mut r = wal_reader::LiveReader::at_offset(f, &path, pos.segment, pos.offset);
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!((rec.position, rec.data), (*pos, &data[..]));
        }
    }
}

/// The torn copies (taken while Prometheus was writing) read to their last complete record.
#[test]
fn torn_fixtures_read_to_last_complete_record() {
    for name in ["uncompressed-exemplars-torn", "snappy-exemplars-torn"] {
        let dir = testdata().join("prometheus-2.42").join(name);
        let segs = wal_reader::list_segments(&dir).unwrap();
        let last = segs.last().unwrap();
        let size = std::fs::metadata(&last.path).unwrap().len();
        let mut r = wal_reader::LiveReader::new(std::fs::File::open(&last.path).unwrap(), &last.path, last.index);
        let mut n = 0;
        while r.next_record().unwrap().is_some() {
            n += 1;
        }
        assert!(n > 0);
        // Whatever is left after the last complete record is less than a page: a write in progress.
        assert!(size - r.offset() < wal_format::PAGE_SIZE as u64, "{name}: {} of {size}", r.offset());
        assert!(!size.is_multiple_of(wal_format::PAGE_SIZE as u64), "{name}: fixture should end in a partial page");
    }
}

/// Decoding then re-encoding every record of uncompressed real WALs gives back the same bytes.
#[test]
fn reencoding_real_records_is_byte_identical() {
    for name in ["prometheus-2.42/uncompressed-exemplars-checkpoint", "prometheus-go-writer/none"] {
        let mut dirs = vec![testdata().join(name)];
        dirs.extend(wal_reader::last_checkpoint(&dirs[0]).unwrap().map(|c| c.path));
        let mut by_type = std::collections::BTreeMap::new();
        for dir in dirs {
            for (pos, rec) in read_all(&dir) {
                let typ = RecordType::of(&rec);
                let mut out = Vec::new();
                match typ {
                    RecordType::Series => {
                        let mut v = Vec::new();
                        record::decode_series(&rec, &mut v).unwrap();
                        record::encode_series(&v, &mut out);
                    }
                    RecordType::Samples => {
                        let mut v = Vec::new();
                        record::decode_samples(&rec, &mut v).unwrap();
                        record::encode_samples(&v, &mut out);
                    }
                    RecordType::Exemplars => {
                        let mut v = Vec::new();
                        record::decode_exemplars(&rec, &mut v).unwrap();
                        record::encode_exemplars(&v, &mut out);
                    }
                    RecordType::Tombstones => {
                        let mut v = Vec::new();
                        record::decode_tombstones(&rec, &mut v).unwrap();
                        record::encode_tombstones(&v, &mut out);
                    }
                    RecordType::Metadata => {
                        let mut v = Vec::new();
                        record::decode_metadata(&rec, &mut v).unwrap();
                        record::encode_metadata(&v, &mut out);
                    }
                    RecordType::MmapMarkers => {
                        let mut v = Vec::new();
                        record::decode_mmap_markers(&rec, &mut v).unwrap();
                        record::encode_mmap_markers(&v, &mut out);
                    }
                    other => panic!("{name}: unexpected record type {other} at {pos}"),
                }
                assert!(out == rec, "{name}: {typ} record at {pos} re-encodes differently");
                *by_type.entry(typ.name()).or_insert(0) += 1;
            }
        }
        assert!(by_type.get("series").copied().unwrap_or(0) > 0 && by_type.get("samples").copied().unwrap_or(0) > 0);
        eprintln!("{name}: re-encoded {by_type:?}");
    }
}
