//! Decoder limits: [`DecodeLimits`] (`[decode]` in folio.toml) and the
//! checks that enforce them before anything is allocated. Shared by the
//! TIFF/PNG/JPEG decoder (`decode/mod.rs`) and the PDF reader
//! (`decode/pdf/`); it imports neither, so both can depend on it.

use crate::error::StageError;
use serde::{Deserialize, Serialize};

/// Decoder limits (`[decode]` in folio.toml). A file over a limit is
/// quarantined with the limit's name, never half-read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Largest input file, bytes.
    pub max_file_bytes: u64,
    /// Most pages in one file.
    pub max_pages: u64,
    /// Most pixels in one page (width × height).
    pub max_pixels: u64,
    /// Longest side of one page, pixels.
    pub max_side: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 * 1024 * 1024,
            max_pages: 2_000,
            // A0 at 600 dpi is ~ 28,000 × 19,900; an A3 colour page at
            // 600 dpi is ~ 70 MP. 200 MP leaves room and stops bombs.
            max_pixels: 200_000_000,
            max_side: 40_000,
        }
    }
}

/// Refuses a page over `max_side` or `max_pixels` (or with no pixels)
/// before anything is allocated for it.
pub(super) fn check_size(
    page: usize,
    w: u32,
    h: u32,
    limits: &DecodeLimits,
) -> Result<(), StageError> {
    check_limit(
        page,
        "page side (pixels)",
        "max_side",
        w.max(h) as u64,
        limits.max_side,
    )?;
    check_limit(
        page,
        "page pixels",
        "max_pixels",
        w as u64 * h as u64,
        limits.max_pixels,
    )?;
    if w == 0 || h == 0 {
        return Err(StageError::Corrupt {
            page,
            reason: "the page has no pixels".into(),
        });
    }
    Ok(())
}

/// Refuses a file over `max_file_bytes` before any of it is parsed.
pub(super) fn check_file_size(bytes: &[u8], limits: &DecodeLimits) -> Result<(), StageError> {
    check_limit(
        0,
        "file size",
        "max_file_bytes",
        bytes.len() as u64,
        limits.max_file_bytes,
    )
}

/// One limit check, naming the `folio.toml` key that lifts it.
pub(super) fn check_limit(
    page: usize,
    what: &'static str,
    key: &'static str,
    actual: u64,
    limit: u64,
) -> Result<(), StageError> {
    if actual > limit {
        return Err(StageError::LimitExceeded {
            page,
            what,
            key,
            actual,
            limit,
        });
    }
    Ok(())
}
