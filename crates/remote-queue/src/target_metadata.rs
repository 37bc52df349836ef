//! Metadata of scrape targets, as a Prometheus server's `/api/v1/targets/metadata` lists it: per
//! target (`job`, `instance`), one entry per metric family (name, type, help, unit).
//!
//! A WAL holds metadata only when Prometheus writes metadata records (not 2.x, and 3.x only with
//! `--enable-feature=metadata-wal-records`); Prometheus's own remote write takes it from its scrape
//! cache instead. [`TargetMetadata`] carries that cache to the queue: remote write 1.0 sends its
//! families every `metadata_config.send_interval`, remote write 2.0 attaches the family of each
//! series (found by `job`, `instance` and the series name) to every point.

use crate::metadata::Family;
use std::collections::{HashMap, HashSet};
use wal_format::record::MetricType;

/// One metric family of one target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetEntry {
    /// The target's `job` label.
    pub job: String,
    /// The target's `instance` label.
    pub instance: String,
    /// The metric family name, as the exposition's `# TYPE`/`# HELP` lines name it.
    pub family: String,
    /// The family's type.
    pub metric_type: MetricType,
    /// The family's help text.
    pub help: String,
    /// The family's unit (OpenMetrics `# UNIT`), usually empty.
    pub unit: String,
}

/// Type, help and unit of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyMeta {
    pub(crate) metric_type: MetricType,
    pub(crate) help: String,
    pub(crate) unit: String,
}

/// The metadata of every target, indexed for the lookup of a series' family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetMetadata {
    /// `job` → `instance` → family name → metadata.
    by_target: HashMap<String, HashMap<String, HashMap<String, FamilyMeta>>>,
    /// Distinct `(family, type, help, unit)` in the order first listed: what remote write 1.0
    /// sends (Prometheus deduplicates its targets' metadata the same way).
    families: Vec<Family>,
}

impl TargetMetadata {
    /// Indexes `entries`. An entry repeated for the same target and family keeps its first
    /// occurrence.
    pub fn new(entries: impl IntoIterator<Item = TargetEntry>) -> TargetMetadata {
        let mut by_target: HashMap<String, HashMap<String, HashMap<String, FamilyMeta>>> = HashMap::new();
        let mut families = Vec::new();
        let mut seen = HashSet::new();
        for e in entries {
            let key =
                (e.family.as_bytes().to_vec(), e.metric_type, e.help.as_bytes().to_vec(), e.unit.as_bytes().to_vec());
            if seen.insert(key.clone()) {
                families.push(key);
            }
            let meta = FamilyMeta { metric_type: e.metric_type, help: e.help, unit: e.unit };
            let target = by_target.entry(e.job).or_default().entry(e.instance).or_default();
            target.entry(e.family).or_insert(meta);
        }
        TargetMetadata { by_target, families }
    }

    /// Number of distinct `(family, type, help, unit)` entries.
    pub fn len(&self) -> usize {
        self.families.len()
    }

    /// Whether there is no entry at all.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Number of targets.
    pub fn targets(&self) -> usize {
        self.by_target.values().map(HashMap::len).sum()
    }

    /// The distinct families, for remote write 1.0 metadata requests.
    pub(crate) fn families(&self) -> &[Family] {
        &self.families
    }

    /// The family a series named `name` of target (`job`, `instance`) belongs to.
    pub(crate) fn lookup(&self, job: &[u8], instance: &[u8], name: &[u8]) -> Option<&FamilyMeta> {
        let (Ok(job), Ok(instance), Ok(name)) =
            (std::str::from_utf8(job), std::str::from_utf8(instance), std::str::from_utf8(name))
        else {
            return None;
        };
        family_of(self.by_target.get(job)?.get(instance)?, name)
    }
}

/// Finds the family of series `name` among one target's families: the family of the same name,
/// else the family whose name is `name` without the suffix its type gives its series (`_total`,
/// `_created`, `_bucket`, `_count`, `_sum`, `_gcount`, `_gsum`, `_info`), else a counter or info
/// family declared with the suffix its series lacks (`foo_total` for `foo`).
fn family_of<'a>(fams: &'a HashMap<String, FamilyMeta>, name: &str) -> Option<&'a FamilyMeta> {
    use MetricType::*;
    if let Some(m) = fams.get(name) {
        return Some(m);
    }
    const SUFFIXES: &[(&str, &[MetricType])] = &[
        ("_total", &[Counter]),
        ("_created", &[Counter, Histogram, Summary, GaugeHistogram]),
        ("_bucket", &[Histogram, GaugeHistogram]),
        ("_count", &[Histogram, Summary]),
        ("_sum", &[Histogram, Summary]),
        ("_gcount", &[GaugeHistogram]),
        ("_gsum", &[GaugeHistogram]),
        ("_info", &[Info]),
    ];
    for (suffix, types) in SUFFIXES {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some(m) = fams.get(base).filter(|m| types.contains(&m.metric_type)) {
                return Some(m);
            }
        }
    }
    for (suffix, t) in [("_total", Counter), ("_info", Info)] {
        if let Some(m) = fams.get(&format!("{name}{suffix}")).filter(|m| m.metric_type == t) {
            return Some(m);
        }
    }
    None
}

/// The type a `/api/v1/targets/metadata` `type` string names (`counter`, `gaugehistogram`, …);
/// anything else (`unknown`, `untyped`, empty) is [`MetricType::Unknown`].
pub fn metric_type_of(s: &str) -> MetricType {
    match s {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::Stateset,
        _ => MetricType::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricType::*;

    fn entry(job: &str, family: &str, t: MetricType, help: &str) -> TargetEntry {
        TargetEntry {
            job: job.into(),
            instance: "h:1".into(),
            family: family.into(),
            metric_type: t,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn series_find_their_family() {
        let md = TargetMetadata::new([
            entry("a", "http_requests_total", Counter, "text-format counter"),
            entry("a", "om_requests", Counter, "OpenMetrics counter"),
            entry("a", "lat", Histogram, "histogram"),
            entry("a", "rpc", Summary, "summary"),
            entry("a", "queue", GaugeHistogram, "gauge histogram"),
            entry("a", "build", Info, "info"),
            entry("a", "temp", Gauge, "gauge"),
            entry("a", "temp_count", Gauge, "a gauge that ends in _count"),
        ]);
        let help = |job: &str, name: &str| md.lookup(job.as_bytes(), b"h:1", name.as_bytes()).map(|m| m.help.as_str());
        let cases = [
            ("http_requests_total", Some("text-format counter")),
            ("http_requests", Some("text-format counter")),
            ("om_requests_total", Some("OpenMetrics counter")),
            ("om_requests_created", Some("OpenMetrics counter")),
            ("lat_bucket", Some("histogram")),
            ("lat_count", Some("histogram")),
            ("lat_sum", Some("histogram")),
            ("lat", Some("histogram")),
            ("rpc", Some("summary")),
            ("rpc_sum", Some("summary")),
            ("rpc_bucket", None),
            ("queue_bucket", Some("gauge histogram")),
            ("queue_gcount", Some("gauge histogram")),
            ("queue_gsum", Some("gauge histogram")),
            ("queue_count", None),
            ("build_info", Some("info")),
            ("temp", Some("gauge")),
            ("temp_total", None),
            ("temp_count", Some("a gauge that ends in _count")),
            ("up", None),
        ];
        for (name, want) in cases {
            assert_eq!(help("a", name), want, "{name}");
        }
        assert_eq!(help("b", "temp"), None, "another target's families are not this one's");
    }

    #[test]
    fn families_are_distinct_across_targets() {
        let md = TargetMetadata::new([
            entry("a", "temp", Gauge, "t"),
            entry("b", "temp", Gauge, "t"),
            entry("b", "temp", Gauge, "other help"),
        ]);
        assert_eq!(md.len(), 2);
        assert_eq!(md.targets(), 2);
        assert_eq!(md.families()[0], (b"temp".to_vec(), Gauge, b"t".to_vec(), Vec::new()));
        // The first entry of a target's family wins.
        assert_eq!(md.lookup(b"b", b"h:1", b"temp").map(|m| m.help.as_str()), Some("t"));
    }

    #[test]
    fn type_strings() {
        let names = ["unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"];
        for (i, n) in names.iter().enumerate() {
            assert_eq!(metric_type_of(n).byte(), i as u8, "{n}");
        }
        assert_eq!(metric_type_of("untyped"), Unknown);
    }
}
