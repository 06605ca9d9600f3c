//! The one place that opens files: those a user names (`--config`,
//! `--values`, `--report`, `patches --check`, Argo CD's parameters) and
//! those the tool creates (`install-binary`'s temporary copy).
//!
//! Any path a user names may be a symlink, a FIFO, a device or a folder:
//! - a file to **read** is opened without blocking (a FIFO with no writer
//!   would wait forever), must be a regular file, and is read up to
//!   [`MAX_READ`] bytes (`/dev/zero` would fill the memory);
//! - a file to **write** (a report) is opened without following a symlink
//!   in its last component (someone who can write to a shared folder could
//!   plant one pointing at any file the user can write), must be a regular
//!   file with no other hard link, and is truncated only once that is known;
//! - the **stream** named as `FILE` may be a regular file of any size or a
//!   pipe (`<(helm template …)`), read like stdin; a folder, a device
//!   (`/dev/zero`) or a socket is refused;
//! - a file the tool **creates** beside another is created new
//!   (`O_EXCL`, `O_NOFOLLOW`) under a name nobody can predict, then renamed
//!   into place (a rename replaces a planted symlink; it never follows it);
//! - a large **stream** (stdin or `FILE`) is spilled to a file with no name
//!   at all (`O_TMPFILE`, `O_EXCL`) and mapped, so that each step can give
//!   back the pages it has passed over ([`Stream`], [`crate::pages`]).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

mod spill;
pub use spill::{SPILL_FROM, Stream, read as read_spilling};

/// The most a file the user names may hold: 64 MiB, far above any config,
/// values file or patches file, far below what would exhaust memory.
pub const MAX_READ: u64 = 64 << 20;

/// Why a file could not be used; the message names the file and the cause.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

/// What a file is, when it is not a regular file.
fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a folder")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Reads the regular file at `path` (symlinks followed: the user named
/// it), refusing anything else and anything over [`MAX_READ`]. `what`
/// names it in messages (`config`, `values file`, `--check`).
pub fn read_regular(path: &Path, what: &str) -> Result<Vec<u8>, FileError> {
    let fail = |why: String| FileError(format!("cannot read {what} {}: {why}", path.display()));
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if let Some(kind) = not_regular(&meta) {
        return Err(fail(format!("it is {kind}; name a regular file")));
    }
    if meta.len() > MAX_READ {
        return Err(fail(too_large()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_READ + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_READ {
        return Err(fail(too_large()));
    }
    Ok(bytes)
}

/// Reads the stream named as `FILE`: a regular file (symlinks followed),
/// or a pipe, read to its end like stdin. Anything else is refused: a
/// device such as `/dev/zero` would never end.
pub fn read_stream(path: &Path) -> Result<Stream, FileError> {
    let fail = |why: String| FileError(format!("cannot read the stream {}: {why}", path.display()));
    let kind = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    let fifo = kind.file_type().is_fifo();
    if !fifo && let Some(what) = not_regular(&kind) {
        return Err(fail(format!(
            "it is {what}; name a rendered stream (a file, `-` for stdin)"
        )));
    }
    // A pipe is opened as a reader waits for its writer; a regular file
    // without blocking, in case it was swapped for a pipe meanwhile.
    let flags = if fifo {
        libc::O_CLOEXEC
    } else {
        libc::O_NONBLOCK | libc::O_CLOEXEC
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if meta.file_type().is_fifo() != fifo || (!fifo && !meta.file_type().is_file()) {
        return Err(fail("it changed while being opened".into()));
    }
    read_spilling(file).map_err(|e| fail(e.to_string()))
}

fn too_large() -> String {
    format!(
        "it holds more than {} MiB, more than any such file needs",
        MAX_READ >> 20
    )
}

/// Refuses a path that goes through a symlink someone else owns: a folder
/// of the path replaced by a link in a folder others can write (`/tmp`)
/// would send the write anywhere. Links owned by the user or by root (a
/// system's `/var/run`, macOS's `/tmp`) are followed, as the kernel's
/// `protected_symlinks` rule does in sticky folders.
fn no_foreign_links(path: &Path) -> Result<(), FileError> {
    let me = unsafe { libc::geteuid() };
    let abs = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir()
            .map_err(|e| FileError(e.to_string()))?
            .join(path),
    };
    let mut prefix = PathBuf::new();
    for part in abs.components() {
        prefix.push(part);
        if let Ok(meta) = std::fs::symlink_metadata(&prefix)
            && meta.file_type().is_symlink()
            && meta.uid() != me
            && meta.uid() != 0
        {
            return Err(FileError(format!(
                "{} is a symbolic link owned by someone else (uid {}); name a path that does not \
                 go through it",
                prefix.display(),
                meta.uid()
            )));
        }
    }
    Ok(())
}

/// True when `a` and `b` name one existing file (device and inode), through
/// links or other spellings of the path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Opens the report file at `path` for writing: created when missing
/// (mode 0644 less the umask), refused when its last component is a
/// symlink, when a folder of its path is a symlink someone else owns, when it is not a regular file (a FIFO, `/dev/full`) or has
/// another hard link; truncated only then.
pub fn open_report(path: &Path) -> Result<File, FileError> {
    let fail = |why: String| {
        FileError(format!(
            "cannot write the report to {}: {why}",
            path.display()
        ))
    };
    no_foreign_links(path).map_err(|e| fail(e.0))?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => fail(
                "it is a symbolic link (one could have been planted there); name the file itself"
                    .into(),
            ),
            Some(libc::ENXIO) => fail("it is a FIFO (named pipe); name a regular file".into()),
            _ => fail(e.to_string()),
        })?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if let Some(kind) = not_regular(&meta) {
        return Err(fail(format!("it is {kind}; name a regular file")));
    }
    if meta.nlink() > 1 {
        return Err(fail(
            "it has another hard link (it could be someone else's file); name a new file".into(),
        ));
    }
    file.set_len(0).map_err(|e| fail(e.to_string()))?;
    Ok(file)
}

/// A name no other process can guess: the process id and 64 bits from the
/// standard library's per-process random hash keys.
fn unpredictable() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{}-{:016x}", std::process::id(), h.finish())
}

/// Creates a new file beside `dest` (`.NAME.tmp-<pid>-<random>`), with
/// `O_EXCL` and `O_NOFOLLOW` and mode `mode`: nothing planted there can be
/// opened instead. Returns the file and its path.
pub fn create_beside(dest: &Path, mode: u32) -> Result<(File, PathBuf), FileError> {
    let name = dest
        .file_name()
        .ok_or_else(|| FileError(format!("{} names no file", dest.display())))?;
    let mut last = None;
    for _ in 0..8 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", unpredictable()));
        let tmp = dest.with_file_name(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(FileError(format!(
                    "cannot create a file beside {}: {e}",
                    dest.display()
                )));
            }
        }
    }
    Err(FileError(format!(
        "cannot create a file beside {}: {}",
        dest.display(),
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_regular_files_are_read_and_only_so_much() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.yaml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_regular(&f, "config").unwrap(), b"a: 1\n");
        let link = d.path().join("link.yaml");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_regular(&link, "config").unwrap(), b"a: 1\n");
        let fifo = d.path().join("fifo");
        assert_eq!(
            unsafe {
                libc::mkfifo(
                    std::ffi::CString::new(fifo.to_str().unwrap())
                        .unwrap()
                        .as_ptr(),
                    0o600,
                )
            },
            0
        );
        for (p, says) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "a device"),
            (d.path(), "a folder"),
        ] {
            let e = read_regular(p, "config").unwrap_err();
            assert!(e.0.contains(says), "{e}");
        }
        let big = d.path().join("big.yaml");
        File::create(&big).unwrap().set_len(MAX_READ + 1).unwrap();
        assert!(read_regular(&big, "config").unwrap_err().0.contains("MiB"));
    }

    #[test]
    fn a_report_never_writes_through_a_planted_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let planted = d.path().join("r.txt");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(
            open_report(&planted)
                .unwrap_err()
                .0
                .contains("symbolic link")
        );
        let hard = d.path().join("h.txt");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(open_report(&hard).unwrap_err().0.contains("hard link"));
        assert!(
            open_report(Path::new("/dev/full"))
                .unwrap_err()
                .0
                .contains("device")
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        // An ordinary file is truncated and written.
        let ok = d.path().join("ok.txt");
        std::fs::write(&ok, "old report that is longer").unwrap();
        open_report(&ok).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "new");
    }

    #[test]
    fn files_created_beside_another_are_new_and_unguessable() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("bin");
        let (_, a) = create_beside(&dest, 0o700).unwrap();
        let (_, b) = create_beside(&dest, 0o700).unwrap();
        assert_ne!(a, b);
        assert!(
            a.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".bin.tmp-")
        );
        assert_eq!(std::fs::metadata(&a).unwrap().mode() & 0o777, 0o700);
    }
}
