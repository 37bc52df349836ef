//! Conformance: every request decodes with an independent (prost) decoder to what was queued.

use super::*;
use crate::item::{ExemplarData, KindCounts, Payload};
use crate::relabel::{LabelSet, Relabeler};
use proptest::prelude::*;
use prost::Message;
use wal_format::record::{FloatHistogram, Histogram, Labels, MetricType, RefMetadata, RefSeries, Span, STALE_NAN_BITS};

use crate::pb;

fn cache_with(series: &[(u64, Vec<(String, String)>)]) -> SeriesCache {
    cache_keeping_ids(series, true)
}

/// `keep_ids: false` is the cache of a 1.0 endpoint, which 2.0 must still encode right.
fn cache_keeping_ids(series: &[(u64, Vec<(String, String)>)], keep_ids: bool) -> SeriesCache {
    let mut c = SeriesCache::new(LabelSet::from_pairs([("cluster", "c1")]), Relabeler::default());
    c.labels_as_strings(keep_ids);
    for (r, l) in series {
        let l = Labels::from_pairs(l.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        c.store(&[RefSeries { series_ref: *r, labels: l.as_ref() }], 0);
    }
    c
}

fn sample(series: u64, t: i64, v: f64) -> Item {
    Item { series, slot: crate::item::NO_SLOT, slot_gen: 0, ack: 0, t, st: 0, payload: Payload::Sample(v) }
}

fn decompress(b: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new().decompress_vec(b).unwrap_or_default()
}

fn hist() -> Histogram {
    Histogram {
        counter_reset_hint: 2,
        schema: -1,
        zero_threshold: 0.001,
        zero_count: 0,
        count: 9,
        sum: 12.5,
        positive_spans: vec![Span { offset: -2, length: 2 }, Span { offset: 1, length: 1 }],
        negative_spans: vec![Span { offset: 0, length: 1 }],
        positive_buckets: vec![1, 2, -1],
        negative_buckets: vec![3],
        custom_values: vec![],
    }
}

fn fhist() -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: 3,
        schema: 0,
        zero_threshold: 0.0,
        zero_count: 0.0,
        count: 4.5,
        sum: -1.0,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        negative_spans: vec![],
        positive_buckets: vec![1.5, 3.0],
        negative_buckets: vec![],
        custom_values: vec![],
    }
}

fn mixed_items() -> Vec<Item> {
    let ex = ExemplarData { value: 0.5, labels: LabelSet::from_pairs([("trace_id", "abc"), ("span", "1")]) };
    vec![
        sample(1, 1000, 1.5),
        sample(2, 1001, f64::from_bits(STALE_NAN_BITS)),
        sample(1, 0, 0.0),
        Item {
            series: 2,
            slot: crate::item::NO_SLOT,
            slot_gen: 0,
            ack: 0,
            t: 1002,
            st: 0,
            payload: Payload::Exemplar(Box::new(ex)),
        },
        Item {
            series: 1,
            slot: crate::item::NO_SLOT,
            slot_gen: 0,
            ack: 0,
            t: 1003,
            st: 100,
            payload: Payload::Histogram(Box::new(hist())),
        },
        Item {
            series: 2,
            slot: crate::item::NO_SLOT,
            slot_gen: 0,
            ack: 0,
            t: 1004,
            st: 101,
            payload: Payload::FloatHistogram(Box::new(fhist())),
        },
        sample(99, 5, 1.0),
    ]
}

fn test_series() -> Vec<(u64, Vec<(String, String)>)> {
    let s = |p: &[(&str, &str)]| p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    vec![
        (1, s(&[("__name__", "http_requests_total"), ("job", "api"), ("Zone", "z")])),
        (2, s(&[("__name__", "up"), ("instance", "h:9100"), ("cluster", "own")])),
    ]
}

fn pairs(l: &[pb::v1::Label]) -> Vec<(String, String)> {
    l.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

#[test]
fn v1_request_decodes_to_what_was_queued() {
    let cache = cache_with(&test_series());
    let mut enc = RequestEncoder::default();
    let items = mixed_items();
    let stats = enc.encode(Protocol::V1, &items, &cache, None).unwrap_or_default();
    assert_eq!(stats.counts, KindCounts { samples: 3, exemplars: 1, histograms: 2 });
    assert_eq!(stats.unknown.samples, 1, "ref 99 was never stored");
    assert_eq!((stats.highest, stats.lowest), (1004, 1000));
    let raw = decompress(enc.body());
    assert_eq!(raw, enc.raw());
    let req = pb::v1::WriteRequest::decode(raw.as_slice()).unwrap_or_default();
    assert_eq!(req.timeseries.len(), 6, "one TimeSeries per point");
    let l1 = vec![
        ("Zone".to_string(), "z".to_string()),
        ("__name__".into(), "http_requests_total".into()),
        ("cluster".into(), "c1".into()),
        ("job".into(), "api".into()),
    ];
    let l2 = vec![
        ("__name__".to_string(), "up".to_string()),
        ("cluster".into(), "own".into()),
        ("instance".into(), "h:9100".into()),
    ];
    let ts = &req.timeseries;
    assert_eq!(pairs(&ts[0].labels), l1, "sorted, external label merged");
    assert_eq!(ts[0].samples, vec![pb::v1::Sample { value: 1.5, timestamp: 1000 }]);
    assert_eq!(pairs(&ts[1].labels), l2, "the series' own value wins over the external label");
    assert_eq!(ts[1].samples[0].value.to_bits(), STALE_NAN_BITS, "stale NaN bit-exact");
    assert_eq!(ts[2].samples, vec![pb::v1::Sample { value: 0.0, timestamp: 0 }]);
    assert!(ts[3].samples.is_empty() && ts[3].histograms.is_empty());
    let ex = &ts[3].exemplars[0];
    assert_eq!(pairs(&ex.labels), vec![("span".into(), "1".into()), ("trace_id".into(), "abc".into())]);
    assert_eq!((ex.value, ex.timestamp), (0.5, 1002));
    let h = &ts[4].histograms[0];
    assert_eq!(h.count, Some(pb::v1::Count::CountInt(9)));
    assert_eq!(h.zero_count, Some(pb::v1::ZeroCount::ZeroCountInt(0)), "oneof written even when zero");
    assert_eq!((h.sum, h.schema, h.zero_threshold, h.reset_hint, h.timestamp), (12.5, -1, 0.001, 2, 1003));
    assert_eq!(
        h.positive_spans,
        vec![pb::v1::BucketSpan { offset: -2, length: 2 }, pb::v1::BucketSpan { offset: 1, length: 1 }]
    );
    assert_eq!((h.positive_deltas.clone(), h.negative_deltas.clone()), (vec![1, 2, -1], vec![3]));
    assert_eq!(h.start_timestamp, 0, "1.0 has no start timestamps");
    let f = &ts[5].histograms[0];
    assert_eq!(f.count, Some(pb::v1::Count::CountFloat(4.5)));
    assert_eq!(f.zero_count, Some(pb::v1::ZeroCount::ZeroCountFloat(0.0)));
    assert_eq!((f.positive_counts.clone(), f.reset_hint), (vec![1.5, 3.0], 3));
}

#[test]
fn v2_request_decodes_with_valid_symbols() {
    let mut cache = cache_with(&test_series());
    cache.store_metadata(&[RefMetadata {
        series_ref: 1,
        metric_type: MetricType::Counter,
        unit: b"requests",
        help: b"Requests.",
    }]);
    let mut enc = RequestEncoder::default();
    let items = mixed_items();
    let stats = enc.encode(Protocol::V2, &items, &cache, None).unwrap_or_default();
    assert_eq!(stats.with_metadata, 3, "three points of series 1");
    let req = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert_eq!(req.symbols[0], "");
    assert_eq!(distinct(&req.symbols), req.symbols.len(), "symbols are deduplicated");
    assert_eq!(req.timeseries.len(), 6);
    for ts in &req.timeseries {
        let labels = req.resolve(&ts.labels_refs).unwrap_or_default();
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted, "labels in name order");
        assert!(!labels.is_empty());
        assert!(ts.metadata.is_some(), "metadata always present");
    }
    let ts0 = &req.timeseries[0];
    assert_eq!(req.resolve(&ts0.labels_refs).unwrap_or_default()[1], ("__name__".into(), "http_requests_total".into()));
    let md = ts0.metadata.clone().unwrap_or_default();
    assert_eq!(
        (md.r#type, req.symbols[md.help_ref as usize].as_str(), req.symbols[md.unit_ref as usize].as_str()),
        (1, "Requests.", "requests")
    );
    assert_eq!(req.timeseries[1].metadata, Some(pb::v2::Metadata::default()), "unknown metadata: empty");
    let ex = &req.timeseries[3].exemplars[0];
    assert_eq!(
        req.resolve(&ex.labels_refs).unwrap_or_default(),
        vec![("span".into(), "1".into()), ("trace_id".into(), "abc".into())]
    );
    assert_eq!(req.timeseries[4].histograms[0].start_timestamp, 100, "start timestamps kept");
    assert_eq!(req.timeseries[5].histograms[0].start_timestamp, 101);
    assert_eq!(req.timeseries[1].samples[0].value.to_bits(), STALE_NAN_BITS);
    // A 1.0 decoder sees an empty message (fields 1–3 are reserved in 2.0).
    let as_v1 = pb::v1::WriteRequest::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert!(as_v1.timeseries.is_empty());
}

#[test]
fn age_filter_skips_old_items() {
    let cache = cache_with(&test_series());
    let mut enc = RequestEncoder::default();
    let items = vec![sample(1, 10, 1.0), sample(2, 500, 2.0), sample(1, 20, 3.0), sample(2, 600, 4.0)];
    let stats = enc.encode(Protocol::V1, &items, &cache, Some(100)).unwrap_or_default();
    assert_eq!((stats.counts.samples, stats.too_old.samples), (2, 2));
    assert_eq!((stats.lowest, stats.highest), (500, 600), "computed over kept items only");
    let req = pb::v1::WriteRequest::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    let ts: Vec<i64> = req.timeseries.iter().map(|t| t.samples[0].timestamp).collect();
    assert_eq!(ts, vec![500, 600]);
}

#[test]
fn symbol_table_resets_between_requests() {
    let cache = cache_with(&test_series());
    let mut enc = RequestEncoder::default();
    let _ = enc.encode(Protocol::V2, &[sample(1, 1, 1.0)], &cache, None);
    let _ = enc.encode(Protocol::V2, &[sample(2, 1, 1.0)], &cache, None);
    let req = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert_eq!(req.symbols, vec!["", "__name__", "up", "cluster", "own", "instance", "h:9100"]);
}

/// `labels` as the cache of [`cache_with`] sends them: with its external label `cluster="c1"`
/// unless they have a `cluster` of their own, sorted.
fn with_external(labels: &[(String, String)]) -> Vec<(String, String)> {
    let mut want = labels.to_vec();
    if !want.iter().any(|(name, _)| name == "cluster") {
        want.push(("cluster".into(), "c1".into()));
    }
    want.sort();
    want
}

/// Number of distinct strings in `symbols`: its length when every string is listed once.
fn distinct(symbols: &[String]) -> usize {
    symbols.iter().collect::<std::collections::BTreeSet<_>>().len()
}

fn v2_symbols(enc: &RequestEncoder) -> Vec<String> {
    pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default().symbols
}

fn v2_labels(enc: &RequestEncoder) -> Vec<Vec<(String, String)>> {
    let req = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    req.timeseries.iter().map(|ts| req.resolve(&ts.labels_refs).unwrap_or_default()).collect()
}

#[test]
fn symbol_table_is_kept_while_requests_repeat_their_series() {
    let many: Vec<(u64, Vec<(String, String)>)> =
        (0..40u64).map(|i| (i, vec![("__name__".into(), "m".into()), ("pod".into(), format!("pod-{i}"))])).collect();
    let cache = cache_with(&many);
    let a: Vec<Item> = (0..20).map(|i| sample(i, 1, 1.0)).collect();
    let b: Vec<Item> = (20..40).map(|i| sample(i, 1, 1.0)).collect();
    let mut enc = RequestEncoder::default();
    let mut tables = Vec::new();
    for items in [&a, &a, &a, &b, &b] {
        let _ = enc.encode(Protocol::V2, items, &cache, None);
        let labels = v2_labels(&enc);
        assert_eq!(labels.len(), 20);
        for (k, item) in items.iter().enumerate() {
            let want = vec![
                ("__name__".to_string(), "m".to_string()),
                ("cluster".into(), "c1".into()),
                ("pod".into(), format!("pod-{}", item.series)),
            ];
            assert_eq!(labels[k], want);
        }
        let symbols = v2_symbols(&enc);
        assert_eq!(distinct(&symbols), symbols.len(), "symbols are deduplicated");
        tables.push(symbols);
    }
    assert_eq!(tables[0].len(), 1 + 5 + 20, "\"\"; __name__ m cluster c1 pod; 20 pods");
    assert_eq!(tables[1], tables[0], "the same series again: the same table");
    assert_eq!(tables[2], tables[0], "kept");
    assert_eq!(tables[3].len(), tables[0].len() + 20, "other series: the kept table grows once");
    assert_eq!(tables[4].len(), tables[0].len(), "then a fresh table holds only what is used");
    assert!(tables[4].iter().all(|s| !s.starts_with("pod-") || s >= &"pod-20".to_string()));
}

#[test]
fn every_string_is_listed_once_whichever_way_it_comes() {
    // The same text as a label name and value, as a help text, and in exemplar labels (looked up
    // by content, the others by id): one symbol each.
    let series = vec![
        (1, vec![("__name__".to_string(), "up".to_string()), ("instance".into(), "instance".into())]),
        (2, vec![("__name__".to_string(), "down".to_string()), ("note".into(), "up".into())]),
    ];
    for keep_ids in [true, false] {
        every_string_once(&series, keep_ids);
    }
}

fn every_string_once(series: &[(u64, Vec<(String, String)>)], keep_ids: bool) {
    let mut cache = cache_keeping_ids(series, keep_ids);
    cache.store_metadata(&[RefMetadata { series_ref: 1, metric_type: MetricType::Gauge, unit: b"", help: b"up" }]);
    let exemplar = |labels: &[(&str, &str)]| Item {
        series: 2,
        slot: crate::item::NO_SLOT,
        slot_gen: 0,
        ack: 0,
        t: 7,
        st: 0,
        payload: Payload::Exemplar(Box::new(ExemplarData {
            value: 1.0,
            labels: LabelSet::from_pairs(labels.iter().copied()),
        })),
    };
    let items = vec![
        exemplar(&[("trace_id", "abc"), ("instance", "down")]),
        sample(1, 5, 1.0),
        sample(2, 5, 1.0),
        exemplar(&[("trace_id", "abc"), ("up", "cluster")]),
    ];
    let mut enc = RequestEncoder::default();
    for round in 0..3 {
        let _ = enc.encode(Protocol::V2, &items, &cache, None);
        let req = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
        let mut symbols = req.symbols.clone();
        symbols.sort();
        let want = ["", "__name__", "abc", "c1", "cluster", "down", "instance", "note", "trace_id", "up"];
        assert_eq!(symbols, want, "round {round}, string ids kept: {keep_ids}");
        let ex: Vec<_> =
            [0, 3].map(|i| req.resolve(&req.timeseries[i].exemplars[0].labels_refs).unwrap_or_default()).into();
        assert_eq!(ex[0], [("instance".to_string(), "down".to_string()), ("trace_id".into(), "abc".into())]);
        assert_eq!(ex[1], [("trace_id".to_string(), "abc".to_string()), ("up".into(), "cluster".into())]);
        let md = req.timeseries[1].metadata.clone().unwrap_or_default();
        assert_eq!(req.symbols[md.help_ref as usize], "up");
        assert_eq!(md.unit_ref, 0, "an empty unit is symbol 0");
        assert_eq!(
            req.resolve(&req.timeseries[1].labels_refs).unwrap_or_default(),
            [
                ("__name__".to_string(), "up".to_string()),
                ("cluster".into(), "c1".into()),
                ("instance".into(), "instance".into())
            ]
        );
    }
}

#[test]
fn an_exemplar_naming_a_value_listed_earlier_in_the_request_shares_its_symbol() {
    // Series 1's value "v1" is its own: listed without an entry in `by_id` until the request's
    // first exemplar, whose labels are looked up by content, names it.
    let series: Vec<(u64, Vec<(String, String)>)> = (1..=3)
        .map(|i| (i, vec![("__name__".to_string(), "m".to_string()), ("pod".into(), format!("v{i}"))]))
        .collect();
    let cache = cache_with(&series);
    let slotted = |item: Item| {
        let (slot, slot_gen) = cache.known(item.series).slot_and_generation();
        Item { slot, slot_gen, ..item }
    };
    let exemplar = Item {
        payload: Payload::Exemplar(Box::new(ExemplarData {
            value: 1.0,
            labels: LabelSet::from_pairs([("trace_id", "v1"), ("span", "v2")]),
        })),
        ..sample(3, 7, 0.0)
    };
    let items: Vec<Item> = [sample(1, 5, 1.0), exemplar, sample(2, 5, 1.0), sample(1, 6, 1.0)].map(slotted).into();
    let mut enc = RequestEncoder::default();
    let _ = enc.encode(Protocol::V2, &items, &cache, None);
    let req = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert_eq!(distinct(&req.symbols), req.symbols.len(), "symbols are deduplicated: {:?}", req.symbols);
    let ex = req.resolve(&req.timeseries[1].exemplars[0].labels_refs).unwrap_or_default();
    assert_eq!(ex, [("span".to_string(), "v2".to_string()), ("trace_id".into(), "v1".into())]);
    for (k, i) in [(0, 1), (1, 3), (2, 2), (3, 1)] {
        let labels = req.resolve(&req.timeseries[k].labels_refs).unwrap_or_default();
        let want = [
            ("__name__".to_string(), "m".to_string()),
            ("cluster".into(), "c1".into()),
            ("pod".into(), format!("v{i}")),
        ];
        assert_eq!(labels, want, "series {k}");
    }
}

#[test]
fn requests_taking_turns_over_many_series_list_only_their_own_strings() {
    // More pairs than the pair cache starts with, each request other series: every request holds
    // exactly its own strings, once.
    let many: Vec<(u64, Vec<(String, String)>)> = (0..12_000u64)
        .map(|i| (i, vec![("__name__".into(), format!("m{}", i % 7)), ("pod".into(), format!("pod-{i}"))]))
        .collect();
    let cache = cache_with(&many);
    let mut enc = RequestEncoder::default();
    for round in 0..2 {
        for chunk in 0..4u64 {
            let items: Vec<Item> = (chunk * 3000..(chunk + 1) * 3000).map(|i| sample(i, 1, 1.0)).collect();
            let _ = enc.encode(Protocol::V2, &items, &cache, None);
            let labels = v2_labels(&enc);
            for (item, l) in items.iter().zip(&labels) {
                let i = item.series;
                let want = [
                    ("__name__".to_string(), format!("m{}", i % 7)),
                    ("cluster".into(), "c1".into()),
                    ("pod".into(), format!("pod-{i}")),
                ];
                assert_eq!(l[..], want, "round {round} series {i}");
            }
            let symbols = v2_symbols(&enc);
            assert_eq!(distinct(&symbols), symbols.len(), "symbols are deduplicated");
            assert_eq!(symbols.len(), 1 + 4 + 7 + 3000, "\"\"; __name__ cluster c1 pod; 7 names; 3000 pods");
        }
    }
}

#[test]
fn kept_symbol_table_forgets_ids_the_cache_freed() {
    // Series 1's pair is freed and its id taken by series 2's pair: a kept table must not
    // serve series 1's refs for it.
    let mut cache = SeriesCache::new(LabelSet::default(), Relabeler::default());
    let one = Labels::from_pairs([("a", "one")]);
    cache.store(&[RefSeries { series_ref: 1, labels: one.as_ref() }], 0);
    let mut enc = RequestEncoder::default();
    for _ in 0..3 {
        let _ = enc.encode(Protocol::V2, &[sample(1, 1, 1.0)], &cache, None);
        assert_eq!(v2_labels(&enc), vec![vec![("a".to_string(), "one".to_string())]]);
    }
    cache.reset(1);
    let two = Labels::from_pairs([("b", "two")]);
    cache.store(&[RefSeries { series_ref: 2, labels: two.as_ref() }], 1);
    let _ = enc.encode(Protocol::V2, &[sample(2, 1, 1.0)], &cache, None);
    assert_eq!(v2_labels(&enc), vec![vec![("b".to_string(), "two".to_string())]]);
}

#[test]
fn kept_symbol_table_does_not_copy_refs_to_a_slot_taken_by_another_series() {
    // Series 1 and 3 have the same labels (as after a Prometheus restart), so dropping series 1
    // frees no id and the table stays; series 2 then takes series 1's slot.
    let x = Labels::from_pairs([("a", "x")]);
    let mut cache = SeriesCache::new(LabelSet::default(), Relabeler::default());
    cache.labels_as_strings(true);
    cache.store(&[RefSeries { series_ref: 1, labels: x.as_ref() }], 0);
    cache.store(&[RefSeries { series_ref: 3, labels: x.as_ref() }], 1);
    let slot_of = |c: &SeriesCache, r| c.known(r).slot_and_generation().0;
    let slot = slot_of(&cache, 1);
    let mut enc = RequestEncoder::default();
    let items = |c: &SeriesCache, refs: [u64; 2]| -> Vec<Item> {
        refs.iter()
            .map(|&r| {
                let (slot, slot_gen) = c.known(r).slot_and_generation();
                Item { slot, slot_gen, ..sample(r, 1, 1.0) }
            })
            .collect()
    };
    let x_labels = vec![("a".to_string(), "x".to_string())];
    for _ in 0..3 {
        let _ = enc.encode(Protocol::V2, &items(&cache, [1, 3]), &cache, None);
        assert_eq!(v2_labels(&enc), vec![x_labels.clone(), x_labels.clone()]);
    }
    cache.reset(1);
    let y = Labels::from_pairs([("a", "x"), ("b", "x")]);
    cache.store(&[RefSeries { series_ref: 2, labels: y.as_ref() }], 1);
    assert_eq!(slot_of(&cache, 2), slot, "the slot is taken again");
    let _ = enc.encode(Protocol::V2, &items(&cache, [2, 3]), &cache, None);
    let y_labels = vec![("a".to_string(), "x".to_string()), ("b".into(), "x".into())];
    assert_eq!(v2_labels(&enc), vec![y_labels, x_labels]);
}

#[test]
fn long_series_keep_their_refs_across_kept_tables() {
    // Bodies over 127 bytes: both length slots widen, which moves the refs a request reuses.
    let list: Vec<(u64, Vec<(String, String)>)> = (0..3u64)
        .map(|s| (s, (0..70).map(|i| (format!("l{i:03}"), format!("v{s}-{}", i % (5 + s as usize)))).collect()))
        .collect();
    let cache = cache_with(&list);
    let mut enc = RequestEncoder::default();
    let items: Vec<Item> = [0u64, 1, 2, 1, 0].iter().map(|&s| sample(s, 5, 1.0)).collect();
    for round in 0..4 {
        let _ = enc.encode(Protocol::V2, &items, &cache, None);
        for (item, got) in items.iter().zip(v2_labels(&enc)) {
            let mut want = list[item.series as usize].1.clone();
            want.push(("cluster".into(), "c1".into()));
            want.sort();
            assert_eq!(got, want, "round {round}, series {}", item.series);
        }
    }
}

proptest! {
    #[test]
    fn random_series_roundtrip(
        series in proptest::collection::vec(
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", "\\PC{1,20}", 1..8), 1..6),
        points in proptest::collection::vec((0usize..6, any::<i64>(), any::<u64>()), 1..50),
    ) {
        let list: Vec<(u64, Vec<(String, String)>)> =
            series.iter().enumerate().map(|(i, m)| (i as u64, m.clone().into_iter().collect())).collect();
        let cache = cache_with(&list);
        let items: Vec<Item> = points.iter().map(|&(s, t, v)| sample((s % list.len()) as u64, t, f64::from_bits(v))).collect();
        let mut enc = RequestEncoder::default();
        prop_assert!(enc.encode(Protocol::V1, &items, &cache, None).is_ok());
        let v1 = pb::v1::WriteRequest::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
        prop_assert!(enc.encode(Protocol::V2, &items, &cache, None).is_ok());
        let v2 = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
        prop_assert_eq!(v1.timeseries.len(), items.len());
        prop_assert_eq!(v2.timeseries.len(), items.len());
        for (k, item) in items.iter().enumerate() {
            let want = with_external(&list[item.series as usize].1);
            prop_assert_eq!(&pairs(&v1.timeseries[k].labels), &want);
            prop_assert_eq!(&v2.resolve(&v2.timeseries[k].labels_refs).unwrap_or_default(), &want);
            let Payload::Sample(v) = item.payload else { unreachable!() };
            prop_assert_eq!(v1.timeseries[k].samples[0].value.to_bits(), v.to_bits());
            prop_assert_eq!(v1.timeseries[k].samples[0].timestamp, item.t);
            prop_assert_eq!(v2.timeseries[k].samples[0].value.to_bits(), v.to_bits());
            prop_assert_eq!(v2.timeseries[k].samples[0].timestamp, item.t);
        }
    }
}

proptest! {
    #[test]
    fn requests_in_a_row_roundtrip(
        series in proptest::collection::vec(
            proptest::collection::btree_map("[a-c]{1,2}", "[a-d]{1,3}", 1..5), 1..12),
        requests in proptest::collection::vec(proptest::collection::vec(0usize..12, 1..30), 1..12),
    ) {
        let list: Vec<(u64, Vec<(String, String)>)> =
            series.iter().enumerate().map(|(i, m)| (i as u64, m.clone().into_iter().collect())).collect();
        let cache = cache_with(&list);
        let mut enc = RequestEncoder::default();
        for picks in &requests {
            let items: Vec<Item> = picks.iter().map(|&s| sample((s % list.len()) as u64, 1, 1.0)).collect();
            prop_assert!(enc.encode(Protocol::V2, &items, &cache, None).is_ok());
            let symbols = v2_symbols(&enc);
            prop_assert_eq!(distinct(&symbols), symbols.len());
            let labels = v2_labels(&enc);
            prop_assert_eq!(labels.len(), items.len());
            for (k, item) in items.iter().enumerate() {
                let want = with_external(&list[item.series as usize].1);
                prop_assert_eq!(&labels[k], &want);
            }
        }
    }
}

proptest! {
    #[test]
    fn requests_across_series_churn_roundtrip(
        label_sets in proptest::collection::vec(
            proptest::collection::btree_map("[a-c]{1,2}", "[a-e]{1,3}", 1..5), 2..8),
        rounds in proptest::collection::vec((proptest::collection::vec(0usize..16, 1..24), 0u8..4), 1..14),
    ) {
        // Every label set is also held by an anchor series that is never dropped, so replacing
        // the other series frees no id: a kept table stays kept while slots change hands.
        let sets: Vec<Labels> = label_sets
            .iter()
            .map(|m| Labels::from_pairs(m.iter().map(|(a, b)| (a.as_str(), b.as_str()))))
            .collect();
        let mut cache = SeriesCache::new(LabelSet::from_pairs([("cluster", "c1")]), Relabeler::default());
        cache.labels_as_strings(true);
        let n = sets.len();
        let mut live: Vec<(u64, usize)> = (0..n).map(|k| (k as u64, k)).collect();
        for &(r, k) in &live {
            cache.store(&[RefSeries { series_ref: r, labels: sets[k].as_ref() }], 0);
        }
        // Stored second, the anchors hold pairs of their own: what the first generation holds as
        // strings stays held when it goes.
        for (k, l) in sets.iter().enumerate() {
            cache.store(&[RefSeries { series_ref: 1000 + k as u64, labels: l.as_ref() }], 1_000_000);
        }
        let (mut next_ref, mut segment) = (n as u64, 0u64);
        let mut enc = RequestEncoder::default();
        for (picks, churn) in &rounds {
            if *churn < 2 {
                // A new generation of the series, in the slots the old one leaves: the same label
                // sets (as after a restart), or each slot another's.
                segment += 1;
                cache.reset(segment);
                live = live.iter().map(|&(_, k)| (k as u64 + next_ref, (k + usize::from(*churn)) % n)).collect();
                next_ref += n as u64;
                for &(r, k) in &live {
                    cache.store(&[RefSeries { series_ref: r, labels: sets[k].as_ref() }], segment);
                }
            }
            let series: Vec<(u64, usize)> =
                picks.iter().map(|&p| if p < n { live[p] } else { (1000 + (p % n) as u64, p % n) }).collect();
            let items: Vec<Item> = series
                .iter()
                .map(|&(r, _)| {
                    let (slot, slot_gen) = cache.known(r).slot_and_generation();
                    Item { slot, slot_gen, ..sample(r, 1, 1.0) }
                })
                .collect();
            let _ = enc.encode(Protocol::V2, &items, &cache, None);
            let symbols = v2_symbols(&enc);
            prop_assert_eq!(distinct(&symbols), symbols.len(), "symbols are deduplicated");
            let labels = v2_labels(&enc);
            prop_assert_eq!(labels.len(), items.len());
            for (got, &(_, k)) in labels.iter().zip(&series) {
                let want = with_external(&label_sets[k].clone().into_iter().collect::<Vec<_>>());
                prop_assert_eq!(got, &want);
            }
        }
    }
}

#[test]
fn long_label_sets_use_multi_byte_lengths() {
    // 100 labels: the 2.0 labels_refs field and the 1.0 TimeSeries exceed one-byte lengths.
    let labels: Vec<(String, String)> = (0..100).map(|i| (format!("l{i:03}"), format!("value-{i}"))).collect();
    let cache = cache_with(&[(1, labels.clone())]);
    let mut enc = RequestEncoder::default();
    let items = vec![sample(1, 5, 1.0), sample(1, 6, 2.0)];
    let mut want = labels;
    want.push(("cluster".into(), "c1".into()));
    want.sort();
    let _ = enc.encode(Protocol::V2, &items, &cache, None);
    let v2 = pb::v2::Request::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert_eq!(v2.timeseries.len(), 2);
    assert_eq!(v2.resolve(&v2.timeseries[1].labels_refs).unwrap_or_default(), want);
    let _ = enc.encode(Protocol::V1, &items, &cache, None);
    let v1 = pb::v1::WriteRequest::decode(decompress(enc.body()).as_slice()).unwrap_or_default();
    assert_eq!(pairs(&v1.timeseries[1].labels), want);
    assert_eq!(v1.timeseries[1].samples[0].timestamp, 6);
}

proptest! {
    /// Two parts compressed one after the other make one stream of their concatenation, whatever
    /// their lengths (length prefixes of one to three bytes, parts across snappy's 64 KiB blocks,
    /// empty second parts) and contents (repetitive, so that copies are made, or not).
    #[test]
    fn parts_compress_into_one_stream(
        a_len in prop_oneof![0usize..200, 16_000usize..17_000, 65_000usize..140_000],
        b_len in prop_oneof![0usize..200, 16_000usize..17_000, 65_000usize..140_000],
        period in 1usize..300,
        seed in any::<u8>(),
    ) {
        let bytes = |n: usize, salt: u8| -> Vec<u8> {
            (0..n).map(|i| ((i % period) as u8).wrapping_mul(31).wrapping_add(salt ^ seed)).collect()
        };
        let (a, b) = (bytes(a_len, 1), bytes(b_len, 2));
        let mut out = Vec::new();
        let n = compress_parts(&mut snap::raw::Encoder::new(), [&a, &b], &mut out);
        prop_assert!(n.is_ok());
        let body = out.get(..n.unwrap_or(0)).unwrap_or_default();
        let whole = snap::raw::Decoder::new().decompress_vec(body);
        prop_assert_eq!(whole.ok(), Some([a.as_slice(), b.as_slice()].concat()));
    }
}
