//! A finished segment mapped into memory, with the kernel's page-table work kept off the reading
//! thread.
//!
//! Decoding from a mapping that is already populated runs as fast as decoding from a `Vec`
//! (the "populated mapping" row of `cargo bench -p wal-reader`); what a mapping costs is the page faults that
//! map it and the teardown when it is dropped — together about a fifth of the decode time of an
//! uncompressed segment. Both are done by short-lived helper threads for segments large enough
//! to be worth a thread: one populates the page tables ahead of the reader
//! (`MADV_POPULATE_READ`), and the last owner hands the unmapping to another. The reader faults
//! in whatever it reaches first, so the helpers only ever save time.

use std::fs::File;
use std::sync::Arc;

/// Segments smaller than this are mapped and unmapped on the reading thread: the work a helper
/// thread would take over costs less than starting the thread.
const HELPER_MIN_LEN: usize = 4 << 20;

/// How much the populating thread maps per `madvise` call, so that it stays ahead of the reader
/// from its first call on.
const POPULATE_STEP: usize = 2 << 20;

/// A read-only mapping of a whole segment.
pub(crate) struct Mapping(Option<Arc<memmap2::Mmap>>);

impl Mapping {
    /// Maps `file`, starting a helper that populates it for large segments.
    ///
    /// # Safety
    /// The file must not be truncated while the mapping lives (reading a truncated part faults
    /// with SIGBUS); see the caller's `// SAFETY:` note for why finished segments are not.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn map(file: &File) -> std::io::Result<Mapping> {
        // SAFETY: the caller guarantees the file is not truncated while mapped; the mapping is
        // only ever read.
        let map = Arc::new(unsafe { memmap2::Mmap::map(file) }?);
        if map.len() >= HELPER_MIN_LEN {
            let ahead = Arc::clone(&map);
            // Populating is only a speed-up: if the thread cannot start or `madvise` is refused
            // (kernels before 5.14), pages are faulted in on first access as usual.
            let _ = std::thread::Builder::new().name("wal-populate".into()).spawn(move || populate(&ahead));
        }
        Ok(Mapping(Some(map)))
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |m| &m[..])
    }
}

fn populate(map: &memmap2::Mmap) {
    let mut offset = 0;
    while offset < map.len() {
        let len = POPULATE_STEP.min(map.len() - offset);
        if map.advise_range(memmap2::Advice::PopulateRead, offset, len).is_err() {
            return;
        }
        offset += len;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(map) = self.0.take() {
            if map.len() >= HELPER_MIN_LEN {
                // Tearing down a large mapping takes milliseconds; let another thread wait for it.
                // If no thread can start, the closure (and the mapping) is dropped right here.
                let _ = std::thread::Builder::new().name("wal-unmap".into()).spawn(move || drop(map));
            }
        }
    }
}
