//! Export: turn a finished document's staging folder into a BagIt package.
//! Everything is written under `<out>/.staging/<doc>` first and renamed into
//! place last, so a package folder that exists is always complete.

use crate::error::FolioError;
use folio_stages::bagit;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Where a document is assembled before it is complete.
pub fn staging_dir(out: &Path, doc_id: &str) -> PathBuf {
    out.join(".staging").join(doc_id)
}

/// Where a document whose fields wait for keying is kept (a staged
/// package without manifests; keying finishes it).
pub fn awaiting_dir(out: &Path, doc_id: &str) -> PathBuf {
    out.join(".awaiting-keying").join(doc_id)
}

/// Where a document whose pages failed is kept for the operator.
pub fn failed_dir(out: &Path, doc_id: &str) -> PathBuf {
    out.join(".failed").join(doc_id)
}

/// Streams a file's SHA-256 (hex) and size without holding it in memory.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
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
    Ok((bagit::hex(&hasher.finalize()), total))
}

/// Copies an original into the package and proves the copy is the file
/// that arrived: its SHA-256 must equal `expected`.
pub fn copy_original(src: &Path, dest: &Path, expected: &str) -> Result<(), FolioError> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    std::fs::copy(src, dest).map_err(|e| FolioError::input(src, e))?;
    let (got, _) = hash_file(dest).map_err(|e| FolioError::output(dest, e))?;
    if got != expected {
        return Err(FolioError::input(
            src,
            format!("changed since it arrived (SHA-256 was {expected}, now {got}); not packaged"),
        ));
    }
    Ok(())
}

/// Writes a file inside a staging folder, creating parent folders.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FolioError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    let mut f = File::create(path).map_err(|e| FolioError::output(path, e))?;
    f.write_all(bytes)
        .map_err(|e| FolioError::output(path, e))?;
    f.sync_all().map_err(|e| FolioError::output(path, e))
}

/// Makes the staging folder a BagIt bag: hashes every payload file under
/// `data/`, writes the manifests, `bagit.txt` and `bag-info.txt`.
pub fn seal_bag(staging: &Path, metadata: &[(String, String)]) -> Result<(), FolioError> {
    let data = staging.join("data");
    let mut entries = Vec::new();
    let (mut bytes, mut count) = (0u64, 0u64);
    for entry in walkdir::WalkDir::new(&data).sort_by_file_name() {
        let entry = entry.map_err(|e| FolioError::output(&data, e))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let (sum, size) =
            hash_file(entry.path()).map_err(|e| FolioError::output(entry.path(), e))?;
        let rel = entry.path().strip_prefix(staging).unwrap_or(entry.path());
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        entries.push((rel, sum));
        bytes += size;
        count += 1;
    }
    let tag_files = [
        ("bagit.txt", bagit::DECLARATION.to_string()),
        ("bag-info.txt", bagit::bag_info(metadata, bytes, count)),
        ("manifest-sha256.txt", bagit::manifest(&entries)),
    ];
    let mut tag_entries = Vec::new();
    for (name, text) in &tag_files {
        write_file(&staging.join(name), text.as_bytes())?;
        tag_entries.push((name.to_string(), bagit::sha256_hex(text.as_bytes())));
    }
    write_file(
        &staging.join("tagmanifest-sha256.txt"),
        bagit::manifest(&tag_entries).as_bytes(),
    )
}

/// Moves a finished staging folder to its final place in one rename.
pub fn publish(staging: &Path, dest: &Path) -> Result<(), FolioError> {
    if dest.exists() {
        return Err(FolioError::output(
            dest,
            "already exists; a package is never overwritten",
        ));
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    std::fs::rename(staging, dest).map_err(|e| FolioError::output(dest, e))
}
