//! Blocks Prometheus 2.42 wrote from scraped native histograms (`--enable-feature=native-histograms`):
//! every histogram read back is exactly the one the target served. The target computed every
//! field from its scrape number n, and served the sum as n * 1.25, so each sample says which
//! histogram it must be (`testdata/prometheus-2.42-native-histograms/README.md`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use tsdb_block::{DataDir, Encoding, Histogram, Span, Value};

/// What the target served for `metric`, variant `v`, scrape `n`: schema, zero threshold, zero
/// count, absolute counts of positive and negative buckets by index, sum.
type Served = (i32, f64, u64, BTreeMap<i32, u64>, BTreeMap<i32, u64>, f64);

fn served(metric: &str, n: u64, v: u64) -> Served {
    let buckets = |idx: &[i32], counts: &[u64]| -> BTreeMap<i32, u64> {
        idx.iter().zip(counts).filter(|(_, &c)| c != 0).map(|(&i, &c)| (i, c)).collect()
    };
    match metric {
        "nh_requests_seconds" => {
            let pos: Vec<u64> = (0..5).map(|j| n * (j + 1) + (n / 3) * j + v).collect();
            let neg: Vec<u64> = (0..2).map(|j| n * (2 - j) + v).collect();
            (0, 0.001, n / 2, buckets(&[0, 1, 2, 5, 6], &pos), buckets(&[-1, 0], &neg), n as f64 * 1.25)
        }
        "nh_layout_grows" if n < 60 => {
            (3, 2f64.powi(-128), 0, buckets(&[0, 1], &[n + v, 2 * n]), BTreeMap::new(), n as f64 * 1.25)
        }
        "nh_layout_grows" => {
            (3, 2f64.powi(-128), 0, buckets(&[0, 1, 3], &[n + v, 2 * n, n - 59]), BTreeMap::new(), n as f64 * 1.25)
        }
        other => panic!("unexpected histogram {other}"),
    }
}

/// Absolute bucket counts by bucket index, zero buckets left out (a chunk whose layout grew
/// holds the new bucket as 0 in its earlier samples).
fn absolute(spans: &[Span], deltas: &[i64]) -> BTreeMap<i32, u64> {
    let mut out = BTreeMap::new();
    let (mut idx, mut count, mut k) = (0i32, 0i64, 0usize);
    for s in spans {
        // The first span's offset is its first index; later ones count from the previous span's end.
        idx += s.offset;
        for _ in 0..s.length {
            count += deltas[k];
            if count != 0 {
                out.insert(idx, count as u64);
            }
            idx += 1;
            k += 1;
        }
    }
    assert_eq!(k, deltas.len());
    out
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus-2.42-native-histograms/data")
}

#[test]
fn scraped_native_histograms_read_back_exactly() {
    let dir = DataDir::open(&fixture()).unwrap();
    assert!(dir.blocks().len() >= 2);
    let mut last_n: HashMap<String, u64> = HashMap::new();
    let (mut histograms, mut recoded_samples) = (0u64, 0u64);
    let mut encodings: BTreeMap<Encoding, u64> = BTreeMap::new();
    common::read_every_series(&dir, |block, s| {
        let mut samples = 0;
        for c in s.chunks() {
            *encodings.entry(block.chunk_files().chunk(c.chunk_ref).unwrap().chunk().encoding()).or_default() += 1;
        }
        let name = s.label("__name__").unwrap();
        let key = format!("{:?}", s.labels());
        for sample in block.samples(s) {
            let sample = sample.unwrap();
            samples += 1;
            let Value::Histogram(h) = sample.value else { continue };
            let h: &Histogram = &h;
            histograms += 1;
            let n = (h.sum / 1.25) as u64;
            assert_eq!(n as f64 * 1.25, h.sum, "{key}: sum {} is not n * 1.25", h.sum);
            let v: u64 = s.label("variant").unwrap().parse().unwrap();
            let (schema, zt, zc, pos, neg, sum) = served(name, n, v);
            let at = format!("{key} n={n}");
            assert_eq!((h.schema, h.zero_threshold.to_bits(), h.zero_count), (schema, zt.to_bits(), zc), "{at}");
            assert_eq!(h.sum.to_bits(), sum.to_bits(), "{at}");
            assert_eq!(absolute(&h.positive_spans, &h.positive_buckets), pos, "{at}");
            assert_eq!(absolute(&h.negative_spans, &h.negative_buckets), neg, "{at}");
            assert_eq!(h.count, zc + pos.values().sum::<u64>() + neg.values().sum::<u64>(), "{at}");
            if name == "nh_layout_grows" && n < 60 && h.positive_spans.len() == 2 {
                recoded_samples += 1;
            }
            // Samples come in time order, so scrape numbers increase (by 1 unless a scrape failed).
            let prev = last_n.insert(key.clone(), n);
            assert!(prev.is_none_or(|p| p < n), "{at} after {prev:?}");
        }
        samples
    });
    assert!(histograms > 400, "{histograms}");
    assert!(encodings.contains_key(&Encoding::Histogram), "{encodings:?}");
    // Some samples from before the layout grew sit in a chunk Prometheus recoded to the new layout.
    assert!(recoded_samples > 0);
}

/// `SeriesSamples::next_into`, one sample reused across every series of every block, reads
/// what the iterator reads: in blocks of native histograms, of floats, and with tombstones.
#[test]
fn next_into_reads_what_the_iterator_reads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut reused = tsdb_block::Sample::default();
    let mut checked = 0u64;
    for data in
        ["prometheus-2.42-native-histograms/data", "prometheus-2.42-blocks/data", "prometheus-2.42-tombstones/data"]
    {
        let dir = DataDir::open(&root.join(data)).unwrap();
        for b in dir.blocks() {
            let block = b.open().unwrap();
            for s in block.series().unwrap() {
                let s = s.unwrap();
                // Also a range, so that samples skipped by time go through `next_into`.
                let (lo, hi) = (b.meta().min_time + 30_000, b.meta().max_time - 30_000);
                for (want, mut into) in [
                    (block.samples(&s).collect::<Result<Vec<_>, _>>().unwrap(), block.samples(&s)),
                    (
                        block.samples_between(&s, lo, hi).collect::<Result<Vec<_>, _>>().unwrap(),
                        block.samples_between(&s, lo, hi),
                    ),
                ] {
                    for w in &want {
                        assert!(into.next_into(&mut reused).unwrap());
                        assert_eq!(format!("{reused:?}"), format!("{w:?}"));
                        assert_eq!(reused.value.is_stale(), w.value.is_stale());
                        checked += 1;
                    }
                    assert!(!into.next_into(&mut reused).unwrap());
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}
