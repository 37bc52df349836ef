//! Crash safety of the writer, by fault injection: a fail point panics where a crash would stop
//! the process, at each step of a segment rollover and of a checkpoint commit. Afterwards the
//! directory holds the old state or the new one, whole — never neither, never a torn record.
//! Run with `cargo test -p wal-format --features failpoints --test crash`.
#![cfg(feature = "failpoints")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use wal_format::{
    checkpoint_dir_name, parse_fragment, parse_segment_name, Assembled, CheckpointWriter, Compression, Dialect, Parsed,
    RecordAssembler, WalOptions, WalWriter, PAGE_SIZE,
};

/// Every record of every segment of `dir`, in order; panics on any damage.
fn records(dir: &Path) -> Vec<Vec<u8>> {
    let mut segs: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            parse_segment_name(p.file_name()?.to_str()?).map(|i| (i, p))
        })
        .collect();
    segs.sort();
    let (mut asm, mut out) = (RecordAssembler::new(), Vec::new());
    for (_, path) in segs {
        let bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        while at < bytes.len() {
            match parse_fragment(&bytes[at..], at % PAGE_SIZE, Dialect::Reader).unwrap() {
                Parsed::Padding { size } => at += size,
                Parsed::Incomplete { .. } => {
                    // The rest of a page not yet padded: zeros, or the writer tore a record.
                    assert!(bytes[at..].iter().all(|&b| b == 0), "{}: torn at {at}", path.display());
                    break;
                }
                Parsed::Fragment { header, payload, size, .. } => {
                    at += size;
                    match asm.push(&header, payload).unwrap() {
                        Assembled::Pending => {}
                        Assembled::Borrowed(r) => out.push(r.to_vec()),
                        Assembled::Owned => out.push(asm.record().to_vec()),
                    }
                }
            }
        }
    }
    assert!(!asm.is_open(), "a record was left open");
    out
}

fn record(i: u32, len: usize) -> Vec<u8> {
    let mut r = vec![2u8];
    r.extend((0..len).map(|j| (i as usize * 31 + j) as u8));
    r
}

const ROLLOVER: [&str; 3] =
    ["wal::rollover::before_sync", "wal::rollover::before_create", "wal::rollover::after_create"];

#[test]
fn a_crash_during_a_segment_rollover_loses_nothing_written() {
    let scenario = fail::FailScenario::setup();
    for point in ROLLOVER {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions { segment_size: 4 * PAGE_SIZE, compression: Compression::Snappy };
        let before: Vec<Vec<u8>> = (0..40).map(|i| record(i, 500 + i as usize * 37)).collect();
        {
            let mut w = WalWriter::create(dir.path(), opts).unwrap();
            w.log(&before).unwrap();
            fail::cfg(point, "panic").unwrap();
            let crashed = catch_unwind(AssertUnwindSafe(|| w.next_segment()));
            fail::remove(point);
            assert!(crashed.is_err(), "{point}: the fail point did not fire");
            std::mem::forget(w); // a crash runs no destructor
        }
        // Prometheus restarts: a new segment after the last one, and writing goes on.
        let after: Vec<Vec<u8>> = (100..110).map(|i| record(i, 300)).collect();
        let mut w = WalWriter::create(dir.path(), opts).unwrap();
        w.log(&after).unwrap();
        w.close().unwrap();
        assert_eq!(records(dir.path()), [before, after].concat(), "{point}");
    }
    scenario.teardown();
}

#[test]
fn a_crash_during_a_checkpoint_commit_leaves_the_old_or_the_new_checkpoint() {
    let scenario = fail::FailScenario::setup();
    let points = [
        ("checkpoint::before_dir_sync", false),
        ("checkpoint::before_rename", false),
        ("checkpoint::after_rename", true),
    ];
    for (point, new_in_place) in points {
        let wal = tempfile::tempdir().unwrap();
        let old: Vec<Vec<u8>> = (0..5).map(|i| record(i, 200)).collect();
        let mut cp = CheckpointWriter::create(wal.path(), 1, Compression::None).unwrap();
        cp.log(&old).unwrap();
        cp.commit().unwrap();
        let new: Vec<Vec<u8>> = (10..30).map(|i| record(i, 900)).collect();
        let mut cp = CheckpointWriter::create(wal.path(), 2, Compression::Snappy).unwrap();
        cp.log(&new).unwrap();
        fail::cfg(point, "panic").unwrap();
        let crashed = catch_unwind(AssertUnwindSafe(|| cp.commit()));
        fail::remove(point);
        assert!(crashed.is_err(), "{point}: the fail point did not fire");
        // The old checkpoint is whole either way (Prometheus deletes it only after the new one).
        assert_eq!(records(&wal.path().join(checkpoint_dir_name(1))), old, "{point}");
        let done = wal.path().join(checkpoint_dir_name(2));
        if new_in_place {
            assert_eq!(records(&done), new, "{point}");
        } else {
            // Only the `.tmp` directory, which readers ignore and the next attempt replaces.
            assert!(!done.exists(), "{point}");
            let mut again = CheckpointWriter::create(wal.path(), 2, Compression::Snappy).unwrap();
            again.log(&new).unwrap();
            assert_eq!(records(&again.commit().unwrap()), new, "{point}");
        }
    }
    scenario.teardown();
}
