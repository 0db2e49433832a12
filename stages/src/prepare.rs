//! The image stage as one call: orientation, deskew, crop, blank flag, QC
//! and fingerprint, in that order, over one page. The original raster is
//! never changed; the derived raster is what OCR and the package get.

use crate::blank::{self, BlankOptions, BlankVerdict};
use crate::crop::{self, CropOptions};
use crate::deskew::{self, DeskewOptions, Skew};
use crate::orient::{self, OrientOptions, Orientation, OsdPool};
use crate::page::{BBox, PageImage};
use crate::quality::{self, QcVerdict, QualityOptions};
use crate::rescan::{self, PageHash};
use image::GrayImage;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::Instant;

/// Settings of every image step, one table each in folio.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageOptions {
    pub orient: OrientOptions,
    pub deskew: DeskewOptions,
    pub crop: CropOptions,
    pub blank: BlankOptions,
    pub quality: QualityOptions,
}

/// What the image stage found on one page; stored and reported as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageReport {
    pub orientation: Orientation,
    /// Skew of the content as the file shows it (for a PDF, the raster's
    /// own skew plus its placement's slant).
    pub skew: Skew,
    pub crop: Option<BBox>,
    /// Where the scan's top-left corner (the page turned upright, before
    /// levelling) lies in the derived page, in pixels: levelling widens
    /// the canvas around the page's centre and the crop moves it, and a
    /// zone measured on the paper from its corner is placed from here.
    #[serde(default)]
    pub scan_origin: [f32; 2],
    pub blank: BlankVerdict,
    pub qc: QcVerdict,
    pub hash: PageHash,
    /// Wall time of the whole image stage on this page, milliseconds.
    pub ms: f64,
    /// Where that time went, step by step (and, filled in by the
    /// pipeline, reading, decoding and encoding the page): the figures
    /// the overhead outside recognition is cut by.
    #[serde(default)]
    pub steps: StepTimes,
}

/// Milliseconds per step of one page, outside Tesseract's recognition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StepTimes {
    /// Reading the original back and proving its SHA-256 (pipeline).
    pub read_ms: f64,
    /// Decoding the page from its file (pipeline).
    pub decode_ms: f64,
    /// Text lines across or down (`orient::find_axis`).
    pub axis_ms: f64,
    /// Finding the skew and turning the page level.
    pub deskew_ms: f64,
    /// "Upside down?": the ink and layout tests, and OSD when they leave
    /// it open.
    pub updown_ms: f64,
    /// Whether OSD was asked on this page.
    pub osd: bool,
    /// Paper crop, blank flag, QC and fingerprint.
    pub crop_ms: f64,
    pub blank_ms: f64,
    pub qc_ms: f64,
    pub hash_ms: f64,
    /// Encoding the derived page (pipeline).
    pub encode_ms: f64,
    /// Writing it into the object store (pipeline; beside the page
    /// threads, so not part of a worker thread's time on the page).
    pub write_ms: f64,
    /// Not a step: the CPU time recognition took on its thread (pipeline).
    /// The store's `ocr_ms` is wall time, which also counts the moments
    /// other threads (packaging, the store, other programs) held the core;
    /// an honest overhead counts those as the pipeline's, not Tesseract's.
    pub recognition_cpu_ms: f64,
}

/// A page after the image stage: the derived raster plus the report.
#[derive(Debug, Clone)]
pub struct PreparedPage {
    pub image: GrayImage,
    /// A colour page's darkest channel, turned, levelled and cropped as
    /// `image` is: what recognition reads (see `PageImage::ink`).
    pub ink: Option<GrayImage>,
    pub report: ImageReport,
}

impl PreparedPage {
    /// The raster recognition reads: the ink raster of a colour page,
    /// else the prepared grey.
    pub fn for_ocr(&self) -> &GrayImage {
        self.ink.as_ref().unwrap_or(&self.image)
    }
}

/// The OSD confidence recorded for a page the ink already showed upright
/// (10 = a clear answer on OSD's scale).
const OSD_SURE: f32 = 10.0;

/// Runs the image stage over one page. `osd` answers "upside down?";
/// without it only sideways pages are turned.
pub fn prepare(page: &PageImage, opts: &ImageOptions, osd: Option<&OsdPool>) -> PreparedPage {
    let start = Instant::now();
    let mut steps = StepTimes::default();
    let mut lap = Instant::now();
    let mut split = || {
        let ms = lap.elapsed().as_secs_f64() * 1000.0;
        lap = Instant::now();
        ms
    };
    let dpi = page.dpi_or_default();
    let (sideways, axis_clarity) = orient::find_axis(&page.gray, &opts.orient);
    steps.axis_ms = split();
    // Borrowed until something must own it: a levelled page is a new
    // raster anyway, and copying the page first cost a few ms.
    let turned: Cow<GrayImage> = if sideways {
        Cow::Owned(orient::turn_upright(&page.gray, 90))
    } else {
        Cow::Borrowed(&page.gray)
    };
    let skew = deskew::find_skew(&turned, &opts.deskew);
    let levelled = skew.angle_deg.abs() >= opts.deskew.min_correct_deg
        && skew.confidence >= opts.deskew.min_confidence;
    let (tw, th) = turned.dimensions();
    let level = if levelled {
        deskew::rotate(&turned, skew.angle_deg)
    } else {
        turned.into_owned()
    };
    let widened = [
        (level.width() as f32 - tw as f32) / 2.0,
        (level.height() as f32 - th as f32) / 2.0,
    ];
    steps.deskew_ms = split();
    // OSD (most of this stage's time) only where the ink of the text
    // lines (Latin script) or their layout (any left-to-right script)
    // leaves "upside down?" open.
    let (flip, osd_confidence) = match osd {
        Some(_) if orient::clearly_upright(&level, dpi, opts.orient.ink_upright_ratio) => {
            (0, OSD_SURE)
        }
        Some(_)
            if orient::clearly_upright_layout(&level, dpi, opts.orient.layout_upright_ratio) =>
        {
            (0, OSD_SURE)
        }
        Some(pool) => {
            steps.osd = true;
            // An engine that cannot start now (the warm-up proved the
            // model loads) is no answer, as OSD's own on a page without
            // enough text: the page stays as it is, at confidence 0.
            pool.with(|engine| orient::up_or_down(&level, dpi, engine, &opts.orient))
                .unwrap_or((0, 0.0))
        }
        None => (0, 0.0),
    };
    let upright = if flip == 180 {
        orient::turn_upright(&level, 180)
    } else {
        level
    };
    let orientation = Orientation {
        degrees: (if sideways { 90 } else { 0 } + flip) % 360,
        // OSD's confidence runs roughly 0–30; 10 is a clear answer.
        confidence: axis_clarity
            .max(0.0)
            .min((osd_confidence / 10.0).clamp(0.0, 1.0)),
    };
    steps.updown_ms = split();
    let crop_box = crop::find_paper(&upright, dpi, &opts.crop);
    let image = match &crop_box {
        Some(b) => crop::crop(&upright, b),
        None => upright,
    };
    steps.crop_ms = split();
    let blank = blank::detect_blank(&image, dpi, &opts.blank);
    steps.blank_ms = split();
    let qc = quality::check_quality(page, &opts.quality);
    steps.qc_ms = split();
    let hash = rescan::fingerprint(&image, dpi);
    steps.hash_ms = split();
    // The same turns, levelling and crop for the ink raster, if any.
    let ink = page.ink.as_ref().map(|ink| {
        let mut ink = if sideways {
            orient::turn_upright(ink, 90)
        } else {
            ink.clone()
        };
        if levelled {
            ink = deskew::rotate(&ink, skew.angle_deg);
        }
        if flip == 180 {
            ink = orient::turn_upright(&ink, 180);
        }
        match &crop_box {
            Some(b) => crop::crop(&ink, b),
            None => ink,
        }
    });
    steps.deskew_ms += split();
    // The skew reported is the one the file shows: a PDF's slanted
    // placement of a straight raster counts, though nothing was turned for it.
    let shown = Skew {
        angle_deg: skew.angle_deg + page.shown_tilt_deg,
        ..skew
    };
    let cut = crop_box.map_or([0.0, 0.0], |b| [b.x0 as f32, b.y0 as f32]);
    let report = ImageReport {
        orientation,
        skew: shown,
        crop: crop_box,
        scan_origin: [widened[0] - cut[0], widened[1] - cut[1]],
        blank,
        qc,
        hash,
        ms: start.elapsed().as_secs_f64() * 1000.0,
        steps,
    };
    PreparedPage { image, ink, report }
}
