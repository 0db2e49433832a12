//! Orientation: which quarter turn (0/90/180/270, counter-clockwise) the
//! page content is in, and turning it upright.

use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of orientation detection (`[orient]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrientOptions {
    /// Below this confidence the page is left as it is.
    pub min_confidence: f32,
}

impl Default for OrientOptions {
    fn default() -> Self {
        Self {
            min_confidence: 0.0,
        }
    }
}

/// The quarter turn found on a page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Orientation {
    /// 0, 90, 180 or 270: how far the content is turned counter-clockwise.
    pub degrees: u16,
    /// 0..1.
    pub confidence: f32,
}

/// Finds the quarter turn of the page content.
pub fn detect_orientation(_img: &GrayImage, _opts: &OrientOptions) -> Orientation {
    Orientation {
        degrees: 0,
        confidence: 0.0,
    }
}

/// Turns the page clockwise by `degrees` so that content turned
/// counter-clockwise by `degrees` becomes upright.
pub fn turn_upright(img: &GrayImage, degrees: u16) -> GrayImage {
    match degrees % 360 {
        90 => image::imageops::rotate90(img),
        180 => image::imageops::rotate180(img),
        270 => image::imageops::rotate270(img),
        _ => img.clone(),
    }
}
