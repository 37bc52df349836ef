//! What the fuzz targets share: decode a record with the decoder its type byte selects, and
//! check that what a decoder accepts survives a re-encode unchanged.
//!
//! Every check panics on failure, which is what libFuzzer reports as a crash. Decoder errors are
//! never failures: arbitrary bytes are supposed to be rejected, not to crash.

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

/// Runs every decoder on `rec`; for each one that accepts it, re-encodes what it decoded and
/// checks that decoding the re-encoding gives the same values.
pub fn decode_all_and_round_trip(rec: &[u8]) {
    series(rec);
    samples(rec);
    tombstones(rec);
    exemplars(rec);
    mmap_markers(rec);
    metadata(rec);
    histograms(rec);
    float_histograms(rec);
}

fn series(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_series(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_series(&a, &mut enc);
    let mut b = Vec::new();
    record::decode_series(&enc, &mut b).expect("re-encoded Series record does not decode");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.series_ref, y.series_ref);
        assert!(x.labels.iter().eq(y.labels.iter()), "labels differ: {} vs {}", x.labels, y.labels);
    }
}

fn samples(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_samples(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    if RecordType::of(rec) == RecordType::SamplesV2 {
        record::encode_samples_v2(&a, &mut enc);
    } else {
        record::encode_samples(&a, &mut enc);
    }
    let mut b = Vec::new();
    record::decode_samples(&enc, &mut b).expect("re-encoded Samples record does not decode");
    // Values compare by bits: NaNs (stale markers among them) must survive exactly.
    let key = |s: &RefSample| (s.series_ref, s.st, s.t, s.v.to_bits());
    assert!(a.iter().map(key).eq(b.iter().map(key)), "samples differ: {a:?} vs {b:?}");
}

fn tombstones(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_tombstones(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_tombstones(&a, &mut enc);
    let mut b = Vec::new();
    record::decode_tombstones(&enc, &mut b).expect("re-encoded Tombstones record does not decode");
    assert_eq!(a, b);
}

fn exemplars(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_exemplars(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_exemplars(&a, &mut enc);
    let mut b = Vec::new();
    record::decode_exemplars(&enc, &mut b).expect("re-encoded Exemplars record does not decode");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.series_ref, x.t, x.v.to_bits()), (y.series_ref, y.t, y.v.to_bits()));
        assert!(x.labels.iter().eq(y.labels.iter()), "labels differ: {} vs {}", x.labels, y.labels);
    }
}

fn mmap_markers(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_mmap_markers(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_mmap_markers(&a, &mut enc);
    let mut b = Vec::new();
    record::decode_mmap_markers(&enc, &mut b).expect("re-encoded MmapMarkers record does not decode");
    assert_eq!(a, b);
}

fn metadata(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_metadata(rec, &mut a).is_err() {
        return;
    }
    // The encoder writes UNIT and HELP only, the fields the decoder keeps: the values still match.
    let mut enc = Vec::new();
    record::encode_metadata(&a, &mut enc);
    let mut b = Vec::new();
    record::decode_metadata(&enc, &mut b).expect("re-encoded Metadata record does not decode");
    assert_eq!(a, b);
}

fn histograms(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_histogram_samples(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_histogram_samples(RecordType::of(rec), &a, &mut enc)
        .expect("encoder refuses the record type its decoder accepted");
    let mut b = Vec::new();
    record::decode_histogram_samples(&enc, &mut b).expect("re-encoded histogram record does not decode");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.series_ref, x.st, x.t), (y.series_ref, y.st, y.t));
        assert!(same_histogram(&x.h, &y.h), "histograms differ: {:?} vs {:?}", x.h, y.h);
    }
}

fn float_histograms(rec: &[u8]) {
    let mut a = Vec::new();
    if record::decode_float_histogram_samples(rec, &mut a).is_err() {
        return;
    }
    let mut enc = Vec::new();
    record::encode_float_histogram_samples(RecordType::of(rec), &a, &mut enc)
        .expect("encoder refuses the record type its decoder accepted");
    let mut b = Vec::new();
    record::decode_float_histogram_samples(&enc, &mut b).expect("re-encoded float histogram record does not decode");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.series_ref, x.st, x.t), (y.series_ref, y.st, y.t));
        assert!(same_float_histogram(&x.fh, &y.fh), "float histograms differ: {:?} vs {:?}", x.fh, y.fh);
    }
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
/// the chunk's header declares and stops after its first error.
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
