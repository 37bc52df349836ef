//! Framing round trips: records of awkward sizes, with and without compression, cut into pages
//! and segments and read back with the parser and assembler.

use proptest::prelude::*;
use wal_format::*;

#[derive(Default)]
struct Segments(Vec<Vec<u8>>);

impl SegmentSink for Segments {
    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        self.0.last_mut().unwrap().extend_from_slice(bytes);
        Ok(())
    }
    fn next_segment(&mut self) -> Result<(), Error> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        self.0.push(Vec::new());
        Ok(())
    }
}

/// Reads every record of one segment's bytes: (offset, record).
fn unframe(seg: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut asm = RecordAssembler::new();
    let (mut pos, mut start, mut out) = (0, 0, Vec::new());
    while pos < seg.len() {
        match parse_fragment(&seg[pos..], pos % PAGE_SIZE, Dialect::Reader).unwrap() {
            Parsed::Padding { size } => pos += size,
            Parsed::Incomplete { needed } => panic!("incomplete at {pos}: {needed}"),
            Parsed::Fragment { header, payload, size, spans_page } => {
                assert!(!spans_page, "our writer never lets a fragment run over a page");
                if !asm.is_open() {
                    start = pos;
                }
                match asm.push(&header, payload).unwrap() {
                    Assembled::Pending => {}
                    Assembled::Borrowed(r) => out.push((start, r.to_vec())),
                    Assembled::Owned => out.push((start, asm.record().to_vec())),
                }
                pos += size;
            }
        }
    }
    assert!(!asm.is_open());
    out
}

fn frame(records: &[Vec<u8>], batch: usize, segment_size: usize, c: Compression) -> (Segments, Vec<(u64, usize)>) {
    let mut sink = Segments::default();
    let mut f = Framer::new(segment_size, c).unwrap();
    let (mut seg, mut at) = (0u64, Vec::new());
    for (i, r) in records.iter().enumerate() {
        let (moved, off) = f.log(r, (i + 1) % batch == 0 || i + 1 == records.len(), &mut sink).unwrap();
        seg += moved as u64;
        at.push((seg, off));
    }
    f.finish_page(&mut sink).unwrap();
    (sink, at)
}

fn check_round_trip(records: &[Vec<u8>], batch: usize, segment_size: usize, c: Compression) {
    let (segs, at) = frame(records, batch, segment_size, c);
    let mut got = Vec::new();
    for (i, s) in segs.0.iter().enumerate() {
        assert_eq!(s.len() % PAGE_SIZE, 0, "finished segments end on a page boundary");
        for (off, r) in unframe(s) {
            got.push(((i as u64, off), r));
        }
    }
    let want: Vec<_> = at.into_iter().zip(records.iter().cloned()).collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "records or positions differ");
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    // Half repetitive (compressible), half noisy, so both compression outcomes occur.
    (0..n)
        .map(|i| if i % 2 == 0 { seed } else { (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed })
        .collect()
}

#[test]
fn awkward_record_sizes() {
    let sizes = [
        0,
        1,
        2,
        PAGE_SIZE - HEADER_SIZE - 1,
        PAGE_SIZE - HEADER_SIZE,
        PAGE_SIZE - HEADER_SIZE + 1,
        PAGE_SIZE,
        PAGE_SIZE + 1,
        5 * PAGE_SIZE + 3,
        0,
        1,
    ];
    let records: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| pattern(n, i as u8)).collect();
    for c in [Compression::None, Compression::Snappy] {
        for batch in [1, 3, 100] {
            check_round_trip(&records, batch, 8 * PAGE_SIZE, c);
            check_round_trip(&records, batch, DEFAULT_SEGMENT_SIZE, c);
        }
    }
}

#[test]
fn a_record_exactly_filling_the_page_leaves_no_padding() {
    let (segs, at) = frame(&[pattern(PAGE_SIZE - HEADER_SIZE, 1), vec![7]], 1, DEFAULT_SEGMENT_SIZE, Compression::None);
    assert_eq!(at, vec![(0, 0), (0, PAGE_SIZE)]);
    assert_eq!(segs.0[0][PAGE_SIZE], 1, "second record starts the next page with a full fragment");
}

#[test]
fn seven_bytes_left_gives_an_empty_first_fragment_as_prometheus_writes_it() {
    // With exactly a header's worth of room left, Prometheus's writer emits a `first` fragment of
    // length zero and continues on the next page.
    let (segs, _) = frame(
        &[pattern(PAGE_SIZE - 2 * HEADER_SIZE, 1), pattern(100, 2)],
        100,
        DEFAULT_SEGMENT_SIZE,
        Compression::None,
    );
    let s = &segs.0[0];
    let at = PAGE_SIZE - HEADER_SIZE;
    assert_eq!(s[at] & 7, 2, "first");
    assert_eq!(&s[at + 1..at + 3], &[0, 0], "length 0");
    assert_eq!(s[PAGE_SIZE] & 7, 4, "last, on the next page");
    check_round_trip(
        &[pattern(PAGE_SIZE - 2 * HEADER_SIZE, 1), pattern(100, 2)],
        100,
        DEFAULT_SEGMENT_SIZE,
        Compression::None,
    );
}

#[test]
fn records_never_cross_segments() {
    let records: Vec<Vec<u8>> = (0..40).map(|i| pattern(3 * PAGE_SIZE / 2 + i * 100, i as u8)).collect();
    let (segs, at) = frame(&records, 1, 4 * PAGE_SIZE, Compression::None);
    assert!(segs.0.len() > 5);
    for s in &segs.0 {
        assert!(s.len() <= 4 * PAGE_SIZE);
    }
    assert!(at.windows(2).all(|w| w[0] < w[1]));
    check_round_trip(&records, 1, 4 * PAGE_SIZE, Compression::None);
}

#[test]
fn a_record_larger_than_a_segment_is_written_anyway() {
    // Prometheus writes it into a fresh segment that grows past the configured size.
    let big = pattern(3 * PAGE_SIZE, 9);
    check_round_trip(&[vec![1], big, vec![2]], 1, 2 * PAGE_SIZE, Compression::None);
}

#[test]
fn compression_is_kept_only_when_it_helps() {
    let compressible = vec![b'a'; 10_000];
    let (segs, _) = frame(&[compressible], 1, DEFAULT_SEGMENT_SIZE, Compression::Snappy);
    assert_eq!(segs.0[0][0], 1 | 0x08, "full, snappy");
    let noise: Vec<u8> = (0..64u32).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect();
    let (segs, _) = frame(&[noise], 1, DEFAULT_SEGMENT_SIZE, Compression::Snappy);
    assert_eq!(segs.0[0][0], 1, "full, stored as is");
}

#[test]
fn bad_segment_sizes_are_refused() {
    assert!(Framer::new(PAGE_SIZE + 1, Compression::None).is_err());
    assert!(Framer::new(0, Compression::None).is_err());
    assert!(Framer::new(PAGE_SIZE, Compression::Zstd).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_records_round_trip(sizes in prop::collection::vec(prop_oneof![0usize..100, 0usize..3 * PAGE_SIZE], 1..40),
                                 batch in 1usize..10, pages in 2usize..6, snappy in any::<bool>()) {
        let records: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| pattern(n, i as u8)).collect();
        let c = if snappy { Compression::Snappy } else { Compression::None };
        check_round_trip(&records, batch, pages * PAGE_SIZE, c);
    }
}
