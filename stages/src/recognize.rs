//! Recognize: a prepared page in, words with boxes and confidences out.
//! The `Recognizer` trait keeps the engine swappable; `TesseractEngine` is
//! the real one. One engine per worker thread, reused across pages.

use crate::error::StageError;
use crate::page::{BBox, Word};
use image::GrayImage;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use tesseract::Tesseract;

/// OCR settings (`[ocr]` in folio.toml; a class may override languages).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcrOptions {
    /// Tesseract language string, e.g. `eng+chi_sim`.
    pub languages: String,
    /// Folder holding `*.traineddata`; `None` uses Tesseract's default.
    pub datapath: Option<String>,
    /// Page segmentation: `auto` (Tesseract's CLI default; the C API's
    /// own default is a single block, which drops table cells and columns),
    /// `single_column`, `single_block` or `sparse`.
    pub segmentation: Segmentation,
    /// Extra Tesseract variables, set once per engine.
    pub variables: BTreeMap<String, String>,
}

/// How Tesseract cuts a page into text blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segmentation {
    Auto,
    SingleColumn,
    SingleBlock,
    Sparse,
}

impl Segmentation {
    fn mode(self) -> tesseract::PageSegMode {
        match self {
            Segmentation::Auto => tesseract::PageSegMode::PsmAuto,
            Segmentation::SingleColumn => tesseract::PageSegMode::PsmSingleColumn,
            Segmentation::SingleBlock => tesseract::PageSegMode::PsmSingleBlock,
            Segmentation::Sparse => tesseract::PageSegMode::PsmSparseText,
        }
    }
}

impl Default for OcrOptions {
    fn default() -> Self {
        Self {
            languages: "eng".into(),
            datapath: None,
            segmentation: Segmentation::Auto,
            variables: BTreeMap::new(),
        }
    }
}

/// The Tesseract library's version, as a package's history records it
/// (a text layer can only be judged knowing what read it).
pub fn engine_version() -> String {
    format!(
        "tesseract {}",
        tesseract_plumbing::version().to_string_lossy()
    )
}

/// What OCR found on one page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OcrPage {
    /// Plain text in reading order, lines as on the page.
    pub text: String,
    /// Every word with its box and confidence.
    pub words: Vec<Word>,
    /// Mean word confidence, 0–100 (0 when no words).
    pub mean_confidence: f32,
}

/// An OCR engine that reads one page at a time.
pub trait Recognizer {
    /// Reads the page; `dpi` tells the engine the scale of the text.
    fn recognize(&mut self, image: &GrayImage, dpi: u32) -> Result<OcrPage, StageError>;
}

/// Tesseract through the `tesseract` crate; created once per worker.
pub struct TesseractEngine {
    api: Option<Tesseract>,
    options: OcrOptions,
}

impl TesseractEngine {
    /// Starts an engine (loads the language models: ~100 ms and their
    /// memory, which is why workers keep theirs).
    pub fn new(options: &OcrOptions) -> Result<Self, StageError> {
        let api = Self::start(options)?;
        Ok(Self {
            api: Some(api),
            options: options.clone(),
        })
    }

    fn start(options: &OcrOptions) -> Result<Tesseract, StageError> {
        let mut api = Tesseract::new(options.datapath.as_deref(), Some(&options.languages)).map_err(|e| {
            StageError::Ocr(format!(
                "cannot start Tesseract with languages '{}': {e} (are the traineddata files installed?)",
                options.languages
            ))
        })?;
        api.set_page_seg_mode(options.segmentation.mode());
        for (name, value) in &options.variables {
            api = api
                .set_variable(name, value)
                .map_err(|e| StageError::Ocr(format!("variable {name}={value}: {e}")))?;
        }
        Ok(api)
    }

    fn run(
        api: Tesseract,
        image: &GrayImage,
        dpi: u32,
    ) -> Result<(Tesseract, OcrPage), StageError> {
        let (w, h) = image.dimensions();
        let mut api = api
            .set_frame(image.as_raw(), w as i32, h as i32, 1, w as i32)
            .map_err(|e| StageError::Ocr(e.to_string()))?
            .set_source_resolution(dpi as i32)
            .recognize()
            .map_err(|e| StageError::Ocr(e.to_string()))?;
        let tsv = api
            .get_tsv_text(0)
            .map_err(|e| StageError::Ocr(e.to_string()))?;
        let text = api.get_text().map_err(|e| StageError::Ocr(e.to_string()))?;
        let words = parse_tsv(&tsv);
        // Two columns Tesseract read as one are read column by column;
        // otherwise its own text (and layout) stands.
        let (words, text) = match crate::columns::reorder_merged_columns(&words) {
            Some(ordered) => {
                let text = crate::columns::text_of(&ordered);
                (ordered, text)
            }
            None => (words, text),
        };
        Ok((
            api,
            OcrPage {
                text: text.trim_end().to_string(),
                mean_confidence: mean_confidence(&words),
                words,
            },
        ))
    }

    /// Reads only the given boxes of the page (a class whose fields are
    /// all page zones and that needs no full text): each box is one block
    /// to Tesseract, its words in the page's pixels. The text is the
    /// boxes' texts, one after another. A form's few field boxes are read
    /// in a fraction of the page's time.
    pub fn recognize_regions(
        &mut self,
        image: &GrayImage,
        dpi: u32,
        regions: &[BBox],
    ) -> Result<OcrPage, StageError> {
        let image = ocr_input(image);
        let image = image.as_ref();
        let (w, h) = image.dimensions();
        let api = match self.api.take() {
            Some(api) => api,
            None => Self::start(&self.options)?,
        };
        let mut api = api
            .set_frame(image.as_raw(), w as i32, h as i32, 1, w as i32)
            .map_err(|e| StageError::Ocr(e.to_string()))?
            .set_source_resolution(dpi as i32);
        let mut words = Vec::new();
        let mut texts = Vec::new();
        for (k, r) in regions.iter().enumerate() {
            let (rw, rh) = (
                r.x1.min(w).saturating_sub(r.x0),
                r.y1.min(h).saturating_sub(r.y0),
            );
            if rw == 0 || rh == 0 {
                continue;
            }
            api = api
                .set_rectangle(r.x0 as i32, r.y0 as i32, rw as i32, rh as i32)
                .recognize()
                .map_err(|e| StageError::Ocr(e.to_string()))?;
            let tsv = api
                .get_tsv_text(0)
                .map_err(|e| StageError::Ocr(e.to_string()))?;
            // Blocks numbered apart per box: no two boxes share a line.
            let block = k as u32 * 1000;
            words.extend(parse_tsv(&tsv).into_iter().map(|mut word| {
                word.line.0 += block;
                word
            }));
            let text = api.get_text().map_err(|e| StageError::Ocr(e.to_string()))?;
            if !text.trim().is_empty() {
                texts.push(text.trim_end().to_string());
            }
        }
        self.api = Some(api);
        Ok(OcrPage {
            text: texts.join("\n"),
            mean_confidence: mean_confidence(&words),
            words,
        })
    }
}

/// Mean word confidence, 0–100 (0 when no words).
fn mean_confidence(words: &[Word]) -> f32 {
    if words.is_empty() {
        0.0
    } else {
        words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32
    }
}

/// The raster Tesseract should read: a page of light text on a dark
/// ground is inverted first. Folio switches off Tesseract's own retry of
/// every line inverted (`tessedit_do_invert = 0`: it costs on every
/// page), and without it such a page reads as noise (a slide of the scribe
/// set: CER 85% against 8%). Words keep their boxes either way.
pub fn ocr_input(image: &GrayImage) -> Cow<'_, GrayImage> {
    if crate::raster::dark_ground(image) {
        let mut inverted = image.clone();
        image::imageops::invert(&mut inverted);
        Cow::Owned(inverted)
    } else {
        Cow::Borrowed(image)
    }
}

/// Tesseract's retry of doubtful lines inverted, on for a dark-ground
/// page only (after the page itself is inverted): such a page mixes
/// light and dark regions, and the retry reads the regions the page's
/// inversion left light on dark. Measured on the scribe slide: CER 14.3%
/// and 136 of 157 words with the page inverted alone; 7.9% and 145 with
/// the retry, in 1.07 s against 1.56 s (fewer doubtful lines to redo).
const INVERT_RETRY: &str = "tessedit_do_invert";

impl Recognizer for TesseractEngine {
    fn recognize(&mut self, image: &GrayImage, dpi: u32) -> Result<OcrPage, StageError> {
        let image = ocr_input(image);
        let dark = matches!(image, Cow::Owned(_));
        let image = image.as_ref();
        let mut api = match self.api.take() {
            Some(api) => api,
            None => Self::start(&self.options)?,
        };
        // The crate's builder consumes the engine; on error it is gone and
        // the next page starts a fresh one.
        let variable = |api: Tesseract, value: &str| {
            api.set_variable(INVERT_RETRY, value)
                .map_err(|e| StageError::Ocr(format!("variable {INVERT_RETRY}={value}: {e}")))
        };
        if dark {
            api = variable(api, "1")?;
        }
        let (mut api, page) = Self::run(api, image, dpi)?;
        if dark {
            // Back to the configured value (Tesseract's default: on).
            let configured = self.options.variables.get(INVERT_RETRY);
            api = variable(api, configured.map_or("1", String::as_str))?;
        }
        self.api = Some(api);
        Ok(page)
    }
}

/// Parses Tesseract's TSV output into words (level 5 rows).
pub fn parse_tsv(tsv: &str) -> Vec<Word> {
    tsv.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 12 || cols[0] != "5" {
                return None;
            }
            let num = |i: usize| cols[i].trim().parse::<i64>().ok();
            let text = cols[11].trim();
            if text.is_empty() {
                return None;
            }
            let (left, top, width, height) = (num(6)?, num(7)?, num(8)?, num(9)?);
            let confidence = cols[10].trim().parse::<f32>().ok()?.clamp(0.0, 100.0);
            let to_u32 = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
            Some(Word {
                text: text.to_string(),
                bbox: BBox {
                    x0: to_u32(left),
                    y0: to_u32(top),
                    x1: to_u32(left + width),
                    y1: to_u32(top + height),
                },
                confidence,
                line: (to_u32(num(2)?), to_u32(num(3)?), to_u32(num(4)?)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_keep_box_confidence_and_line() {
        let tsv = "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n\
                   5\t1\t1\t1\t2\t1\t10\t20\t30\t15\t91.5\tPolicy\n\
                   5\t1\t1\t1\t2\t2\t45\t20\t20\t15\t88\tNo.\n\
                   5\t1\t1\t1\t2\t3\t70\t20\t5\t15\t95\t \n";
        let words = parse_tsv(tsv);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].text, "Policy");
        assert_eq!(
            words[0].bbox,
            BBox {
                x0: 10,
                y0: 20,
                x1: 40,
                y1: 35
            }
        );
        assert_eq!(words[1].confidence, 88.0);
        assert_eq!(words[1].line, (1, 1, 2));
    }

    #[test]
    fn light_text_on_a_dark_ground_is_inverted_for_ocr_and_dark_on_light_is_not() {
        let page = |ground: u8, ink: u8| {
            GrayImage::from_fn(200, 100, |x, y| {
                let text = (20..180).contains(&x) && (40..60).contains(&y) && x % 7 < 4;
                image::Luma([if text { ink } else { ground }])
            })
        };
        let slide = page(20, 230);
        let read = ocr_input(&slide);
        assert!(matches!(read, Cow::Owned(_)));
        assert_eq!(read.get_pixel(0, 0).0[0], 235);
        assert_eq!(read.get_pixel(21, 45).0[0], 25);
        let paper = page(240, 10);
        assert!(matches!(ocr_input(&paper), Cow::Borrowed(_)));
        assert!(matches!(ocr_input(&GrayImage::new(0, 0)), Cow::Borrowed(_)));
    }

    #[test]
    fn missing_language_is_a_clear_error() {
        let opts = OcrOptions {
            languages: "xx_not_a_language".into(),
            ..OcrOptions::default()
        };
        let err = TesseractEngine::new(&opts).err().expect("must fail");
        assert!(err.to_string().contains("xx_not_a_language"), "{err}");
    }
}
