//! Reader and LiveReader behaviour, case by case, as Prometheus's own reader tests pin it down
//! (`tsdb/wlog/reader_test.go`), plus the cases walship adds (positions, segment ends, torn
//! records, resumption).

use std::io::Write;
use std::path::PathBuf;
use wal_format::{Compression, FragmentHeader, FragmentType, HEADER_SIZE, PAGE_SIZE};
use wal_reader::{Error, IoMode, LiveReader, Reader};

#[derive(Clone, Copy)]
enum F {
    Full,
    First,
    Middle,
    Last,
    /// Page padding: a zero byte, then these many more zero bytes.
    Pad,
}

fn frag(t: F, payload: &[u8]) -> Vec<u8> {
    let fragment_type = match t {
        F::Full => FragmentType::Full,
        F::First => FragmentType::First,
        F::Middle => FragmentType::Middle,
        F::Last => FragmentType::Last,
        F::Pad => {
            let mut v = vec![0u8];
            v.extend_from_slice(payload);
            return v;
        }
    };
    let h = FragmentHeader {
        fragment_type,
        compression: Compression::None,
        length: payload.len(),
        crc: crc32c::crc32c(payload),
    };
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    v
}

fn data() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn stream(frags: &[(F, &[u8])]) -> Vec<u8> {
    frags.iter().flat_map(|(t, p)| frag(*t, p)).collect()
}

/// Writes `segments` as files `00000000`, `00000001`, … in a new temp dir.
fn wal(segments: &[&[u8]]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in segments.iter().enumerate() {
        std::fs::write(dir.path().join(wal_format::segment_file_name(i as u64)), s).unwrap();
    }
    let p = dir.path().to_path_buf();
    (dir, p)
}

/// Records (or the error) from the Reader over the given segments, in both I/O modes (which
/// must agree).
fn read(segments: &[&[u8]]) -> (Vec<Vec<u8>>, Option<Error>) {
    let (_d, p) = wal(segments);
    let run = |mode: IoMode| {
        let mut r = Reader::open(&p).unwrap();
        r.set_io_mode(mode);
        drain(|| r.next_record().map(|rec| rec.map(|rec| rec.data.to_vec())))
    };
    let mapped = run(IoMode::Mmap);
    let read = run(IoMode::Read);
    assert_eq!(mapped.0, read.0, "mmap and read(2) disagree on records");
    assert_eq!(mapped.1.as_ref().map(|e| e.to_string()), read.1.as_ref().map(|e| e.to_string()));
    mapped
}

/// Records (or the error) from a LiveReader over one segment's bytes.
fn live(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Error>) {
    let mut r = LiveReader::new(bytes, "segment", 0);
    drain(|| r.next_record().map(|rec| rec.map(|rec| rec.data.to_vec())))
}

/// The records `next` yields until it yields none or an error, and that error.
fn drain(mut next: impl FnMut() -> Result<Option<Vec<u8>>, Error>) -> (Vec<Vec<u8>>, Option<Error>) {
    let mut out = Vec::new();
    loop {
        match next() {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Records (or the first error) from a LiveReader over one finished segment's bytes: after the
/// last record it is told that the segment will not grow, so what is left is judged.
fn live_finished(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Error>) {
    let mut r = LiveReader::new(bytes, "segment", 0);
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push(rec.data.to_vec()),
            Ok(None) => return (out, r.finish().err()),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn both(bytes: &[u8]) -> [(Vec<Vec<u8>>, Option<Error>); 2] {
    [read(&[bytes]), live_finished(bytes)]
}

#[test]
fn valid_sequence_with_padding_and_a_fragment_over_a_page() {
    let d = data();
    let s = stream(&[
        (F::Full, &d[0..200]),
        (F::First, &d[200..300]),
        (F::Last, &d[300..400]),
        (F::First, &d[400..800]),
        (F::Middle, &d[800..900]),
        (F::Pad, &vec![0; PAGE_SIZE - 900 - HEADER_SIZE * 5 - 1]),
        (F::Last, &d[900..900]),
        (F::First, &d[900..1000]),
        (F::Middle, &d[1000..1200]),
        (F::Middle, &d[1200..30000]),
        (F::Middle, &d[30000..30001]),
        (F::Middle, &d[30001..30001]),
        (F::Last, &d[30001..32000]),
    ]);
    let want = vec![d[0..200].to_vec(), d[200..400].to_vec(), d[400..900].to_vec(), d[900..32000].to_vec()];
    for (got, err) in both(&s) {
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, want);
    }
}

#[test]
fn a_full_page_record_is_the_largest() {
    let d = data();
    for (got, err) in both(&frag(F::Full, &d[..PAGE_SIZE - HEADER_SIZE])) {
        assert!(err.is_none());
        assert_eq!(got, vec![d[..PAGE_SIZE - HEADER_SIZE].to_vec()]);
    }
    let mut too_long = frag(F::Full, &d[..PAGE_SIZE + 1]);
    too_long[1..3].copy_from_slice(&((PAGE_SIZE - HEADER_SIZE + 1) as u16).to_be_bytes());
    for (got, err) in both(&too_long) {
        assert!(got.is_empty());
        let e = err.expect("an over-long fragment is corruption").to_string();
        assert!(e.contains("invalid record size 32762"), "{e}");
    }
}

#[test]
fn two_half_page_records_run_over_the_page_and_are_still_read() {
    // Prometheus tolerates this (it has been seen in production); so do we.
    let d = data();
    let s = stream(&[(F::Full, &d[..PAGE_SIZE / 2]), (F::Full, &d[..PAGE_SIZE / 2])]);
    for (got, err) in both(&s) {
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 2);
    }
    let mut r = LiveReader::new(&s[..], "segment", 0);
    while r.next_record().unwrap().is_some() {}
    assert_eq!(r.page_spans(), 1);
}

#[test]
fn fragments_out_of_order_are_corruption() {
    let d = data();
    type Case<'a> = (&'a [(F, &'a [u8])], &'a str);
    let cases: [Case; 4] = [
        (&[(F::Middle, &d[..200])], "unexpected middle record, dropping buffer"),
        (&[(F::Last, &d[..200])], "unexpected last record, dropping buffer"),
        (&[(F::First, &d[..200]), (F::Full, &d[200..400])], "unexpected full record"),
        (&[(F::First, &d[..100]), (F::Middle, &d[100..200]), (F::Full, &d[200..400])], "unexpected full record"),
    ];
    for (frags, msg) in cases {
        for (got, err) in both(&stream(frags)) {
            // Only the records out of order are lost: a `full` that follows a record left open
            // is read (Prometheus stops there instead).
            assert!(got.is_empty(), "{got:?}");
            let e = err.expect("corruption").to_string();
            assert!(e.contains(msg), "{e}");
        }
    }
    let (_, err) = live(&stream(&[(F::First, &d[..10]), (F::First, &d[..10])]));
    assert!(err.unwrap().to_string().contains("unexpected first record, dropping buffer"));
}

#[test]
fn non_zero_byte_in_padding_is_corruption_after_the_records_before_it() {
    let d = data();
    let mut pad = vec![0; PAGE_SIZE - HEADER_SIZE - 102];
    pad.push(1);
    let s = stream(&[(F::Full, &d[..100]), (F::Pad, &pad)]);
    for (got, err) in both(&s) {
        assert_eq!(got, vec![d[..100].to_vec()]);
        let e = err.expect("corruption");
        assert!(e.to_string().contains("non-zero byte"), "{e}");
        // Prometheus reports the offset just past the padding: the page end.
        assert!(
            matches!(e, Error::Corruption { offset, fragment_offset: 107, .. } if offset == PAGE_SIZE as u64),
            "{e:?}"
        );
    }
}

#[test]
fn checksum_mismatch_names_segment_and_offset() {
    let d = data();
    let mut s = stream(&[(F::Full, &d[..100]), (F::Full, &d[100..300]), (F::Full, &d[300..350])]);
    s[107 + HEADER_SIZE + 5] ^= 0xff;
    let (_dir, p) = wal(&[&s, &s]);
    let mut r = Reader::open(&p).unwrap();
    assert!(r.next_record().unwrap().is_some());
    let e = r.next_record().unwrap_err();
    match &e {
        Error::Corruption {
            segment: 0,
            offset: 314,
            fragment_offset: 107,
            path,
            source,
            skipped: 207,
            records_lost: 1,
        } => {
            assert!(path.ends_with("00000000"));
            assert!(matches!(source, wal_format::Error::Checksum { .. }));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with("corruption in segment ") && text.contains("00000000 at 314: unexpected checksum"),
        "{text}"
    );
    // Only the damaged record is lost: reading goes on with the record after it.
    assert_eq!(r.next_record().unwrap().unwrap().data, &d[300..350]);
    // Or with the next segment, when asked to (as Prometheus's repair would).
    r.skip_segment();
    assert_eq!(r.next_record().unwrap().unwrap().data, &d[..100]);
}

#[test]
fn unknown_fragment_type_is_corruption() {
    let mut s = frag(F::Full, b"abc");
    s[0] = 5;
    for (_, err) in both(&s) {
        assert!(err.expect("corruption").to_string().contains("unexpected record type 5"));
    }
}

#[test]
fn flag_bits_on_a_zero_type_differ_between_the_readers() {
    // Prometheus's Reader masks the type bits, so 0x08 followed by zeros is padding; its
    // LiveReader compares the whole byte, so the same bytes are a fragment of unknown type 0.
    let mut s = frag(F::Full, b"abc");
    s.resize(PAGE_SIZE, 0);
    s[10] = 0x08;
    let (got, err) = read(&[&s]);
    assert_eq!((got.len(), err.is_none()), (1, true));
    let (got, err) = live_finished(&s);
    assert_eq!(got.len(), 1);
    assert!(err.expect("corruption").to_string().contains("unexpected record type 0"));
}

#[test]
fn reader_reports_a_record_left_open_at_the_end() {
    let d = data();
    let (got, err) = read(&[&stream(&[(F::Full, &d[..10]), (F::First, &d[..100])])]);
    assert_eq!(got.len(), 1);
    assert!(matches!(err, Some(Error::Corruption { source: wal_format::Error::TornRecord, .. })), "{err:?}");
    // The LiveReader waits instead: the rest may still be written.
    let (got, err) = live(&stream(&[(F::Full, &d[..10]), (F::First, &d[..100])]));
    assert_eq!((got.len(), err.is_none()), (1, true));
}

#[test]
fn reader_pads_a_short_last_page_and_reads_records_across_segments() {
    let d = data();
    // Segment 0 ends after its records, in the middle of a page: read as zero padding.
    let seg0 = stream(&[(F::Full, &d[..10]), (F::First, &d[10..20])]);
    let seg1 = stream(&[(F::Last, &d[20..30]), (F::Full, &d[30..40])]);
    let (got, err) = read(&[&seg0, &seg1]);
    // Prometheus's segment reader lets a record run on into the next segment; so does ours.
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![d[..10].to_vec(), d[10..30].to_vec(), d[30..40].to_vec()]);
    let (_dir, p) = wal(&[&seg0, &seg1]);
    let mut r = Reader::open(&p).unwrap();
    let mut positions = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        positions.push((rec.position.segment, rec.position.offset));
    }
    assert_eq!(positions, vec![(0, 0), (0, 17), (1, 17)]);
}

#[test]
fn reader_reports_a_fragment_cut_by_the_end_of_the_data() {
    let d = data();
    let mut s = stream(&[(F::Full, &d[..PAGE_SIZE - HEADER_SIZE - 3])]);
    s.extend_from_slice(&[1, 0, 5]); // a header cut at the page (and file) end
    let (got, err) = read(&[&s]);
    assert_eq!(got.len(), 1);
    assert!(err.is_some());
    // The LiveReader waits for the rest.
    let (got, err) = live(&s);
    assert_eq!((got.len(), err.is_none()), (1, true));
}

#[test]
fn live_reader_waits_for_partial_writes_and_resumes() {
    let d = data();
    let full =
        stream(&[(F::Full, &d[..100]), (F::First, &d[100..5000]), (F::Last, &d[5000..9000]), (F::Full, &d[..3])]);
    let mut padded = full.clone();
    padded.resize(PAGE_SIZE, 0);
    padded.extend(stream(&[(F::Full, &d[..50])]));
    // Every prefix of the bytes gives the records complete in it, and the rest once it arrives.
    let mut grown = Vec::new();
    let growing = SharedBytes::default();
    let mut r = LiveReader::new(growing.clone(), "segment", 0);
    let mut got: Vec<Vec<u8>> = Vec::new();
    for chunk in padded.chunks(997) {
        grown.extend_from_slice(chunk);
        growing.set(&grown);
        while let Some(rec) = r.next_record().unwrap() {
            got.push(rec.data.to_vec());
        }
    }
    assert_eq!(got, vec![d[..100].to_vec(), d[100..9000].to_vec(), d[..3].to_vec(), d[..50].to_vec()]);
    assert_eq!(r.offset(), padded.len() as u64);
}

#[test]
fn compressed_records_are_decompressed() {
    let payload: Vec<u8> = b"series and samples ".iter().cycle().take(5000).copied().collect();
    let snappy = snap::raw::Encoder::new().compress_vec(&payload).unwrap();
    let zstd = ruzstd::encoding::compress_to_vec(&payload[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (c, bytes) in [(Compression::Snappy, snappy), (Compression::Zstd, zstd)] {
        let h = FragmentHeader {
            fragment_type: FragmentType::Full,
            compression: c,
            length: bytes.len(),
            crc: crc32c::crc32c(&bytes),
        };
        let mut s = h.encode().to_vec();
        s.extend_from_slice(&bytes);
        for (got, err) in both(&s) {
            assert!(err.is_none(), "{c:?}: {err:?}");
            assert_eq!(got, vec![payload.clone()], "{c:?}");
        }
    }
}

/// A reader over bytes that another party keeps appending to.
#[derive(Clone, Default)]
struct SharedBytes {
    inner: std::sync::Arc<std::sync::Mutex<(Vec<u8>, usize)>>,
}

impl SharedBytes {
    fn set(&self, bytes: &[u8]) {
        self.inner.lock().unwrap().0 = bytes.to_vec();
    }
}

impl std::io::Read for SharedBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut g = self.inner.lock().unwrap();
        let (data, pos) = &mut *g;
        let n = buf.len().min(data.len() - *pos);
        buf[..n].copy_from_slice(&data[*pos..*pos + n]);
        *pos += n;
        Ok(n)
    }
}

#[test]
fn a_file_being_appended_is_read_as_it_grows() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000");
    let mut w = std::fs::File::create(&path).unwrap();
    let mut r = LiveReader::new(std::fs::File::open(&path).unwrap(), &path, 0);
    assert!(r.next_record().unwrap().is_none());
    let rec = stream(&[(F::Full, &d[..300])]);
    w.write_all(&rec[..5]).unwrap();
    assert!(r.next_record().unwrap().is_none());
    w.write_all(&rec[5..]).unwrap();
    assert_eq!(r.next_record().unwrap().unwrap().data, &d[..300]);
}
