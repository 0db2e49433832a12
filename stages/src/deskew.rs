//! Deskew: find the angle by which a page's content is turned, and turn it
//! back. Pure raster math; no I/O.

use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of the skew search (`[deskew]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeskewOptions {
    /// Largest skew searched, either way, in degrees.
    pub max_angle_deg: f32,
    /// Below this |angle| the page is left as scanned (rotation blurs).
    pub min_correct_deg: f32,
}

impl Default for DeskewOptions {
    fn default() -> Self {
        Self { max_angle_deg: 15.0, min_correct_deg: 0.05 }
    }
}

/// The skew found on a page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Skew {
    /// Angle of the content, degrees, counter-clockwise positive.
    pub angle_deg: f32,
    /// 0..1: how clearly the best angle stood out (0 = no text lines found).
    pub confidence: f32,
}

/// Estimates the skew of the page content.
pub fn find_skew(_img: &GrayImage, _opts: &DeskewOptions) -> Skew {
    Skew { angle_deg: 0.0, confidence: 0.0 }
}

/// Turns the page by `-angle_deg` so its text lines become level; the
/// canvas grows to keep every pixel, new area is white.
pub fn rotate(img: &GrayImage, _angle_deg: f32) -> GrayImage {
    img.clone()
}
