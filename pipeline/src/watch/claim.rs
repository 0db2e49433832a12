//! A watch folder's own areas and the moves between them, all renames on
//! the watch folder's file system (atomic; nothing is copied):
//! `<watch>/<name>` → `<watch>/.folio/claimed/<id>/<name>` (the claim:
//! of two services renaming one folder, exactly one succeeds), then
//! `done/<date>/<name>` once ingest has committed or `failed/<name>` with
//! `<name>.reason.txt` when the batch cannot be ingested; `done/` is
//! emptied after the retention period. The marker and manifest wait
//! beside the claimed folder while it is ingested, so they are never
//! taken for pages.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Names at the top of a watch folder that are never batches.
pub const RESERVED: [&str; 3] = [".folio", "done", "failed"];

/// The service's area of a watch folder.
pub fn area(folder: &Path) -> PathBuf {
    folder.join(".folio")
}

/// Where claim `id` lives.
pub fn claim_dir(folder: &Path, id: &str) -> PathBuf {
    area(folder).join("claimed").join(id)
}

/// The claimed batch folder of claim `id`.
pub fn claimed_batch(folder: &Path, id: &str, name: &str) -> PathBuf {
    claim_dir(folder, id).join(name)
}

/// True when a top-level name of a watch folder may be a batch: not the
/// service's own areas, not hidden, not an editor's temp file.
pub fn is_candidate_name(name: &str) -> bool {
    !RESERVED.contains(&name) && !name.starts_with('.') && !name.starts_with("~$")
}

/// Renames `<folder>/<from>` into claim `id`'s area as `name` (the same
/// name, or its readable form when `from` is not UTF-8). `Ok(false)` when
/// the folder is gone (another service took it first).
pub fn take(folder: &Path, from: &std::ffi::OsStr, name: &str, id: &str) -> std::io::Result<bool> {
    let dir = claim_dir(folder, id);
    std::fs::create_dir_all(&dir)?;
    match std::fs::rename(folder.join(from), dir.join(name)) {
        Ok(()) => {
            crate::objects::sync_dir(folder);
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let _ = std::fs::remove_dir(&dir);
            Ok(false)
        }
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            Err(e)
        }
    }
}

/// Moves the control files (marker, manifest) out of the claimed batch
/// folder to beside it; idempotent (a restart finds them moved).
pub fn set_control_files_aside(folder: &Path, id: &str, name: &str, files: &[&str]) {
    let batch = claimed_batch(folder, id, name);
    for f in files {
        let from = batch.join(f);
        if std::fs::symlink_metadata(&from).is_ok() {
            let to = claim_dir(folder, id).join(f);
            if let Err(e) = std::fs::rename(&from, &to) {
                tracing::warn!("moving {} aside: {e}", from.display());
            }
        }
    }
}

/// Moves the claimed folder (with its control files back inside) to
/// `done/<date>/<name>` and removes the claim's area; returns where it
/// went. Idempotent for a restart that finds it moved already.
pub fn finish_done(
    folder: &Path,
    id: &str,
    name: &str,
    files: &[&str],
    date: &str,
) -> std::io::Result<Option<PathBuf>> {
    let dest_dir = folder.join("done").join(date);
    finish(folder, id, name, files, &dest_dir)
}

/// Moves the claimed folder to `failed/<name>` and writes
/// `failed/<name>.reason.txt`; returns where it went.
pub fn finish_failed(
    folder: &Path,
    id: &str,
    name: &str,
    files: &[&str],
    reason: &str,
) -> std::io::Result<Option<PathBuf>> {
    let dest_dir = folder.join("failed");
    let moved = finish(folder, id, name, files, &dest_dir)?;
    if let Some(dest) = &moved {
        let note = format!(
            "batch: {name}\nreason: {reason}\nfailed_at: {}\n\
             what to do: fix the batch and drop it into the watch folder again\n",
            chrono::Utc::now().to_rfc3339()
        );
        let reason_path = PathBuf::from(format!("{}.reason.txt", dest.display()));
        crate::objects::write_atomic(&reason_path, note.as_bytes())
            .map_err(std::io::Error::other)?;
    }
    Ok(moved)
}

fn finish(
    folder: &Path,
    id: &str,
    name: &str,
    files: &[&str],
    dest_dir: &Path,
) -> std::io::Result<Option<PathBuf>> {
    let claim = claim_dir(folder, id);
    let batch = claim.join(name);
    if !batch.exists() {
        let _ = std::fs::remove_dir_all(&claim);
        return Ok(None);
    }
    for f in files {
        let aside = claim.join(f);
        if std::fs::symlink_metadata(&aside).is_ok()
            && std::fs::symlink_metadata(batch.join(f)).is_err()
        {
            std::fs::rename(&aside, batch.join(f))?;
        }
    }
    std::fs::create_dir_all(dest_dir)?;
    let dest = free_name(dest_dir, name);
    std::fs::rename(&batch, &dest)?;
    crate::objects::sync_dir(dest_dir);
    std::fs::remove_dir_all(&claim)?;
    Ok(Some(dest))
}

/// `dir/name`, or `dir/name~2`, `~3`… when taken (an operator may drop
/// two batches of one name on one day).
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if std::fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{name}~{n}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// Deletes `done/<date>/` folders older than `retain_days`; returns how
/// many went. Folders whose name is not a date are left alone.
pub fn sweep_done(folder: &Path, retain_days: f64, today: chrono::NaiveDate) -> usize {
    let Ok(rd) = std::fs::read_dir(folder.join("done")) else {
        return 0;
    };
    let mut removed = 0;
    for entry in rd.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(date) = chrono::NaiveDate::parse_from_str(&name, "%Y-%m-%d") else {
            continue;
        };
        let age = (today - date).num_days() as f64;
        if age > retain_days && entry.file_type().is_ok_and(|t| t.is_dir()) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!("retention: removed {}", entry.path().display());
                    removed += 1;
                }
                Err(e) => tracing::warn!("retention: {}: {e}", entry.path().display()),
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_take_wins_and_done_keeps_the_control_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        std::fs::create_dir_all(w.join("box-1")).unwrap();
        std::fs::write(w.join("box-1/a.tif"), b"a").unwrap();
        std::fs::write(w.join("box-1/READY"), b"").unwrap();
        let b1 = std::ffi::OsStr::new("box-1");
        assert!(take(w, b1, "box-1", "c1").unwrap());
        assert!(!take(w, b1, "box-1", "c2").unwrap());
        assert!(!claim_dir(w, "c2").exists());
        set_control_files_aside(w, "c1", "box-1", &["READY", "batch.toml"]);
        assert!(!claimed_batch(w, "c1", "box-1").join("READY").exists());
        let done = finish_done(w, "c1", "box-1", &["READY", "batch.toml"], "2026-11-28")
            .unwrap()
            .unwrap();
        assert_eq!(done, w.join("done/2026-11-28/box-1"));
        assert!(done.join("READY").is_file() && done.join("a.tif").is_file());
        assert!(!claim_dir(w, "c1").exists());
        std::fs::create_dir_all(w.join("done/2000-01-01/old")).unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(sweep_done(w, 30.0, today), 1);
        assert!(done.exists() && !w.join("done/2000-01-01").exists());
    }
}
