//! Finishing a document, exactly once: when its last page is done, the
//! worker holding its lease extracts the class's fields, flags re-scans
//! against earlier pages of the batch, assembles the package from the
//! object store (originals proved by their arrival SHA-256) and publishes
//! it; the store then commits the outcome with the same lease. Pure file
//! work here — the store calls are made by `work`.

use crate::error::FolioError;
use crate::export::{self, Published};
use crate::layout;
use crate::metadata::{self, Described, Names};
use crate::objects::Objects;
use crate::qa;
use crate::searchable::{self, PageSource};
use crate::settings::{DocClass, Settings};
use crate::store::intake::WatchedBatch;
use crate::store::review::Decision;
use crate::store::{
    DocState, DocumentOutcome, DocumentWork, Event, FieldRow, FileRow, PageState, RescanCandidate,
    StoredPage,
};
use folio_stages::decode::Format;
use folio_stages::extract::{FieldValue, PageWords, Route};
use folio_stages::hocr;
use folio_stages::page::Word;
use folio_stages::pdf::PdfMeta;
use folio_stages::rescan::{self, PageHash};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Builds and publishes the package of a document whose pages are all
/// done; returns what the store should commit.
#[allow(clippy::too_many_arguments)]
pub fn build(
    work: &DocumentWork,
    class: &DocClass,
    rescans: &[(i64, String)],
    intake: Option<&WatchedBatch>,
    history: &[Event],
    settings: &Settings,
    objects: &Objects,
    attempt: &str,
) -> Result<DocumentOutcome, FolioError> {
    let out = PathBuf::from(&work.batch.out_dir);
    let staging = export::staging_dir(&out, &work.id, attempt);
    export::clean_staging(&out, &work.id, None);
    let parts = Parts {
        work,
        class,
        rescans,
        intake,
        history,
        settings,
        objects,
    };
    let result = assemble(&parts, &out, &staging);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    export::clean_staging(&out, &work.id, None);
    result
}

/// What a package is built from.
struct Parts<'a> {
    work: &'a DocumentWork,
    class: &'a DocClass,
    /// `(page seq, label of the page it repeats)`.
    rescans: &'a [(i64, String)],
    /// How the batch came in through a watch folder (operator, manifest).
    intake: Option<&'a WatchedBatch>,
    /// The document's history so far (for `logs/events.json`).
    history: &'a [Event],
    settings: &'a Settings,
    objects: &'a Objects,
}

fn assemble(parts: &Parts, out: &Path, staging: &Path) -> Result<DocumentOutcome, FolioError> {
    let Parts {
        work,
        class,
        rescans,
        intake,
        history,
        settings,
        objects,
    } = *parts;
    let doc = work.id.as_str();
    let words: Vec<Vec<Word>> = work
        .pages
        .iter()
        .map(|p| serde_json::from_str(&p.result.words).unwrap_or_default())
        .collect();
    // The first finish reads the fields; after keying, the package is
    // rebuilt with the final values the store holds.
    let rekeyed = !work.fields.is_empty();
    let fields: Vec<FieldRow> = if rekeyed {
        work.fields.clone()
    } else if class.fields.is_empty() {
        Vec::new()
    } else {
        // Zones are measured in mm or inches: each page at its own dpi. A
        // dropped page is in no package, so nothing is read from it (its
        // place is kept: field pages count the document's pages).
        let pages: Vec<PageWords> = words
            .iter()
            .zip(&work.pages)
            .map(|(w, p)| PageWords {
                words: if p.decision == Some(Decision::Drop) {
                    &[]
                } else {
                    w
                },
                dpi: p.result.dpi.filter(|d| *d > 0.0).unwrap_or(300.0) as f32,
                origin: scan_origin(&p.result.report),
            })
            .collect();
        class
            .fields
            .extract_pages(&pages, class.confidence_threshold)
            .iter()
            .map(|f| qa::sample(field_row(f), &work.id, settings.keying.qa_share))
            .collect()
    };
    // Pages a person (or the `drop_blank_backs` rule) dropped are left
    // out of everything derived; a master none of whose pages is kept is
    // left out too. A master with a kept page stays byte for byte, and
    // the index says which of its pages were dropped.
    let dropped = |p: &StoredPage| p.decision == Some(Decision::Drop);
    let kept_files: Vec<&FileRow> = work
        .files
        .iter()
        .filter(|f| {
            work.pages
                .iter()
                .any(|p| p.file_sha256 == f.sha256 && !dropped(p))
        })
        .collect();

    // Masters, byte for byte, named by position (never by the scanner's
    // name, which stays in the index and metadata), proved against their
    // arrival SHA-256: the custody chain. A master that differs is named
    // and the document is not packaged.
    let mut originals = Vec::new();
    let mut custody = Vec::new();
    let mut described = Vec::new();
    let mut failure: Option<String> = None;
    for (k, f) in kept_files.iter().enumerate() {
        let ext = extension_of(&objects.original(&f.sha256));
        let rel = layout::master(doc, k + 1, ext);
        match export::copy_verified(&objects.original(&f.sha256), &staging.join(&rel), &f.sha256) {
            Ok(()) => {}
            Err(e @ FolioError::Input { .. }) => {
                failure = Some(format!(
                    "custody: master {} ({}): {e}",
                    k + 1,
                    f.original_name
                ))
            }
            Err(e) => return Err(e),
        }
        originals.push(json!({"path": rel, "original_name": f.original_name, "sha256": f.sha256, "bytes": f.bytes}));
        described.push(Described {
            rel: rel.clone(),
            original_name: f.original_name.clone(),
            sha256: f.sha256.clone(),
        });
        custody.push((rel, f.sha256.clone()));
    }

    let mut page_index = Vec::new();
    let mut pdf_pages = Vec::new();
    let mut failed_pages = 0;
    let mut dropped_index = Vec::new();
    for (page, page_words) in work.pages.iter().zip(&words) {
        let seq = page.seq;
        let r = &page.result;
        let kept_no = kept_files.iter().position(|f| f.sha256 == page.file_sha256);
        if dropped(page) {
            let name = work
                .files
                .iter()
                .find(|f| f.sha256 == page.file_sha256)
                .map(|f| f.original_name.clone());
            dropped_index.push(json!({
                "seq": seq,
                "original": kept_no.map(|k| custody[k].0.clone()),
                "original_name": name,
                "sha256": page.file_sha256,
                "file_page": page.file_page,
                "decided_by": page.decided_by,
                "reason": page.decision_reason,
            }));
            continue;
        }
        let file_no = kept_no.unwrap_or(0);
        let text_rel = layout::text(doc, seq);
        export::write_file(&staging.join(&text_rel), r.ocr_text.as_bytes())?;
        let mut page_failure = r.failure.clone();
        let mut derived_rel = None;
        let mut hocr_rel = None;
        if page.state == PageState::Done {
            let hocr = hocr::page(
                page_words,
                r.width.max(0) as u32,
                r.height.max(0) as u32,
                &format!("{doc} p{seq:04}"),
            );
            let rel = layout::hocr(doc, seq);
            export::write_file(&staging.join(&rel), hocr.as_bytes())?;
            hocr_rel = Some(rel);
            match &r.derived_path {
                Some(d) => {
                    let ext = d.rsplit('.').next().unwrap_or("png");
                    let rel = layout::derived(doc, seq, ext);
                    let src = objects.root().join(d);
                    let dest = staging.join(&rel);
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| FolioError::output(parent, e))?;
                    }
                    match std::fs::copy(&src, &dest) {
                        Ok(_) => {
                            pdf_pages.push(PageSource {
                                derived: dest,
                                width: r.width.max(0) as u32,
                                height: r.height.max(0) as u32,
                                dpi: r.dpi.filter(|d| *d > 0.0).unwrap_or(300.0) as f32,
                                words: page_words.clone(),
                            });
                            derived_rel = Some(rel);
                        }
                        Err(e) => page_failure = Some(format!("derive: {}: {e}", src.display())),
                    }
                }
                None => page_failure = Some("derive: no derived image was stored".into()),
            }
        }
        failed_pages += page_failure.is_some() as usize;
        let report: serde_json::Value = serde_json::from_str(&r.report).unwrap_or(json!(null));
        let rescan_of = rescans
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, l)| l.clone());
        page_index.push(json!({
            "seq": seq,
            "original": custody[file_no].0,
            "original_name": kept_files[file_no].original_name,
            "sha256": page.file_sha256,
            "file_page": page.file_page,
            "derived": derived_rel,
            "text": text_rel,
            "hocr": hocr_rel,
            "dpi": r.dpi,
            "color": r.color,
            "image": report,
            "rescan_of": rescan_of,
            "review": page.decision.map(|d| json!({
                "decision": d,
                "decided_by": page.decided_by,
                "reason": page.decision_reason,
            })),
            "ocr_confidence": (page.state == PageState::Done).then_some(r.ocr_confidence),
            "failure": page_failure.as_ref().map(|f| {
                let (stage, reason) = f.split_once(": ").unwrap_or(("", f));
                json!({"stage": stage, "reason": reason})
            }),
        }));
    }

    let keying = fields.iter().filter(|f| !f.is_final()).count();
    let state = if failed_pages > 0 || failure.is_some() {
        DocState::Failed
    } else if keying > 0 {
        DocState::AwaitingKeying
    } else {
        DocState::Packaged
    };
    let finals: Vec<(String, Option<String>)> = fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.is_final().then(|| f.final_value.clone()).flatten(),
            )
        })
        .collect();
    let names = Names {
        document: doc,
        class: &class.name,
        batch: &work.batch.name,
        fields: &finals,
    };
    // The searchable PDF, once every page is there and final.
    let mut pdf_rel = None;
    if state == DocState::Packaged && settings.delivery.pdf && !pdf_pages.is_empty() {
        let meta = PdfMeta {
            title: metadata::fill(&class.dublin_core.title, &names),
            producer: format!("Folio {}", env!("CARGO_PKG_VERSION")),
            created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            identifier: doc.to_string(),
        };
        let bytes = searchable::build(&pdf_pages, &meta)
            .map_err(|e| FolioError::Internal(format!("{doc}: searchable PDF: {e}")))?;
        let rel = layout::pdf(doc);
        export::write_file(&staging.join(&rel), &bytes)?;
        described.push(Described {
            rel: rel.clone(),
            original_name: String::new(),
            sha256: folio_stages::bagit::sha256_hex(&bytes),
        });
        pdf_rel = Some(rel);
    }
    export::write_file(
        &staging.join(layout::METADATA_CSV),
        metadata::metadata_csv(class, &names, &described).as_bytes(),
    )?;
    export::write_file(
        &staging.join(layout::EVENTS),
        metadata::events_json(doc, class, settings, history).as_bytes(),
    )?;

    let index = json!({
        "folio_index_version": 2,
        "document_id": work.id,
        "batch": {
            "id": work.batch.id,
            "name": work.batch.name,
            "operator": intake.and_then(|i| i.operator.clone()),
            "manifest": intake
                .and_then(|i| i.manifest.as_deref())
                .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok()),
        },
        "class": class.name,
        "state": state,
        "failure": failure,
        "pdf": pdf_rel,
        "originals": originals,
        "pages": page_index,
        "dropped_pages": dropped_index,
        "fields": fields.iter().map(|f| (f.name.clone(), index_field(f))).collect::<serde_json::Map<_, _>>(),
    });
    let index_text =
        serde_json::to_string_pretty(&index).map_err(|e| FolioError::Internal(e.to_string()))?;
    export::write_file(&staging.join(layout::INDEX), index_text.as_bytes())?;

    let dest = match state {
        DocState::Packaged => {
            export::seal_bag(
                staging,
                &bag_info(work, class, intake, settings),
                &settings.delivery.checksums,
            )?;
            layout::package_dir(out, &work.batch, doc)
        }
        DocState::AwaitingKeying => export::awaiting_dir(out, doc),
        _ => export::failed_dir(out, doc),
    };
    match export::publish(staging, &dest, out, &custody)? {
        Published::Renamed | Published::AlreadyThere => {}
        Published::ReplacedDamaged(aside) => tracing::warn!(
            "{doc}: an earlier, incomplete package was moved to {}",
            aside.display()
        ),
    }
    if rekeyed && state == DocState::Packaged {
        // The copy that waited for the keyers is superseded.
        let waited = export::awaiting_dir(out, doc);
        if let Err(e) = std::fs::remove_dir_all(&waited)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("{}: {e}", waited.display());
        }
    }
    if state != DocState::Failed {
        // A retried document (`folio batch retry`) that now got through:
        // what its failed attempt left is superseded.
        let failed = export::failed_dir(out, doc);
        if let Err(e) = std::fs::remove_dir_all(&failed)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("{}: {e}", failed.display());
        }
    }
    Ok(DocumentOutcome {
        state,
        package_path: dest.to_string_lossy().to_string(),
        // A failed document records no fields, so nothing goes to the
        // keyers: it cannot be delivered until `folio batch retry` gets it
        // through, and that finish reads its fields again (its index in
        // `.failed/` still shows what was read).
        fields: if rekeyed || state == DocState::Failed {
            Vec::new()
        } else {
            fields
        },
        rescans: rescans.to_vec(),
        rekeyed,
    })
}

/// The extension a kept original is packaged under, from its first bytes.
fn extension_of(path: &Path) -> &'static str {
    use std::io::Read;
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    Format::sniff(&head[..n])
        .map(Format::extension)
        .unwrap_or("bin")
}

fn bag_info(
    work: &DocumentWork,
    class: &DocClass,
    intake: Option<&WatchedBatch>,
    settings: &Settings,
) -> Vec<(String, String)> {
    let mut info = vec![
        ("Source-Organization".into(), settings.organization.clone()),
        (
            "Bagging-Date".into(),
            chrono::Utc::now().format("%Y-%m-%d").to_string(),
        ),
        ("External-Identifier".into(), work.id.clone()),
        (
            "Bag-Group-Identifier".into(),
            format!("{} ({})", work.batch.name, work.batch.id),
        ),
        ("Bag-Count".into(), "1 of 1".into()),
        (
            "Internal-Sender-Description".into(),
            format!("Folio class {}", class.name),
        ),
        (
            "Bag-Software-Agent".into(),
            format!("folio {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    // Who scanned it and where it belongs in the archive, from the
    // watch folder's binding and the scanning station's manifest.
    if let Some(i) = intake {
        if let Some(op) = &i.operator {
            info.push(("Folio-Operator".into(), op.clone()));
        }
        let manifest: serde_json::Value = i
            .manifest
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(json!({}));
        for (key, tag) in [
            ("scanner", "Folio-Scanner"),
            ("fonds", "Folio-Fonds"),
            ("box", "Folio-Box"),
            ("volume", "Folio-Volume"),
            ("reference_from", "Folio-Reference-From"),
            ("reference_to", "Folio-Reference-To"),
        ] {
            if let Some(v) = manifest.get(key).and_then(|v| v.as_str()) {
                info.push((tag.into(), v.replace(['\r', '\n'], " ")));
            }
        }
    }
    info
}

/// Pages of this document that repeat an earlier page of the batch:
/// `(page seq, label of the page repeated)`. A page is flagged against a
/// page ingested before it, or against a later one whose document is
/// already final (it can no longer be flagged itself), so each pair is
/// flagged once. Blank pages are never re-scans of one another.
pub fn find_rescans(
    work: &DocumentWork,
    candidates: &[RescanCandidate],
    settings: &Settings,
) -> Vec<(i64, String)> {
    let opts = &settings.rescan;
    let mut earlier: Vec<(i64, String, PageHash, String, bool)> = candidates
        .iter()
        .filter_map(|c| {
            let hash: PageHash = serde_json::from_str(&c.phash).ok()?;
            Some((
                c.page_id,
                c.label.clone(),
                hash,
                c.text.clone(),
                c.document_final,
            ))
        })
        .collect();
    let mut found = Vec::new();
    for page in &work.pages {
        let r = &page.result;
        if page.state != PageState::Done || r.blank {
            continue;
        }
        let Ok(hash) = serde_json::from_str::<PageHash>(&r.phash) else {
            continue;
        };
        let hit = earlier.iter().find(|(id, _, h, t, fin)| {
            (*id < page.page_id || *fin) && rescan::is_rescan((h, t), (&hash, &r.ocr_text), opts)
        });
        if let Some((_, label, ..)) = hit {
            found.push((page.seq, label.clone()));
        }
        earlier.push((
            page.page_id,
            format!("{}/p{:04}", work.id, page.seq),
            hash,
            r.ocr_text.clone(),
            false,
        ));
    }
    found
}

fn field_row(f: &FieldValue) -> FieldRow {
    let (status, reason) = match &f.route {
        Route::Accepted => ("accepted", None),
        Route::Keying { reason } => ("awaiting_keying", Some(reason.clone())),
    };
    let accepted = status == "accepted";
    FieldRow {
        name: f.name.clone(),
        value: f.value.clone(),
        confidence: f.confidence as f64,
        page: f.page.map(|p| p as i64 + 1),
        bbox: f
            .bbox
            .map(|b| format!("[{},{},{},{}]", b.x0, b.y0, b.x1, b.y1)),
        status: status.into(),
        reason,
        final_value: if accepted { f.value.clone() } else { None },
        outcome: accepted.then(|| "value".into()),
        source: accepted.then(|| "ocr".into()),
        keyers: None,
        qa_sample: false,
    }
}

/// A field in `index.json`: the final value with its provenance (source
/// and the keyers' pseudonyms), and what OCR read.
fn index_field(f: &FieldRow) -> serde_json::Value {
    let provenance: serde_json::Value = f
        .keyers
        .as_deref()
        .and_then(|k| serde_json::from_str(k).ok())
        .unwrap_or(json!({}));
    let bbox: serde_json::Value = f
        .bbox
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(json!(null));
    json!({
        "value": if f.is_final() { f.final_value.clone() } else { None },
        "status": f.status,
        "source": f.source,
        "outcome": f.outcome,
        "keyers": provenance.get("keyers").cloned().unwrap_or(json!([])),
        "arbiter": provenance.get("arbiter").cloned(),
        "reason": f.reason,
        "ocr_value": f.value,
        "confidence": f.confidence,
        "page": f.page,
        "bbox": bbox,
    })
}

/// Where the scan's corner lies in a page's derived image, from its
/// stored image report (a report from before the origin was recorded,
/// or none: the image's own corner).
fn scan_origin(report: &str) -> [f32; 2] {
    serde_json::from_str::<folio_stages::prepare::ImageReport>(report)
        .map_or([0.0, 0.0], |r| r.scan_origin)
}
