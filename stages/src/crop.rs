//! Crop: find the paper inside dark scanner-bed margins and cut them away,
//! keeping a small margin outside the page edge (DA/T 31: 2–3 mm).

use crate::page::BBox;
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of border crop (`[crop]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropOptions {
    /// Margin kept outside the paper edge, millimetres.
    pub margin_mm: f32,
}

impl Default for CropOptions {
    fn default() -> Self {
        Self { margin_mm: 2.5 }
    }
}

/// Finds the paper area; `None` when there is no dark border to remove.
pub fn find_paper(_img: &GrayImage, _dpi: f32, _opts: &CropOptions) -> Option<BBox> {
    None
}

/// Cuts the page to `bbox` (clamped to the image).
pub fn crop(img: &GrayImage, bbox: &BBox) -> GrayImage {
    let x1 = bbox.x1.min(img.width());
    let y1 = bbox.y1.min(img.height());
    let x0 = bbox.x0.min(x1);
    let y0 = bbox.y0.min(y1);
    image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}
