//! Crop: find the paper inside dark scanner-bed margins and cut them away,
//! keeping a small margin outside the paper edge (DA/T 31: 2–3 mm).

use crate::page::BBox;
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of border crop (`[image.crop]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropOptions {
    /// Margin kept outside the paper edge, millimetres.
    pub margin_mm: f32,
    /// A row or column darker than this on average is scanner bed.
    pub bed_level: f32,
}

impl Default for CropOptions {
    fn default() -> Self {
        Self {
            margin_mm: 2.5,
            bed_level: 90.0,
        }
    }
}

/// Finds the paper area; `None` when there is no dark border to remove.
pub fn find_paper(img: &GrayImage, dpi: f32, opts: &CropOptions) -> Option<BBox> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 8 || h < 8 {
        return None;
    }
    let raw = img.as_raw();
    let row_mean = |y: usize| {
        raw[y * w..(y + 1) * w]
            .iter()
            .map(|&v| v as u64)
            .sum::<u64>() as f32
            / w as f32
    };
    let col_mean = |x: usize| {
        (0..h)
            .step_by(2)
            .map(|y| raw[y * w + x] as u64)
            .sum::<u64>() as f32
            / h.div_ceil(2) as f32
    };
    let dark = |m: f32| m < opts.bed_level;
    // Walk in from each edge while the line is scanner bed (never past the middle).
    let top = (0..h / 2).find(|&y| !dark(row_mean(y))).unwrap_or(0);
    let bottom = (h / 2..h)
        .rev()
        .find(|&y| !dark(row_mean(y)))
        .map_or(h, |y| y + 1);
    let left = (0..w / 2).find(|&x| !dark(col_mean(x))).unwrap_or(0);
    let right = (w / 2..w)
        .rev()
        .find(|&x| !dark(col_mean(x)))
        .map_or(w, |x| x + 1);
    if top == 0 && left == 0 && bottom == h && right == w {
        return None;
    }
    // `as` saturates: a nonsense dpi (NaN, 1e30) gives 0 or the whole page.
    let margin = (opts.margin_mm / 25.4 * dpi).round() as usize;
    let clamp32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Some(BBox {
        x0: clamp32(left.saturating_sub(margin)),
        y0: clamp32(top.saturating_sub(margin)),
        x1: clamp32(right.saturating_add(margin).min(w)),
        y1: clamp32(bottom.saturating_add(margin).min(h)),
    })
}

/// Cuts the page to `bbox` (clamped to the image).
pub fn crop(img: &GrayImage, bbox: &BBox) -> GrayImage {
    let x1 = bbox.x1.min(img.width());
    let y1 = bbox.y1.min(img.height());
    let x0 = bbox.x0.min(x1);
    let y0 = bbox.y0.min(y1);
    image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_bed_is_cut_to_a_margin_and_clean_pages_are_left() {
        // A 1000 × 1400 white sheet on a dark bed 60 px wide all round.
        let mut img = GrayImage::from_pixel(1120, 1520, image::Luma([30]));
        for y in 60..1460 {
            for x in 60..1060 {
                img.put_pixel(x, y, image::Luma([240]));
            }
        }
        let b = find_paper(&img, 300.0, &CropOptions::default()).expect("border found");
        // 2.5 mm at 300 dpi ≈ 30 px of bed kept.
        assert_eq!((b.x0, b.y0, b.x1, b.y1), (30, 30, 1090, 1490));
        let clean = GrayImage::from_pixel(800, 1000, image::Luma([250]));
        assert_eq!(find_paper(&clean, 300.0, &CropOptions::default()), None);
        // A nonsense resolution keeps the whole page instead of panicking.
        let b = find_paper(&img, 1e30, &CropOptions::default()).expect("border found");
        assert_eq!((b.x0, b.y0, b.x1, b.y1), (0, 0, 1120, 1520));
        let black = GrayImage::from_pixel(50, 50, image::Luma([0]));
        let b = find_paper(&black, 300.0, &CropOptions::default());
        assert!(b.is_none_or(|b| b.x1 <= 50 && b.y1 <= 50));
        assert_eq!(
            find_paper(&GrayImage::new(1, 1), 300.0, &CropOptions::default()),
            None
        );
    }
}
