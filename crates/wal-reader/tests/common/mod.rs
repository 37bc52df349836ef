//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use wal_reader::{list_segments, LiveReader, Position, Reader};

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every real WAL directory we have, checkpoint directories included.
pub fn fixture_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for group in ["prometheus-2.42", "prometheus-go-writer"] {
        let mut dirs: Vec<_> = std::fs::read_dir(testdata().join(group))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    out.push(p);
                }
            }
            out.push(d);
        }
    }
    out
}

/// All records of `dir` through the Reader: (position, bytes).
pub fn read_all(dir: &Path) -> Vec<(Position, Vec<u8>)> {
    let mut r = Reader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        out.push((rec.position, rec.data.to_vec()));
    }
    out
}

/// All records of `dir` through one LiveReader per segment.
pub fn live_read_all(dir: &Path) -> Vec<(Position, Vec<u8>)> {
    let mut out = Vec::new();
    for seg in list_segments(dir).unwrap() {
        let f = std::fs::File::open(&seg.path).unwrap();
        let mut r = LiveReader::new(f, &seg.path, seg.index);
        while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{}: {e}", seg.path.display())) {
            out.push((rec.position, rec.data.to_vec()));
        }
    }
    out
}
