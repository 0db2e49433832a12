//! Plain rows the store reads and writes; no queries here.

use crate::batch::BatchState;
use serde::Serialize;
use std::str::FromStr;

/// A batch as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRow {
    pub id: String,
    pub name: String,
    pub source: String,
    pub class: String,
    pub state: BatchState,
}

/// One logged state change of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchEvent {
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    pub at: String,
}

/// Where a file is: fingerprinted, done, or set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Fingerprinted and recorded; its pages are not yet in a document.
    Arrived,
    /// Every page is in a saved document.
    Processed,
    /// Copied to quarantine with its reason; not processed.
    Quarantined,
}

impl FileState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Arrived => "arrived",
            FileState::Processed => "processed",
            FileState::Quarantined => "quarantined",
        }
    }
}

impl FromStr for FileState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            FileState::Arrived,
            FileState::Processed,
            FileState::Quarantined,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| format!("unknown file state '{s}'"))
    }
}

/// A file as stored: known by its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRow {
    pub sha256: String,
    pub batch_id: String,
    pub original_name: String,
    pub bytes: i64,
    pub pages: i64,
    pub state: FileState,
    pub reason: Option<String>,
}

/// Where a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocState {
    /// Some fields wait for keyers; the package is staged, not yet a bag.
    AwaitingKeying,
    /// Written as a complete BagIt package.
    Packaged,
    /// A page could not be read or recognised; kept aside for the operator.
    Failed,
}

impl DocState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::AwaitingKeying => "awaiting_keying",
            DocState::Packaged => "packaged",
            DocState::Failed => "failed",
        }
    }
}

/// A finished document with everything to save about it.
#[derive(Debug, Clone)]
pub struct DocumentRecord {
    pub id: String,
    pub batch_id: String,
    pub seq: i64,
    pub class: String,
    pub state: DocState,
    pub package_path: String,
    pub pages: Vec<PageRecord>,
    pub fields: Vec<FieldRow>,
}

/// One page's results as stored.
#[derive(Debug, Clone)]
pub struct PageRecord {
    pub seq: i64,
    pub file_sha256: String,
    pub file_page: i64,
    pub width: i64,
    pub height: i64,
    pub dpi: Option<f64>,
    pub color: String,
    pub skew_deg: f64,
    pub orientation_deg: i64,
    pub blank: bool,
    pub qc_pass: bool,
    /// JSON list of QC reasons.
    pub qc_reasons: String,
    pub phash: String,
    /// `document_id/seq` of the earlier page this one repeats, if any.
    pub rescan_of: Option<String>,
    pub ocr_text: String,
    pub ocr_confidence: f64,
    /// JSON list of words with boxes and confidences.
    pub words: String,
    /// `ok` or `failed`.
    pub outcome: String,
    pub failure: Option<String>,
    pub image_ms: f64,
    pub ocr_ms: f64,
}

/// A document as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentRow {
    pub id: String,
    pub seq: i64,
    pub class: String,
    pub state: String,
    pub package_path: String,
}

/// One index field as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldRow {
    pub name: String,
    pub value: Option<String>,
    pub confidence: f64,
    pub page: Option<i64>,
    /// JSON `[x0, y0, x1, y1]` on the prepared page.
    pub bbox: Option<String>,
    /// `accepted` or `awaiting_keying`.
    pub status: String,
    pub reason: Option<String>,
}

/// One page in the QC report.
#[derive(Debug, Clone, Serialize)]
pub struct PageReportRow {
    pub document_id: String,
    pub seq: i64,
    pub original_name: String,
    pub file_page: i64,
    pub dpi: Option<f64>,
    pub color: String,
    pub skew_deg: f64,
    pub orientation_deg: i64,
    pub blank: bool,
    pub qc_pass: bool,
    pub qc_reasons: String,
    pub rescan_of: Option<String>,
    pub outcome: String,
    pub failure: Option<String>,
}
