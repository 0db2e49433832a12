//! `folio inspect`: the image stage alone over image files, page by page,
//! for operators checking a scanner and for the benchmark scripts.

use crate::error::{ExitCode, FolioError};
use crate::settings::Settings;
use folio_stages::decode;
use folio_stages::orient::OsdPool;
use folio_stages::prepare::{self, ImageReport};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One page as `inspect --json` prints it.
#[derive(Debug, Serialize)]
pub struct InspectRow {
    pub file: PathBuf,
    /// 1-based page number in the file.
    pub page: usize,
    /// Content angle, degrees, counter-clockwise positive.
    pub skew_deg: f32,
    /// Quarter turn of the content, counter-clockwise.
    pub orientation_deg: u16,
    pub blank: bool,
    pub qc: folio_stages::quality::QcVerdict,
    /// Milliseconds the image stage took on this page (decode excluded).
    pub ms: f64,
    pub dpi: Option<f32>,
    pub skew_confidence: f32,
    pub orientation_confidence: f32,
    pub ink_ratio: f32,
    pub crop: Option<folio_stages::BBox>,
    /// Set when the file or page could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Inspects every page of every file; exit code 4 if any could not be read.
pub fn run(images: &[PathBuf], settings: &Settings, json: bool) -> Result<ExitCode, FolioError> {
    let osd = OsdPool::new(settings.ocr.datapath.as_deref());
    osd.warm().map_err(|e| settings.config_error(e))?;
    let mut rows = Vec::new();
    for path in images {
        inspect_file(path, settings, &osd, &mut rows);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| FolioError::Internal(e.to_string()))?
        );
    } else {
        println!(
            "{:<40} {:>4} {:>8} {:>6} {:>6} {:>6} {:>8}  qc",
            "file", "page", "skew°", "turn°", "blank", "dpi", "ms"
        );
        for r in &rows {
            match &r.error {
                Some(e) => println!("{:<40} {:>4} ERROR {e}", r.file.display(), r.page),
                None => println!(
                    "{:<40} {:>4} {:>8.2} {:>6} {:>6} {:>6} {:>8.1}  {}",
                    r.file.display(),
                    r.page,
                    r.skew_deg,
                    r.orientation_deg,
                    if r.blank { "yes" } else { "no" },
                    r.dpi
                        .map(|d| format!("{d:.0}"))
                        .unwrap_or_else(|| "-".into()),
                    r.ms,
                    if r.qc.pass {
                        "pass".to_string()
                    } else {
                        format!(
                            "FAIL {}",
                            serde_json::to_string(&r.qc.reasons).unwrap_or_default()
                        )
                    }
                ),
            }
        }
    }
    Ok(if rows.iter().any(|r| r.error.is_some()) {
        ExitCode::Attention
    } else {
        ExitCode::Ok
    })
}

fn inspect_file(path: &Path, settings: &Settings, osd: &OsdPool, rows: &mut Vec<InspectRow>) {
    let error_row = |page: usize, e: String| InspectRow {
        file: path.to_path_buf(),
        page,
        skew_deg: 0.0,
        orientation_deg: 0,
        blank: false,
        qc: folio_stages::quality::QcVerdict {
            pass: false,
            reasons: Vec::new(),
        },
        ms: 0.0,
        dpi: None,
        skew_confidence: 0.0,
        orientation_confidence: 0.0,
        ink_ratio: 0.0,
        crop: None,
        error: Some(e),
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return rows.push(error_row(0, format!("cannot read: {e}"))),
    };
    let pages = match decode::pages(&bytes, &settings.decode) {
        Ok(p) => p,
        Err(e) => return rows.push(error_row(0, e.to_string())),
    };
    for (i, page) in pages.enumerate() {
        match page {
            Ok(page) => {
                let prepared = prepare::prepare(&page, &settings.image, Some(osd));
                let r: ImageReport = prepared.report;
                rows.push(InspectRow {
                    file: path.to_path_buf(),
                    page: i + 1,
                    skew_deg: r.skew.angle_deg,
                    orientation_deg: r.orientation.degrees,
                    blank: r.blank.blank,
                    qc: r.qc,
                    ms: r.ms,
                    dpi: page.dpi,
                    skew_confidence: r.skew.confidence,
                    orientation_confidence: r.orientation.confidence,
                    ink_ratio: r.blank.ink_ratio,
                    crop: r.crop,
                    error: None,
                });
            }
            Err(e) => rows.push(error_row(i + 1, e.to_string())),
        }
    }
}
