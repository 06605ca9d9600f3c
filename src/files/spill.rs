//! A large stream spilled to an unnamed temporary file and mapped, so that
//! the pages of the stream a step has passed over can be given back
//! ([`crate::pages`]): the post-renderer needs the whole stream twice
//! (read, then written with its edits), but only a window of it at a time.
//!
//! - A stream under [`SPILL_FROM`] (every Helm release) stays in memory.
//! - A larger one goes, as it is read, to a file created with `O_TMPFILE`
//!   and `O_EXCL` in `$TMPDIR` (else `/tmp`): it has no name, so nobody can
//!   plant a link for it or open it by name, and it cannot be linked into
//!   the folder later; it is gone when the process ends. The file is mapped
//!   read-only and shared; the text every step reads is that mapping.
//! - Each step gives back the pages it has passed over ([`crate::pages`]:
//!   `madvise(MADV_DONTNEED)`); reading them again reads them back from
//!   the file. It is a hint: what any step reads is unchanged by it.
//! - The stream stays in memory instead when spilling cannot help or
//!   cannot be done: the folder is on `tmpfs` or `ramfs` (the file would
//!   be memory too, only not counted as this process's), the file cannot
//!   be created or written (a read-only or full disk: what was written is
//!   read back), the process has a file-size limit (`ulimit -f`: writing
//!   past it would kill it), or the disk would keep less than
//!   [`KEEP_FREE`] (a stream that never ends, such as `/dev/zero` on
//!   stdin, must not fill it).
//!
//! Limits: another process of the same user could write to the file
//! through `/proc/PID/fd` between the checks and the output, as it could
//! write to this process's memory with a debugger; a different user cannot.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// Streams this large or larger are spilled: 16 MiB, far above a Helm
/// release's render (a few hundred KiB) and far below what makes memory
/// matter.
pub const SPILL_FROM: usize = 16 << 20;

/// Free space the spill leaves on its disk: it stops spilling (and keeps
/// the stream in memory) rather than go below 256 MiB.
const KEEP_FREE: u64 = 256 << 20;

/// How often (in bytes written) the spill looks at the free space.
const CHECK_FREE_EVERY: u64 = 64 << 20;

/// The stream as read: in memory, or spilled and mapped. Dereferences to
/// its bytes.
pub struct Stream(Held);

enum Held {
    Memory(Vec<u8>),
    Mapped(Mapping),
}

impl std::ops::Deref for Stream {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Held::Memory(v) => v,
            Held::Mapped(m) => m.bytes(),
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.0 {
            Held::Memory(_) => "in memory",
            Held::Mapped(_) => "spilled",
        };
        write!(f, "Stream({} bytes, {how})", self.len())
    }
}

impl Stream {
    /// True when the stream was spilled to a file and is read through a
    /// mapping.
    pub fn spilled(&self) -> bool {
        matches!(self.0, Held::Mapped(_))
    }
}

impl From<Vec<u8>> for Stream {
    fn from(v: Vec<u8>) -> Self {
        Stream(Held::Memory(v))
    }
}

/// A read-only shared mapping of the whole spill file.
struct Mapping {
    at: *const u8,
    len: usize,
    _file: File,
}

// SAFETY: the mapping is read-only and lives as long as the value; its
// bytes are never written through it.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared reads of read-only memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: File, len: usize) -> std::io::Result<Mapping> {
        // SAFETY: a fresh read-only mapping of `len` bytes of an open file
        // (len > 0); its address is checked below.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        crate::pages::register(at as usize, len);
        Ok(Mapping {
            at: at as *const u8,
            len,
            _file: file,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `at` maps `len` readable bytes until `self` is dropped;
        // the file is private to this process and never truncated.
        unsafe { std::slice::from_raw_parts(self.at, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        crate::pages::unregister(self.at as usize);
        // SAFETY: unmaps exactly what `new` mapped, once; no release can
        // reach it any more (it is unregistered).
        unsafe { libc::munmap(self.at as *mut libc::c_void, self.len) };
    }
}

/// Reads `from` to its end: into memory when it holds less than
/// [`SPILL_FROM`] bytes or spilling cannot help, else into a spill file
/// (see the module's documentation).
pub fn read(from: impl Read) -> std::io::Result<Stream> {
    read_in(from, &std::env::temp_dir(), SPILL_FROM)
}

/// [`read`] with the folder and the threshold given (for tests).
pub(crate) fn read_in(
    mut from: impl Read,
    dir: &std::path::Path,
    at: usize,
) -> std::io::Result<Stream> {
    let mut head = Vec::new();
    (&mut from).take(at as u64).read_to_end(&mut head)?;
    if head.len() < at {
        return Ok(head.into());
    }
    let Some(mut file) = spill_file(dir) else {
        from.read_to_end(&mut head)?;
        return Ok(head.into());
    };
    // Bytes safely in the file (a failed write may leave more, which are
    // not trusted), and where the free space was last looked at.
    let (mut written, mut checked) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut chunk: &[u8] = &head;
    loop {
        let wrote = file.write_all(chunk).is_ok();
        if wrote {
            written += chunk.len() as u64;
        }
        let room = wrote
            && (written - checked < CHECK_FREE_EVERY || {
                checked = written;
                free_space(&file).is_some_and(|f| f >= KEEP_FREE)
            });
        if !room {
            // Back to memory: what the file holds, then the rest.
            let rest = if wrote { &[][..] } else { chunk };
            let mut all = Vec::with_capacity(written as usize + rest.len());
            file.rewind()?;
            (&mut file).take(written).read_to_end(&mut all)?;
            if all.len() as u64 != written {
                return Err(std::io::Error::other("the spill file lost bytes"));
            }
            all.extend_from_slice(rest);
            drop(file);
            from.read_to_end(&mut all)?;
            return Ok(all.into());
        }
        if buf.is_empty() {
            head = Vec::new(); // in the file: its memory goes back now
            buf = vec![0u8; 1 << 20];
        }
        let n = loop {
            match from.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            break;
        }
        chunk = &buf[..n];
    }
    drop((head, buf));
    let len = usize::try_from(written).map_err(std::io::Error::other)?;
    Ok(Stream(Held::Mapped(Mapping::new(file, len)?)))
}

/// An unnamed file in `dir` that is worth spilling to: None when it
/// cannot be created or lies in memory (tmpfs, ramfs).
fn spill_file(dir: &std::path::Path) -> Option<File> {
    // A file-size limit (`ulimit -f`): writing past it would kill the
    // process (SIGXFSZ) where reading into memory succeeds.
    // SAFETY: getrlimit fills the struct it is given.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) } != 0
        || limit.rlim_cur != libc::RLIM_INFINITY
    {
        return None;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_EXCL | libc::O_CLOEXEC)
        .open(dir)
        .ok()?;
    // SAFETY: fstatfs fills the struct it is given for an open fd.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return None;
    }
    const TMPFS: i64 = 0x0102_1994;
    const RAMFS: i64 = 0x8584_58f6;
    let kind = fs.f_type as i64;
    if kind == TMPFS || kind == RAMFS {
        return None;
    }
    free_space(&file).filter(|&f| f >= KEEP_FREE + CHECK_FREE_EVERY)?;
    Some(file)
}

/// Bytes an unprivileged user may still write on `file`'s disk.
fn free_space(file: &File) -> Option<u64> {
    // SAFETY: fstatvfs fills the struct it is given for an open fd.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut vfs) } != 0 {
        return None;
    }
    Some(vfs.f_bavail as u64 * vfs.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `data` a few bytes at a time, as a pipe
    /// does.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7_001);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"---\na: b\n"[i % 9] ^ (i / 9 % 3) as u8)
            .collect()
    }

    #[test]
    fn a_large_stream_is_spilled_and_reads_the_same_after_release() {
        let dir = tempfile::tempdir_in(".").unwrap();
        let bytes = data(3 << 20 | 123);
        let s = read_in(Trickle(&bytes), dir.path(), 1 << 20).unwrap();
        assert!(s.spilled(), "{s:?}");
        assert!(*s == bytes[..]);
        // Released pages are read back from the file, whole or in part.
        crate::pages::release(&s);
        assert!(*s == bytes[..]);
        crate::pages::release(&s[5..(2 << 20) + 17]);
        assert!(*s == bytes[..]);
        // The file has no name in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_small_stream_and_an_unusable_folder_stay_in_memory() {
        let dir = tempfile::tempdir_in(".").unwrap();
        let bytes = data(1 << 20);
        let s = read_in(Trickle(&bytes), dir.path(), 1 << 20 | 1).unwrap();
        assert!(!s.spilled() && *s == bytes[..]);
        // Exactly the threshold is spilled.
        let s = read_in(Trickle(&bytes), dir.path(), 1 << 20).unwrap();
        assert!(s.spilled() && *s == bytes[..]);
        // A folder that does not exist, or is memory, keeps it in memory.
        for d in [
            dir.path().join("gone"),
            std::path::PathBuf::from("/dev/shm"),
        ] {
            let s = read_in(Trickle(&bytes), &d, 4096).unwrap();
            assert!(!s.spilled() && *s == bytes[..], "{}", d.display());
        }
    }
}
