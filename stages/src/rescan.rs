//! Re-scan detection: a perceptual fingerprint per page, robust to small
//! shifts and skew, so a page scanned twice in a batch is flagged. The
//! fingerprint is a 32 × 32 grid of ink density over the page's content
//! box (so a shifted scan gives the same grid), one bit per cell: above
//! or below the grid's mean. Filled-in copies of one form look alike at
//! this scale, so a look-alike is confirmed by its OCR text.

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

impl PageHash {
    /// True for the fingerprint of a page without content (no bit set).
    pub fn is_empty_page(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// Settings of re-scan detection (`[rescan]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RescanOptions {
    /// Two pages at or below this Hamming distance (of 4,096 bits) look
    /// alike. Loose on purpose: re-scans of one sheet measured 3–80 (shift,
    /// angle, blur, darker paper, another resolution or binarisation),
    /// different pages 1,500 and more; the text decides in between.
    pub max_distance: u32,
    /// ... and are the same page when their OCR texts are at least this
    /// similar (re-scans read 0.90–1.00 alike; filled-in copies of one
    /// form look the same but read 0.62–0.70 alike: their values differ).
    pub min_text_similarity: f32,
    /// How many earlier pages of the batch a page is compared with: a
    /// re-scan is put back near its original, and the window keeps memory
    /// bounded whatever the batch size.
    pub window: usize,
}

impl Default for RescanOptions {
    fn default() -> Self {
        Self {
            max_distance: 400,
            min_text_similarity: 0.8,
            window: 500,
        }
    }
}

/// Longest side of the ink map the fingerprint is made from, in cells: a
/// page tagged with too low a resolution (96 dpi on a 300-dpi scan is
/// common in PNGs) would otherwise be mapped pixel by pixel (measured:
/// ~1 s a page instead of ~40 ms) for the same 64 × 64 bits. A4 at the
/// resolution the cell size assumes (75 dots per inch) is 877 cells.
const MAX_MAP_SIDE: usize = 1200;

/// Computes the fingerprint of a prepared (upright, deskewed) page. The
/// cell size follows the resolution, not the canvas (deskew grows it),
/// and grows further only for a map larger than [`MAX_MAP_SIDE`].
pub fn fingerprint(img: &GrayImage, dpi: f32) -> PageHash {
    let longest = img.width().max(img.height()) as usize;
    let factor = ((dpi / 75.0).round() as usize)
        .max(longest.div_ceil(MAX_MAP_SIDE))
        .clamp(1, 16);
    let mut map = InkMap::new(img, factor, otsu(img).min(160));
    // Keep only content: cells with real ink that touch other such cells.
    // Scanner specks would otherwise set the content box and the bits.
    let min = ((factor * factor) / 6).max(1) as u16;
    let (w, h) = (map.width, map.height);
    let inked: Vec<bool> = map.counts.iter().map(|&c| c >= min).collect();
    for y in 0..h {
        for x in 0..w {
            // Most cells hold no ink: their neighbours are not looked at.
            let touches = || {
                (y.saturating_sub(1)..(y + 2).min(h)).any(|ny| {
                    (x.saturating_sub(1)..(x + 2).min(w))
                        .any(|nx| (nx, ny) != (x, y) && inked[ny * w + nx])
                })
            };
            if !(inked[y * w + x] && touches()) {
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
    let cell = |i: usize, span: f32| (((i as f32 / span) * GRID as f32) as usize).min(GRID - 1);
    let gxs: Vec<usize> = (0..x1 - x0).map(|i| cell(i, bw)).collect();
    for y in y0..y1 {
        let row = &mut grid[cell(y - y0, bh) * GRID..][..GRID];
        for (&gx, &c) in gxs.iter().zip(&map.counts[y * w + x0..y * w + x1]) {
            row[gx] += c as f32;
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

/// How alike two pages' OCR texts are (0..1): the Jaccard index of their
/// character bigrams, whitespace ignored; works for CJK and Latin alike.
pub fn text_similarity(a: &str, b: &str) -> f32 {
    fn bigrams(s: &str) -> std::collections::HashSet<(char, char)> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        chars.windows(2).map(|w| (w[0], w[1])).collect()
    }
    let (x, y) = (bigrams(a), bigrams(b));
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    x.intersection(&y).count() as f32 / x.union(&y).count() as f32
}

/// True when two pages are one page scanned twice: they look alike
/// (fingerprint) and read alike (OCR text). A page without ink (an empty
/// fingerprint) is never anyone's re-scan: blank backs all look the same.
pub fn is_rescan(a: (&PageHash, &str), b: (&PageHash, &str), opts: &RescanOptions) -> bool {
    !a.0.is_empty_page()
        && !b.0.is_empty_page()
        && distance(a.0, b.0) <= opts.max_distance
        && text_similarity(a.1, b.1) >= opts.min_text_similarity
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_similarity_tells_a_rescan_from_another_filled_in_form() {
        let a =
            "档案号 Archive No. DA-59-8175\n姓名 Name 杨明兰\n身份证号 ID No. 310104199003079506";
        let rescan =
            "档案号 Archive No.  DA-59-8175\n姓名 Name 杨明兰\n身份证号 1D No. 310104199003079506";
        let other =
            "档案号 Archive No. DA-40-1973\n姓名 Name 邱涛\n身份证号 ID No. 110101200306052625";
        assert!(
            text_similarity(a, rescan) >= 0.9,
            "{}",
            text_similarity(a, rescan)
        );
        assert!(
            text_similarity(a, other) < 0.9,
            "{}",
            text_similarity(a, other)
        );
        assert_eq!(text_similarity("", ""), 1.0);
    }
}
