//! The index reader against small index files built here, in both formats, and damaged ones.

use std::collections::BTreeMap;
use std::path::Path;

use crate::decbuf::{put_uvarint, put_varint};
use crate::index::{ChunkMeta, Index};
use crate::Error;

type TestSeries<'a> = (Vec<(&'a str, &'a str)>, Vec<ChunkMeta>);
type OwnedSeries = (Vec<(String, String)>, Vec<ChunkMeta>);

/// A be32-length section with its CRC.
fn section(out: &mut Vec<u8>, content: &[u8]) {
    out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(&crc32c::crc32c(content).to_be_bytes());
}

/// An index file of format `version` (1 or 2) holding `series` (sorted by labels).
pub(crate) fn build(version: u8, series: &[TestSeries<'_>]) -> Vec<u8> {
    let mut out = 0xBAAA_D700u32.to_be_bytes().to_vec();
    out.push(version);
    // Symbol table.
    let mut symbols: Vec<&str> = series.iter().flat_map(|(l, _)| l.iter().flat_map(|(n, v)| [*n, *v])).collect();
    symbols.sort();
    symbols.dedup();
    let symbols_at = out.len() as u64;
    let mut content = (symbols.len() as u32).to_be_bytes().to_vec();
    let mut symbol_ref = BTreeMap::new();
    for (i, s) in symbols.iter().enumerate() {
        // Format 1 refers to a symbol by its offset in the file (4 length bytes come first).
        let r = if version == 1 { symbols_at + 4 + content.len() as u64 } else { i as u64 };
        symbol_ref.insert(*s, r);
        put_uvarint(&mut content, s.len() as u64);
        content.extend_from_slice(s.as_bytes());
    }
    section(&mut out, &content);
    // Series.
    let mut refs = Vec::new();
    let mut postings: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
    let series_at = out.len().next_multiple_of(16) as u64;
    for (labels, chunks) in series {
        if version != 1 {
            out.resize(out.len().next_multiple_of(16), 0);
        }
        let r = if version == 1 { out.len() as u64 } else { out.len() as u64 / 16 };
        refs.push(r);
        let mut c = Vec::new();
        put_uvarint(&mut c, labels.len() as u64);
        for (n, v) in labels {
            put_uvarint(&mut c, symbol_ref[n]);
            put_uvarint(&mut c, symbol_ref[v]);
            postings.entry((n, v)).or_default().push(r as u32);
        }
        postings.entry(("", "")).or_default().push(r as u32);
        put_uvarint(&mut c, chunks.len() as u64);
        let mut prev: Option<ChunkMeta> = None;
        for m in chunks {
            match prev {
                None => {
                    put_varint(&mut c, m.min_time);
                    put_uvarint(&mut c, (m.max_time - m.min_time) as u64);
                    put_uvarint(&mut c, m.chunk_ref);
                }
                Some(p) => {
                    put_uvarint(&mut c, (m.min_time - p.max_time) as u64);
                    put_uvarint(&mut c, (m.max_time - m.min_time) as u64);
                    put_varint(&mut c, m.chunk_ref as i64 - p.chunk_ref as i64);
                }
            }
            prev = Some(*m);
        }
        put_uvarint(&mut out, c.len() as u64);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32c::crc32c(&c).to_be_bytes());
    }
    // Postings lists, then their offset table.
    out.resize(out.len().next_multiple_of(4), 0);
    let postings_at = out.len() as u64;
    let mut offsets = Vec::new();
    for ((n, v), list) in &postings {
        offsets.push((*n, *v, out.len() as u64));
        let mut c = (list.len() as u32).to_be_bytes().to_vec();
        list.iter().for_each(|r| c.extend_from_slice(&r.to_be_bytes()));
        section(&mut out, &c);
    }
    let table_at = out.len() as u64;
    let mut c = (offsets.len() as u32).to_be_bytes().to_vec();
    for (n, v, off) in offsets {
        put_uvarint(&mut c, 2);
        put_uvarint(&mut c, n.len() as u64);
        c.extend_from_slice(n.as_bytes());
        put_uvarint(&mut c, v.len() as u64);
        c.extend_from_slice(v.as_bytes());
        put_uvarint(&mut c, off);
    }
    section(&mut out, &c);
    let mut toc = Vec::new();
    for v in [symbols_at, series_at, 0, 0, postings_at, table_at] {
        toc.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&toc);
    out.extend_from_slice(&toc);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

pub(crate) fn sample_series() -> Vec<TestSeries<'static>> {
    let m = |a, b, r| ChunkMeta { min_time: a, max_time: b, chunk_ref: r };
    vec![
        (vec![("__name__", "up"), ("job", "a")], vec![m(-5, 10, 8), m(11, 20, 40), m(30, 30, 1 << 32 | 8)]),
        (vec![("__name__", "up"), ("job", "b")], vec![m(0, 0, 100)]),
        (vec![("__name__", "x"), ("a", "b"), ("job", "b")], vec![]),
    ]
}

#[test]
fn reads_formats_1_and_2() {
    let want = sample_series();
    for version in [1, 2] {
        let index = Index::from_bytes(build(version, &want), Path::new("index")).unwrap();
        assert_eq!(index.version(), version);
        assert_eq!(index.symbol_count(), 6);
        let got: Vec<_> = index
            .all_series()
            .unwrap()
            .map(|r| {
                let s = index.series(r).unwrap();
                let labels: Vec<(&str, &str)> = s.labels().iter().map(|l| (l.name, l.value)).collect();
                (labels, s.chunks().to_vec())
            })
            .collect();
        let want: Vec<_> = want.iter().map(|(l, c)| (l.clone(), c.clone())).collect();
        assert_eq!(got, want, "format {version}");
        let job_b: Vec<_> = index.postings("job", "b").unwrap().collect();
        assert_eq!(job_b.len(), 2);
        assert_eq!(index.series(job_b[0]).unwrap().label("__name__"), Some("up"));
        assert_eq!(index.postings("job", "zzz").unwrap().len(), 0);
        assert_eq!(index.postings("nope", "").unwrap().len(), 0);
    }
}

#[test]
fn damage_is_an_error_naming_the_offset() {
    let good = build(2, &sample_series());
    let path = Path::new("blk/index");
    // A flipped byte in the symbol table fails its checksum, reported where the table starts.
    let mut b = good.clone();
    b[12] ^= 0x20;
    match Index::from_bytes(b, path) {
        Err(Error::Checksum { offset: 9, .. }) => {}
        other => panic!("{:?}", other.err()),
    }
    // Wrong magic, unknown version, a file too short for a TOC.
    let mut b = good.clone();
    b[0] = 0;
    assert!(matches!(Index::from_bytes(b, path), Err(Error::Unsupported { offset: 0, .. })));
    let mut b = good.clone();
    b[4] = 9;
    assert!(matches!(Index::from_bytes(b, path), Err(Error::Unsupported { offset: 4, found: 9, .. })));
    assert!(matches!(Index::from_bytes(good[..40].to_vec(), path), Err(Error::Corrupt { offset: 0, .. })));
    // A series reference that points nowhere useful.
    let index = Index::from_bytes(good, path).unwrap();
    let e = index.series(1 << 40).unwrap_err();
    assert_eq!(e.path(), path);
    assert!(index.symbol(1000).is_err());
}

proptest::proptest! {
    /// Any set of series (non-empty label names, label sets sorted as Prometheus sorts them,
    /// chunk metas ascending) reads back from an index of either format; every label pair's
    /// postings list holds exactly the series having it.
    #[test]
    fn any_index_reads_back(
        raw in proptest::collection::btree_map(
            proptest::collection::btree_map("[a-c_]{1,3}", "[a-z0-9.]{0,5}", 1..4),
            proptest::collection::vec((0i64..100, 0i64..50, 1u64..1000), 0..4),
            0..20,
        ),
        start in -1_000_000i64..1_000_000,
        version in 1u8..=2,
    ) {
        let owned: Vec<OwnedSeries> = raw
            .into_iter()
            .map(|(labels, steps)| {
                let (mut t, mut r) = (start, 8u64);
                let metas = steps
                    .into_iter()
                    .map(|(gap, len, dr)| {
                        let m = ChunkMeta { min_time: t + gap, max_time: t + gap + len, chunk_ref: r };
                        t = m.max_time + 1;
                        r += dr;
                        m
                    })
                    .collect();
                (labels.into_iter().collect(), metas)
            })
            .collect();
        let series: Vec<TestSeries<'_>> = owned
            .iter()
            .map(|(l, c)| (l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(), c.clone()))
            .collect();
        let index = Index::from_bytes(build(version, &series), Path::new("index")).unwrap();
        let got: Vec<TestSeries<'_>> = index
            .all_series()
            .unwrap()
            .map(|r| {
                let s = index.series(r).unwrap();
                (s.labels().iter().map(|l| (l.name, l.value)).collect(), s.chunks().to_vec())
            })
            .collect();
        proptest::prop_assert_eq!(&got, &series);
        for (labels, _) in &series {
            for &(n, v) in labels {
                let refs: Vec<u64> = index.postings(n, v).unwrap().collect();
                let want = series.iter().filter(|(l, _)| l.contains(&(n, v))).count();
                proptest::prop_assert_eq!(refs.len(), want);
                proptest::prop_assert!(refs.iter().all(|&r| index.series(r).unwrap().label(n) == Some(v)));
            }
        }
    }
}
