//! Documents: how a batch's pages are cut into documents (the class's
//! split rule), what a finished page carries, and the `Finisher` that turns
//! a document's last page into fields, a package and one store transaction.
//! Separator sheets will add a split rule here and nowhere else.

use crate::error::FolioError;
use crate::export;
use crate::ingest::AcceptedFile;
use crate::runner::{DocSummary, PageStats};
use crate::settings::{DocClass, Settings, Split};
use crate::store::{BatchRow, DocState, DocumentRecord, FieldRow, PageRecord, Store};
use folio_stages::extract::{FieldValue, Route};
use folio_stages::page::{PageImage, Word};
use folio_stages::prepare::ImageReport;
use folio_stages::recognize::OcrPage;
use folio_stages::rescan::{self, PageHash};
use image::GrayImage;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::runtime::Handle;

/// One page of a planned document: which file, which page in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef {
    pub file: usize,
    pub file_page: usize,
}

/// A document before its pages are processed.
#[derive(Debug, Clone)]
pub struct DocPlan {
    pub id: String,
    pub seq: i64,
    pub pages: Vec<PageRef>,
}

/// Cuts the accepted files' pages into documents by the class's rule.
pub fn plan(
    batch: &BatchRow,
    class: &DocClass,
    files: &[AcceptedFile],
    first_seq: i64,
) -> Vec<DocPlan> {
    let all: Vec<PageRef> = files
        .iter()
        .enumerate()
        .flat_map(|(file, f)| (0..f.pages).map(move |file_page| PageRef { file, file_page }))
        .collect();
    let groups: Vec<Vec<PageRef>> = match class.split {
        Split::File => files
            .iter()
            .enumerate()
            .map(|(i, _)| all.iter().copied().filter(|p| p.file == i).collect())
            .collect(),
        Split::Pages => all
            .chunks(class.pages_per_document.max(1) as usize)
            .map(<[PageRef]>::to_vec)
            .collect(),
        Split::Batch | Split::Separator => vec![all],
    };
    let short = &batch.id[batch.id.len().saturating_sub(8)..];
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .enumerate()
        .map(|(i, pages)| {
            let seq = first_seq + i as i64;
            DocPlan {
                id: format!("{}-{short}-{seq:04}", batch.name),
                seq,
                pages,
            }
        })
        .collect()
}

/// For each file, its pages in order as `(file_page, doc, seq_in_doc)`.
pub fn page_slots(plans: &[DocPlan]) -> HashMap<usize, Vec<(usize, usize, usize)>> {
    let mut slots: HashMap<usize, Vec<(usize, usize, usize)>> = HashMap::new();
    for (doc, plan) in plans.iter().enumerate() {
        for (seq, p) in plan.pages.iter().enumerate() {
            slots
                .entry(p.file)
                .or_default()
                .push((p.file_page, doc, seq));
        }
    }
    for v in slots.values_mut() {
        v.sort_unstable();
    }
    slots
}

/// A file-system- and archive-safe ASCII name (Archivematica renames
/// non-ASCII names on ingest).
pub fn ascii_slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .chars()
        .take(40)
        .collect();
    if slug.is_empty() {
        "batch".into()
    } else {
        slug
    }
}

/// Where a page's derived image goes in its document's staging folder.
pub fn derived_path(out: &Path, doc_id: &str, seq: usize) -> PathBuf {
    export::staging_dir(out, doc_id)
        .join("data/derived")
        .join(format!("p{:04}.png", seq + 1))
}

/// Writes a derived page image (upright, deskewed, cropped) as PNG.
pub fn save_derived(img: &GrayImage, path: &Path) -> Result<(), String> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut buf = Vec::new();
    PngEncoder::new_with_quality(&mut buf, CompressionType::Fast, FilterType::Sub)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| e.to_string())?;
    export::write_file(path, &buf).map_err(|e| e.to_string())
}

/// Everything the stages produced for one page.
#[derive(Debug, Clone)]
pub struct FinishedPage {
    pub dpi: Option<f32>,
    pub color: String,
    pub report: Option<ImageReport>,
    pub ocr: Option<OcrPage>,
    /// `(stage, reason)` when the page failed.
    pub failure: Option<(String, String)>,
    pub width: u32,
    pub height: u32,
    pub ocr_ms: f64,
}

impl FinishedPage {
    /// A page that never got through `stage`.
    pub fn failed(stage: &str, reason: String) -> Self {
        FinishedPage {
            dpi: None,
            color: "unknown".into(),
            report: None,
            ocr: None,
            failure: Some((stage.into(), reason)),
            width: 0,
            height: 0,
            ocr_ms: 0.0,
        }
    }

    /// A page that went through the image stage and OCR (which may have failed).
    pub fn from_stages(
        image: &PageImage,
        report: ImageReport,
        ocr: Result<OcrPage, String>,
        width: u32,
        height: u32,
        ocr_ms: f64,
    ) -> Self {
        let color = serde_json::to_value(image.color)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let (ocr, failure) = match ocr {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(("recognize".to_string(), e))),
        };
        FinishedPage {
            dpi: image.dpi,
            color,
            report: Some(report),
            ocr,
            failure,
            width,
            height,
            ocr_ms,
        }
    }

    /// Records a later failure (the first one is kept).
    pub fn mark_failed(&mut self, stage: &str, reason: String) {
        if self.failure.is_none() {
            self.failure = Some((stage.into(), reason));
        }
    }
}

/// Collects finished pages and completes each document when its last
/// page arrives. Runs on the recorder thread only.
pub struct Finisher<'a> {
    rt: &'a Handle,
    store: &'a Store,
    settings: &'a Settings,
    class: &'a DocClass,
    batch: &'a BatchRow,
    files: &'a [AcceptedFile],
    plans: &'a [DocPlan],
    out: &'a Path,
    pages: Vec<Vec<Option<FinishedPage>>>,
    remaining: Vec<usize>,
    /// Every page of the run so far: label, fingerprint, OCR text.
    hashes: std::collections::VecDeque<(String, PageHash, String)>,
    summaries: Vec<(DocSummary, PageStats)>,
}

impl<'a> Finisher<'a> {
    /// A finisher for one run's planned documents.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: &'a Handle,
        store: &'a Store,
        settings: &'a Settings,
        class: &'a DocClass,
        batch: &'a BatchRow,
        files: &'a [AcceptedFile],
        plans: &'a [DocPlan],
        out: &'a Path,
    ) -> Self {
        Finisher {
            rt,
            store,
            settings,
            class,
            batch,
            files,
            plans,
            out,
            pages: plans.iter().map(|p| vec![None; p.pages.len()]).collect(),
            remaining: plans.iter().map(|p| p.pages.len()).collect(),
            hashes: std::collections::VecDeque::new(),
            summaries: Vec::new(),
        }
    }

    /// Takes one finished page; returns the document's summary when this
    /// was its last page.
    pub fn add(
        &mut self,
        doc: usize,
        seq: usize,
        page: FinishedPage,
    ) -> Result<Option<DocSummary>, FolioError> {
        let slot = self
            .pages
            .get_mut(doc)
            .and_then(|d| d.get_mut(seq))
            .ok_or_else(|| {
                FolioError::Internal(format!("page {seq} of document {doc} was not planned"))
            })?;
        if slot.replace(page).is_none() {
            self.remaining[doc] -= 1;
        }
        if self.remaining[doc] > 0 {
            return Ok(None);
        }
        let pages: Vec<FinishedPage> = std::mem::take(&mut self.pages[doc])
            .into_iter()
            .flatten()
            .collect();
        let (summary, stats) = self.finish(doc, pages)?;
        self.summaries.push((summary.clone(), stats));
        Ok(Some(summary))
    }

    /// Summaries of the documents finished so far.
    pub fn into_summaries(self) -> Vec<(DocSummary, PageStats)> {
        self.summaries
    }

    fn finish(
        &mut self,
        doc: usize,
        pages: Vec<FinishedPage>,
    ) -> Result<(DocSummary, PageStats), FolioError> {
        let plan = &self.plans[doc];
        let staging = export::staging_dir(self.out, &plan.id);
        let words: Vec<&[Word]> = pages
            .iter()
            .map(|p| p.ocr.as_ref().map(|o| o.words.as_slice()).unwrap_or(&[]))
            .collect();
        let fields: Vec<FieldValue> = if self.class.fields.is_empty() {
            Vec::new()
        } else {
            self.class
                .fields
                .extract(&words, self.class.confidence_threshold)
        };

        // Originals, byte for byte, named by position (never by the
        // scanner's name, which stays in the index).
        let mut file_order: Vec<usize> = Vec::new();
        for p in &plan.pages {
            if !file_order.contains(&p.file) {
                file_order.push(p.file);
            }
        }
        let mut originals = Vec::new();
        let mut copy_failure = None;
        for (k, &fi) in file_order.iter().enumerate() {
            let f = &self.files[fi];
            let rel = format!("data/originals/{:04}.{}", k + 1, f.format.extension());
            match export::copy_original(&f.path, &staging.join(&rel), &f.sha256) {
                Ok(()) => {}
                Err(e @ FolioError::Input { .. }) => copy_failure = Some(e.to_string()),
                Err(e) => return Err(e),
            }
            originals.push(
                json!({"path": rel, "original_name": f.name, "sha256": f.sha256, "bytes": f.bytes}),
            );
        }

        let mut stats = PageStats::default();
        let mut records = Vec::new();
        let mut page_index = Vec::new();
        for (seq, (page, pref)) in pages.iter().zip(&plan.pages).enumerate() {
            let f = &self.files[pref.file];
            let label = format!("{}/p{:04}", plan.id, seq + 1);
            let text = page
                .ocr
                .as_ref()
                .map(|o| o.text.clone())
                .unwrap_or_default();
            let text_rel = format!("data/text/p{:04}.txt", seq + 1);
            export::write_file(&staging.join(&text_rel), text.as_bytes())?;
            let mut rescan_of = None;
            if let Some(report) = &page.report {
                let opts = &self.settings.rescan;
                // Blank backs all look and read alike: they are flagged as
                // blank, never as re-scans of one another.
                if !report.blank.blank {
                    rescan_of = self
                        .hashes
                        .iter()
                        .find(|(_, h, t)| rescan::is_rescan((h, t), (&report.hash, &text), opts))
                        .map(|(l, _, _)| l.clone());
                    self.hashes
                        .push_back((label.clone(), report.hash.clone(), text.clone()));
                    if self.hashes.len() > opts.window.max(1) {
                        self.hashes.pop_front();
                    }
                }
                stats.blank += report.blank.blank as usize;
                stats.qc_failed += (!report.qc.pass) as usize;
                stats.rescans += rescan_of.is_some() as usize;
            }
            stats.failed += page.failure.is_some() as usize;
            let report = page.report.as_ref();
            let qc_reasons = report
                .map(|r| serde_json::to_string(&r.qc.reasons).unwrap_or_default())
                .unwrap_or_else(|| "[]".into());
            let original_rel = format!(
                "data/originals/{:04}.{}",
                file_order.iter().position(|&x| x == pref.file).unwrap_or(0) + 1,
                f.format.extension()
            );
            page_index.push(json!({
                "seq": seq + 1,
                "original": original_rel,
                "original_name": f.name,
                "sha256": f.sha256,
                "file_page": pref.file_page + 1,
                "derived": format!("data/derived/p{:04}.png", seq + 1),
                "text": text_rel,
                "dpi": page.dpi,
                "color": page.color,
                "image": report,
                "rescan_of": rescan_of,
                "ocr_confidence": page.ocr.as_ref().map(|o| o.mean_confidence),
                "failure": page.failure.as_ref().map(|(s, r)| json!({"stage": s, "reason": r})),
            }));
            records.push(PageRecord {
                seq: seq as i64 + 1,
                file_sha256: f.sha256.clone(),
                file_page: pref.file_page as i64 + 1,
                width: page.width as i64,
                height: page.height as i64,
                dpi: page.dpi.map(f64::from),
                color: page.color.clone(),
                skew_deg: report.map(|r| r.skew.angle_deg as f64).unwrap_or(0.0),
                orientation_deg: report.map(|r| r.orientation.degrees as i64).unwrap_or(0),
                blank: report.is_some_and(|r| r.blank.blank),
                qc_pass: report.is_some_and(|r| r.qc.pass),
                qc_reasons,
                phash: report
                    .map(|r| serde_json::to_string(&r.hash).unwrap_or_default())
                    .unwrap_or_default(),
                rescan_of,
                ocr_text: text,
                ocr_confidence: page
                    .ocr
                    .as_ref()
                    .map(|o| o.mean_confidence as f64)
                    .unwrap_or(0.0),
                words: page
                    .ocr
                    .as_ref()
                    .map(|o| serde_json::to_string(&o.words).unwrap_or_default())
                    .unwrap_or_else(|| "[]".into()),
                outcome: if page.failure.is_some() {
                    "failed"
                } else {
                    "ok"
                }
                .into(),
                failure: page.failure.as_ref().map(|(s, r)| format!("{s}: {r}")),
                image_ms: report.map(|r| r.ms).unwrap_or(0.0),
                ocr_ms: page.ocr_ms,
            });
        }

        let keying = fields
            .iter()
            .filter(|f| matches!(f.route, Route::Keying { .. }))
            .count();
        let state = if stats.failed > 0 || copy_failure.is_some() {
            DocState::Failed
        } else if keying > 0 {
            DocState::AwaitingKeying
        } else {
            DocState::Packaged
        };
        let field_rows: Vec<FieldRow> = fields.iter().map(field_row).collect();
        let index = json!({
            "folio_index_version": 1,
            "document_id": plan.id,
            "batch": {"id": self.batch.id, "name": self.batch.name},
            "class": self.class.name,
            "state": state,
            "failure": copy_failure,
            "originals": originals,
            "pages": page_index,
            "fields": fields.iter().map(|f| (f.name.clone(), json!({
                "value": f.value, "confidence": f.confidence, "page": f.page.map(|p| p + 1), "bbox": f.bbox, "route": f.route,
            }))).collect::<serde_json::Map<_, _>>(),
        });
        let index_text = serde_json::to_string_pretty(&index)
            .map_err(|e| FolioError::Internal(e.to_string()))?;
        export::write_file(&staging.join("data/index.json"), index_text.as_bytes())?;

        let dest = match state {
            DocState::Packaged => {
                let metadata = vec![
                    (
                        "Source-Organization".to_string(),
                        self.settings.organization.clone(),
                    ),
                    (
                        "Bagging-Date".to_string(),
                        chrono::Utc::now().format("%Y-%m-%d").to_string(),
                    ),
                    ("External-Identifier".to_string(), plan.id.clone()),
                    (
                        "Bag-Group-Identifier".to_string(),
                        format!("{} ({})", self.batch.name, self.batch.id),
                    ),
                    ("Bag-Count".to_string(), "1 of 1".to_string()),
                    (
                        "Internal-Sender-Description".to_string(),
                        format!("Folio class {}", self.class.name),
                    ),
                    (
                        "Bag-Software-Agent".to_string(),
                        format!("folio {}", env!("CARGO_PKG_VERSION")),
                    ),
                ];
                export::seal_bag(&staging, &metadata)?;
                self.out.join(&plan.id)
            }
            DocState::AwaitingKeying => export::awaiting_dir(self.out, &plan.id),
            DocState::Failed => export::failed_dir(self.out, &plan.id),
        };
        export::publish(&staging, &dest)?;
        let record = DocumentRecord {
            id: plan.id.clone(),
            batch_id: self.batch.id.clone(),
            seq: plan.seq,
            class: self.class.name.clone(),
            state,
            package_path: dest.to_string_lossy().to_string(),
            pages: records,
            fields: field_rows,
        };
        self.rt.block_on(self.store.save_document(&record))?;
        let summary = DocSummary {
            id: plan.id.clone(),
            seq: plan.seq,
            state,
            pages: pages.len(),
            path: dest,
            fields_accepted: fields.len() - keying,
            fields_for_keying: keying,
        };
        Ok((summary, stats))
    }
}

fn field_row(f: &FieldValue) -> FieldRow {
    let (status, reason) = match &f.route {
        Route::Accepted => ("accepted", None),
        Route::Keying { reason } => ("awaiting_keying", Some(reason.clone())),
    };
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
    }
}
