//! The page raster and the small geometric types every stage shares.
//! Owns no I/O: a `PageImage` is always in memory.

use image::GrayImage;
use serde::{Deserialize, Serialize};

/// How the scanner wrote the page; kept because QC judges the colour mode
/// of the master, not of the working raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// 1 bit per pixel (CCITT G4 TIFF and the like).
    Bilevel,
    /// Greyscale.
    Gray,
    /// RGB or other colour.
    Color,
}

/// One decoded page: an 8-bit greyscale working raster plus what the
/// master said about itself. Stages take and return this.
#[derive(Debug, Clone)]
pub struct PageImage {
    /// Working raster, 0 = black, 255 = white.
    pub gray: GrayImage,
    /// Colour mode of the master file.
    pub color: ColorMode,
    /// Resolution recorded in the file (dots per inch), if any.
    pub dpi: Option<f32>,
    /// How far the file shows this raster turned beyond whole quarter
    /// turns, degrees counter-clockwise: a PDF may draw a straight scan at
    /// a slant (its placement matrix), and that slant is what its reader
    /// sees. The raster is not resampled for it; the image stage adds it
    /// to the skew it reports. 0 for image files.
    pub shown_tilt_deg: f32,
    /// For a colour page, its darkest channel (over white where it is
    /// transparent): the raster recognition reads. Tesseract given colour
    /// thresholds channel by channel, which is what this gives it; the
    /// luma `gray` loses coloured text and text on coloured ground (a
    /// coloured table: 97 of the truth's words against 148). `None` for
    /// grey and bilevel pages, and PDF pages.
    pub ink: Option<GrayImage>,
}

impl PageImage {
    /// Builds a page from a raster and its master's facts.
    pub fn new(gray: GrayImage, color: ColorMode, dpi: Option<f32>) -> Self {
        Self {
            gray,
            color,
            dpi,
            shown_tilt_deg: 0.0,
            ink: None,
        }
    }

    /// The page with its darkest-channel raster for recognition.
    pub fn with_ink(mut self, ink: Option<GrayImage>) -> Self {
        self.ink = ink;
        self
    }

    /// Resolution to assume when the file records none: 300 dpi is what
    /// bureaus scan at, and Tesseract needs some value.
    pub fn dpi_or_default(&self) -> f32 {
        self.dpi.filter(|d| *d > 0.0).unwrap_or(300.0)
    }
}

/// Axis-aligned box in pixels, `[x0, y0, x1, y1]` with x1/y1 exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BBox {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl BBox {
    /// Width in pixels (0 for an empty box).
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }
    /// Height in pixels (0 for an empty box).
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }
    /// Smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }
    /// Vertical centre, used to group words into lines.
    pub fn center_y(&self) -> f32 {
        (self.y0 + self.y1) as f32 / 2.0
    }
}

/// One recognised word: text, where it is on the (prepared) page and how
/// sure the engine was (0–100, Tesseract's scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub bbox: BBox,
    pub confidence: f32,
    /// Tesseract's (block, paragraph, line) numbers: words sharing them
    /// are on one text line.
    pub line: (u32, u32, u32),
}

/// The text lines of a page's words, in order: each a range of
/// consecutive words sharing Tesseract's line number. Text, hOCR, the PDF
/// text layer and reading-order fixes all cut lines this one way.
pub fn line_ranges(words: &[Word]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for group in words.chunk_by(|a, b| a.line == b.line) {
        out.push(start..start + group.len());
        start += group.len();
    }
    out
}
