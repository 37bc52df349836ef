//! The LiveReader on arbitrary bytes arriving in arbitrary chunks: it never panics, it yields
//! the same records (and positions) and the same damage however the bytes are cut, reading on
//! after damage, and every record it yields before the first damage is one the Reader yields at
//! the same place from the whole file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::{Arc, Mutex};
use wal_reader::{LiveReader, Position, Reader};

/// Bytes that become visible chunk by chunk.
#[derive(Clone)]
struct Growing(Arc<Mutex<(Vec<u8>, usize, usize)>>);

impl Read for Growing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut g = self.0.lock().unwrap();
        let (data, pos, visible) = &mut *g;
        let n = buf.len().min(*visible - *pos);
        buf[..n].copy_from_slice(&data[*pos..*pos + n]);
        *pos += n;
        Ok(n)
    }
}

/// What the LiveReader read: records, and the damage reports (as text) between them, in order.
/// Also how many records came before the first damage.
fn live(data: &[u8], chunks: &[u8]) -> (Vec<(Position, Vec<u8>)>, usize) {
    let src = Growing(Arc::new(Mutex::new((data.to_vec(), 0, 0))));
    let mut r = LiveReader::new(src.clone(), "fuzz", 0);
    let (mut out, mut i, mut before_damage) = (Vec::new(), 0, None);
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push((rec.position, rec.data.to_vec())),
            Ok(None) => {
                let mut g = src.0.lock().unwrap();
                if g.2 == g.0.len() {
                    drop(g);
                    let clean = before_damage.unwrap_or(out.len());
                    if let Err(e) = r.finish() {
                        out.push((Position::new(u64::MAX, 0), e.to_string().into_bytes()));
                    }
                    return (out, clean);
                }
                // Chunk sizes from 1 byte to 64 KiB.
                let c = chunks.get(i % chunks.len().max(1)).copied().unwrap_or(255) as usize;
                let step = if c < 128 { c + 1 } else { (c - 127) * 512 };
                i += 1;
                g.2 = (g.2 + step).min(g.0.len());
            }
            Err(e) => {
                before_damage.get_or_insert(out.len());
                out.push((Position::new(u64::MAX, 0), e.to_string().into_bytes()));
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let n = (input[0] as usize % 16) + 1;
    let Some((chunks, data)) = input[1..].split_at_checked(n.min(input.len() - 1)) else { return };
    let (chunked, _) = live(data, chunks);
    let (whole, clean) = live(data, &[255]);
    assert!(chunked == whole, "chunking changed what the LiveReader read");
    let whole = &whole[..clean];

    let dir = std::env::temp_dir().join(format!("walship-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("00000000");
    std::fs::write(&path, data).unwrap();
    let mut reader = Reader::open(&dir).unwrap();
    let mut from_reader = Vec::new();
    while let Ok(Some(rec)) = reader.next_record() {
        from_reader.push((rec.position, rec.data.to_vec()));
    }
    assert!(
        whole.len() <= from_reader.len() && whole[..] == from_reader[..whole.len()],
        "the LiveReader yielded a record the Reader does not"
    );
});
