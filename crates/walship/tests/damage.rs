//! Damage costs only itself: copies of a real Prometheus 2.42 WAL with one thing broken at a time
//! are shipped with `ship --once` to a `walship receive --print`, and what arrives is compared with
//! what an independent reader, written here over the fixture's bytes, delivers when it drops
//! exactly the records the damage touched.
//!
//! The independent reader knows nothing of walship's framing code: it walks the undamaged
//! fixture's pages itself, notes each record's byte extent (all its fragments), and drops a record
//! when one of the bytes the test broke lies in that extent, or its file was removed or zeroed.

mod common;

use common::{testdata, value_bits, wait_for, walship, without_resent, Printer};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use wal_format::record::{self, RecordType};

const PAGE: usize = 32 * 1024;

/// A record as the independent reader found it: which file, the byte range its fragments cover,
/// and its (decompressed) bytes.
struct Rec {
    file: PathBuf,
    extent: std::ops::Range<usize>,
    data: Vec<u8>,
}

/// Every record of one segment file, page by page, following the format (docs/format.md): a 7-byte
/// header (type and flags, big-endian length, big-endian CRC32-C), the payload, zero padding when
/// fewer than 7 bytes are left in a page. Only meant for sound files.
fn records_of(file: &Path) -> Vec<Rec> {
    let bytes = std::fs::read(file).unwrap();
    // The record being assembled: where it starts, its bytes so far, whether it is snappy.
    let mut open: Option<(usize, Vec<u8>, bool)> = None;
    let (mut out, mut at) = (Vec::new(), 0);
    while at + 7 <= bytes.len() {
        let left_in_page = PAGE - at % PAGE;
        if left_in_page < 7 || bytes[at] == 0 {
            at += left_in_page;
            continue;
        }
        let kind = bytes[at];
        let len = u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]) as usize;
        let crc = u32::from_be_bytes(bytes[at + 3..at + 7].try_into().unwrap());
        let payload = &bytes[at + 7..at + 7 + len];
        assert_eq!(crc32c::crc32c(payload), crc, "{}: the fixture itself is damaged at {at}", file.display());
        let snappy = kind & 0x08 != 0;
        match kind & 0x07 {
            1 => open = Some((at, payload.to_vec(), snappy)),
            2 => open = Some((at, payload.to_vec(), snappy)),
            _ => open.as_mut().unwrap().1.extend_from_slice(payload),
        }
        at += 7 + len;
        if matches!(kind & 0x07, 1 | 4) {
            let (start, stored, snappy) = open.take().unwrap();
            let data = if snappy { snap::raw::Decoder::new().decompress_vec(&stored).unwrap() } else { stored };
            out.push(Rec { file: file.to_path_buf(), extent: start..at, data });
        }
    }
    out
}

/// Every record of a WAL directory in replay order: the last checkpoint's, then the segments'.
fn wal_records(wal: &Path) -> Vec<Rec> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut checkpoints: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("checkpoint."))
        .collect();
    checkpoints.sort();
    if let Some(cp) = checkpoints.last() {
        let mut segs: Vec<PathBuf> = std::fs::read_dir(cp).unwrap().map(|e| e.unwrap().path()).collect();
        segs.sort();
        files.extend(segs);
    }
    let mut segs: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().bytes().all(|b| b.is_ascii_digit()))
        .collect();
    segs.sort();
    files.extend(segs);
    files.iter().flat_map(|f| records_of(f)).collect()
}

/// What was broken: bytes of a file, or a whole file.
enum Broken {
    Bytes(PathBuf, Vec<usize>),
    File(PathBuf),
}

/// What should arrive: (labels as `receive --print` prints them, t, value bits) of every sample
/// whose record and whose series' record survived the damage.
fn expected(records: &[Rec], broken: &[Broken]) -> Vec<(String, i64, u64)> {
    let lost = |r: &Rec| {
        broken.iter().any(|b| match b {
            Broken::Bytes(f, offsets) => *f == r.file && offsets.iter().any(|o| r.extent.contains(o)),
            Broken::File(f) => *f == r.file,
        })
    };
    let mut labels: HashMap<u64, String> = HashMap::new();
    let mut out = Vec::new();
    for r in records.iter().filter(|r| !lost(r)) {
        match RecordType::of(&r.data) {
            RecordType::Series => {
                let mut v = Vec::new();
                record::decode_series(&r.data, &mut v).unwrap();
                for s in v {
                    let l: Vec<String> =
                        s.labels.iter().map(|l| format!("{}={:?}", l.name_str(), l.value_str())).collect();
                    labels.insert(s.series_ref, format!("{{{}}}", l.join(", ")));
                }
            }
            RecordType::Samples => {
                let mut v = Vec::new();
                record::decode_samples(&r.data, &mut v).unwrap();
                for s in v {
                    if let Some(l) = labels.get(&s.series_ref) {
                        out.push((l.clone(), s.t, value_bits(s.v)));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Series, samples and an order-independent checksum of (labels, t, value bits).
fn digest(samples: &[(String, i64, u64)]) -> (usize, usize, u64) {
    let series: HashSet<&str> = samples.iter().map(|s| s.0.as_str()).collect();
    let sum = samples.iter().fold(0u64, |acc, (l, t, v)| {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in l.bytes().chain(t.to_le_bytes()).chain(v.to_le_bytes()) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        acc.wrapping_add(h)
    });
    (series.len(), samples.len(), sum)
}

/// A copy of a fixture WAL in a temporary directory.
fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = testdata().join("prometheus-2.42").join(name);
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("wal");
    copy_dir(&src, &wal);
    (tmp, wal)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            copy_dir(&p, &dst.join(p.file_name().unwrap()));
        } else {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Ships `wal` once to a printing receiver; returns what arrived, the exit code and the log.
fn ship_once(wal: &Path) -> (Vec<(String, i64, u64)>, Option<i32>, String) {
    let printer = Printer::start();
    let state = wal.parent().unwrap().join("state");
    let mut cmd = walship();
    cmd.args(["ship", "--once", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(wal)
        .arg(format!("--url={}", printer.url()))
        .arg("--state-dir")
        .arg(&state);
    let out = cmd.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    (printer.finish(), out.status.code(), log)
}

/// The offset of the middle of the payload of the first record of `kind` that starts at or after
/// `from` in `file`, and that record's extent.
fn payload_byte(records: &[Rec], file: &Path, from: usize, kind: RecordType) -> usize {
    let r = records
        .iter()
        .find(|r| r.file == file && r.extent.start >= from && RecordType::of(&r.data) == kind)
        .expect("a record to damage");
    r.extent.start + 7 + (r.extent.len() - 7).min(PAGE - 7 - r.extent.start % PAGE) / 2
}

/// Ships the broken copy and checks that exactly the records the damage touched are missing.
fn check(name: &str, wal: &Path, records: &[Rec], broken: &[Broken], want_code: i32) -> String {
    let want = expected(records, broken);
    let (got, code, log) = ship_once(wal);
    let got = without_resent(got, &log);
    assert_eq!(code, Some(want_code), "{name}: exit code\n{log}");
    let (want_digest, got_digest) = (digest(&want), digest(&got));
    assert_eq!(got_digest, want_digest, "{name}: (series, samples, checksum) arrived vs expected\n{log}");
    log
}

#[test]
fn a_flipped_payload_byte_costs_only_its_record() {
    let (_tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let seg = wal.join("00000003");
    let at = payload_byte(&records, &seg, 100_000, RecordType::Samples);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let all = expected(&records, &[]).len();
    let broken = [Broken::Bytes(seg, vec![at])];
    let lost = all - expected(&records, &broken).len();
    assert!(lost > 0 && lost < 100_000, "{lost} samples in the damaged record");
    let log = check("flipped payload byte", &wal, &records, &broken, 2);
    // One line for the one damaged span, naming the file, the offset and what it cost.
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("WAL damage skipped")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("00000003") && lines[0].contains("records_lost=1"), "{}", lines[0]);
    assert!(lines[0].contains("bytes_skipped="), "{}", lines[0]);
}

#[test]
fn a_flipped_byte_in_a_snappy_record_costs_only_its_record() {
    let (_tmp, wal) = copy_fixture("snappy-exemplars-checkpoint");
    let records = wal_records(&wal);
    let seg = wal.join("00000002");
    let at = payload_byte(&records, &seg, 50_000, RecordType::Samples);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    check("snappy payload byte", &wal, &records, &[Broken::Bytes(seg, vec![at])], 2);
}

#[test]
fn an_impossible_record_length_costs_only_its_record() {
    let (_tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let seg = wal.join("00000004");
    // A record in the middle of a page, whose header now claims more than a page can hold.
    let r = records.iter().find(|r| r.file == seg && r.extent.start >= 200_000 && r.extent.start % PAGE > 0).unwrap();
    let at = r.extent.start;
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at + 1] = 0xff;
    bytes[at + 2] = 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    check("impossible length", &wal, &records, &[Broken::Bytes(seg, vec![at + 1, at + 2])], 2);
}

#[test]
fn a_damaged_checkpoint_costs_only_its_damaged_records() {
    let (_tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let cp = wal.join("checkpoint.00000001").join("00000000");
    let at = payload_byte(&records, &cp, 10_000, RecordType::Series);
    let mut bytes = std::fs::read(&cp).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(&cp, &bytes).unwrap();
    let log = check("checkpoint byte", &wal, &records, &[Broken::Bytes(cp, vec![at])], 2);
    assert!(log.contains("checkpoint.00000001"), "the damage names the checkpoint\n{log}");
}

#[test]
fn a_segment_removed_from_the_middle_is_a_gap() {
    let (_tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let seg = wal.join("00000003");
    std::fs::remove_file(&seg).unwrap();
    let log = check("removed segment", &wal, &records, &[Broken::File(seg)], 2);
    let gap: Vec<&str> = log.lines().filter(|l| l.contains("WAL segments missing")).collect();
    assert_eq!(gap.len(), 1, "{log}");
    assert!(gap[0].contains("missing=00000003..00000003"), "{}", gap[0]);
    assert!(gap[0].contains("newest_before_ms=17") && gap[0].contains("first_after_ms=17"), "{}", gap[0]);
    // Restarting and inspecting such a directory works too (it used to fail: "not sequential").
    let out = walship().arg("inspect").arg(&wal).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing segments:        00000003..00000003"));
}

#[test]
fn an_all_zero_segment_is_named_and_costs_only_itself() {
    let (_tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let seg = wal.join("00000003");
    let len = std::fs::metadata(&seg).unwrap().len() as usize;
    std::fs::write(&seg, vec![0; len]).unwrap();
    let log = check("all-zero segment", &wal, &records, &[Broken::File(seg)], 2);
    assert!(log.contains("segment holds only zeros"), "{log}");
}

/// The segment being tailed is deleted: reported as deleted (not as corruption), what it held was
/// shipped, and the next segment is read when it appears.
#[test]
fn the_tailed_segment_deleted_is_reported_and_the_next_one_read() {
    let (tmp, wal) = copy_fixture("uncompressed-exemplars-checkpoint");
    let records = wal_records(&wal);
    let want_first = expected(&records, &[]);
    let printer = Printer::start();
    let mut child = walship()
        .args(["ship", "--start=beginning", "--web.listen-address="])
        .arg("--wal-dir")
        .arg(&wal)
        .arg(format!("--url={}", printer.url()))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let arrived = || printer.lines.lock().unwrap().len();
    wait_for("the whole WAL", 120, || arrived() >= want_first.len());
    std::fs::remove_file(wal.join("00000005")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Prometheus goes on with a new segment: here, segment 2's records again.
    std::fs::copy(wal.join("00000002"), wal.join("00000006")).unwrap();
    let again: Vec<Rec> = records_of(&wal.join("00000006"));
    let mut all = records;
    all.extend(again.into_iter().map(|mut r| {
        r.file = wal.join("00000006");
        r
    }));
    let want = expected(&all, &[]);
    wait_for("the new segment", 120, || arrived() >= want.len());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("segment being read was deleted"), "{log}");
    assert!(!log.contains("WAL damage"), "a deleted segment is no corruption\n{log}");
    assert_eq!(digest(&without_resent(printer.finish(), &log)), digest(&want), "{log}");
}
