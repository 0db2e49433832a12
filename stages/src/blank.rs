//! Blank-page detection: flags (never deletes) pages with no content,
//! including back sides with bleed-through and scanner noise, and empty
//! sheets from punched or bound files. Ink is counted in 0.5 mm cells that
//! are clearly dark (bleed-through is grey); touching cells make marks.
//! Marks that are not content are set aside before counting: specks (too
//! small), punch holes (two or more round marks of hole size near one
//! edge) and scanner-bed or binding bands (marks touching a side that stay
//! close to it). What remains inside the margins is the page's content.
//! Signatures, stamps and single lines are content: they are neither
//! small, hole-shaped in pairs by an edge, nor hugging a side.

use crate::raster::{InkMap, otsu};
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of blank detection (`[image.blank]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlankOptions {
    /// A page whose content cells cover less than this fraction is blank.
    /// 0.0003 of an A4 page is about one short word.
    pub max_ink_ratio: f32,
    /// Grey level at or below which a pixel can be ink (bleed-through is lighter).
    pub ink_level: u8,
    /// Fraction of each edge ignored.
    pub margin: f32,
    /// A mark smaller than this (mm²) is a speck, not content: dust on a
    /// bilevel scan, even where specks crowd together, stays under about
    /// 3 mm²; one 10-point letter covers about 4 mm² of cells and the
    /// letters of a word join into one mark.
    pub min_mark_mm2: f32,
    /// Punch holes are round marks between these diameters (mm): ISO 838
    /// holes are 5.5–6 mm, ring binders and US three-hole punches up to 8.
    pub hole_min_mm: f32,
    /// See `hole_min_mm`.
    pub hole_max_mm: f32,
    /// A hole's centre is at most this far from the sheet's edge (mm);
    /// ISO 838 puts it 12 mm in, the scan may add the bed around the sheet.
    pub hole_edge_mm: f32,
    /// A mark touching a side of the image and staying within this depth
    /// of the sides (mm) is scanner bed or a binding shadow.
    pub band_max_mm: f32,
}

impl Default for BlankOptions {
    fn default() -> Self {
        Self {
            max_ink_ratio: 0.0003,
            ink_level: 110,
            margin: 0.04,
            min_mark_mm2: 4.0,
            hole_min_mm: 3.5,
            hole_max_mm: 10.0,
            hole_edge_mm: 30.0,
            band_max_mm: 25.0,
        }
    }
}

/// The blank verdict of one page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlankVerdict {
    /// True when the page looks empty; the operator confirms.
    pub blank: bool,
    /// Fraction of the page covered by content-like ink.
    pub ink_ratio: f32,
}

/// One 8-connected mark of inked cells.
#[derive(Debug, Clone, Copy)]
struct Mark {
    cells: usize,
    /// Cells inside the margins (the ones that can count as content).
    inner: usize,
    /// Cells within the band depth of a side.
    near_side: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Mark {
    fn touches_side(&self, w: usize, h: usize) -> bool {
        self.x0 == 0 || self.y0 == 0 || self.x1 + 1 == w || self.y1 + 1 == h
    }
}

/// Decides whether a page is blank.
pub fn detect_blank(img: &GrayImage, dpi: f32, opts: &BlankOptions) -> BlankVerdict {
    let cell = ((dpi / 50.0).round() as usize).clamp(2, 32);
    // Sizes in millimetres need a resolution; an unknown one is taken as
    // the common scan resolution (the cell size already falls back).
    let dpi_mm = if dpi.is_finite() && dpi >= 10.0 {
        dpi
    } else {
        cell as f32 * 50.0
    };
    let cell_mm = cell as f32 * 25.4 / dpi_mm;
    let threshold = otsu(img).min(opts.ink_level);
    let map = InkMap::new(img, cell, threshold);
    let (w, h) = (map.width, map.height);
    let (mx, my) = (
        (w as f32 * opts.margin) as usize,
        (h as f32 * opts.margin) as usize,
    );
    if w <= 2 * mx + 2 || h <= 2 * my + 2 {
        return BlankVerdict {
            blank: true,
            ink_ratio: 0.0,
        };
    }
    let min = ((cell * cell) / 6).max(1) as u16;
    let inked: Vec<bool> = map.counts.iter().map(|&c| c >= min).collect();
    let band = (opts.band_max_mm / cell_mm).max(0.0) as usize;
    let marks = find_marks(&inked, w, h, (mx, my), band);

    let min_cells = (opts.min_mark_mm2 / (cell_mm * cell_mm)).ceil().max(2.0) as usize;
    let holes = punch_holes(&marks, w, h, cell_mm, opts);
    let mut content = 0usize;
    for (i, m) in marks.iter().enumerate() {
        let speck = m.cells < min_cells;
        // A band hugs the sides and leaves most of the sheet: a page that
        // is mostly dark is not blank.
        let bed = m.touches_side(w, h) && m.near_side * 20 >= m.cells * 19 && m.cells * 2 < w * h;
        if !(speck || bed || holes[i]) {
            content += m.inner;
        }
    }
    let interior = ((w - 2 * mx) * (h - 2 * my)) as f32;
    let ink_ratio = content as f32 / interior;
    BlankVerdict {
        blank: ink_ratio < opts.max_ink_ratio,
        ink_ratio,
    }
}

/// Labels the 8-connected marks of the inked cells.
fn find_marks(
    inked: &[bool],
    w: usize,
    h: usize,
    (mx, my): (usize, usize),
    band: usize,
) -> Vec<Mark> {
    let mut seen = vec![false; inked.len()];
    let mut marks = Vec::new();
    let mut stack = Vec::new();
    for start in 0..inked.len() {
        if !inked[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (sx, sy) = (start % w, start / w);
        let mut m = Mark {
            cells: 0,
            inner: 0,
            near_side: 0,
            x0: sx,
            y0: sy,
            x1: sx,
            y1: sy,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            m.cells += 1;
            m.inner += (x >= mx && x < w - mx && y >= my && y < h - my) as usize;
            let side = x.min(w - 1 - x).min(y).min(h - 1 - y);
            m.near_side += (side <= band) as usize;
            m.x0 = m.x0.min(x);
            m.x1 = m.x1.max(x);
            m.y0 = m.y0.min(y);
            m.y1 = m.y1.max(y);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if inked[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        marks.push(m);
    }
    marks
}

/// Which marks are punch holes: round, of hole size, centred near an
/// edge, and at least two of them by the same edge (one round dot by the
/// edge may be a bullet or a seal; a punch makes pairs).
fn punch_holes(marks: &[Mark], w: usize, h: usize, cell_mm: f32, opts: &BlankOptions) -> Vec<bool> {
    let edge_of = |m: &Mark| -> Option<usize> {
        let (bw, bh) = (
            (m.x1 - m.x0 + 1) as f32 * cell_mm,
            (m.y1 - m.y0 + 1) as f32 * cell_mm,
        );
        let sized = |d: f32| d >= opts.hole_min_mm && d <= opts.hole_max_mm;
        // A hole's outline, even one seen only as a shadow ring, fills a
        // fair share of its box; a thin stroke does not.
        let round = bw.max(bh) <= bw.min(bh) * 1.5;
        let filled = m.cells as f32 * cell_mm * cell_mm >= 0.2 * bw * bh;
        if !(sized(bw) && sized(bh) && round && filled) {
            return None;
        }
        let cx = (m.x0 + m.x1 + 1) as f32 / 2.0 * cell_mm;
        let cy = (m.y0 + m.y1 + 1) as f32 / 2.0 * cell_mm;
        let dists = [cx, w as f32 * cell_mm - cx, cy, h as f32 * cell_mm - cy];
        let (edge, d) = dists.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
        (*d <= opts.hole_edge_mm).then_some(edge)
    };
    let edges: Vec<Option<usize>> = marks.iter().map(edge_of).collect();
    let mut per_edge = [0usize; 4];
    for e in edges.iter().flatten() {
        per_edge[*e] += 1;
    }
    edges
        .iter()
        .map(|e| e.is_some_and(|e| per_edge[e] >= 2))
        .collect()
}

#[cfg(test)]
mod tests;
