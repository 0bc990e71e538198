//! Zeroed byte buffers for packed weights, backed by transparent huge pages where possible.
//!
//! Decoding streams every weight once per step; with 4 KiB pages the TLB misses show. With huge
//! pages SmolLM2 decoded 8–17 % faster single stream and 8–24 % at batch 8, Gemma-3-270M 5–11 %
//! at batch 8, on the 2-core dev VM (three alternating rounds each; `LoadOptions::huge_pages`
//! turns this off for such comparisons, `AHA_NO_HUGE_PAGES=1` in the model bench). Most Linux systems
//! give huge pages only on request (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`),
//! and the request must cover 2 MiB-aligned ranges before their first write, which an ordinary
//! `Vec` (often recycled heap memory) cannot promise. So packed matrices are cut from 2 MiB-aligned
//! anonymous mappings advised with `MADV_HUGEPAGE` (written by hand: no maintained crate offers
//! this small, Linux-only piece); tiny buffers, and other systems, use a `Vec`.

use std::ops::{Deref, DerefMut};

/// A zero-initialised, fixed-size byte buffer.
pub(crate) struct TileBuf(Inner);

enum Inner {
    Heap(Vec<u8>),
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    Arena {
        /// Keeps the mapping alive; it is unmapped when its last buffer is dropped.
        _map: std::sync::Arc<Mapping>,
        data: *mut u8,
        len: usize,
    },
}

// SAFETY: each buffer owns its byte range exclusively (ranges handed out by the arena never
// overlap), like a Vec's allocation; shared access only reads it.
unsafe impl Send for TileBuf {}
unsafe impl Sync for TileBuf {}

/// Buffers below this stay on the heap (tiny test models would otherwise reserve a chunk).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MIN_ARENA: usize = 64 << 10;

impl TileBuf {
    /// `len` zero bytes, in the huge-page arena when `huge_pages` (and it is large enough).
    pub(crate) fn zeroed(len: usize, huge_pages: bool) -> TileBuf {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if len >= MIN_ARENA
            && huge_pages
            && let Some(buf) = arena::take(len)
        {
            return buf;
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        let _ = huge_pages;
        TileBuf(Inner::Heap(vec![0u8; len]))
    }
}

/// One private anonymous mapping, unmapped on drop.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; who may touch which bytes is governed by the buffers.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe impl Send for Mapping {}
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe impl Sync for Mapping {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe a mapping made by `arena::take`, unmapped exactly once.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// Packed matrices are carved from 64 MiB chunks (per-layer matrices are often under 2 MiB,
/// too small to get huge pages of their own). A chunk is unmapped when the last buffer cut from
/// it is dropped (and the arena has moved on to a newer chunk).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod arena {
    use std::sync::{Arc, Mutex};

    use super::{Inner, Mapping, TileBuf};

    const HUGE: usize = 2 << 20;
    const CHUNK: usize = 64 << 20;
    /// Buffers start on cache-line boundaries.
    const ALIGN: usize = 64;

    struct Current {
        map: Arc<Mapping>,
        /// 2 MiB-aligned start of the usable range, its size and how much is handed out.
        start: *mut u8,
        cap: usize,
        used: usize,
    }

    // SAFETY: only touched under the mutex; the pointers point into `map`.
    unsafe impl Send for Current {}

    static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

    fn new_chunk(min: usize) -> Option<Current> {
        let cap = CHUNK.max(min.next_multiple_of(HUGE));
        let len = cap + HUGE;
        // SAFETY: a fresh private anonymous mapping (zero-filled by the kernel); failure is
        // checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let base = base.cast::<u8>();
        let map = Arc::new(Mapping { base, len });
        let offset = (base as usize).next_multiple_of(HUGE) - base as usize;
        // SAFETY: offset < HUGE, so start..start + cap lies inside the mapping of cap + HUGE.
        let start = unsafe { base.add(offset) };
        // SAFETY: the range is inside the mapping; the advice only changes how untouched pages
        // will be backed. A refusal (huge pages disabled) leaves ordinary pages: ignored.
        unsafe {
            libc::madvise(start.cast(), cap, libc::MADV_HUGEPAGE);
        }
        Some(Current {
            map,
            start,
            cap,
            used: 0,
        })
    }

    /// `len` fresh zero bytes from the current chunk (a new one when it is full); `None` when
    /// the system refuses the mapping (the caller falls back to the heap).
    pub(super) fn take(len: usize) -> Option<TileBuf> {
        let mut cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        let fits = cur.as_ref().is_some_and(|c| c.used + len <= c.cap);
        if !fits {
            *cur = Some(new_chunk(len)?);
        }
        let c = cur.as_mut()?;
        // SAFETY: used + len <= cap, so the range lies in the chunk; ranges never overlap
        // because `used` only grows.
        let data = unsafe { c.start.add(c.used) };
        c.used = (c.used + len).next_multiple_of(ALIGN).min(c.cap);
        Some(TileBuf(Inner::Arena {
            _map: c.map.clone(),
            data,
            len,
        }))
    }
}

impl Deref for TileBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Heap(v) => v,
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: `data` points to `len` initialised (zero-filled by the kernel) bytes of a
            // mapping kept alive by `_map`, owned by this buffer alone.
            Inner::Arena { data, len, .. } => unsafe { std::slice::from_raw_parts(*data, *len) },
        }
    }
}

impl DerefMut for TileBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Inner::Heap(v) => v,
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
            Inner::Arena { data, len, .. } => unsafe {
                std::slice::from_raw_parts_mut(*data, *len)
            },
        }
    }
}

impl std::fmt::Debug for TileBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TileBuf({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_zeroed_writable_sized_and_disjoint() {
        // Heap-sized, arena-sized, one larger than a chunk; then many that fill chunks.
        let mut lens = vec![0usize, 100, 70 << 10, (2 << 20) + 12_345, 70 << 20];
        lens.extend(std::iter::repeat_n(3 << 20, 30));
        let mut bufs: Vec<TileBuf> = lens.iter().map(|&n| TileBuf::zeroed(n, true)).collect();
        for (k, b) in bufs.iter_mut().enumerate() {
            assert!(b.iter().all(|&x| x == 0));
            for (i, x) in b.iter_mut().enumerate() {
                *x = ((i + k) % 251) as u8;
            }
        }
        // Every buffer still holds its own pattern: no two ranges overlap.
        for (k, (b, &n)) in bufs.iter().zip(&lens).enumerate() {
            assert_eq!(b.len(), n);
            assert!(
                b.iter()
                    .enumerate()
                    .all(|(i, &x)| x == ((i + k) % 251) as u8)
            );
        }
        // Dropping some and taking more keeps the others intact.
        bufs.truncate(10);
        let fresh = TileBuf::zeroed(5 << 20, true);
        assert!(fresh.iter().all(|&x| x == 0));
        for (k, b) in bufs.iter().enumerate() {
            assert!(
                b.iter()
                    .enumerate()
                    .all(|(i, &x)| x == ((i + k) % 251) as u8)
            );
        }
    }
}
