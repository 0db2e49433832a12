//! Ingest: look at a batch folder, fingerprint every file (SHA-256) and
//! check that every page decodes, before any OCR. New good files are
//! recorded as arrived; files the store already knows are skipped; bad
//! files are copied to quarantine with a reason. The input folder is only
//! ever read.

use crate::error::FolioError;
use crate::settings::Settings;
use crate::store::{FileRow, FileState, Store};
use folio_stages::decode::{self, Format};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::runtime::Handle;
use walkdir::WalkDir;

/// A good file of the batch, ready for the stages.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedFile {
    pub path: PathBuf,
    /// Path relative to the batch folder, `/`-separated.
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    pub pages: usize,
    pub format: Format,
}

/// A file set aside, and why.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    pub name: String,
    pub sha256: Option<String>,
    pub reason: String,
    /// Where the copy and its `.reason.txt` are.
    pub copy: PathBuf,
}

/// What ingest found in a batch folder.
#[derive(Debug, Default, Serialize)]
pub struct Intake {
    /// New (or not yet processed) good files, in name order.
    pub accepted: Vec<AcceptedFile>,
    /// Files the store already processed or quarantined: `(name, state)`.
    pub known: Vec<(String, String)>,
    /// Second copies of a file already in this batch: `(name, first name)`.
    pub duplicates: Vec<(String, String)>,
    pub quarantined: Vec<QuarantinedFile>,
    /// Hidden files (names starting with `.`), never read.
    pub ignored: Vec<String>,
}

/// The files of a batch folder, sorted by path; hidden names are listed
/// apart so the summary can say they were skipped.
pub fn list_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>), FolioError> {
    if !dir.is_dir() {
        return Err(FolioError::input(
            dir,
            "not a folder (give the folder that holds the batch's page files)",
        ));
    }
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for entry in WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.map_err(|e| FolioError::input(dir, e))?;
        let rel = relative_name(dir, entry.path());
        if entry.depth() > 0 && rel.split('/').any(|c| c.starts_with('.')) {
            if entry.file_type().is_file() {
                ignored.push(rel);
            }
            continue;
        }
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok((files, ignored))
}

fn relative_name(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    folio_stages::bagit::hex(&Sha256::digest(bytes))
}

/// The verdict on one file, before the store is asked about it.
enum Check {
    Good {
        sha256: String,
        bytes: u64,
        pages: usize,
        format: Format,
    },
    Bad {
        sha256: Option<String>,
        reason: String,
    },
}

fn check_file(path: &Path, settings: &Settings) -> Check {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Check::Bad {
                sha256: None,
                reason: format!("cannot read: {e}"),
            };
        }
    };
    if meta.len() > settings.decode.max_file_bytes {
        return Check::Bad {
            sha256: None,
            reason: format!(
                "file size {} exceeds the limit {} (raise [decode].max_file_bytes in folio.toml)",
                meta.len(),
                settings.decode.max_file_bytes
            ),
        };
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Check::Bad {
                sha256: None,
                reason: format!("cannot read: {e}"),
            };
        }
    };
    let sha256 = sha256_hex(&bytes);
    let format = match Format::sniff(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return Check::Bad {
                sha256: Some(sha256),
                reason: e.to_string(),
            };
        }
    };
    let mut pages = 0;
    let result = decode::pages(&bytes, &settings.decode)
        .and_then(|mut it| it.try_for_each(|p| p.map(|_| pages += 1)));
    match result {
        Ok(()) if pages > 0 => Check::Good {
            sha256,
            bytes: bytes.len() as u64,
            pages,
            format,
        },
        Ok(()) => Check::Bad {
            sha256: Some(sha256),
            reason: "the file holds no pages".into(),
        },
        Err(e) => Check::Bad {
            sha256: Some(sha256),
            reason: e.to_string(),
        },
    }
}

/// Fingerprints and checks every file of `dir` (in parallel on `pool`),
/// then records each in the store under `batch_id` and sorts it into the
/// intake lists. Bad files are copied into `quarantine`.
pub fn ingest(
    rt: &Handle,
    store: &Store,
    settings: &Settings,
    pool: &rayon::ThreadPool,
    dir: &Path,
    batch_id: &str,
    quarantine: &Path,
) -> Result<Intake, FolioError> {
    let (files, ignored) = list_files(dir)?;
    let checks: Vec<Check> =
        pool.install(|| files.par_iter().map(|p| check_file(p, settings)).collect());
    let mut intake = Intake {
        ignored,
        ..Intake::default()
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for (path, check) in files.iter().zip(checks) {
        let name = relative_name(dir, path);
        match check {
            Check::Good {
                sha256,
                bytes,
                pages,
                format,
            } => {
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == sha256) {
                    intake.duplicates.push((name, first.clone()));
                    continue;
                }
                seen.push((sha256.clone(), name.clone()));
                match rt.block_on(store.file(&sha256))? {
                    Some(known) if known.state != FileState::Arrived => {
                        intake.known.push((name, known.state.as_str().to_string()));
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        rt.block_on(store.record_file(&FileRow {
                            sha256: sha256.clone(),
                            batch_id: batch_id.into(),
                            original_name: name.clone(),
                            bytes: bytes as i64,
                            pages: pages as i64,
                            state: FileState::Arrived,
                            reason: None,
                        }))?;
                    }
                }
                intake.accepted.push(AcceptedFile {
                    path: path.clone(),
                    name,
                    sha256,
                    bytes,
                    pages,
                    format,
                });
            }
            Check::Bad { sha256, reason } => {
                if let Some(sha) = &sha256
                    && let Some(known) = rt.block_on(store.file(sha))?
                {
                    intake.known.push((name, known.state.as_str().to_string()));
                    continue;
                }
                let copy = quarantine_file(path, &name, quarantine, sha256.as_deref(), &reason)?;
                if let Some(sha) = &sha256 {
                    rt.block_on(store.record_file(&FileRow {
                        sha256: sha.clone(),
                        batch_id: batch_id.into(),
                        original_name: name.clone(),
                        bytes: std::fs::metadata(path).map(|m| m.len() as i64).unwrap_or(0),
                        pages: 0,
                        state: FileState::Quarantined,
                        reason: Some(reason.clone()),
                    }))?;
                }
                intake.quarantined.push(QuarantinedFile {
                    name,
                    sha256,
                    reason,
                    copy,
                });
            }
        }
    }
    Ok(intake)
}

/// Copies (never moves) a bad file into the quarantine folder, keeping its
/// relative name, and writes `NAME.reason.txt` beside it.
fn quarantine_file(
    path: &Path,
    name: &str,
    quarantine: &Path,
    sha256: Option<&str>,
    reason: &str,
) -> Result<PathBuf, FolioError> {
    let copy = quarantine.join(name);
    if let Some(parent) = copy.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    // A file that cannot even be read still gets its reason written.
    let copied = std::fs::copy(path, &copy).map(|_| ());
    let mut note = format!(
        "file: {name}\nsha256: {}\nreason: {reason}\nquarantined_at: {}\n",
        sha256.unwrap_or("(unreadable)"),
        chrono::Utc::now().to_rfc3339()
    );
    if let Err(e) = &copied {
        note.push_str(&format!(
            "copy: failed ({e}); the original is still at {}\n",
            path.display()
        ));
    }
    note.push_str(
        "what to do: rescan the page(s) or fix the file, then drop it into a new batch\n",
    );
    let reason_path = PathBuf::from(format!("{}.reason.txt", copy.display()));
    std::fs::write(&reason_path, note).map_err(|e| FolioError::output(&reason_path, e))?;
    Ok(copy)
}
