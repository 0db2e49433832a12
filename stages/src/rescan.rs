//! Re-scan detection: a perceptual fingerprint per page, robust to small
//! shifts and skew, so a page scanned twice in a batch is flagged. The
//! fingerprint is a 32 × 32 grid of ink density over the page's content
//! box (so a shifted scan gives the same grid), one bit per cell: above
//! or below the grid's median.

use crate::raster::{InkMap, otsu};
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Cells per side of the fingerprint grid.
const GRID: usize = 64;
/// 64-bit words in a fingerprint.
const WORDS: usize = GRID * GRID / 64;

/// Perceptual fingerprint of a page: 4,096 bits (a 64 × 64 grid: fine
/// enough to tell two filled-in copies of one form apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageHash(pub Vec<u64>);

/// Settings of re-scan detection (`[rescan]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RescanOptions {
    /// Two pages at or below this Hamming distance (of 4,096 bits) are
    /// the same page.
    pub max_distance: u32,
}

impl Default for RescanOptions {
    fn default() -> Self {
        Self { max_distance: 30 }
    }
}

/// Computes the fingerprint of a prepared (upright, deskewed) page. The
/// cell size follows the resolution, not the canvas (deskew grows it).
pub fn fingerprint(img: &GrayImage, dpi: f32) -> PageHash {
    let factor = ((dpi / 75.0).round() as usize).clamp(1, 16);
    let mut map = InkMap::new(img, factor, otsu(img).min(160));
    // Keep only content: cells with real ink that touch other such cells.
    // Scanner specks would otherwise set the content box and the bits.
    let min = ((factor * factor) / 6).max(1) as u16;
    let (w, h) = (map.width, map.height);
    let inked: Vec<bool> = map.counts.iter().map(|&c| c >= min).collect();
    for y in 0..h {
        for x in 0..w {
            let touches = (y.saturating_sub(1)..(y + 2).min(h)).any(|ny| {
                (x.saturating_sub(1)..(x + 2).min(w))
                    .any(|nx| (nx, ny) != (x, y) && inked[ny * w + nx])
            });
            if !(inked[y * w + x] && touches) {
                map.counts[y * w + x] = 0;
            }
        }
    }
    // Content box from the ink profiles, trimming 1 % of the ink at each
    // end so scanner specks near the edges cannot move it.
    let mut cols = vec![0u64; w];
    let mut rows = vec![0u64; h];
    for (row_sum, line) in rows.iter_mut().zip(map.counts.chunks(w.max(1))) {
        for (col_sum, &c) in cols.iter_mut().zip(line) {
            *col_sum += c as u64;
            *row_sum += c as u64;
        }
    }
    let (Some((x0, x1)), Some((y0, y1))) = (trimmed_span(&cols, 0.01), trimmed_span(&rows, 0.01))
    else {
        return PageHash(vec![0; WORDS]);
    };
    let mut grid = vec![0f32; GRID * GRID];
    let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
    for y in y0..y1 {
        let gy = (((y - y0) as f32 / bh) * GRID as f32) as usize;
        for x in x0..x1 {
            let gx = (((x - x0) as f32 / bw) * GRID as f32) as usize;
            grid[gy.min(GRID - 1) * GRID + gx.min(GRID - 1)] += map.counts[y * w + x] as f32;
        }
    }
    // Above the mean, not the median: on a sparse page most cells hold
    // only specks, and a median would turn that noise into bits.
    let mean = grid.iter().sum::<f32>() / grid.len() as f32;
    let mut bits = vec![0u64; WORDS];
    for (i, &v) in grid.iter().enumerate() {
        if v > mean {
            bits[i / 64] |= 1 << (i % 64);
        }
    }
    PageHash(bits)
}

/// The index span holding all but `trim` of the mass at each end.
fn trimmed_span(profile: &[u64], trim: f64) -> Option<(usize, usize)> {
    let total: u64 = profile.iter().sum();
    if total == 0 {
        return None;
    }
    let cut = (total as f64 * trim) as u64;
    let mut acc = 0;
    let start = profile.iter().position(|&v| {
        acc += v;
        acc > cut
    })?;
    acc = 0;
    let end = profile.len()
        - profile.iter().rev().position(|&v| {
            acc += v;
            acc > cut
        })?;
    (end > start).then_some((start, end))
}

/// Distance between two fingerprints (0 = identical).
pub fn distance(a: &PageHash, b: &PageHash) -> u32 {
    a.0.iter()
        .zip(b.0.iter())
        .map(|(x, y)| (x ^ y).count_ones())
        .sum()
}

/// Pairs `(earlier, later)` of indexes into `hashes` that are the same page.
pub fn find_rescans(hashes: &[PageHash], opts: &RescanOptions) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for j in 0..hashes.len() {
        for i in 0..j {
            if distance(&hashes[i], &hashes[j]) <= opts.max_distance {
                pairs.push((i, j));
            }
        }
    }
    pairs
}
