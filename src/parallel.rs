//! Splitting independent per-document work over the machine's cores.
//!
//! Results always come back in input order, so the output, the report and
//! the first error reported are the same whatever the number of threads.

/// Below this many input bytes everything runs on one thread: a Helm-size
/// stream is done before threads would pay for themselves.
pub(crate) const MIN_PARALLEL_BYTES: usize = 1 << 20;

/// How many threads to use for an input of `len` bytes.
pub(crate) fn threads_for(len: usize) -> usize {
    if len < MIN_PARALLEL_BYTES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Runs `f` on `threads` contiguous chunks of `items` and returns the
/// results in chunk order.
/// Stack size of a worker thread: the main thread's.
const WORKER_STACK: usize = 8 << 20;

pub(crate) fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        // The main thread's stack (8 MiB), not the 2 MiB of a spawned
        // thread: reading a tree recurses as deep as the parser allows.
        let handles: Vec<_> = items
            .chunks(size)
            .map(|c| {
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(s, || f(c))
                    .expect("a worker thread starts")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_in_order() {
        let items: Vec<u32> = (0..1000).collect();
        let sums = map_chunks(&items, 4, |c| c.to_vec());
        assert_eq!(sums.concat(), items);
        assert_eq!(map_chunks(&items, 1, |c| c.len()), vec![1000]);
    }
}
