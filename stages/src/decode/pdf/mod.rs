//! PDF input, private to `decode`: each page of an image-only PDF (what
//! scanners and archive exports write) read back as its scanned image,
//! turned the way a PDF viewer shows the page. Owns [`PdfPages`], which
//! `decode::pages` and `decode::page_at` wrap for PDFs. Imports only
//! `decode::limits` and the crate's page, error and raster modules, never
//! `decode` itself, so the modules depend on each other one way. Pages are
//! decoded one at a time, so memory is bounded by the page being decoded
//! plus the parsed file, whose streams stay compressed until their page is
//! read.
//!
//! A page's scan is the image that covers the largest drawn area of the
//! page; an OCR text layer, a logo or a thumbnail beside it is ignored. A
//! page that draws no image is born-digital and is refused with
//! [`StageError::NotAScan`]: Folio reads scans, it does not render PDFs.
//!
//! Orientation follows the display: the page's `/Rotate` and the image's
//! placement matrix are both applied, snapped to quarter turns (a small
//! tilt in the matrix is left for deskew to measure on the raster, so the
//! pixels are never resampled here).

mod content;
mod placement;
mod raster;

use std::borrow::Cow;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{GrayImage, ImageFormat, ImageReader};
use lopdf::content::Content;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};

use super::limits::{DecodeLimits, check_file_size, check_limit, check_size};
use crate::error::StageError;
use crate::page::{ColorMode, PageImage};
use crate::raster::{cmyk_to_rgb, is_bilevel};
use content::*;
use placement::*;
use raster::*;

/// Most bytes one object or cross-reference stream may inflate to while the
/// file is parsed. Such streams hold small objects only; real files stay
/// far below this, decompression bombs do not.
pub(super) const MAX_OBJECT_STREAM_BYTES: usize = 64 << 20;
/// Most content-stream bytes one page may inflate to, Form XObjects
/// included (each time one is drawn). A scanned page needs a few hundred.
pub(super) const MAX_CONTENT_BYTES: usize = 64 << 20;
/// Deepest Form XObject nesting followed when looking for the scan.
pub(super) const MAX_FORM_DEPTH: usize = 4;
/// Deepest `q` nesting accepted; deeper is hostile, not a real page.
pub(super) const MAX_GSTATE_DEPTH: usize = 1024;
/// Most steps up the page tree when looking for an inherited attribute,
/// and most hops through named colour spaces.
pub(super) const MAX_TREE_DEPTH: usize = 64;
/// Slack on an image's decoded size: compressed data may carry a little
/// more than the samples need (predictor bytes, padding), never megabytes.
pub(super) const DATA_SLACK: usize = 1 << 20;

/// The pages of one PDF, decoded lazily in order or one by index. Open
/// with [`PdfPages::open`]; `decode::pages` and `decode::page_at` wrap
/// this for PDFs. After the first error the iterator ends, as for a
/// multi-page TIFF: a broken page sends the whole file to quarantine.
pub(super) struct PdfPages {
    doc: Document,
    pages: Vec<ObjectId>,
    limits: DecodeLimits,
    next: usize,
    done: bool,
}

impl PdfPages {
    /// Parses the file and its page tree. Fails when the file as a whole
    /// cannot be read: broken structure, encryption, no pages, or more
    /// pages than `max_pages` (refused up front, never half-read).
    pub(super) fn open(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, StageError> {
        check_file_size(bytes, limits)?;
        let options = LoadOptions {
            max_decompressed_size: Some(MAX_OBJECT_STREAM_BYTES),
            ..LoadOptions::default()
        };
        let doc =
            guarded(0, || Document::load_mem_with_options(bytes, options))?.map_err(load_error)?;
        if doc.trailer.has(b"Encrypt") || doc.was_encrypted() {
            return Err(encrypted());
        }
        let count = guarded(0, || doc.page_iter().count())?;
        check_limit(
            usize::try_from(limits.max_pages).unwrap_or(usize::MAX),
            "page count",
            "max_pages",
            count as u64,
            limits.max_pages,
        )?;
        if count == 0 {
            return Err(corrupt(0, "the PDF has no pages"));
        }
        let pages = guarded(0, || doc.page_iter().collect::<Vec<_>>())?;
        Ok(Self {
            doc,
            pages,
            limits: limits.clone(),
            next: 0,
            done: false,
        })
    }

    /// Number of pages in the file's page tree.
    pub(super) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Decodes page `index` (0-based) to its displayed scan. Independent of
    /// the iterator's position, so callers may read any page.
    pub(super) fn decode_page(&self, index: usize) -> Result<PageImage, StageError> {
        guarded(index, || self.read_page(index))?
    }

    fn read_page(&self, index: usize) -> Result<PageImage, StageError> {
        let doc = &self.doc;
        let page_id = *self
            .pages
            .get(index)
            .ok_or_else(|| corrupt(index, "the PDF has no such page"))?;
        let page = doc
            .get_dictionary(page_id)
            .map_err(|e| corrupt(index, format!("page object: {e}")))?;
        let turns = inherited(doc, page, b"Rotate")
            .map(quarter_turns)
            .unwrap_or(0);
        let resources = inherited(doc, page, b"Resources").and_then(|o| o.as_dict().ok());
        let content = doc
            .get_page_content_with_limit(page_id, MAX_CONTENT_BYTES)
            .map_err(|e| corrupt(index, format!("page content: {e}")))?;
        let mut walk = Walk {
            doc,
            page: index,
            budget: MAX_CONTENT_BYTES.saturating_sub(content.len()),
            best: None,
            drawn: Vec::new(),
            broken: None,
        };
        walk.run(&content, resources, Matrix::IDENTITY, 0)?;
        let others = walk.large_others();
        if others > 0 {
            return Err(StageError::NotAScan {
                page: index,
                reason: format!(
                    "it is built from {} large images (a layered MRC page or a scan cut \
                     into strips), which Folio does not flatten",
                    others + 1
                ),
            });
        }
        let Some(best) = walk.best else {
            return Err(match walk.broken {
                Some(reason) => corrupt(index, reason),
                None => StageError::NotAScan {
                    page: index,
                    reason: "it draws no image (born-digital PDF?)".into(),
                },
            });
        };
        let (gray, color) = decode_image(doc, &best, index, &self.limits)?;
        let place = Placement::new(&best.ctm, turns).ok_or_else(|| StageError::NotAScan {
            page: index,
            reason: "its image is drawn with no area".into(),
        })?;
        let dpi = best.ctm.dpi(gray.width());
        let mut page = PageImage::new(place.apply(gray), color, dpi);
        page.shown_tilt_deg = place.tilt_deg;
        Ok(page)
    }
}

impl Iterator for PdfPages {
    type Item = Result<PageImage, StageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.pages.len() {
            self.done = true;
            return None;
        }
        let index = self.next;
        self.next += 1;
        let result = self.decode_page(index);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// Runs a call into a third-party parser or decoder so that a bug of
/// theirs on hostile bytes quarantines the file instead of killing the
/// batch.
pub(super) fn guarded<T>(page: usize, f: impl FnOnce() -> T) -> Result<T, StageError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| corrupt(page, "the PDF reader failed on this file (internal error)"))
}

pub(super) fn load_error(e: lopdf::Error) -> StageError {
    match e {
        lopdf::Error::Decryption(_)
        | lopdf::Error::InvalidPassword
        | lopdf::Error::UnsupportedSecurityHandler(_) => encrypted(),
        other => corrupt(0, format!("not a readable PDF: {other}")),
    }
}

pub(super) fn encrypted() -> StageError {
    StageError::UnsupportedFormat(
        ": the PDF is encrypted; save it without a password or export the scans as TIFF".into(),
    )
}

pub(super) fn corrupt(page: usize, reason: impl Into<String>) -> StageError {
    StageError::Corrupt {
        page,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------
// Object helpers

/// Follows references to the object itself; `None` for a dangling one.
pub(super) fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

/// The first of `keys` present in `dict` (full and inline-image
/// abbreviated names), dereferenced.
pub(super) fn get<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    keys: &[&[u8]],
) -> Option<&'a Object> {
    keys.iter()
        .find_map(|k| dict.get(k).ok())
        .and_then(|o| deref(doc, o))
}

pub(super) fn get_dict<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    get(doc, dict, &[key]).and_then(|o| o.as_dict().ok())
}

pub(super) fn number(obj: &Object) -> Option<f64> {
    match obj {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

pub(super) fn int(doc: &Document, dict: &Dictionary, keys: &[&[u8]]) -> Option<i64> {
    match get(doc, dict, keys)? {
        Object::Integer(i) => Some(*i),
        Object::Real(r) if r.is_finite() && r.fract() == 0.0 => Some(*r as i64),
        _ => None,
    }
}

pub(super) fn boolean(doc: &Document, dict: &Dictionary, keys: &[&[u8]]) -> Option<bool> {
    get(doc, dict, keys).and_then(|o| o.as_bool().ok())
}

/// A page attribute that may sit on the page or any ancestor in the page
/// tree (`/Rotate`, `/Resources`).
pub(super) fn inherited<'a>(
    doc: &'a Document,
    page: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..MAX_TREE_DEPTH {
        if let Ok(v) = node.get(key) {
            return deref(doc, v);
        }
        node = get_dict(doc, node, b"Parent")?;
    }
    None
}

/// `/Rotate` as clockwise quarter turns 0–3 (non-multiples of 90 snap).
pub(super) fn quarter_turns(obj: &Object) -> u8 {
    let turns = number(obj).map_or(0.0, |deg| (deg / 90.0).round());
    if turns.abs() > 1e9 {
        return 0;
    }
    (turns as i64).rem_euclid(4) as u8
}

#[cfg(test)]
mod tests;
