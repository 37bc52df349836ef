//! A block built here from the test encoders: overlapping chunks of one series, chunks of
//! several encodings in one file, and errors that name the chunk file and offset.

use std::path::Path;

use crate::chunkenc::test_encoder as enc;
use crate::chunkenc::{Encoding, Value};
use crate::decbuf::put_uvarint;
use crate::index::ChunkMeta;
use crate::{Block, Error};

/// A series of the test block: its metric name and chunk metas (index into the chunks, min
/// and max time).
type TestSeries = (&'static str, Vec<(usize, i64, i64)>);

/// Writes a block into `dir`: one chunk file holding `chunks`, and an index of `series`.
fn write_block(dir: &Path, chunks: &[(Encoding, Vec<u8>)], series: &[TestSeries]) {
    std::fs::create_dir_all(dir.join("chunks")).unwrap();
    let mut file = 0x85BD_40DDu32.to_be_bytes().to_vec();
    file.extend_from_slice(&[1, 0, 0, 0]);
    let mut refs = Vec::new();
    for (e, data) in chunks {
        refs.push(file.len() as u64);
        put_uvarint(&mut file, data.len() as u64);
        let start = file.len();
        file.push(e.byte());
        file.extend_from_slice(data);
        let crc = crc32c::crc32c(&file[start..]);
        file.extend_from_slice(&crc.to_be_bytes());
    }
    std::fs::write(dir.join("chunks/000001"), file).unwrap();
    let series: Vec<_> = series
        .iter()
        .map(|(name, metas)| {
            let metas =
                metas.iter().map(|&(i, a, b)| ChunkMeta { min_time: a, max_time: b, chunk_ref: refs[i] }).collect();
            (vec![("__name__", *name)], metas)
        })
        .collect();
    std::fs::write(dir.join("index"), crate::index_tests::build(2, &series)).unwrap();
    std::fs::write(
        dir.join("meta.json"),
        r#"{"ulid":"01M8RB4FY3KEB42MSR88DRYGYS","minTime":0,"maxTime":1000,"stats":{},"compaction":{"level":1},"version":1}"#,
    )
    .unwrap();
}

#[test]
fn overlapping_chunks_of_a_series_are_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let a = enc::xor(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
    let b = enc::xor(&[(25, 25.0), (30, 30.0), (35, 35.0)]);
    let c = enc::xor(&[(50, 5.0), (60, 6.0)]);
    let h = enc::xor2(&[(5, 70, 7.0), (5, 80, 8.0)]);
    write_block(
        tmp.path(),
        &[(Encoding::Xor, a), (Encoding::Xor, b), (Encoding::Xor, c), (Encoding::Xor2, h)],
        &[("m", vec![(0, 10, 40), (1, 25, 35), (2, 50, 60), (3, 70, 80)])],
    );
    let block = Block::open(tmp.path()).unwrap();
    let s = block.series().unwrap().next().unwrap().unwrap();
    let got: Vec<(i64, i64, f64)> = block
        .samples(&s)
        .map(|r| {
            let s = r.unwrap();
            match s.value {
                Value::Float(v) => (s.t, s.st, v),
                _ => unreachable!(),
            }
        })
        .collect();
    // 30 is in both overlapping chunks: the one listed first wins.
    let want = [
        (10, 0, 1.0),
        (20, 0, 2.0),
        (25, 0, 25.0),
        (30, 0, 3.0),
        (35, 0, 35.0),
        (40, 0, 4.0),
        (50, 0, 5.0),
        (60, 0, 6.0),
        (70, 5, 7.0),
        (80, 5, 8.0),
    ];
    assert_eq!(got, want);
}

#[test]
fn chunk_errors_name_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let good = enc::xor(&[(10, 1.0), (20, 2.0)]);
    // Declares three samples, holds two: the decoder runs out of bits.
    let mut short = good.clone();
    short[1] = 3;
    write_block(tmp.path(), &[(Encoding::Xor, good), (Encoding::Xor, short)], &[("m", vec![(0, 10, 20), (1, 30, 40)])]);
    let block = Block::open(tmp.path()).unwrap();
    let s = block.series().unwrap().next().unwrap().unwrap();
    let results: Vec<_> = block.samples(&s).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    match results.last().unwrap() {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert!(path.ends_with("chunks/000001"), "{}", path.display());
            // The second chunk's data starts after the header (8), the first chunk (1 + 1 + 15 + 4)
            // and the second chunk's length and encoding bytes (2); the decoder fails at its end.
            assert_eq!(*offset, 8 + 21 + 2 + 15);
        }
        other => panic!("{other:?}"),
    }
    // A chunk reference into a segment file that does not exist.
    assert!(matches!(block.chunk_files().chunk(5 << 32), Err(Error::Corrupt { .. })));
    // A damaged checksum.
    let path = tmp.path().join("chunks/000001");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let block = Block::open(tmp.path()).unwrap();
    let s = block.series().unwrap().next().unwrap().unwrap();
    match block.samples(&s).next() {
        Some(Err(Error::Checksum { offset: 9, len: 16, .. })) => {}
        other => panic!("{other:?}"),
    }
}
