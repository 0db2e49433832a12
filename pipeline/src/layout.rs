//! Where everything sits in a package and in a batch delivery: one place
//! for the names, so the writer, `folio verify`, `folio export` and the
//! tests agree. The layout is what Archivematica imports as a transfer
//! (`objects/`, `metadata/metadata.csv`, `logs/`), inside a BagIt bag:
//!
//! ```text
//! <delivery>/                        one batch: index.csv, index.xlsx, delivery.json
//! <delivery>/<doc>/                  one document's bag
//!   data/objects/<doc>_0001.tif      masters, byte for byte, named by position
//!   data/objects/<doc>.pdf           searchable PDF (PDF/A-2b)
//!   data/objects/derived/<doc>_p0001.tif|jpg|png
//!   data/objects/text/<doc>_p0001.txt  and .hocr
//!   data/metadata/metadata.csv       Dublin Core + index fields per file
//!   data/metadata/index.json         the index record
//!   data/logs/events.json            arrival, stages, keying decisions
//! ```
//!
//! Every name is ASCII (the scanner's original names are kept in the
//! index and metadata, never in paths).

use crate::plan::ascii_slug;
use crate::store::BatchRow;
use std::path::{Path, PathBuf};

/// The index record of a package.
pub const INDEX: &str = "data/metadata/index.json";
/// Archivematica's descriptive metadata.
pub const METADATA_CSV: &str = "data/metadata/metadata.csv";
/// The document's history.
pub const EVENTS: &str = "data/logs/events.json";
/// The batch delivery's index files and summary.
pub const DELIVERY_CSV: &str = "index.csv";
pub const DELIVERY_XLSX: &str = "index.xlsx";
pub const DELIVERY_JSON: &str = "delivery.json";

/// The folder a batch's packages and its index are delivered in.
pub fn delivery_dir(out: &Path, batch: &BatchRow) -> PathBuf {
    out.join(delivery_name(batch))
}

/// The delivery folder's name: the batch's name made ASCII and the end
/// of its id (names repeat across boxes).
pub fn delivery_name(batch: &BatchRow) -> String {
    let short = &batch.id[batch.id.len().saturating_sub(8)..];
    format!("{}-{short}", ascii_slug(&batch.name))
}

/// Where a document's package is published.
pub fn package_dir(out: &Path, batch: &BatchRow, doc_id: &str) -> PathBuf {
    delivery_dir(out, batch).join(ascii_slug(doc_id))
}

/// The stem every file of a document is named with.
pub fn stem(doc_id: &str) -> String {
    ascii_slug(doc_id)
}

/// Master `k` (1-based) of a document.
pub fn master(doc_id: &str, k: usize, extension: &str) -> String {
    format!("data/objects/{}_{k:04}.{extension}", stem(doc_id))
}

/// The derived image of page `seq`.
pub fn derived(doc_id: &str, seq: i64, extension: &str) -> String {
    format!(
        "data/objects/derived/{}_p{seq:04}.{extension}",
        stem(doc_id)
    )
}

/// The plain text of page `seq`.
pub fn text(doc_id: &str, seq: i64) -> String {
    format!("data/objects/text/{}_p{seq:04}.txt", stem(doc_id))
}

/// The hOCR of page `seq`.
pub fn hocr(doc_id: &str, seq: i64) -> String {
    format!("data/objects/text/{}_p{seq:04}.hocr", stem(doc_id))
}

/// The searchable PDF.
pub fn pdf(doc_id: &str) -> String {
    format!("data/objects/{}.pdf", stem(doc_id))
}

/// A payload path as `metadata.csv` names it (relative to `data/`).
pub fn in_transfer(rel: &str) -> &str {
    rel.strip_prefix("data/").unwrap_or(rel)
}
