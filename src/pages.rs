//! Pages of a spilled stream given back behind the steps that have read
//! them (issue 22): which memory may be given back (the live mappings of
//! spilled streams, [`crate::files::Stream`], registered here), and how a
//! step gives back what it has passed over: [`release`] on a range,
//! [`windows`] (and [`find_iter`]) for a step that reads the whole stream
//! in order, `Behind`
//! for one that goes through documents in order and reads some of them,
//! and, for the steps that read documents here and there, a thread that
//! gives the whole mapping back when it holds [`RELEASE_ALL_ABOVE`] more
//! (looked at every [`RELEASE_ALL_EVERY`]).
//!
//! Every function here is a hint: a page given back is read back from the
//! spill file when next read, so what any step reads never changes; on a
//! stream held in memory (every Helm render) they do nothing.

use std::sync::Mutex;

/// How much of a spilled stream a step reads before it gives pages back:
/// 4 MiB (fewer calls would keep more; more would cost calls, each a
/// flush of the other cores' address caches).
pub const RELEASE_EVERY: usize = 4 << 20;

/// How often the thread that gives a whole spilled stream back looks at
/// what it holds, for the steps that read documents here and there rather
/// than in order (the inventory, the patch, the checks): 20 ms.
pub const RELEASE_ALL_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// How much more file-backed memory than when the stream was spilled the
/// process may hold before that thread gives the whole stream back: 16
/// MiB. Each release interrupts the other cores to flush their address
/// caches (costly in a virtual machine), so it is done only when it gives
/// back something worth it.
pub const RELEASE_ALL_ABOVE: usize = 16 << 20;

/// The mappings alive, as (address, length, serial number): [`release`]
/// acts only inside one, and a mapping leaves this list (under its lock)
/// before it is unmapped, so a release never reaches memory that is not a
/// spilled stream's.
static MAPPED: Mutex<Vec<(usize, usize, u64)>> = Mutex::new(Vec::new());

/// How many mappings are registered: none (every stream held in memory,
/// every Helm render) lets [`release`] return without taking the lock.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The serial number of the next mapping.
static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Registers a live read-only shared file mapping of `len` bytes at
/// `address` (a spilled stream's), which [`release`] may then give back,
/// and starts the thread that gives all of it back when the process holds
/// [`RELEASE_ALL_ABOVE`] more file-backed memory than now, while it stays
/// registered. The mapping must be
/// [`unregister`]ed before it is unmapped.
pub(crate) fn register(address: usize, len: usize) {
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    lock().push((address, len, serial));
    LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = file_backed();
    // Without the thread (it could not start), only the steps' own
    // releases give pages back.
    let _ = std::thread::Builder::new()
        .name("polyrepo-release".into())
        .spawn(move || {
            loop {
                std::thread::sleep(RELEASE_ALL_EVERY);
                // Unknown (no /proc): always.
                if let (Some(now), Some(base)) = (file_backed(), base)
                    && now < base + RELEASE_ALL_ABOVE
                {
                    continue;
                }
                let mapped = lock();
                if !mapped.iter().any(|m| m.2 == serial) {
                    return;
                }
                // SAFETY: the mapping is live (registered, under the lock
                // that keeps it so): see `release`.
                unsafe { libc::madvise(address as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            }
        });
}

/// Forgets the mapping at `address`: once this returns, nothing here
/// touches it again, and it may be unmapped.
pub(crate) fn unregister(address: usize) {
    let mut mapped = lock();
    let before = mapped.len();
    mapped.retain(|&(a, ..)| a != address);
    LIVE.fetch_sub(before - mapped.len(), std::sync::atomic::Ordering::SeqCst);
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(usize, usize, u64)>> {
    MAPPED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Less is not worth a release: 256 KiB. A release interrupts the other
/// cores to flush their address caches, which costs more than a few pages
/// (line counts over a few lines would otherwise release a page at a
/// time).
const RELEASE_LEAST: usize = 256 << 10;

/// Gives back this process's copy of the pages that lie wholly within
/// `bytes`, when `bytes` lies in a spilled stream and they make at least
/// 256 KiB; otherwise does nothing.
/// The bytes read the same afterwards (read back from the file when next
/// read); only the memory they hold is given back.
pub fn release(bytes: &[u8]) {
    if LIVE.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        return;
    }
    let start = bytes.as_ptr() as usize;
    let end = start + bytes.len();
    let mapped = lock();
    if !mapped
        .iter()
        .any(|&(a, len, _)| a <= start && end <= a + len)
    {
        return;
    }
    let page = page_size();
    let (from, to) = (start.next_multiple_of(page), end / page * page);
    if from + RELEASE_LEAST <= to {
        // SAFETY: [from, to) lies within a live read-only shared file
        // mapping (checked under the lock that keeps it mapped); dropping
        // its pages only makes the next read fetch them from the file.
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
    }
}

/// `bytes` in windows of [`RELEASE_EVERY`] bytes, as (offset, window), for
/// a step that reads all of them once: each window is released
/// ([`release`]) when the next is asked for, and the last when the
/// iterator is dropped.
pub fn windows(bytes: &[u8]) -> Windows<'_> {
    Windows {
        bytes,
        at: 0,
        seen: None,
    }
}

/// See [`windows`].
pub struct Windows<'b> {
    bytes: &'b [u8],
    at: usize,
    seen: Option<&'b [u8]>,
}

impl<'b> Iterator for Windows<'b> {
    type Item = (usize, &'b [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(w) = self.seen.take() {
            release(w);
        }
        if self.at >= self.bytes.len() {
            return None;
        }
        let from = self.at;
        self.at = self.bytes.len().min(from + RELEASE_EVERY);
        let w = &self.bytes[from..self.at];
        self.seen = Some(w);
        Some((from, w))
    }
}

impl Drop for Windows<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.seen.take() {
            release(w);
        }
    }
}

/// Where `needle` occurs in `haystack`, in order, searched window by
/// window ([`windows`]: each window's pages given back once searched).
/// Every occurrence one search of the whole would find is found (one that
/// starts in a window and ends in the next too); across a window's end it
/// may also give one that overlaps the previous (`-----` there gives two
/// `---`): callers look for occurrences that cannot overlap (a `---` at a
/// line's start) or for any at all.
pub fn find_iter<'h>(haystack: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    windows(haystack).flat_map(move |(base, w)| {
        let upto = haystack
            .len()
            .min(base + w.len() + needle.len().saturating_sub(1));
        memchr::memmem::find_iter(&haystack[base..upto], needle)
            .map(move |p| base + p)
            .filter(move |&p| p < base + w.len())
    })
}

/// Gives back a spilled stream's pages behind a step that goes through
/// its documents in order but reads only some of their bytes (a search in
/// some documents): the pages it touched, and the neighbours the kernel
/// mapped with them, go back every [`RELEASE_EVERY`] bytes passed.
pub(crate) struct Behind<'b> {
    bytes: &'b [u8],
    done: usize,
}

impl<'b> Behind<'b> {
    /// Nothing of `bytes` passed yet.
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Behind { bytes, done: 0 }
    }

    /// The step is past `bytes[..upto]` (positions only grow).
    pub(crate) fn passed(&mut self, upto: usize) {
        if upto >= self.done + RELEASE_EVERY {
            release(&self.bytes[self.done..upto.min(self.bytes.len())]);
            self.done = upto;
        }
    }
}

/// The process's file-backed (and shared) memory, in bytes, from
/// `/proc/self/statm`: the spilled stream's pages in it, beside the
/// program's own.
fn file_backed() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(2)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_outside_a_spilled_stream_does_nothing() {
        let mut v = vec![7u8; 3 * RELEASE_EVERY + 5];
        release(&v);
        for (_, w) in windows(&v) {
            assert!(w.iter().all(|&b| b == 7));
        }
        let mut b = Behind::new(&v);
        b.passed(2 * RELEASE_EVERY);
        assert!(v.iter().all(|&b| b == 7));
        v[0] = 0;
        assert_eq!(v[0], 0);
    }

    #[test]
    fn a_search_in_windows_finds_what_one_search_finds() {
        let mut v = vec![b'x'; 2 * RELEASE_EVERY + 9];
        for at in [
            0,
            RELEASE_EVERY - 2,
            RELEASE_EVERY - 1,
            RELEASE_EVERY,
            2 * RELEASE_EVERY + 6,
        ] {
            v[at..at + 3].copy_from_slice(b"---");
        }
        let whole: Vec<usize> = memchr::memmem::find_iter(&v, b"---").collect();
        let found: Vec<usize> = find_iter(&v, b"---").collect();
        // Each found by the whole search, across a window's end too...
        assert!(
            whole.iter().all(|p| found.contains(p)),
            "{whole:?} {found:?}"
        );
        assert!(whole.contains(&(RELEASE_EVERY - 2)) && whole.contains(&(2 * RELEASE_EVERY + 6)));
        // ...and the one more overlaps the one before it.
        assert_eq!(
            found,
            [0, RELEASE_EVERY - 2, RELEASE_EVERY, 2 * RELEASE_EVERY + 6]
        );
        assert_eq!(whole, [0, RELEASE_EVERY - 2, 2 * RELEASE_EVERY + 6]);
    }

    #[test]
    fn windows_cover_the_bytes_once_in_order() {
        for len in [
            0,
            1,
            RELEASE_EVERY,
            RELEASE_EVERY + 1,
            3 * RELEASE_EVERY - 1,
        ] {
            let v = vec![1u8; len];
            let mut next = 0;
            for (at, w) in windows(&v) {
                assert_eq!(at, next);
                assert!(!w.is_empty() && w.len() <= RELEASE_EVERY);
                next += w.len();
            }
            assert_eq!(next, len);
        }
    }
}
