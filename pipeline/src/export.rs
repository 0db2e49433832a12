//! Export: the package layout on disk. A document is assembled under
//! `<out>/.staging/<doc>.<attempt>` and renamed into place last, so a
//! package folder that exists is always complete. Publishing is
//! idempotent: after a crash between publish and commit, the next worker
//! finds the package, checks its manifest and originals against the store
//! and accepts it — or moves a damaged one aside and publishes its own.

use crate::error::FolioError;
use crate::objects::{self, hash_file};
use folio_stages::bagit::{self, Algorithm};
use std::path::{Path, PathBuf};

/// Where one attempt at a document is assembled. The attempt tag (from
/// the lease token) keeps a worker that lost its lease out of the folder
/// of the one that took over.
pub fn staging_dir(out: &Path, doc_id: &str, attempt: &str) -> PathBuf {
    out.join(".staging").join(format!("{doc_id}.{attempt}"))
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

/// Removes what earlier, abandoned attempts at this document left in
/// staging (a worker that died mid-package), and the staging folder
/// itself once empty.
pub fn clean_staging(out: &Path, doc_id: &str, keep: Option<&Path>) {
    let staging = out.join(".staging");
    let Ok(entries) = std::fs::read_dir(&staging) else {
        return;
    };
    let prefix = format!("{doc_id}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        if (name.starts_with(&prefix) || name == doc_id) && Some(path.as_path()) != keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    let _ = std::fs::remove_dir(&staging);
}

/// Copies a file into a package and proves the copy is the content
/// expected (custody: the SHA-256 recorded at arrival).
pub fn copy_verified(src: &Path, dest: &Path, expected: &str) -> Result<(), FolioError> {
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
    objects::write_atomic(path, bytes)
}

/// Makes the staging folder a BagIt bag: hashes every payload file under
/// `data/` once with every algorithm asked for (SHA-256 always), writes a
/// manifest and a tag manifest per algorithm, `bagit.txt` and
/// `bag-info.txt` with its Payload-Oxum.
pub fn seal_bag(
    staging: &Path,
    metadata: &[(String, String)],
    algorithms: &[Algorithm],
) -> Result<(), FolioError> {
    let mut algorithms = algorithms.to_vec();
    if !algorithms.contains(&Algorithm::Sha256) {
        algorithms.insert(0, Algorithm::Sha256);
    }
    let entries = payload_digests(staging, &algorithms)?;
    let bytes: u64 = entries.iter().map(|(_, _, size)| size).sum();
    let mut tag_files = vec![
        ("bagit.txt".to_string(), bagit::DECLARATION.to_string()),
        (
            "bag-info.txt".to_string(),
            bagit::bag_info(metadata, bytes, entries.len() as u64),
        ),
    ];
    for (i, a) in algorithms.iter().enumerate() {
        let manifest: Vec<(String, String)> = entries
            .iter()
            .map(|(rel, sums, _)| (rel.clone(), sums[i].1.clone()))
            .collect();
        tag_files.push((
            format!("manifest-{}.txt", a.name()),
            bagit::manifest(&manifest),
        ));
    }
    for (name, text) in &tag_files {
        write_file(&staging.join(name), text.as_bytes())?;
    }
    for a in &algorithms {
        let tags: Vec<(String, String)> = tag_files
            .iter()
            .map(|(name, text)| {
                let sum = bagit::digests(text.as_bytes(), &[*a]).remove(0).1;
                (name.clone(), sum)
            })
            .collect();
        write_file(
            &staging.join(format!("tagmanifest-{}.txt", a.name())),
            bagit::manifest(&tags).as_bytes(),
        )?;
    }
    Ok(())
}

/// Every payload file under `data/`: (path in the bag, SHA-256, size).
fn payload(bag: &Path) -> Result<Vec<(String, String, u64)>, FolioError> {
    Ok(payload_digests(bag, &[Algorithm::Sha256])?
        .into_iter()
        .map(|(rel, mut sums, size)| (rel, sums.remove(0).1, size))
        .collect())
}

/// Every payload file under `data/` with its digests (one read each).
pub fn payload_digests(
    bag: &Path,
    algorithms: &[Algorithm],
) -> Result<Vec<(String, Vec<(Algorithm, String)>, u64)>, FolioError> {
    let data = bag.join("data");
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(&data).sort_by_file_name() {
        let entry = entry.map_err(|e| FolioError::output(&data, e))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let (sums, size) = hash_file_with(entry.path(), algorithms)
            .map_err(|e| FolioError::output(entry.path(), e))?;
        entries.push((bag_path(bag, entry.path()), sums, size));
    }
    Ok(entries)
}

/// A file's path inside a bag, `/`-separated.
pub fn bag_path(bag: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(bag).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Digests of a file in each algorithm, from one read.
pub fn hash_file_with(
    path: &Path,
    algorithms: &[Algorithm],
) -> std::io::Result<(Vec<(Algorithm, String)>, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = bagit::MultiHasher::new(algorithms);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finish(), size))
}

/// Checks a published bag: every payload file listed in the manifest
/// with its checksum and nothing else, and each original (path in the
/// bag, SHA-256 at arrival) as the store recorded it.
pub fn verify_bag(bag: &Path, originals: &[(String, String)]) -> Result<(), String> {
    let text = std::fs::read_to_string(bag.join("manifest-sha256.txt"))
        .map_err(|e| format!("manifest-sha256.txt: {e}"))?;
    let listed: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(sum, path)| (path.to_string(), sum.to_string()))
        .collect();
    let found = payload(bag).map_err(|e| e.to_string())?;
    if found.len() != listed.len() {
        return Err(format!(
            "{} payload files, the manifest lists {}",
            found.len(),
            listed.len()
        ));
    }
    for (rel, sum, _) in &found {
        match listed.get(rel) {
            Some(s) if s == sum => {}
            Some(_) => return Err(format!("{rel}: checksum differs from the manifest")),
            None => return Err(format!("{rel}: not in the manifest")),
        }
    }
    for (rel, sha) in originals {
        if listed.get(rel) != Some(sha) {
            return Err(format!(
                "{rel}: not the original recorded at arrival ({sha})"
            ));
        }
    }
    Ok(())
}

/// What publishing found at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Our staging folder became the package.
    Renamed,
    /// A complete, matching package was already there (an earlier attempt
    /// published it and died before committing); ours was dropped.
    AlreadyThere,
    /// Something damaged was there; it was moved to the path given and
    /// ours published.
    ReplacedDamaged(PathBuf),
}

/// Moves a finished staging folder to `dest` in one rename. When `dest`
/// exists: a sealed bag that verifies against `originals` is accepted as
/// is; anything else is moved aside under `<out>/.partial/`.
pub fn publish(
    staging: &Path,
    dest: &Path,
    out: &Path,
    originals: &[(String, String)],
) -> Result<Published, FolioError> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    let mut outcome = Published::Renamed;
    if dest.exists() {
        let sealed = staging.join("bagit.txt").is_file();
        if sealed && verify_bag(dest, originals).is_ok() {
            let _ = std::fs::remove_dir_all(staging);
            return Ok(Published::AlreadyThere);
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let aside = out.join(".partial").join(format!(
            "{name}.{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        if let Some(parent) = aside.parent() {
            std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
        }
        std::fs::rename(dest, &aside).map_err(|e| FolioError::output(dest, e))?;
        outcome = Published::ReplacedDamaged(aside);
    }
    std::fs::rename(staging, dest).map_err(|e| FolioError::output(dest, e))?;
    if let Some(parent) = dest.parent() {
        objects::sync_dir(parent);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(dir: &Path, content: &[u8]) -> (PathBuf, Vec<(String, String)>) {
        write_file(&dir.join("data/originals/0001.tif"), content).unwrap();
        seal_bag(dir, &[], &[Algorithm::Sha256, Algorithm::Sha512]).unwrap();
        let sha = bagit::sha256_hex(content);
        (
            dir.to_path_buf(),
            vec![("data/originals/0001.tif".into(), sha)],
        )
    }

    #[test]
    fn publishing_twice_accepts_a_complete_package_and_replaces_a_damaged_one() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        let dest = out.join("doc-0001");
        let (s1, originals) = bag(&staging_dir(out, "doc-0001", "a"), b"page");
        assert_eq!(
            publish(&s1, &dest, out, &originals).unwrap(),
            Published::Renamed
        );
        assert!(verify_bag(&dest, &originals).is_ok());

        let (s2, _) = bag(&staging_dir(out, "doc-0001", "b"), b"page");
        assert_eq!(
            publish(&s2, &dest, out, &originals).unwrap(),
            Published::AlreadyThere
        );
        assert!(!s2.exists(), "the duplicate attempt is dropped");

        // A damaged package (a payload byte changed) is moved aside.
        std::fs::write(dest.join("data/originals/0001.tif"), b"pagf").unwrap();
        assert!(
            verify_bag(&dest, &originals)
                .unwrap_err()
                .contains("checksum")
        );
        let (s3, _) = bag(&staging_dir(out, "doc-0001", "c"), b"page");
        let Published::ReplacedDamaged(aside) = publish(&s3, &dest, out, &originals).unwrap()
        else {
            panic!("expected the damaged package to be replaced")
        };
        assert!(aside.starts_with(out.join(".partial")));
        assert!(verify_bag(&dest, &originals).is_ok());
        clean_staging(out, "doc-0001", None);
        assert!(!out.join(".staging").exists());
    }
}
