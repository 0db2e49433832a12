//! Plain rows and states the store reads and writes; no queries here.

use crate::batch::BatchState;
use serde::Serialize;
use std::str::FromStr;

/// Declares a state enum stored as snake_case text, with its parser.
macro_rules! stored_state {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every state, in life order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} '{s}'", stringify!($name)))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_state! {
    /// Where a file is: fingerprinted, done, or set aside.
    FileState {
        /// Fingerprinted, kept in the object store, its pages queued.
        Arrived => "arrived",
        /// Every page is in a finished document.
        Processed => "processed",
        /// Copied to quarantine with its reason; not processed.
        Quarantined => "quarantined",
    }
}

stored_state! {
    /// Where a document is. `Queued` until its last page is done; then
    /// `Finishing` under one worker's lease; then one of the final states.
    DocState {
        /// Pages still queued or being worked.
        Queued => "queued",
        /// Every page done; one worker holds the lease to package it.
        Finishing => "finishing",
        /// Some fields wait for keyers; the package is staged, not yet a bag.
        AwaitingKeying => "awaiting_keying",
        /// Written as a complete BagIt package.
        Packaged => "packaged",
        /// A page could not be read or recognised; kept aside for the operator.
        Failed => "failed",
    }
}

impl DocState {
    /// True once the document will not be worked again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DocState::AwaitingKeying | DocState::Packaged | DocState::Failed
        )
    }
}

stored_state! {
    /// Where a page is in the work queue.
    PageState {
        /// Waiting for a worker.
        Queued => "queued",
        /// Held by a worker's lease.
        Leased => "leased",
        /// Stages ran; results stored.
        Done => "done",
        /// A stage could not read or recognise it; the reason is stored.
        Failed => "failed",
    }
}

/// Who changed something: a person's user name or a worker's id. Every
/// event carries one, so a report can say who did what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor(pub String);

impl Actor {
    /// The person running this command (login name from the environment).
    pub fn user() -> Actor {
        let name = std::env::var("FOLIO_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor(format!("user:{name}"))
    }

    /// This process as a worker: host, pid and start time, unique across
    /// restarts and workstations.
    pub fn worker() -> Actor {
        let started = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        Actor(format!(
            "worker:{}/{}/{started}",
            host_name(),
            std::process::id()
        ))
    }

    /// The host part of a worker id, for status listings.
    pub fn host(&self) -> &str {
        self.0
            .strip_prefix("worker:")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("")
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// This machine's name (`FOLIO_HOST` overrides it, for hosts that share a
/// kernel name, e.g. network namespaces in tests).
pub fn host_name() -> String {
    std::env::var("FOLIO_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A batch as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRow {
    pub id: String,
    pub name: String,
    pub source: String,
    pub class: String,
    pub state: BatchState,
    /// Where its packages go.
    pub out_dir: String,
    /// Where its bad files were copied.
    pub quarantine_dir: String,
}

/// One logged state change of anything Folio keeps.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: String,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
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
    /// Pixels over all its pages (0 when not surveyed): what orders the
    /// claims of its pages.
    pub pixels: i64,
}

/// One page of a planned document: which new file (index into the
/// ingest's file list) and which page of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef {
    pub file: usize,
    pub file_page: usize,
}

/// How the pages of a batch's new files become documents; given to the
/// store so planning happens inside the ingest transaction, on exactly
/// the files that transaction records.
pub trait Planner: Sync {
    /// Groups the files' pages into documents, in order.
    fn groups(&self, files: &[FileRow]) -> Vec<Vec<PageRef>>;
    /// The id of a batch's document number `seq`.
    fn document_id(&self, batch: &BatchRow, seq: i64) -> String;
}

/// What `Store::ingest` is asked to record.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Canonical path of the folder the batch came from.
    pub source: String,
    pub name: String,
    pub class: String,
    pub out_dir: String,
    pub quarantine_dir: String,
    /// Good files (already in the object store), in name order.
    pub files: Vec<FileRow>,
    /// Bad files (already copied to quarantine) with their reasons.
    pub quarantined: Vec<FileRow>,
}

/// A document ingest queued.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedDocument {
    pub id: String,
    pub seq: i64,
    pub pages: usize,
}

/// What one ingest recorded.
#[derive(Debug, Clone, Serialize)]
pub struct IngestOutcome {
    pub batch: BatchRow,
    /// True when this ingest created the batch.
    pub created: bool,
    /// SHA-256 of the files this ingest recorded and queued.
    pub new_files: Vec<String>,
    /// Files the store already had: `(name, state)`.
    pub known: Vec<(String, String)>,
    pub documents: Vec<QueuedDocument>,
}

/// A page a worker holds by lease.
#[derive(Debug, Clone)]
pub struct PageClaim {
    pub page_id: i64,
    pub document_id: String,
    pub batch_id: String,
    pub class: String,
    /// Page number in its document, from 1.
    pub seq: i64,
    pub file_sha256: String,
    /// Page number in its file, from 1.
    pub file_page: i64,
    /// How many times the page has been claimed, this claim included.
    pub attempts: i64,
    /// The fencing token: results are accepted only with it.
    pub token: String,
}

/// Everything the stages found on one page, as stored.
#[derive(Debug, Clone, Default)]
pub struct PageResult {
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
    /// JSON re-scan fingerprint.
    pub phash: String,
    /// JSON image-stage report (for the index record).
    pub report: String,
    pub ocr_text: String,
    pub ocr_confidence: f64,
    /// JSON list of words with boxes and confidences.
    pub words: String,
    /// The derived page image, relative to the object store.
    pub derived_path: Option<String>,
    /// `stage: reason` when a stage failed.
    pub failure: Option<String>,
    pub image_ms: f64,
    pub ocr_ms: f64,
}

/// A document a worker holds by lease to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocClaim {
    pub document_id: String,
    pub token: String,
}

/// What committing a page's results did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageCommit {
    /// The lease was no longer this worker's: the result was thrown away.
    Stale,
    /// Stored; the document still has pages to go.
    Recorded,
    /// Stored, and it was the document's last page: this worker now holds
    /// the document's lease and must finish it.
    DocumentReady(DocClaim),
}

/// One page of a document being finished, with its stored results.
#[derive(Debug, Clone)]
pub struct StoredPage {
    pub page_id: i64,
    pub seq: i64,
    pub file_sha256: String,
    pub file_page: i64,
    pub state: PageState,
    pub result: PageResult,
    /// The review decision on the page, if any (a dropped page is left
    /// out of the package).
    pub decision: Option<crate::store::review::Decision>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

/// Everything needed to finish one document.
#[derive(Debug, Clone)]
pub struct DocumentWork {
    pub id: String,
    pub seq: i64,
    pub class: String,
    pub batch: BatchRow,
    pub pages: Vec<StoredPage>,
    /// The files its pages come from, in first-use order.
    pub files: Vec<FileRow>,
    /// Its fields as stored: empty on the first finish; after keying, the
    /// final values the package is rebuilt with.
    pub fields: Vec<FieldRow>,
}

/// An earlier page a new page may be a re-scan of.
#[derive(Debug, Clone)]
pub struct RescanCandidate {
    pub page_id: i64,
    /// `document/pNNNN`.
    pub label: String,
    pub phash: String,
    pub text: String,
    /// True when its document is final (it can no longer be flagged).
    pub document_final: bool,
}

/// A finished document's outcome, committed with the document's lease.
#[derive(Debug, Clone)]
pub struct DocumentOutcome {
    pub state: DocState,
    pub package_path: String,
    pub fields: Vec<FieldRow>,
    /// `(page seq, label of the page it repeats)`.
    pub rescans: Vec<(i64, String)>,
    /// True when this finish packages a document whose fields were keyed
    /// (its fields and batch counters were recorded by the first finish).
    pub rekeyed: bool,
}

/// A document as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentRow {
    pub id: String,
    pub seq: i64,
    pub class: String,
    pub state: String,
    pub pages: i64,
    pub package_path: Option<String>,
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
    /// `accepted` (as read), `awaiting_keying`, `arbitration` or `keyed`.
    pub status: String,
    pub reason: Option<String>,
    /// What goes into the index once final (`value` stays what OCR read).
    pub final_value: Option<String>,
    /// `value`, `illegible` or `empty`, once final.
    pub outcome: Option<String>,
    /// `ocr`, `double_keyed` or `arbitrated`, once final.
    pub source: Option<String>,
    /// JSON: the keyers' (and arbiter's) pseudonyms, once keyed.
    pub keyers: Option<String>,
    /// OCR would have accepted it; keyed anyway as part of the QA sample
    /// that measures OCR's error on accepted fields.
    pub qa_sample: bool,
}

/// One field as the accuracy report reads it.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyFieldRow {
    pub class: String,
    pub name: String,
    /// What OCR read.
    pub value: Option<String>,
    pub confidence: f64,
    pub status: String,
    pub final_value: Option<String>,
    pub outcome: Option<String>,
    pub qa_sample: bool,
}

impl FieldRow {
    /// True when the value is settled (read confidently, or keyed).
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "accepted" | "keyed")
    }
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

/// Pages of a batch per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageCounts {
    pub queued: i64,
    pub leased: i64,
    pub done: i64,
    pub failed: i64,
}

/// Documents of a batch per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DocumentCounts {
    pub queued: i64,
    pub finishing: i64,
    pub packaged: i64,
    pub awaiting_keying: i64,
    pub failed: i64,
}

impl DocumentCounts {
    /// Documents still to finish.
    pub fn open(&self) -> i64 {
        self.queued + self.finishing
    }
}

/// Leases one worker holds.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseHolder {
    pub worker: String,
    pub host: String,
    pub pages: i64,
    pub documents: i64,
    /// Seconds until its earliest lease runs out (negative: expired).
    pub expires_in_s: f64,
}

/// One batch in `folio status`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchStatus {
    pub id: String,
    pub name: String,
    pub source: String,
    pub class: String,
    pub state: BatchState,
    pub out_dir: String,
    pub pages: PageCounts,
    pub documents: DocumentCounts,
    /// Pages finished in the last five minutes, per minute.
    pub pages_per_minute: f64,
    pub leases: Vec<LeaseHolder>,
}
