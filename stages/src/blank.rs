//! Blank-page detection: flags (never deletes) pages with no content,
//! including back sides with bleed-through and scanner noise. Ink is
//! counted in 0.5 mm cells that are clearly dark (bleed-through is grey)
//! and touch another such cell (specks stand alone), away from the edges
//! (punch holes, scanner borders).

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
}

impl Default for BlankOptions {
    fn default() -> Self {
        Self {
            max_ink_ratio: 0.0003,
            ink_level: 110,
            margin: 0.04,
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

/// Decides whether a page is blank.
pub fn detect_blank(img: &GrayImage, dpi: f32, opts: &BlankOptions) -> BlankVerdict {
    let cell = ((dpi / 50.0).round() as usize).clamp(2, 32);
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
    let inked = |x: usize, y: usize| map.counts[y * w + x] >= min;
    let mut content = 0usize;
    for y in my..h - my {
        for x in mx..w - mx {
            if !inked(x, y) {
                continue;
            }
            // Clamped to the map: with a zero margin the scan reaches the edge.
            let neighbour = (y.saturating_sub(1)..(y + 2).min(h)).any(|ny| {
                (x.saturating_sub(1)..(x + 2).min(w)).any(|nx| (nx, ny) != (x, y) && inked(nx, ny))
            });
            content += neighbour as usize;
        }
    }
    let interior = ((w - 2 * mx) * (h - 2 * my)) as f32;
    let ink_ratio = content as f32 / interior;
    BlankVerdict {
        blank: ink_ratio < opts.max_ink_ratio,
        ink_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_page_with_specks_is_blank_and_a_word_is_not() {
        let mut img = GrayImage::from_pixel(2480, 3508, image::Luma([245]));
        // Isolated specks every 97 px.
        for y in (50..3400).step_by(97) {
            for x in (50..2400).step_by(89) {
                img.put_pixel(x, y, image::Luma([0]));
                img.put_pixel(x + 1, y, image::Luma([0]));
            }
        }
        let opts = BlankOptions::default();
        assert!(detect_blank(&img, 300.0, &opts).blank);
        // One short word: a 200 × 40 px block of strokes.
        for y in 1000..1040 {
            for x in 1000..1200 {
                if x % 9 < 4 {
                    img.put_pixel(x, y, image::Luma([10]));
                }
            }
        }
        let v = detect_blank(&img, 300.0, &opts);
        assert!(!v.blank, "{v:?}");
    }

    #[test]
    fn tiny_short_black_and_marginless_pages_do_not_panic() {
        let opts = BlankOptions::default();
        assert!(detect_blank(&GrayImage::new(3, 3), 300.0, &opts).blank);
        assert!(detect_blank(&GrayImage::new(1, 1), f32::NAN, &opts).blank);
        // 14 cells tall: the 4 % margin rounds to zero rows.
        let strip = GrayImage::from_pixel(2000, 84, image::Luma([0]));
        assert!(!detect_blank(&strip, 300.0, &opts).blank);
        let no_margin = BlankOptions {
            margin: 0.0,
            ..BlankOptions::default()
        };
        let black = GrayImage::from_pixel(300, 300, image::Luma([0]));
        let v = detect_blank(&black, 300.0, &no_margin);
        assert!(!v.blank && v.ink_ratio > 0.9, "{v:?}");
    }
}
