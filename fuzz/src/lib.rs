//! What the fuzz targets share: decode a record with the decoder its type byte selects, and
//! check that what a decoder accepts survives a re-encode unchanged.
//!
//! Every check panics on failure, which is what libFuzzer reports as a crash. Decoder errors are
//! never failures: arbitrary bytes are supposed to be rejected, not to crash.
#![forbid(unsafe_code)]

use wal_format::record::{self, FloatHistogram, Histogram, RecordType, RefSample};

/// Decodes `rec` with the decoder matching its type byte, as a WAL reader would.
pub fn decode_by_type(rec: &[u8]) {
    use RecordType::*;
    match RecordType::of(rec) {
        Series => drop(record::decode_series(rec, &mut Vec::new())),
        Samples | SamplesV2 => drop(record::decode_samples(rec, &mut Vec::new())),
        Tombstones => drop(record::decode_tombstones(rec, &mut Vec::new())),
        Exemplars => drop(record::decode_exemplars(rec, &mut Vec::new())),
        MmapMarkers => drop(record::decode_mmap_markers(rec, &mut Vec::new())),
        Metadata => drop(record::decode_metadata(rec, &mut Vec::new())),
        HistogramSamples | CustomBucketsHistogramSamples | HistogramSamplesV2 => {
            drop(record::decode_histogram_samples(rec, &mut Vec::new()))
        }
        FloatHistogramSamples | CustomBucketsFloatHistogramSamples | FloatHistogramSamplesV2 => {
            drop(record::decode_float_histogram_samples(rec, &mut Vec::new()))
        }
        // Unknown types are skipped by readers, as Prometheus skips them.
        _ => {}
    }
}

/// Decodes `rec` with `$decode`; when it accepts, re-encodes what it decoded (the statement
/// `$encode`, writing into `$enc` from `$a`), decodes that again and checks every pair of entries
/// with `$same`. A macro, not a generic function: the entries borrow the bytes they were decoded
/// from, a different buffer each time.
macro_rules! round_trip {
    ($rec:expr, $what:literal, $decode:path, |$a:ident, $enc:ident| $encode:expr, |$x:ident, $y:ident| $same:expr) => {{
        let mut $a = Vec::new();
        if $decode($rec, &mut $a).is_ok() {
            let mut $enc = Vec::new();
            $encode;
            let mut b = Vec::new();
            $decode(&$enc, &mut b).expect(concat!("a re-encoded ", $what, " record does not decode"));
            assert_eq!($a.len(), b.len(), concat!($what, ": entry counts differ"));
            for ($x, $y) in $a.iter().zip(&b) {
                assert!($same, "{} entries differ: {:?} vs {:?}", $what, $x, $y);
            }
        }
    }};
}

/// Runs every decoder on `rec`; for each one that accepts it, re-encodes what it decoded and
/// checks that decoding the re-encoding gives the same values. Floats compare by bits: NaNs
/// (stale markers among them) must survive exactly.
pub fn decode_all_and_round_trip(rec: &[u8]) {
    let typ = RecordType::of(rec);
    round_trip!(rec, "Series", record::decode_series, |a, enc| record::encode_series(&a, &mut enc), |x, y| {
        x.series_ref == y.series_ref && x.labels.iter().eq(y.labels.iter())
    });
    round_trip!(
        rec,
        "Samples",
        record::decode_samples,
        |a, enc| if typ == RecordType::SamplesV2 {
            record::encode_samples_v2(&a, &mut enc)
        } else {
            record::encode_samples(&a, &mut enc)
        },
        |x, y| sample_key(x) == sample_key(y)
    );
    round_trip!(
        rec,
        "Tombstones",
        record::decode_tombstones,
        |a, enc| record::encode_tombstones(&a, &mut enc),
        |x, y| { x == y }
    );
    round_trip!(rec, "Exemplars", record::decode_exemplars, |a, enc| record::encode_exemplars(&a, &mut enc), |x, y| {
        (x.series_ref, x.t, x.v.to_bits()) == (y.series_ref, y.t, y.v.to_bits()) && x.labels.iter().eq(y.labels.iter())
    });
    round_trip!(
        rec,
        "MmapMarkers",
        record::decode_mmap_markers,
        |a, enc| record::encode_mmap_markers(&a, &mut enc),
        |x, y| x == y
    );
    // The Metadata encoder writes UNIT and HELP only, the fields the decoder keeps.
    round_trip!(rec, "Metadata", record::decode_metadata, |a, enc| record::encode_metadata(&a, &mut enc), |x, y| {
        x == y
    });
    round_trip!(
        rec,
        "histogram",
        record::decode_histogram_samples,
        |a, enc| record::encode_histogram_samples(typ, &a, &mut enc)
            .expect("encoder refuses the record type its decoder accepted"),
        |x, y| (x.series_ref, x.st, x.t) == (y.series_ref, y.st, y.t) && same_histogram(&x.h, &y.h)
    );
    round_trip!(
        rec,
        "float histogram",
        record::decode_float_histogram_samples,
        |a, enc| record::encode_float_histogram_samples(typ, &a, &mut enc)
            .expect("encoder refuses the record type its decoder accepted"),
        |x, y| (x.series_ref, x.st, x.t) == (y.series_ref, y.st, y.t) && same_float_histogram(&x.fh, &y.fh)
    );
}

fn sample_key(s: &RefSample) -> (u64, i64, i64, u64) {
    (s.series_ref, s.st, s.t, s.v.to_bits())
}

/// `==` on floats says NaN ≠ NaN; a round trip must keep the exact bits instead.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits()))
}

fn same_histogram(a: &Histogram, b: &Histogram) -> bool {
    a.counter_reset_hint == b.counter_reset_hint
        && a.schema == b.schema
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.zero_count == b.zero_count
        && a.count == b.count
        && a.sum.to_bits() == b.sum.to_bits()
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && a.positive_buckets == b.positive_buckets
        && a.negative_buckets == b.negative_buckets
        && same_bits(&a.custom_values, &b.custom_values)
}

fn same_float_histogram(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.counter_reset_hint == b.counter_reset_hint
        && a.schema == b.schema
        && same_bits(
            &[a.zero_threshold, a.zero_count, a.count, a.sum],
            &[b.zero_threshold, b.zero_count, b.count, b.sum],
        )
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && same_bits(&a.positive_buckets, &b.positive_buckets)
        && same_bits(&a.negative_buckets, &b.negative_buckets)
        && same_bits(&a.custom_values, &b.custom_values)
}

/// Decodes every sample of a block chunk; checks that a decoder never yields more samples than
/// the chunk's header declares and stops after its first error, and that decoding into a reused
/// sample (`next_into`) reads the same.
pub fn decode_chunk(chunk: tsdb_block::Chunk<'_>) {
    let declared = chunk.num_samples().map_or(0, usize::from);
    let mut n = 0;
    let mut samples = chunk.samples();
    for s in samples.by_ref() {
        match s {
            Ok(_) => n += 1,
            Err(e) => {
                assert!(e.path().as_os_str().is_empty(), "a lone chunk's error names no file: {e}");
                break;
            }
        }
    }
    assert!(n <= declared, "{n} samples from a chunk declaring {declared}");
    assert!(samples.next().is_none(), "samples after the end or an error");
    // The same chunk decoded into one reused sample: the same samples, bit for bit, and the
    // same end.
    let (mut into, mut owned) = (chunk.samples(), chunk.samples());
    let mut reused = tsdb_block::Sample::default();
    loop {
        match (into.next_into(&mut reused), owned.next()) {
            (Ok(true), Some(Ok(s))) => {
                assert_eq!(format!("{reused:?}"), format!("{s:?}"), "next_into differs from the iterator");
                assert_eq!(reused.value.is_stale(), s.value.is_stale(), "next_into differs in staleness");
            }
            (Ok(false), None) | (Err(_), Some(Err(_))) => break,
            (a, b) => panic!("next_into and the iterator end differently: {a:?} / {b:?}"),
        }
    }
    assert!(matches!(into.next_into(&mut reused), Ok(false)), "next_into read after the end or an error");
}

/// Opens `data` as a block's index and reads all of it a reader would: every series (labels,
/// chunk metas) and every postings list. Errors are fine; panics are not.
pub fn read_index(data: &[u8]) {
    let path = std::path::Path::new("index");
    let Ok(index) = tsdb_block::Index::from_bytes(data.to_vec(), path) else { return };
    if let Ok(refs) = index.all_series() {
        for r in refs {
            if let Ok(series) = index.series(r) {
                assert!(series.labels().len() <= data.len(), "more labels than bytes");
            }
        }
    }
    let mut offsets = Vec::new();
    let _ = index.for_each_postings_entry(|_, _, off| {
        offsets.push(off);
        true
    });
    for off in offsets {
        if let Ok(p) = index.postings_at(off) {
            assert!(p.len() * 4 <= data.len());
        }
    }
}
