//! Writing files atomically: the one way whohosts creates or replaces a file.
//!
//! The content goes to a temporary file that `tempfile` creates beside the destination
//! (a random name, opened with `O_CREAT | O_EXCL`, so a symbolic link or a file planted
//! under a predictable name is never followed or reused), is synced, and is then
//! renamed onto the destination. A reader sees the old file or the new one, never a
//! part; a crash leaves at most a stray temporary file, never a cut destination.
//!
//! - [`replace`] / [`replace_with`]: create or replace the destination.
//! - [`create_new`] / [`create_new_with`]: create it only if nothing is there
//!   (`persist_noclobber`): evidence and anything else that must never be replaced.
//! - [`persist_new`]: the same for content streamed into a temporary file beside the
//!   destination while it was produced (objects extracted during a pass).
//!
//! Contract: only I/O errors, each naming what failed; the destination is untouched
//! on any error, and the temporary file is removed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that did not happen, with the destination and the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}", path.display())]
pub struct AtomicError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl AtomicError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> AtomicError {
        AtomicError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The underlying I/O error kind (`AlreadyExists` when [`create_new`] found a file).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

impl From<AtomicError> for std::io::Error {
    fn from(e: AtomicError) -> std::io::Error {
        std::io::Error::new(e.source.kind(), e)
    }
}

/// Creates or replaces `dest` with `bytes`.
pub fn replace(dest: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    replace_with(dest, |w| w.write_all(bytes))
}

/// Creates `dest` with `bytes`; fails with `AlreadyExists` if anything is there (a
/// file, a directory, a symbolic link, even a dangling one).
pub fn create_new(dest: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    create_new_with(dest, |w| w.write_all(bytes))
}

/// [`replace`], with the content produced by `write` as it goes.
pub(crate) fn replace_with(
    dest: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), AtomicError> {
    replace_with_file(dest, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.flush()
    })
}

/// [`replace_with`], writing to the temporary file itself, unbuffered: for a writer
/// that buffers on its own and lets the kernel copy files into it.
pub(crate) fn replace_with_file(
    dest: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), AtomicError> {
    let tmp = staged(dest, write)?;
    tmp.persist(dest)
        .map_err(|e| AtomicError::new("renaming into place", dest, e.error))?;
    sync_dir(dest);
    Ok(())
}

/// [`create_new`], with the content produced by `write` as it goes.
pub(crate) fn create_new_with(
    dest: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), AtomicError> {
    // Checked first so that nothing is written for a destination that exists;
    // `persist_noclobber` below is what makes it safe against a race.
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(AtomicError::new(
            "refusing to replace",
            dest,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let tmp = staged(dest, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.flush()
    })?;
    tmp.persist_noclobber(dest)
        .map_err(|e| AtomicError::new("creating", dest, e.error))?;
    sync_dir(dest);
    Ok(())
}

/// Moves a temporary file already written in `dest`'s directory (content that was
/// streamed there as it came) to `dest`, only if nothing is there; it is synced
/// first. On any error the temporary file is removed and `dest` untouched.
pub(crate) fn persist_new(tmp: tempfile::TempPath, dest: &Path) -> Result<(), AtomicError> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(AtomicError::new(
            "refusing to replace",
            dest,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| AtomicError::new("syncing", dest, e))?;
    tmp.persist_noclobber(dest)
        .map_err(|e| AtomicError::new("creating", dest, e.error))?;
    sync_dir(dest);
    Ok(())
}

/// The content, written and synced in a fresh temporary file beside `dest`.
fn staged(
    dest: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<tempfile::NamedTempFile, AtomicError> {
    let dir = parent(dest);
    let mut tmp = tempfile::Builder::new()
        .prefix(".whohosts-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| AtomicError::new("creating a temporary file for", dest, e))?;
    write(tmp.as_file_mut()).map_err(|e| AtomicError::new("writing", dest, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| AtomicError::new("syncing", dest, e))?;
    Ok(tmp)
}

fn parent(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The rename is durable once the directory is synced; failing that is not an error
/// (some file systems refuse to sync a directory), the data itself is synced.
fn sync_dir(dest: &Path) {
    if let Ok(d) = std::fs::File::open(parent(dest)) {
        let _ = d.sync_all();
    }
}

/// Writes a new file atomically and refuses to replace an existing one.
///
/// The bytes go to a fresh temporary file in the same directory, are synced, then
/// take the name `path` without replacing anything (see [`crate::atomic`]); the
/// directory is synced so the new name survives a crash.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_new_with(path, |w| w.write_all(bytes))
}

/// [`write_new`] for content written as it is made (a large report, say).
pub fn write_new_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    if path.symlink_metadata().is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists; evidence files are never overwritten",
                path.display()
            ),
        ));
    }
    // `crate::atomic`: a fresh temporary name, synced, then linked without replacing.
    create_new_with(path, write).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_writes_and_replaces_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        replace(&p, b"one").unwrap();
        replace(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_new_never_replaces_anything() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("evidence.bin");
        create_new(&p, b"first").unwrap();
        let e = create_new(&p, b"second").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_neither_followed_nor_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("dest");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        // create_new refuses a dangling or live link at the destination ...
        assert!(create_new(&link, b"x").is_err());
        // ... and replace swaps the link itself for a file.
        replace(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
    }
}
