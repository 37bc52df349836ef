//! Every decoder against the test encoder: what is encoded decodes back bit for bit; and no
//! byte string makes a decoder panic.

use proptest::prelude::*;

use super::test_encoder::{self as enc, Layout};
use super::*;

/// A sample as bits, so that NaNs (stale markers included) compare exactly.
fn bits(s: &Sample) -> Vec<u64> {
    let mut out = vec![s.t as u64, s.st as u64];
    let spans = |out: &mut Vec<u64>, sp: &[Span]| {
        out.push(sp.len() as u64);
        sp.iter().for_each(|s| out.extend([s.offset as u64, u64::from(s.length)]));
    };
    match &s.value {
        Value::Float(v) => out.push(v.to_bits()),
        Value::Histogram(h) => {
            out.extend([1, h.counter_reset_hint.as_u8().into(), h.schema as u64, h.zero_threshold.to_bits()]);
            out.extend([h.zero_count, h.count, h.sum.to_bits()]);
            spans(&mut out, &h.positive_spans);
            spans(&mut out, &h.negative_spans);
            out.push(h.positive_buckets.len() as u64);
            out.extend(h.positive_buckets.iter().map(|&b| b as u64));
            out.push(h.negative_buckets.len() as u64);
            out.extend(h.negative_buckets.iter().map(|&b| b as u64));
            out.push(h.custom_values.len() as u64);
            out.extend(h.custom_values.iter().map(|v| v.to_bits()));
        }
        Value::FloatHistogram(h) => {
            out.extend([2, h.counter_reset_hint.as_u8().into(), h.schema as u64, h.zero_threshold.to_bits()]);
            out.extend([h.zero_count.to_bits(), h.count.to_bits(), h.sum.to_bits()]);
            spans(&mut out, &h.positive_spans);
            spans(&mut out, &h.negative_spans);
            out.push(h.positive_buckets.len() as u64);
            out.extend(h.positive_buckets.iter().map(|b| b.to_bits()));
            out.push(h.negative_buckets.len() as u64);
            out.extend(h.negative_buckets.iter().map(|b| b.to_bits()));
            out.push(h.custom_values.len() as u64);
            out.extend(h.custom_values.iter().map(|v| v.to_bits()));
        }
    }
    out
}

fn decode(encoding: Encoding, data: &[u8]) -> Vec<Vec<u64>> {
    Chunk::new(encoding, data).samples().map(|s| bits(&s.unwrap())).collect()
}

/// As [`decode`], through [`ChunkSamples::next_into`] into `out`, whatever it held before.
fn decode_into(encoding: Encoding, data: &[u8], out: &mut Sample) -> Vec<Vec<u64>> {
    let mut samples = Chunk::new(encoding, data).samples();
    let mut got = Vec::new();
    while samples.next_into(out).unwrap() {
        got.push(bits(out));
    }
    got
}

/// Samples to decode into that hold leftovers of every kind: each field and vector set to
/// something no decoded sample of these tests has, so that a field left unwritten shows.
fn leftovers() -> Vec<Sample> {
    let spans = vec![Span { offset: 7, length: 9 }; 5];
    let h = Histogram {
        counter_reset_hint: CounterResetHint::Reset,
        schema: 77,
        zero_threshold: -1.0,
        zero_count: 99,
        count: 99,
        sum: -1.0,
        positive_spans: spans.clone(),
        negative_spans: spans.clone(),
        positive_buckets: vec![-7; 50],
        negative_buckets: vec![-7; 50],
        custom_values: vec![-1.0; 50],
    };
    let fh = FloatHistogram {
        counter_reset_hint: CounterResetHint::Reset,
        schema: 77,
        zero_threshold: -1.0,
        zero_count: -1.0,
        count: -1.0,
        sum: -1.0,
        positive_spans: spans.clone(),
        negative_spans: spans,
        positive_buckets: vec![-7.0; 50],
        negative_buckets: vec![-7.0; 50],
        custom_values: vec![-1.0; 50],
    };
    vec![
        Sample::default(),
        Sample { t: -1, st: -1, value: Value::Histogram(Box::new(h)) },
        Sample { t: -1, st: -1, value: Value::FloatHistogram(Box::new(fh)) },
    ]
}

/// Decoding into a reused sample gives what the iterator gives, whatever the sample held, and
/// also when the same sample goes on to the next chunk.
fn check_into(encoding: Encoding, data: &[u8], want: &[Vec<u64>]) -> Result<(), TestCaseError> {
    for mut out in leftovers() {
        prop_assert_eq!(&decode_into(encoding, data, &mut out), want);
        prop_assert_eq!(&decode_into(encoding, data, &mut out), want);
    }
    Ok(())
}

/// Float values as scrapes produce them: repeats, counters, gauges, arbitrary bits, stale
/// markers.
fn value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        3 => Just(1.0),
        3 => (0u32..1000).prop_map(f64::from),
        2 => any::<f64>(),
        2 => any::<u64>().prop_map(f64::from_bits),
        1 => Just(f64::from_bits(STALE_NAN_BITS)),
    ]
}

/// Timestamps: regular steps with jitter, and now and then any jump (also backwards: the
/// encodings store any i64 sequence).
fn timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
    let step = prop_oneof![
        4 => Just(15_000i64),
        3 => 14_990i64..15_010,
        1 => -5_000i64..5_000_000,
        1 => any::<i64>(),
    ];
    (any::<i64>(), prop::collection::vec(step, n)).prop_map(|(start, steps)| {
        let mut t = start;
        steps
            .iter()
            .map(|s| {
                let cur = t;
                t = t.wrapping_add(*s);
                cur
            })
            .collect()
    })
}

/// Start timestamps: mostly constant (a counter's creation time), sometimes changing.
fn start_timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(prop_oneof![6 => Just(None), 1 => any::<i64>().prop_map(Some), 1 => Just(Some(0))], n)
        .prop_flat_map(|changes| {
            (prop_oneof![Just(0i64), any::<i64>()]).prop_map(move |first| {
                let mut cur = first;
                changes
                    .iter()
                    .map(|c| {
                        if let Some(v) = c {
                            cur = *v;
                        }
                        cur
                    })
                    .collect()
            })
        })
}

fn samples(max: usize) -> impl Strategy<Value = Vec<(i64, i64, f64)>> {
    (0..max)
        .prop_flat_map(|n| (start_timestamps(n), timestamps(n), prop::collection::vec(value(), n)))
        .prop_map(|(st, t, v)| st.into_iter().zip(t).zip(v).map(|((st, t), v)| (st, t, v)).collect())
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec(
        (prop_oneof![3 => -3i32..10, 1 => any::<i32>()], 0u32..5).prop_map(|(offset, length)| Span { offset, length }),
        0..4,
    )
}

fn layout() -> impl Strategy<Value = Layout> {
    let zero = prop_oneof![
        Just(0.0),
        Just(1e-128),
        Just(0.001),
        (-243i32..=10).prop_map(|e| 2f64.powi(e)),
        // Prometheus stores -0 as 0, like +0.
        any::<f64>().prop_map(|z| if z == 0.0 { 0.0 } else { z })
    ];
    // Prometheus stores a -0 bound as 0 (it is a whole number of thousandths).
    let bound = any::<f64>().prop_map(|b| if b == 0.0 { 0.0 } else { b });
    let custom = prop::collection::vec(prop_oneof![(0u32..100_000).prop_map(|x| f64::from(x) / 1000.0), bound], 0..5);
    (prop_oneof![-4i32..=8, Just(CUSTOM_BUCKETS_SCHEMA), -9i32..=52], zero, spans(), spans(), custom).prop_map(
        |(schema, zero_threshold, positive_spans, negative_spans, custom)| Layout {
            schema,
            zero_threshold,
            positive_spans,
            negative_spans,
            custom_values: if schema == CUSTOM_BUCKETS_SCHEMA { custom } else { Vec::new() },
        },
    )
}

fn counter_reset() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(0x40), Just(0x80), Just(0xc0)]
}

fn hint(counter_reset: u8, i: usize) -> CounterResetHint {
    match (counter_reset, i) {
        (0xc0, _) => CounterResetHint::Gauge,
        (_, 0) => CounterResetHint::Unknown,
        _ => CounterResetHint::NotReset,
    }
}

/// `n` histograms of type `$ty` laid out as `$layout`, each made of the `$one` strategy's
/// (count, zero count, sum, positive buckets, negative buckets): the int and the float histogram
/// have the same fields (of other number types), so one body serves both.
macro_rules! histograms {
    ($layout:expr, $n:expr, $one:expr, $ty:ident) => {{
        let layout: Layout = $layout;
        prop::collection::vec($one, $n).prop_map(move |hs| {
            hs.into_iter()
                .map(|(count, zero_count, sum, positive_buckets, negative_buckets)| $ty {
                    counter_reset_hint: CounterResetHint::Unknown,
                    schema: layout.schema,
                    zero_threshold: layout.zero_threshold,
                    zero_count,
                    count,
                    sum,
                    positive_spans: layout.positive_spans.clone(),
                    negative_spans: layout.negative_spans.clone(),
                    positive_buckets,
                    negative_buckets,
                    custom_values: layout.custom_values.clone(),
                })
                .collect()
        })
    }};
}

/// Integer histograms of `layout`, values drifting like counters (or anything, sometimes).
fn int_histograms(layout: Layout, n: usize) -> impl Strategy<Value = Vec<Histogram>> {
    let (np, nn) = layout.buckets();
    let count = prop_oneof![3 => 0u64..1000, 1 => any::<u64>()];
    let bucket = prop_oneof![3 => -50i64..50, 1 => any::<i64>()];
    let sum = prop_oneof![4 => any::<f64>(), 1 => Just(f64::from_bits(STALE_NAN_BITS))];
    let one = (count.clone(), count, sum, prop::collection::vec(bucket.clone(), np), prop::collection::vec(bucket, nn));
    histograms!(layout, n, one, Histogram)
}

/// Float histograms of `layout`, any values.
fn float_histograms(layout: Layout, n: usize) -> impl Strategy<Value = Vec<FloatHistogram>> {
    let (np, nn) = layout.buckets();
    let f = value();
    let one = (f.clone(), f.clone(), f.clone(), prop::collection::vec(f.clone(), np), prop::collection::vec(f, nn));
    histograms!(layout, n, one, FloatHistogram)
}

proptest! {
    #[test]
    fn xor_round_trips(s in samples(300)) {
        let tv: Vec<(i64, f64)> = s.iter().map(|&(_, t, v)| (t, v)).collect();
        let want: Vec<Vec<u64>> = tv.iter().map(|&(t, v)| bits(&Sample { t, st: 0, value: Value::Float(v) })).collect();
        prop_assert_eq!(decode(Encoding::Xor, &enc::xor(&tv)), want.clone());
        check_into(Encoding::Xor, &enc::xor(&tv), &want)?;
    }

    #[test]
    fn xor2_round_trips(s in samples(300)) {
        let want: Vec<Vec<u64>> = s.iter().map(|&(st, t, v)| bits(&Sample { t, st, value: Value::Float(v) })).collect();
        prop_assert_eq!(decode(Encoding::Xor2, &enc::xor2(&s)), want.clone());
        check_into(Encoding::Xor2, &enc::xor2(&s), &want)?;
    }

    #[test]
    fn histograms_round_trip(
        (layout, ts, sts, hs, cr, with_st) in layout().prop_flat_map(|l| (0usize..40).prop_flat_map(move |n| (
            Just(l.clone()), timestamps(n), start_timestamps(n), int_histograms(l.clone(), n), counter_reset(), any::<bool>(),
        )))
    ) {
        let samples: Vec<(i64, i64, Histogram)> =
            sts.iter().zip(&ts).zip(&hs).map(|((&st, &t), h)| (if with_st { st } else { 0 }, t, h.clone())).collect();
        let data = enc::histogram(&layout, cr, &samples, with_st);
        let want: Vec<Vec<u64>> = samples.iter().enumerate().map(|(i, (st, t, h))| {
            let h = Histogram { counter_reset_hint: hint(cr, i), ..h.clone() };
            bits(&enc::expected(*t, *st, Value::Histogram(Box::new(h))))
        }).collect();
        let encoding = if with_st { Encoding::HistogramSt } else { Encoding::Histogram };
        prop_assert_eq!(Chunk::new(encoding, &data).num_samples(), Some(samples.len() as u16));
        prop_assert_eq!(decode(encoding, &data), want.clone());
        check_into(encoding, &data, &want)?;
    }

    #[test]
    fn float_histograms_round_trip(
        (layout, ts, sts, hs, cr, with_st) in layout().prop_flat_map(|l| (0usize..40).prop_flat_map(move |n| (
            Just(l.clone()), timestamps(n), start_timestamps(n), float_histograms(l.clone(), n), counter_reset(), any::<bool>(),
        )))
    ) {
        let samples: Vec<(i64, i64, FloatHistogram)> =
            sts.iter().zip(&ts).zip(&hs).map(|((&st, &t), h)| (if with_st { st } else { 0 }, t, h.clone())).collect();
        let data = enc::float_histogram(&layout, cr, &samples, with_st);
        let want: Vec<Vec<u64>> = samples.iter().enumerate().map(|(i, (st, t, h))| {
            let h = FloatHistogram { counter_reset_hint: hint(cr, i), ..h.clone() };
            bits(&enc::expected(*t, *st, Value::FloatHistogram(Box::new(h))))
        }).collect();
        let encoding = if with_st { Encoding::FloatHistogramSt } else { Encoding::FloatHistogram };
        prop_assert_eq!(decode(encoding, &data), want.clone());
        check_into(encoding, &data, &want)?;
    }

    /// Arbitrary bytes: every decoder returns samples or an error, never panics, and never
    /// yields more samples than the header declares.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200), enc in 1u8..=6) {
        let chunk = Chunk::new(Encoding::from_byte(enc).unwrap(), &data);
        let n = chunk.samples().take_while(Result::is_ok).count();
        prop_assert!(n <= usize::from(chunk.num_samples().unwrap_or(0)));
        // The same through `next_into`: as many samples, then the same end (error or not).
        for mut out in leftovers() {
            let mut samples = chunk.samples();
            let mut m = 0;
            let end = loop {
                match samples.next_into(&mut out) {
                    Ok(true) => m += 1,
                    end => break end.is_err(),
                }
            };
            prop_assert_eq!(m, n);
            prop_assert_eq!(end, chunk.samples().any(|s| s.is_err()));
            prop_assert!(!samples.next_into(&mut out).unwrap());
        }
    }

    /// Damaged real encodings (one bit flipped, or cut short) are also decoded without panic.
    #[test]
    fn damaged_chunks_never_panic(s in samples(50), flip in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let tv: Vec<(i64, f64)> = s.iter().map(|&(_, t, v)| (t, v)).collect();
        for (encoding, mut data) in [(Encoding::Xor, enc::xor(&tv)), (Encoding::Xor2, enc::xor2(&s))] {
            if data.is_empty() { continue; }
            let i = flip.index(data.len());
            data[i] ^= 1 << (i % 8);
            let _ = Chunk::new(encoding, &data).samples().count();
            let _ = Chunk::new(encoding, &data[..cut.index(data.len())]).samples().count();
        }
    }
}

/// A stale-marker sum is a stale histogram even as a chunk's first sample (where it is
/// stored with buckets), as Prometheus returns it.
#[test]
fn first_sample_stale_histogram() {
    let layout = Layout {
        schema: 0,
        zero_threshold: 0.0,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        negative_spans: vec![],
        custom_values: vec![],
    };
    let h = Histogram {
        count: 3,
        sum: f64::from_bits(STALE_NAN_BITS),
        positive_spans: layout.positive_spans.clone(),
        positive_buckets: vec![1, 1],
        ..Histogram::default()
    };
    let data = enc::histogram(&layout, 0, &[(0, 5, h)], false);
    let got: Vec<Sample> = Chunk::new(Encoding::Histogram, &data).samples().map(Result::unwrap).collect();
    assert_eq!(got.len(), 1);
    assert!(got[0].value.is_stale());
    let only_sum = Histogram { sum: f64::from_bits(STALE_NAN_BITS), ..Histogram::default() };
    assert_eq!(bits(&got[0]), bits(&Sample { t: 5, st: 0, value: Value::Histogram(Box::new(only_sum)) }));
}
