//! Hooks for `benches/` (not part of the supported API): drive the crate-private encoder and
//! series cache directly, without HTTP.

use crate::config::Protocol;
use crate::encode::RequestEncoder;
use crate::item::{Item, Payload};
use crate::relabel::{LabelSet, Relabeler};
use crate::series::SeriesCache;
use wal_format::record::{Labels, RefSeries};

/// Labels of a typical scraped series (10 labels, ~190 bytes).
pub fn typical_labels(i: u64) -> Labels {
    scraped_labels(i, i)
}

/// [`typical_labels`] as a scrape target's series have them: `instance` and `pod` are those of
/// the target (100 series each), shared with its other series, as Prometheus's scrapes give them.
pub fn target_labels(i: u64) -> Labels {
    scraped_labels(i, i / 100)
}

/// Labels of series `i`, whose `instance` and `pod` are numbered `own`.
fn scraped_labels(i: u64, own: u64) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("http_server_requests_seconds_{}", ["count", "sum", "bucket"][(i % 3) as usize])),
        ("job", "api-gateway".to_string()),
        ("instance", format!("10.1.{}.{}:9100", (own / 250) % 250, own % 250)),
        ("method", ["GET", "POST", "PUT", "DELETE"][(i % 4) as usize].to_string()),
        ("status", ["200", "404", "500"][(i % 3) as usize].to_string()),
        ("path", format!("/api/v1/resource/{}", i % 50)),
        ("le", format!("{}", (i % 12) as f64 * 0.25)),
        ("env", "production".to_string()),
        ("region", "eu-west-1".to_string()),
        ("pod", format!("api-gateway-7d9f8b{:05}", own)),
    ])
}

/// A cache of `series` typical series, as an endpoint of one protocol keeps it, and batches of
/// `batch` samples over them.
pub struct EncodeBench {
    cache: SeriesCache,
    /// The batches [`EncodeBench::encode`] takes in turn.
    batches: Vec<Vec<Item>>,
    next: usize,
    enc: RequestEncoder,
}

impl EncodeBench {
    /// Builds the cache and one batch over the first `batch` series: every request carries the
    /// same series, as a shard's do when its series fit one request.
    pub fn new(protocol: Protocol, series: u64, batch: usize) -> EncodeBench {
        EncodeBench::with_batches(protocol, series, batch, 1)
    }

    /// Builds the cache and `series / batch` batches that together cover every series once:
    /// requests take turns over them, as a shard's do when it holds more series than one
    /// request carries (no request repeats the series of the one before).
    pub fn rotating(protocol: Protocol, series: u64, batch: usize) -> EncodeBench {
        EncodeBench::with_batches(protocol, series, batch, (series as usize / batch.max(1)).max(1))
    }

    /// [`EncodeBench::rotating`] over series of [`target_labels`]: every label value is shared
    /// with other series (the two of [`typical_labels`] that are each series' own here are the
    /// target's).
    pub fn rotating_targets(protocol: Protocol, series: u64, batch: usize) -> EncodeBench {
        let batches = (series as usize / batch.max(1)).max(1);
        EncodeBench::with_labels(protocol, series, batch, batches, target_labels)
    }

    /// [`EncodeBench::rotating`] with each request's series scattered over the whole cache, as a
    /// shard's are (series go to shards by a hash of their reference), rather than stored one
    /// after the other: what a shard of a large cache meets.
    pub fn scattered(protocol: Protocol, series: u64, batch: usize) -> EncodeBench {
        let mut b = EncodeBench::rotating(protocol, series, batch);
        for item in b.batches.iter_mut().flatten() {
            // An odd multiplier that is no multiple of 5 permutes 0..10^k.
            item.series = item.series.wrapping_mul(2_654_435_761) % series;
            (item.slot, item.slot_gen) = b.cache.known(item.series).slot_and_generation();
        }
        b
    }

    fn with_batches(protocol: Protocol, series: u64, batch: usize, batches: usize) -> EncodeBench {
        EncodeBench::with_labels(protocol, series, batch, batches, typical_labels)
    }

    fn with_labels(
        protocol: Protocol,
        series: u64,
        batch: usize,
        batches: usize,
        labels: fn(u64) -> Labels,
    ) -> EncodeBench {
        let mut cache = SeriesCache::new(LabelSet::default(), Relabeler::default());
        cache.labels_as_strings(protocol == Protocol::V2);
        let owned: Vec<Labels> = (0..series).map(labels).collect();
        let refs: Vec<RefSeries<'_>> =
            owned.iter().enumerate().map(|(i, l)| RefSeries { series_ref: i as u64, labels: l.as_ref() }).collect();
        cache.store(&refs, 0);
        let batches = (0..batches as u64)
            .map(|b| {
                (b * batch as u64..(b + 1) * batch as u64)
                    .map(|k| Item {
                        series: k % series,
                        slot: cache.known(k % series).slot_and_generation().0,
                        slot_gen: cache.known(k % series).slot_and_generation().1,
                        ack: 0,
                        t: 1_700_000_000_000 + (k / series) as i64 * 15_000,
                        st: 0,
                        payload: Payload::Sample((k % 1000) as f64 * 1.5),
                    })
                    .collect()
            })
            .collect();
        EncodeBench { cache, batches, next: 0, enc: RequestEncoder::default() }
    }

    /// Encodes and compresses the next batch; returns the compressed size.
    pub fn encode(&mut self, protocol: Protocol) -> usize {
        let Some(items) = self.batches.get(self.next) else { return 0 };
        self.next = (self.next + 1) % self.batches.len();
        match self.enc.encode(protocol, items, &self.cache, None) {
            Ok(_) => self.enc.body().len(),
            Err(_) => 0,
        }
    }

    /// Snappy alone on the bytes of the last encode; returns the compressed size.
    pub fn compress_only(&mut self) -> usize {
        self.enc.recompress()
    }

    /// Number of samples per [`EncodeBench::encode`].
    pub fn batch_len(&self) -> usize {
        self.batches.first().map_or(0, Vec::len)
    }
}

/// Builds the cache an endpoint of `protocol` keeps for `n` typical series; returns
/// `(estimated heap bytes, total label bytes)`.
pub fn cache_usage(n: u64, protocol: Protocol) -> (usize, usize) {
    let mut cache = SeriesCache::new(LabelSet::default(), Relabeler::default());
    cache.labels_as_strings(protocol == Protocol::V2);
    let mut label_bytes = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let owned: Vec<Labels> = chunk.iter().map(|&i| typical_labels(i)).collect();
        label_bytes += owned.iter().map(|l| l.as_ref().byte_len()).sum::<usize>();
        let refs: Vec<RefSeries<'_>> =
            owned.iter().zip(chunk).map(|(l, &i)| RefSeries { series_ref: i, labels: l.as_ref() }).collect();
        cache.store(&refs, 0);
    }
    (cache.heap_bytes(), label_bytes)
}

/// Keeps the cache an endpoint of `protocol` keeps for `n` typical series alive and returns it
/// opaquely (for RSS measurements).
pub fn build_cache(n: u64, protocol: Protocol) -> Box<dyn std::any::Any> {
    let mut cache = SeriesCache::new(LabelSet::default(), Relabeler::default());
    cache.labels_as_strings(protocol == Protocol::V2);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let owned: Vec<Labels> = chunk.iter().map(|&i| typical_labels(i)).collect();
        let refs: Vec<RefSeries<'_>> =
            owned.iter().zip(chunk).map(|(l, &i)| RefSeries { series_ref: i, labels: l.as_ref() }).collect();
        cache.store(&refs, 0);
    }
    Box::new(CacheHolder(cache))
}

struct CacheHolder(#[allow(dead_code)] SeriesCache);
