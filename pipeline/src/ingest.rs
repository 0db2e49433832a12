//! Ingest: take a batch folder into Folio. Every file is fingerprinted
//! (SHA-256) and checked page by page before anything is kept; free space
//! is checked for the batch and its derived files; good new files are
//! copied into the object store, bad ones into quarantine with a reason;
//! then one store transaction records the batch, its files and its queued
//! documents and pages. The input folder is only ever read: once ingest
//! has committed, an operator may clear it.

use crate::error::FolioError;
use crate::objects::{self, Objects};
use crate::plan::{self, ClassPlanner};
use crate::settings::Settings;
use crate::store::review::{Decision, RescanPage};
use crate::store::{Actor, BatchRow, FileRow, FileState, IngestRequest, QueuedDocument, Store};
use crate::watch::manifest::{self, Manifest};
use folio_stages::decode::{self, Format};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Derived files cost about half a byte per pixel (grey PNG of a scan);
/// used to check free space before anything is taken in.
const DERIVED_BYTES_PER_PIXEL: f64 = 0.5;

/// A good file of the batch, kept in the object store.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedFile {
    #[serde(serialize_with = "lossy_path")]
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
    #[serde(serialize_with = "lossy_path")]
    pub copy: PathBuf,
}

/// What ingest found in a batch folder and recorded.
#[derive(Debug, Serialize)]
pub struct Intake {
    pub batch: BatchRow,
    /// New good files, in name order, kept and queued.
    pub accepted: Vec<AcceptedFile>,
    /// Files the store already had: `(name, state)`.
    pub known: Vec<(String, String)>,
    /// Second copies of a file already in this batch: `(name, first name)`.
    pub duplicates: Vec<(String, String)>,
    pub quarantined: Vec<QuarantinedFile>,
    /// Files skipped by rule (hidden, temp files, folder litter), never read.
    pub ignored: Vec<String>,
    /// Documents this ingest queued.
    pub documents: Vec<QueuedDocument>,
    pub quarantine: PathBuf,
    pub out: PathBuf,
}

impl Intake {
    /// Pages this ingest queued.
    pub fn pages(&self) -> usize {
        self.documents.iter().map(|d| d.pages).sum()
    }
}

/// A path in a summary: file names from scanners need not be UTF-8, and
/// a summary must still print (the bytes that are not are shown as �).
fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// What to take in.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub input: PathBuf,
    pub out: PathBuf,
    pub class: Option<String>,
    pub quarantine: Option<PathBuf>,
}

/// The files of a batch folder, sorted by path; names skipped by rule
/// (hidden, temp, folder litter) are listed apart so the summary can say
/// they were skipped. Links are never followed: a symbolic or hard link,
/// FIFO, socket or device in a batch is refused unread with its reason.
pub fn list_files(dir: &Path) -> Result<Listing, FolioError> {
    if !dir.is_dir() {
        return Err(FolioError::input(
            dir,
            "not a folder (give the folder that holds the batch's page files)",
        ));
    }
    let mut listing = Listing::default();
    for entry in WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| FolioError::input(dir, e))?;
        let rel = relative_name(dir, entry.path());
        if entry.depth() > 0 && rel.split('/').any(skipped_by_rule) {
            if !entry.file_type().is_dir() {
                listing.ignored.push(rel);
            }
            continue;
        }
        let kind = entry.file_type();
        if kind.is_file() {
            // A second name of a file kept elsewhere (a hard link) is
            // refused unread like a symbolic link: its bytes were not
            // scanned into this batch.
            let links = entry.metadata().map(|m| m.nlink()).unwrap_or(1);
            if links > 1 {
                listing.refused.push((
                    rel,
                    format!(
                        "is a hard link ({links} names for one file); links are never followed"
                    ),
                ));
                continue;
            }
            listing.files.push(entry.into_path());
        } else if kind.is_symlink() {
            listing
                .refused
                .push((rel, "is a symbolic link; links are never followed".into()));
        } else if !kind.is_dir() {
            listing.refused.push((
                rel,
                "is not a regular file (FIFO, socket or device); never read".into(),
            ));
        }
    }
    Ok(listing)
}

/// Names never taken for pages, by rule: hidden files and folders
/// (`.DS_Store`, `._*`), office and scanner temp files (`~$…`, `*.tmp`),
/// Windows and macOS folder litter (`Thumbs.db`, `desktop.ini`).
fn skipped_by_rule(component: &str) -> bool {
    let lower = component.to_ascii_lowercase();
    component.starts_with('.')
        || component.starts_with("~$")
        || lower.ends_with(".tmp")
        || lower == "thumbs.db"
        || lower == "desktop.ini"
}

/// A batch folder's entries, sorted.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<PathBuf>,
    pub ignored: Vec<String>,
    /// Entries refused unread: `(name, reason)`.
    pub refused: Vec<(String, String)>,
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
    folio_stages::bagit::sha256_hex(bytes)
}

/// The verdict on one file, before the store is asked about it.
enum Check {
    Good {
        sha256: String,
        bytes: u64,
        pages: usize,
        pixels: u64,
        format: Format,
    },
    Bad {
        sha256: Option<String>,
        reason: String,
    },
}

fn check_file(path: &Path, settings: &Settings) -> Check {
    let bad = |sha256: Option<String>, reason: String| Check::Bad { sha256, reason };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return bad(None, format!("cannot read: {e}")),
    };
    if meta.len() > settings.decode.max_file_bytes {
        return bad(
            None,
            format!(
                "file size {} exceeds the limit {} (raise [decode].max_file_bytes in folio.toml)",
                meta.len(),
                settings.decode.max_file_bytes
            ),
        );
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return bad(None, format!("cannot read: {e}")),
    };
    let sha256 = sha256_hex(&bytes);
    let format = match Format::sniff(&bytes) {
        Ok(f) => f,
        Err(e) => return bad(Some(sha256), e.to_string()),
    };
    // The structure only: each page is decoded once, by its worker.
    match decode::survey(&bytes, &settings.decode) {
        Ok(sizes) if !sizes.is_empty() => Check::Good {
            sha256,
            bytes: bytes.len() as u64,
            pages: sizes.len(),
            pixels: sizes.iter().map(|&(w, h)| w as u64 * h as u64).sum(),
            format,
        },
        Ok(_) => bad(Some(sha256), "the file holds no pages".into()),
        Err(e) => bad(Some(sha256), e.to_string()),
    }
}

/// Takes a batch folder in: checks, space, copies, one transaction.
pub async fn ingest(
    store: &Store,
    settings: &Settings,
    pool: &rayon::ThreadPool,
    opts: &IngestOptions,
    actor: &Actor,
) -> Result<Intake, FolioError> {
    let class = settings.class(opts.class.as_deref())?;
    let input = opts
        .input
        .canonicalize()
        .map_err(|e| FolioError::input(&opts.input, e))?;
    if !input.is_dir() {
        return Err(FolioError::input(
            &input,
            "not a folder (give the folder that holds the batch's page files)",
        ));
    }
    // A re-scan folder (its batch.toml names the batch and the pages it
    // replaces) goes into the original batch's documents.
    let manifest_path = input.join(&settings.watch.manifest);
    if let Some(m) = rescan_manifest(&manifest_path)? {
        return ingest_rescan(store, settings, pool, &input, &manifest_path, &m, actor).await;
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| FolioError::output(&opts.out, e))?;
    let out = opts
        .out
        .canonicalize()
        .map_err(|e| FolioError::output(&opts.out, e))?;
    if out.starts_with(&input) {
        return Err(FolioError::output(
            &out,
            "is inside the batch folder; folio never writes into its input",
        ));
    }
    let source = input.to_string_lossy().to_string();
    let name = plan::ascii_slug(
        &input
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    let quarantine = opts.quarantine.clone().unwrap_or_else(|| {
        let tag = &sha256_hex(source.as_bytes())[..8];
        settings
            .data_dir
            .join("quarantine")
            .join(format!("{name}-{tag}"))
    });

    let mut listing = list_files(&input)?;
    // The scanning station's marker and manifest are not pages, whether
    // `folio watch` or `folio run` takes the folder.
    let (service, pages): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut listing.files)
        .into_iter()
        .partition(|p| {
            p.parent() == Some(input.as_path())
                && p.file_name().is_some_and(|n| {
                    n == settings.watch.marker.as_str() || n == settings.watch.manifest.as_str()
                })
        });
    listing.files = pages;
    listing
        .ignored
        .extend(service.iter().map(|p| relative_name(&input, p)));
    let checks: Vec<Check> = pool.install(|| {
        listing
            .files
            .par_iter()
            .map(|p| check_file(p, settings))
            .collect()
    });

    // Sort the verdicts: new good files, duplicates in the batch, files the
    // store already has, bad files.
    let mut accepted: Vec<(AcceptedFile, u64)> = Vec::new();
    let mut duplicates = Vec::new();
    let mut known = Vec::new();
    let mut bad: Vec<(PathBuf, String, Option<String>, String)> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (path, check) in listing.files.iter().zip(checks) {
        let rel = relative_name(&input, path);
        match check {
            Check::Good {
                sha256,
                bytes,
                pages,
                pixels,
                format,
            } => {
                if let Some(first) = seen.get(&sha256) {
                    duplicates.push((rel, first.clone()));
                    continue;
                }
                seen.insert(sha256.clone(), rel.clone());
                if let Some(k) = store.file(&sha256).await? {
                    known.push((rel, k.state.as_str().to_string()));
                    continue;
                }
                accepted.push((
                    AcceptedFile {
                        path: path.clone(),
                        name: rel,
                        sha256,
                        bytes,
                        pages,
                        format,
                    },
                    pixels,
                ));
            }
            Check::Bad { sha256, reason } => {
                if let Some(sha) = &sha256
                    && let Some(k) = store.file(sha).await?
                {
                    known.push((rel, k.state.as_str().to_string()));
                    continue;
                }
                bad.push((path.clone(), rel, sha256, reason));
            }
        }
    }
    for (rel, reason) in &listing.refused {
        bad.push((input.join(rel), rel.clone(), None, reason.clone()));
    }
    bad.sort_by(|a, b| a.1.cmp(&b.1));

    let objects = Objects::new(&settings.objects_dir);
    check_space(&objects, &out, &accepted)?;

    for (file, _) in &accepted {
        objects.put(&file.path, &file.sha256)?;
    }
    let mut quarantined = Vec::new();
    for (path, rel, sha256, reason) in bad {
        let refused = listing.refused.iter().any(|(r, _)| *r == rel);
        let copy = quarantine_file(
            &path,
            &rel,
            &quarantine,
            sha256.as_deref(),
            &reason,
            !refused,
        )?;
        quarantined.push(QuarantinedFile {
            name: rel,
            sha256,
            reason,
            copy,
        });
    }

    let request = IngestRequest {
        source,
        name,
        class: class.name.clone(),
        out_dir: out.to_string_lossy().to_string(),
        quarantine_dir: quarantine.to_string_lossy().to_string(),
        files: accepted
            .iter()
            .map(|(f, pixels)| file_row(f, *pixels, FileState::Arrived, None))
            .collect(),
        quarantined: quarantined
            .iter()
            .filter_map(|q| {
                let sha = q.sha256.clone()?;
                let bytes = std::fs::symlink_metadata(input.join(&q.name))
                    .map(|m| m.len() as i64)
                    .unwrap_or(0);
                Some(FileRow {
                    sha256: sha,
                    batch_id: String::new(),
                    original_name: q.name.clone(),
                    bytes,
                    pages: 0,
                    state: FileState::Quarantined,
                    reason: Some(q.reason.clone()),
                    pixels: 0,
                })
            })
            .collect(),
    };
    let outcome = store
        .ingest(&request, &ClassPlanner { class }, actor)
        .await?;
    // A file another ingest recorded first (two runs of one folder at
    // once) is known, not accepted.
    let mut accepted: Vec<AcceptedFile> = accepted.into_iter().map(|(f, _)| f).collect();
    let raced: Vec<(String, String)> = accepted
        .iter()
        .filter(|f| !outcome.new_files.contains(&f.sha256))
        .map(|f| (f.name.clone(), "arrived".to_string()))
        .collect();
    accepted.retain(|f| outcome.new_files.contains(&f.sha256));
    known.extend(raced);
    Ok(Intake {
        batch: outcome.batch,
        accepted,
        known,
        duplicates,
        quarantined,
        ignored: listing.ignored,
        documents: outcome.documents,
        quarantine,
        out,
    })
}

/// The folder's manifest when it is a re-scan manifest. A manifest that
/// cannot be read is an error only when it means to be one (it names
/// `rescan_of` or `replaces`): `folio run` and `folio ingest` otherwise
/// leave manifests to `folio watch`, as before.
fn rescan_manifest(path: &Path) -> Result<Option<Manifest>, FolioError> {
    match manifest::read(path) {
        Ok(Some(m)) if m.rescan_of.is_some() || !m.replaces.is_empty() => Ok(Some(m)),
        Ok(_) => Ok(None),
        Err(e) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains("rescan_of") || text.contains("replaces") {
                Err(FolioError::input(path, e))
            } else {
                Ok(None)
            }
        }
    }
}

/// Takes a re-scan folder in: `manifest` (its `batch.toml`) names the
/// batch (`rescan_of`) and, per page of the folder in page order (files
/// by name, then pages), the page it replaces (`replaces`). Everything
/// is checked before anything is kept — the batch is known, each
/// `DOC:PAGE` is a page of it awaiting a re-scan, every file is good and
/// new, the folder holds exactly one page per entry — and a failed check
/// is an error naming the manifest, with nothing queued. Then the files
/// go into the object store and one store transaction puts each new page
/// in its old page's place; the documents go back to the queue.
#[allow(clippy::too_many_arguments)]
pub async fn ingest_rescan(
    store: &Store,
    settings: &Settings,
    pool: &rayon::ThreadPool,
    input: &Path,
    manifest_path: &Path,
    m: &Manifest,
    actor: &Actor,
) -> Result<Intake, FolioError> {
    let bad = |reason: String| FolioError::input(manifest_path, reason);
    let name = manifest_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let replaces = m
        .rescan(&name)
        .map_err(|e| FolioError::input(manifest_path, e))?
        .unwrap_or_default();
    let key = m.rescan_of.clone().unwrap_or_default();
    let batch = match store.find_batch(&key).await? {
        Some(b) => Some(b),
        None => match store
            .watched_batches()
            .await?
            .into_iter()
            .find(|w| w.source_name == key)
        {
            Some(w) => store.batch(&w.batch_id).await?,
            None => None,
        },
    };
    let batch = batch.ok_or_else(|| {
        bad(format!(
            "rescan_of = \"{key}\": no such batch in the store (give its id, name or folder); nothing was queued"
        ))
    })?;

    let mut listing = list_files(input)?;
    let (_, pages): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut listing.files)
        .into_iter()
        .partition(|p| {
            p.parent() == Some(input)
                && p.file_name().is_some_and(|n| {
                    n == settings.watch.marker.as_str() || n == settings.watch.manifest.as_str()
                })
        });
    listing.files = pages;
    if let Some((rel, reason)) = listing.refused.first() {
        return Err(bad(format!(
            "the re-scan folder's {rel} {reason}; nothing was queued"
        )));
    }
    let checks: Vec<Check> = pool.install(|| {
        listing
            .files
            .par_iter()
            .map(|p| check_file(p, settings))
            .collect()
    });
    let mut accepted: Vec<(AcceptedFile, u64)> = Vec::new();
    let mut known = Vec::new();
    for (path, check) in listing.files.iter().zip(checks) {
        let rel = relative_name(input, path);
        match check {
            Check::Good {
                sha256,
                bytes,
                pages,
                pixels,
                format,
            } => {
                if accepted.iter().any(|(f, _)| f.sha256 == sha256) {
                    return Err(bad(format!(
                        "{rel} has the same content as another file of the folder; nothing was queued"
                    )));
                }
                if let Some(k) = store.file(&sha256).await? {
                    known.push((rel, k.state.as_str().to_string()));
                    continue;
                }
                accepted.push((
                    AcceptedFile {
                        path: path.clone(),
                        name: rel,
                        sha256,
                        bytes,
                        pages,
                        format,
                    },
                    pixels,
                ));
            }
            Check::Bad { reason, .. } => {
                return Err(bad(format!(
                    "{rel} cannot be used as a re-scan: {reason}; nothing was queued"
                )));
            }
        }
    }
    let out = PathBuf::from(&batch.out_dir);
    let quarantine = PathBuf::from(&batch.quarantine_dir);
    if accepted.is_empty() && !known.is_empty() {
        // Taken in before (a second `folio run` of the folder): each page
        // it names is already one of its files. Nothing new; the caller
        // works the batch to its end.
        let mine: Vec<String> = listing
            .files
            .iter()
            .map(|p| relative_name(input, p))
            .collect();
        let shas: Vec<String> = {
            let mut v = Vec::new();
            for (rel, _) in &known {
                if let Some(path) = listing
                    .files
                    .iter()
                    .find(|p| relative_name(input, p) == *rel)
                    && let Ok(bytes) = std::fs::read(path)
                {
                    v.push(sha256_hex(&bytes));
                }
            }
            v
        };
        for (doc, page) in &replaces {
            let done = store
                .rescan_target(doc, *page)
                .await?
                .is_some_and(|t| shas.contains(&t.file_sha256));
            if !done {
                return Err(bad(format!(
                    "the folder's files ({}) are already in the store, and \"{doc}:{page}\" is not one of them: \
                     a re-scan must be a new scan; nothing was queued",
                    mine.join(", ")
                )));
            }
        }
        return Ok(Intake {
            batch,
            accepted: Vec::new(),
            known,
            duplicates: Vec::new(),
            quarantined: Vec::new(),
            ignored: listing.ignored,
            documents: Vec::new(),
            quarantine,
            out,
        });
    }
    if let Some((rel, _)) = known.first() {
        return Err(bad(format!(
            "{rel} is already in the store (the same content arrived before); a re-scan must be a new scan; nothing was queued"
        )));
    }
    let found: usize = accepted.iter().map(|(f, _)| f.pages).sum();
    if found != replaces.len() {
        return Err(bad(format!(
            "the folder holds {found} page(s) but `replaces` names {}: one entry per page, in page order; nothing was queued",
            replaces.len()
        )));
    }
    let mut targets = Vec::with_capacity(replaces.len());
    for (doc, page) in &replaces {
        let t = store.rescan_target(doc, *page).await?.ok_or_else(|| {
            bad(format!(
                "replaces \"{doc}:{page}\": no page {page} in a document {doc}; nothing was queued"
            ))
        })?;
        if t.batch_id != batch.id {
            return Err(bad(format!(
                "replaces \"{doc}:{page}\": that page is not in batch {} ({}); nothing was queued",
                batch.name, batch.id
            )));
        }
        if let Some(by) = t.replaced_by {
            return Err(bad(format!(
                "replaces \"{doc}:{page}\": already replaced by the re-scanned page {by}; nothing was queued"
            )));
        }
        if t.decision != Some(Decision::Rescan) {
            return Err(bad(format!(
                "replaces \"{doc}:{page}\": page id {} does not await a re-scan (decision: {}); \
                 request one with `folio review decide {} rescan`; nothing was queued",
                t.page_id,
                t.decision.map(|d| d.as_str()).unwrap_or("none"),
                t.page_id
            )));
        }
        targets.push(t.page_id);
    }

    let objects = Objects::new(&settings.objects_dir);
    check_space(&objects, &out, &accepted)?;
    for (file, _) in &accepted {
        objects.put(&file.path, &file.sha256)?;
    }
    let mut new_pages = Vec::with_capacity(found);
    let mut next = targets.iter();
    for (f, _) in &accepted {
        for k in 0..f.pages {
            if let Some(replaces) = next.next() {
                new_pages.push(RescanPage {
                    sha256: f.sha256.clone(),
                    file_page: k as i64 + 1,
                    replaces: *replaces,
                });
            }
        }
    }
    let rows: Vec<FileRow> = accepted
        .iter()
        .map(|(f, pixels)| FileRow {
            batch_id: batch.id.clone(),
            ..file_row(f, *pixels, FileState::Arrived, None)
        })
        .collect();
    let documents = store
        .ingest_rescan(&batch.id, &rows, &new_pages, manifest_path, actor)
        .await?;
    let batch = store.batch(&batch.id).await?.unwrap_or(batch);
    Ok(Intake {
        batch,
        accepted: accepted.into_iter().map(|(f, _)| f).collect(),
        known,
        duplicates: Vec::new(),
        quarantined: Vec::new(),
        ignored: listing.ignored,
        documents,
        quarantine,
        out,
    })
}

fn file_row(f: &AcceptedFile, pixels: u64, state: FileState, reason: Option<String>) -> FileRow {
    FileRow {
        sha256: f.sha256.clone(),
        batch_id: String::new(),
        original_name: f.name.clone(),
        bytes: f.bytes as i64,
        pages: f.pages as i64,
        state,
        reason,
        pixels: pixels as i64,
    }
}

/// Refuses the batch, before anything is copied or recorded, when the
/// object store or the output folder cannot hold it: the originals once
/// in each, plus the derived pages' estimate.
fn check_space(
    objects: &Objects,
    out: &Path,
    accepted: &[(AcceptedFile, u64)],
) -> Result<(), FolioError> {
    let originals: u64 = accepted.iter().map(|(f, _)| f.bytes).sum();
    let derived: u64 = accepted
        .iter()
        .map(|(_, px)| (*px as f64 * DERIVED_BYTES_PER_PIXEL) as u64)
        .sum();
    let need_each = originals + derived;
    if need_each == 0 {
        return Ok(());
    }
    let mut needs: BTreeMap<u64, (PathBuf, u64)> = BTreeMap::new();
    for place in [objects.root(), out] {
        let entry = needs
            .entry(objects::device(place))
            .or_insert((place.to_path_buf(), 0));
        entry.1 += need_each;
    }
    for (place, need) in needs.values() {
        let have = objects::free_bytes(place).map_err(|e| FolioError::output(place, e))?;
        if have < *need {
            return Err(FolioError::Space {
                path: place.clone(),
                need: *need,
                have,
            });
        }
    }
    Ok(())
}

/// Copies (never moves) a bad file into the quarantine folder, keeping its
/// relative name, and writes `NAME.reason.txt` beside it. `read` is false
/// for links and special files: their targets are never read or copied.
fn quarantine_file(
    path: &Path,
    name: &str,
    quarantine: &Path,
    sha256: Option<&str>,
    reason: &str,
    read: bool,
) -> Result<PathBuf, FolioError> {
    let copy = quarantine.join(name);
    if let Some(parent) = copy.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FolioError::output(parent, e))?;
    }
    // A file that cannot even be read still gets its reason written.
    let copied = if read {
        std::fs::copy(path, &copy).map(|_| ())
    } else {
        Err(std::io::Error::other(
            "not copied: its target is never read",
        ))
    };
    let mut note = format!(
        "file: {name}\nsha256: {}\nreason: {reason}\nquarantined_at: {}\n",
        sha256.unwrap_or("(unreadable)"),
        chrono::Utc::now().to_rfc3339()
    );
    if let Err(e) = &copied {
        note.push_str(&format!(
            "copy: {e}; the original is still at {}\n",
            path.display()
        ));
    }
    note.push_str(
        "what to do: rescan the page(s) or fix the file, then drop it into a new batch\n",
    );
    let reason_path = PathBuf::from(format!("{}.reason.txt", copy.display()));
    objects::write_atomic(&reason_path, note.as_bytes())?;
    Ok(copy)
}
