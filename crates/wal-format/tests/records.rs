//! Property tests: every record type decodes to what was encoded, and damaged records fail
//! cleanly instead of panicking.

use proptest::prelude::*;
use wal_format::record::*;

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec((".{0,12}", ".{0,20}"), 0..6).prop_map(Labels::from_pairs_sorted)
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::from_bits(STALE_NAN_BITS)), Just(f64::INFINITY), Just(-0.0)]
}

fn sample() -> impl Strategy<Value = RefSample> {
    (any::<u64>(), any::<i64>(), float()).prop_map(|(series_ref, t, v)| RefSample { series_ref, st: 0, t, v })
}

fn same_bits(a: &[RefSample], b: &[RefSample]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.series_ref, x.st, x.t, x.v.to_bits()) == (y.series_ref, y.st, y.t, y.v.to_bits()))
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec((any::<i32>(), any::<u32>()).prop_map(|(offset, length)| Span { offset, length }), 0..4)
}

fn histogram() -> impl Strategy<Value = Histogram> {
    (
        (
            0u8..4,
            prop_oneof![-4i32..9, Just(CUSTOM_BUCKETS_SCHEMA)],
            any::<f64>(),
            any::<u64>(),
            any::<u64>(),
            any::<f64>(),
        ),
        (spans(), spans(), prop::collection::vec(any::<i64>(), 0..6), prop::collection::vec(any::<i64>(), 0..6)),
        prop::collection::vec(any::<f64>(), 0..4),
    )
        .prop_map(|((hint, schema, zt, zc, c, sum), (ps, ns, pb, nb), cv)| Histogram {
            counter_reset_hint: hint,
            schema,
            zero_threshold: zt,
            zero_count: zc,
            count: c,
            sum,
            positive_spans: ps,
            negative_spans: ns,
            positive_buckets: pb,
            negative_buckets: nb,
            custom_values: if schema == CUSTOM_BUCKETS_SCHEMA { cv } else { Vec::new() },
        })
}

fn float_histogram() -> impl Strategy<Value = FloatHistogram> {
    (histogram(), prop::collection::vec(any::<f64>(), 0..6)).prop_map(|(h, fb)| FloatHistogram {
        counter_reset_hint: h.counter_reset_hint,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count as f64,
        count: h.count as f64,
        sum: h.sum,
        positive_spans: h.positive_spans,
        negative_spans: h.negative_spans,
        positive_buckets: fb.clone(),
        negative_buckets: fb.iter().map(|x| -x).collect(),
        custom_values: h.custom_values,
    })
}

/// Debug output compares NaNs and signed zeros by bits, as `{:?}` of f64 round-trips.
fn dbg<T: std::fmt::Debug>(t: &T) -> String {
    format!("{t:?}")
}

proptest! {
    #[test]
    fn series(entries in prop::collection::vec((any::<u64>(), labels()), 0..20)) {
        let series: Vec<RefSeries> = entries.iter().map(|(r, l)| RefSeries { series_ref: *r, labels: l.as_ref() }).collect();
        let mut buf = Vec::new();
        encode_series(&series, &mut buf);
        let mut out = Vec::new();
        decode_series(&buf, &mut out).unwrap();
        prop_assert_eq!(out, series);
    }

    #[test]
    fn samples_v1(samples in prop::collection::vec(sample(), 0..300)) {
        let mut buf = Vec::new();
        encode_samples(&samples, &mut buf);
        let mut out = vec![RefSample::default()]; // decoders append
        decode_samples(&buf, &mut out).unwrap();
        prop_assert!(same_bits(&out[1..], &samples));
    }

    #[test]
    fn samples_v2(samples in prop::collection::vec((sample(), prop_oneof![Just(0i64), any::<i64>(), Just(5i64)]), 0..300)) {
        let samples: Vec<RefSample> = samples.into_iter().map(|(s, st)| RefSample { st, ..s }).collect();
        let mut buf = Vec::new();
        encode_samples_v2(&samples, &mut buf);
        let mut out = Vec::new();
        decode_samples(&buf, &mut out).unwrap();
        prop_assert!(same_bits(&out, &samples));
    }

    #[test]
    fn tombstones(stones in prop::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..50)) {
        let stones: Vec<Tombstone> = stones.into_iter().map(|(series_ref, min_t, max_t)| Tombstone { series_ref, min_t, max_t }).collect();
        let mut buf = Vec::new();
        encode_tombstones(&stones, &mut buf);
        let mut out = Vec::new();
        decode_tombstones(&buf, &mut out).unwrap();
        prop_assert_eq!(out, stones);
    }

    #[test]
    fn exemplars(entries in prop::collection::vec((sample(), labels()), 0..50)) {
        let ex: Vec<RefExemplar> = entries.iter().map(|(s, l)| RefExemplar { series_ref: s.series_ref, t: s.t, v: s.v, labels: l.as_ref() }).collect();
        let mut buf = Vec::new();
        encode_exemplars(&ex, &mut buf);
        let mut out = Vec::new();
        decode_exemplars(&buf, &mut out).unwrap();
        prop_assert_eq!(dbg(&out), dbg(&ex));
    }

    #[test]
    fn mmap_markers(m in prop::collection::vec((any::<u64>(), any::<u64>()), 0..50)) {
        let m: Vec<RefMmapMarker> = m.into_iter().map(|(series_ref, mmap_ref)| RefMmapMarker { series_ref, mmap_ref }).collect();
        let mut buf = Vec::new();
        encode_mmap_markers(&m, &mut buf);
        let mut out = Vec::new();
        decode_mmap_markers(&buf, &mut out).unwrap();
        prop_assert_eq!(out, m);
    }

    #[test]
    fn metadata(m in prop::collection::vec((any::<u64>(), 0u8..9, ".{0,10}", ".{0,40}"), 0..30)) {
        let md: Vec<RefMetadata> = m.iter().map(|(r, t, u, h)| RefMetadata {
            series_ref: *r, metric_type: MetricType::from_byte(*t), unit: u.as_bytes(), help: h.as_bytes() }).collect();
        let mut buf = Vec::new();
        encode_metadata(&md, &mut buf);
        let mut out = Vec::new();
        decode_metadata(&buf, &mut out).unwrap();
        prop_assert_eq!(out, md);
    }

    #[test]
    fn histograms(hs in prop::collection::vec((sample(), any::<i64>(), histogram()), 0..20), typ in 0usize..3) {
        let typ = [RecordType::HistogramSamples, RecordType::CustomBucketsHistogramSamples, RecordType::HistogramSamplesV2][typ];
        let v2 = typ == RecordType::HistogramSamplesV2;
        let hs: Vec<RefHistogramSample> = hs.into_iter()
            .map(|(s, st, h)| RefHistogramSample { series_ref: s.series_ref, st: if v2 { st } else { 0 }, t: s.t, h })
            .collect();
        let mut buf = Vec::new();
        encode_histogram_samples(typ, &hs, &mut buf).unwrap();
        prop_assert_eq!(RecordType::of(&buf), typ);
        let mut out = Vec::new();
        decode_histogram_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(dbg(&out), dbg(&hs));
    }

    #[test]
    fn float_histograms(hs in prop::collection::vec((sample(), any::<i64>(), float_histogram()), 0..20), typ in 0usize..3) {
        let typ = [RecordType::FloatHistogramSamples, RecordType::CustomBucketsFloatHistogramSamples, RecordType::FloatHistogramSamplesV2][typ];
        let v2 = typ == RecordType::FloatHistogramSamplesV2;
        let hs: Vec<RefFloatHistogramSample> = hs.into_iter()
            .map(|(s, st, fh)| RefFloatHistogramSample { series_ref: s.series_ref, st: if v2 { st } else { 0 }, t: s.t, fh })
            .collect();
        let mut buf = Vec::new();
        encode_float_histogram_samples(typ, &hs, &mut buf).unwrap();
        let mut out = Vec::new();
        decode_float_histogram_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(dbg(&out), dbg(&hs));
    }

    /// Cutting a valid record anywhere, or flipping a byte, gives an error or a value — never a
    /// panic — and a cut record never decodes as valid with entries beyond the cut.
    #[test]
    fn damaged_records_fail_cleanly(samples in prop::collection::vec(sample(), 1..50), l in labels(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let mut recs = Vec::new();
        let mut b = Vec::new(); encode_samples(&samples, &mut b); recs.push(b);
        let mut b = Vec::new(); encode_series(&[RefSeries { series_ref: 1, labels: l.as_ref() }], &mut b); recs.push(b);
        let ex = [RefExemplar { series_ref: 1, t: 2, v: 3.0, labels: l.as_ref() }];
        let mut b = Vec::new(); encode_exemplars(&ex, &mut b); recs.push(b);
        for rec in recs {
            let n = cut.index(rec.len());
            let short = &rec[..n.max(1)];
            let mut flipped = rec.clone();
            let i = flip.0.index(rec.len());
            flipped[i] ^= flip.1 | 1;
            for data in [short, &flipped[..]] {
                let _ = decode_samples(data, &mut Vec::new());
                let _ = decode_series(data, &mut Vec::new());
                let _ = decode_exemplars(data, &mut Vec::new());
                let _ = decode_histogram_samples(data, &mut Vec::new());
                let _ = decode_float_histogram_samples(data, &mut Vec::new());
                let _ = decode_metadata(data, &mut Vec::new());
            }
            if n > 1 && n < rec.len() {
                let mut out = Vec::new();
                if RecordType::of(&rec) == RecordType::Samples && decode_samples(short, &mut out).is_ok() {
                    prop_assert!(out.len() < samples.len());
                }
            }
        }
    }
}

#[test]
fn errors_say_what_and_where() {
    let mut buf = Vec::new();
    encode_samples(&[RefSample { series_ref: 1, st: 0, t: 5, v: 1.0 }; 3], &mut buf);
    buf.push(0x07); // a stray byte: not a whole entry
    let err = decode_samples(&buf, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("samples record") && err.contains("at byte 47"), "{err}");
    buf.truncate(40);
    let err = decode_samples(&buf, &mut Vec::new()).unwrap_err().to_string();
    assert_eq!(err, "samples record: invalid size at byte 37");
    let err = decode_series(&[2, 0], &mut Vec::new()).unwrap_err().to_string();
    assert_eq!(err, "samples record: invalid record type at byte 0");
    // A label count larger than the record could hold is refused before anything is allocated.
    let err = decode_series(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f], &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("invalid size"), "{err}");
    // Trailing bytes after the last series entry are reported as Prometheus reports them.
    let l = Labels::from_pairs([("a", "b")]);
    let mut buf = Vec::new();
    encode_series(&[RefSeries { series_ref: 9, labels: l.as_ref() }], &mut buf);
    buf.extend_from_slice(&[0, 0, 0]);
    let err = decode_series(&buf, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("invalid size") || err.contains("bytes left"), "{err}");
}

#[test]
fn decoding_samples_reuses_the_callers_buffer() {
    let samples: Vec<RefSample> =
        (0..1000).map(|i| RefSample { series_ref: i, st: 0, t: 1_000 + i as i64, v: i as f64 }).collect();
    let mut buf = Vec::new();
    encode_samples(&samples, &mut buf);
    let mut out = Vec::new();
    decode_samples(&buf, &mut out).unwrap();
    let (ptr, cap) = (out.as_ptr(), out.capacity());
    for _ in 0..10 {
        out.clear();
        decode_samples(&buf, &mut out).unwrap();
        assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap), "decode reallocated");
    }
    assert!(same_bits(&out, &samples));
}

/// Decoding appends after what the caller's vector already holds, and an overlong varint in the
/// middle of a long record (where the unchecked-window fast path runs) is reported at the offset
/// of the entry that holds it, with the entries before it decoded.
#[test]
fn samples_fast_path_appends_and_reports_the_bad_entry() {
    let samples: Vec<RefSample> =
        (0..100).map(|i| RefSample { series_ref: 7 + i, st: 0, t: 5_000, v: i as f64 * 0.5 }).collect();
    let mut buf = Vec::new();
    encode_samples(&samples, &mut buf);
    let kept = RefSample { series_ref: 1, st: 0, t: 2, v: 3.0 };
    let mut out = vec![kept];
    decode_samples(&buf, &mut out).unwrap();
    assert!(same_bits(&out[..1], &[kept]) && same_bits(&out[1..], &samples));

    // Entry 40 starts after the 17-byte header and 40 entries of 1–2 + 1 + 8 bytes.
    let at = 17 + samples[..40].iter().map(|s| if s.series_ref - 7 < 64 { 10 } else { 11 }).sum::<usize>();
    let mut bad = buf[..at].to_vec();
    bad.extend_from_slice(&[0xff; 10]);
    bad.push(0x7f); // an 11-byte varint: more than 64 bits
    bad.extend_from_slice(&buf[at + 1..]);
    let mut out = vec![kept];
    let err = decode_samples(&bad, &mut out).unwrap_err();
    assert!(
        matches!(err, wal_format::Error::Record { at: a, reason: wal_format::RecordFault::Overflow, .. } if a == at),
        "{err:?}"
    );
    assert!(same_bits(&out[..1], &[kept]) && same_bits(&out[1..], &samples[..40]));
}
