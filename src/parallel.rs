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

/// Drops `value` on a thread of its own when the input is large enough to
/// run on several (`len` bytes): freeing a 100 MB stream's summaries, one
/// small allocation at a time, took about 0.1 s that the output and the
/// report no longer wait for. The thread is not joined: a process that
/// ends first frees everything at once.
pub(crate) fn drop_behind<T: Send + 'static>(len: usize, value: T) {
    if threads_for(len) <= 1 {
        drop(value);
        return;
    }
    // A thread that cannot start drops the value here, with its closure.
    let _ = std::thread::Builder::new().spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says on its channel which thread dropped it.
    struct Tell(std::sync::mpsc::Sender<std::thread::ThreadId>);

    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    #[test]
    fn a_small_input_drops_here_and_a_large_one_drops_behind() {
        let here = std::thread::current().id();
        let (tx, rx) = std::sync::mpsc::channel();
        drop_behind(10, Tell(tx.clone()));
        assert_eq!(rx.try_recv(), Ok(here), "dropped here, before returning");
        let large = MIN_PARALLEL_BYTES * 4;
        drop_behind(large, Tell(tx));
        let by = rx.recv_timeout(std::time::Duration::from_secs(30));
        // Dropped all the same; on another thread where there are several
        // cores (here on a machine of one).
        if threads_for(large) > 1 {
            assert!(matches!(by, Ok(t) if t != here), "{by:?}");
        } else {
            assert_eq!(by, Ok(here));
        }
    }

    #[test]
    fn chunks_come_back_in_order() {
        let items: Vec<u32> = (0..1000).collect();
        let sums = map_chunks(&items, 4, |c| c.to_vec());
        assert_eq!(sums.concat(), items);
        assert_eq!(map_chunks(&items, 1, |c| c.len()), vec![1000]);
    }
}
