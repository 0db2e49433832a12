//! Typed errors of the pure stages. Every error names what failed so the
//! pipeline can quarantine the file or record the page, never panic.

use thiserror::Error;

/// Why a stage could not produce its result for one input. `page` fields
/// are 0-based indexes; messages count pages from 1, as operators do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StageError {
    /// The bytes are not an image format Folio reads.
    #[error("not a supported image format (PNG, JPEG, TIFF, PDF){0}")]
    UnsupportedFormat(String),
    /// The file is of a known format but its bytes are broken.
    #[error("page {}: cannot decode: {reason}", page + 1)]
    Corrupt { page: usize, reason: String },
    /// A PDF page is not one scanned image: it draws no image (a
    /// born-digital page of text and vectors) or is built from several
    /// large ones. Folio reads scans and does not render PDFs, so the page
    /// is refused by name rather than guessed at.
    #[error("page {}: not readable as a scan: {reason}", page + 1)]
    NotAScan { page: usize, reason: String },
    /// A configured decoder limit was exceeded; raising the limit in
    /// `folio.toml` `[decode]` lets the file through.
    #[error(
        "page {}: {what} {actual} exceeds the limit {limit} (raise [decode].{key} in folio.toml)", page + 1
    )]
    LimitExceeded {
        page: usize,
        what: &'static str,
        key: &'static str,
        actual: u64,
        limit: u64,
    },
    /// A page was asked for by index (`decode::page_at`) that the file
    /// does not have; `count` is how many pages it has. The caller's
    /// index is wrong, the file is not broken.
    #[error("page {}: no such page (the file's last page is {count})", page + 1)]
    NoSuchPage { page: usize, count: usize },
    /// The OCR engine could not be started or failed on a page.
    #[error("OCR engine: {0}")]
    Ocr(String),
    /// A stage's own invariant failed on this input (message says which).
    #[error("{stage}: {reason}")]
    Invalid { stage: &'static str, reason: String },
}
