//! Folio's object store: the originals it keeps (content-addressed,
//! `objects/sha256/ab/cdef…`) and the derived page images workers write
//! (`objects/derived/<document>/p0001.tif|jpg|png`). Workers read originals from
//! here, never from the input folder, so an operator may clear the input
//! once ingest has committed. With several hosts the folder is a shared
//! mount named in `folio.toml` (`objects_dir`). Every write goes to a
//! temporary name, is fsynced and verified, then renamed into place, so a
//! name that exists always holds whole content.

use crate::error::FolioError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The object store under one root folder.
#[derive(Debug, Clone)]
pub struct Objects {
    root: PathBuf,
}

impl Objects {
    /// The store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Objects {
        Objects { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the original with this SHA-256 lives.
    pub fn original(&self, sha256: &str) -> PathBuf {
        let (a, b) = sha256.split_at(2.min(sha256.len()));
        self.root.join("sha256").join(a).join(b)
    }

    /// Copies `src` into the store under its SHA-256 and proves the copy:
    /// hashed while copying, fsynced, hashed again from disk, renamed. The
    /// same content twice costs nothing (the object is already there).
    pub fn put(&self, src: &Path, sha256: &str) -> Result<PathBuf, FolioError> {
        let dest = self.original(sha256);
        if dest.is_file() && hash_file(&dest).is_ok_and(|(h, _)| h == sha256) {
            return Ok(dest);
        }
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| FolioError::output(&parent, e))?;
        let tmp = temp_name(&dest);
        let result = (|| {
            let mut input = File::open(src).map_err(|e| FolioError::input(src, e))?;
            let mut out = File::create(&tmp).map_err(|e| FolioError::output(&tmp, e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = input
                    .read(&mut buf)
                    .map_err(|e| FolioError::input(src, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| FolioError::output(&tmp, e))?;
            }
            out.sync_all().map_err(|e| FolioError::output(&tmp, e))?;
            let copied = folio_stages::bagit::hex(&hasher.finalize());
            if copied != sha256 {
                return Err(FolioError::input(
                    src,
                    format!("changed while it was taken in (SHA-256 was {sha256}, read {copied})"),
                ));
            }
            let (on_disk, _) = hash_file(&tmp).map_err(|e| FolioError::output(&tmp, e))?;
            if on_disk != sha256 {
                return Err(FolioError::output(
                    &tmp,
                    format!(
                        "the copy reads back differently (SHA-256 {on_disk}, expected {sha256})"
                    ),
                ));
            }
            std::fs::rename(&tmp, &dest).map_err(|e| FolioError::output(&dest, e))?;
            sync_dir(&parent);
            Ok(dest.clone())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Reads an original back and proves it is the content that arrived.
    pub fn read_original(&self, sha256: &str) -> Result<Vec<u8>, String> {
        let path = self.original(sha256);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read the kept original {}: {e}", path.display()))?;
        let now = folio_stages::bagit::sha256_hex(&bytes);
        if now != sha256 {
            return Err(format!(
                "the kept original {} changed (SHA-256 {now}, arrived as {sha256})",
                path.display()
            ));
        }
        Ok(bytes)
    }

    /// Where a page's derived image goes, relative to the root.
    pub fn derived_rel(document_id: &str, seq: i64, page_id: i64, extension: &str) -> String {
        // The page id keeps a re-scanned page (which takes the seq of the
        // page it replaces) from overwriting the replaced page's image.
        format!("derived/{document_id}/p{seq:04}-{page_id}.{extension}")
    }

    /// Writes bytes under the root at `rel` atomically (temp, fsync, rename).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, FolioError> {
        let dest = self.root.join(rel);
        write_atomic(&dest, bytes)?;
        Ok(dest)
    }
}

/// Writes `bytes` to `dest` through a temporary file in the same folder:
/// whoever reads `dest` sees the old content or all of the new one.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), FolioError> {
    let parent = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(|e| FolioError::output(&parent, e))?;
    let tmp = temp_name(dest);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| FolioError::output(&tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| FolioError::output(&tmp, e))?;
        f.sync_all().map_err(|e| FolioError::output(&tmp, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| FolioError::output(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    dest.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ))
}

/// Makes a rename durable (best effort: some file systems refuse it).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Streams a file's SHA-256 (hex) and size without holding it in memory.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut reader = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((folio_stages::bagit::hex(&hasher.finalize()), total))
}

/// Free bytes for an unprivileged writer on the file system holding
/// `path` (the nearest existing ancestor is asked).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The file system a path is on (its nearest existing ancestor's device),
/// so space needs on one disk are added up.
pub fn device(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut probe = path.to_path_buf();
    loop {
        if let Ok(m) = std::fs::metadata(&probe) {
            return m.dev();
        }
        if !probe.pop() {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_kept_once_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.tif");
        std::fs::write(&src, b"page bytes").unwrap();
        let sha = folio_stages::bagit::sha256_hex(b"page bytes");
        let objects = Objects::new(dir.path().join("objects"));
        let p1 = objects.put(&src, &sha).unwrap();
        let p2 = objects.put(&src, &sha).unwrap();
        assert_eq!(p1, p2);
        assert!(p1.ends_with(format!("sha256/{}/{}", &sha[..2], &sha[2..])));
        assert_eq!(objects.read_original(&sha).unwrap(), b"page bytes");
        // A wrong fingerprint is refused and leaves nothing behind.
        let err = objects.put(&src, &"0".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
        let leftovers: Vec<_> = walkdir::WalkDir::new(objects.root().join("sha256/00"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Changed content on disk is caught when read back.
        std::fs::write(&p1, b"other").unwrap();
        assert!(objects.read_original(&sha).unwrap_err().contains("changed"));
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }
}
