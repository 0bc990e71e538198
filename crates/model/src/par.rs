//! Data parallelism on candle's CPU worker pool.
//!
//! Why not rayon: candle runs its CPU kernels (and aha's packed matmul) on its own barrier pool,
//! whose workers spin for a while after each op before they park. Work handed to rayon's
//! separate threads in between (attention, sampling) then competes for the cores with those
//! spinning workers: on 2 cores, batch-32 decoding lost about a fifth of its throughput that
//! way. Running everything on the one pool keeps a single set of threads busy.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A raw pointer to the items being processed, shareable between the pool's workers.
struct Items<T>(*mut T);

// SAFETY: `for_each_mut` gives each worker exclusive access to distinct elements only, so
// sharing the base pointer is as safe as sending `&mut T` (hence `T: Send`).
unsafe impl<T: Send> Sync for Items<T> {}
unsafe impl<T: Send> Send for Items<T> {}

impl<T> Items<T> {
    /// Pointer to element `i` (a method, so closures capture the whole `Items`, which is Sync,
    /// rather than its raw-pointer field, which is not).
    fn at(&self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}

/// Calls `f(i, &mut items[i])` for every item, in parallel on candle's CPU pool (inline when
/// there is one item).
///
/// `f` must not run candle CPU ops or call this again: the calling thread takes part in the
/// pool's work, and a nested pool call from it would wait on itself.
pub(crate) fn for_each_mut<T: Send, F: Fn(usize, &mut T) + Sync>(items: &mut [T], f: F) {
    let n = items.len();
    if n <= 1 {
        for (i, it) in items.iter_mut().enumerate() {
            f(i, it);
        }
        return;
    }
    let base = Items(items.as_mut_ptr());
    // The pool hands out each index once; count them so a pool that skipped work would be
    // caught in debug builds rather than leave items unprocessed.
    let done = AtomicUsize::new(0);
    candle_core::utils::barrier_pool().execute_chunked(n, |range| {
        let len = range.len();
        for i in range {
            // SAFETY: `i < n`, each index is handed to exactly one worker, and `items`
            // outlives this call, which returns only after every worker finished.
            let it = unsafe { &mut *base.at(i) };
            f(i, it);
        }
        done.fetch_add(len, Ordering::Relaxed);
    });
    debug_assert_eq!(done.load(Ordering::Relaxed), n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_visited_once_with_its_index() {
        for n in [0usize, 1, 2, 7, 300] {
            let mut xs: Vec<(usize, u32)> = vec![(usize::MAX, 0); n];
            for_each_mut(&mut xs, |i, x| {
                x.0 = i;
                x.1 += 1;
            });
            for (i, x) in xs.iter().enumerate() {
                assert_eq!(*x, (i, 1));
            }
        }
    }
}
