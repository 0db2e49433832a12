//! Orientation: which quarter turn (0/90/180/270, counter-clockwise) the
//! page content is in, and turning it upright. Two questions, two tools:
//! whether text lines run across or down the page comes from the ink
//! profile (as deskew does, on both axes: cheap, script-neutral); whether
//! a level page is upside down comes from Tesseract's OSD model, asked once
//! on a levelled, downscaled page through an engine borrowed from a
//! process-wide pool (`OsdPool`).

use crate::deskew::{self, DeskewOptions};
use crate::error::StageError;
use crate::raster::{InkMap, otsu};
use image::GrayImage;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::sync::{Mutex, PoisonError};
use tesseract_sys as sys;

/// Settings of orientation detection (`[image.orient]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrientOptions {
    /// Below this OSD confidence an "upside down" answer is not acted on.
    pub min_osd_confidence: f32,
    /// Text lines must be this much sharper down the page than across it
    /// before a page is called sideways.
    pub sideways_margin: f32,
    /// A level page whose text lines carry this many times more ink above
    /// their core than below it is upright without asking OSD (most of the
    /// image stage's time). A Latin-script property: upright Latin pages of
    /// the shared scans measure 1.4–4.4, upside down 0.2–0.7, but Devanagari
    /// and Chinese forms upside down up to 2.9. 0 = always ask OSD; the pipeline uses it
    /// only for classes whose OCR languages are all Latin-script
    /// (`latin_script`).
    pub ink_upright_ratio: f32,
    /// A level page whose text lines start at shared left edges this many
    /// times as often as they end at shared right edges, and whose text
    /// sits in the upper part of the page, is upright without asking OSD:
    /// a layout property of left-to-right writing, so it holds for Chinese
    /// forms where the Latin ink test does not (`line_layout`). 0 = off;
    /// the pipeline uses it for left-to-right scripts only
    /// (`left_to_right`).
    pub layout_upright_ratio: f32,
    /// OSD classifies up to 250 blobs of a page in four orientations
    /// whatever the evidence (Tesseract's detector has no early exit). A
    /// first pass over 100 of them whose "upright" answer reaches this
    /// confidence is taken; any other answer asks the full pass. Measured
    /// on the shared sets (forms, tesseract-test, scribe, FUNSD; 53 pages,
    /// each upright and upside down, at OSD's 150–200 dpi): upright pages
    /// 1.3–12.6, 48 of them at 2 or more; no upside-down page answered
    /// "upright" at all (over 50 blobs one did, at 0.45, and fewer
    /// upright pages reached 2). A settled page costs about 40 % of a full
    /// pass. 0 = always the full pass.
    pub quick_upright_confidence: f32,
}

impl Default for OrientOptions {
    fn default() -> Self {
        Self {
            min_osd_confidence: 1.0,
            sideways_margin: 0.05,
            ink_upright_ratio: 0.0,
            layout_upright_ratio: 0.0,
            quick_upright_confidence: 2.0,
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

/// Whether text lines run across the page (0/180) or down it (90/270),
/// and how clearly: `(sideways, confidence)`.
pub fn find_axis(img: &GrayImage, opts: &OrientOptions) -> (bool, f32) {
    let max = DeskewOptions::default().max_angle_deg;
    let map = InkMap::new(img, deskew::factor_for(img, 600), otsu(img));
    let across = deskew::line_sharpness(&map, max);
    let down = deskew::line_sharpness(&map.transpose(), max);
    let sideways = down > across + opts.sideways_margin;
    (sideways, (across - down).abs().clamp(0.0, 1.0))
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

/// Tesseract's orientation-and-script model (`osd.traineddata`), loaded
/// once and reused: loading costs far more than asking.
pub struct OsdEngine {
    handle: *mut sys::TessBaseAPI,
}

// The handle is used by one thread at a time (`&mut self`); Tesseract's
// engine has no thread affinity.
unsafe impl Send for OsdEngine {}

impl OsdEngine {
    /// Loads the OSD model from `datapath` (or Tesseract's default folder).
    pub fn new(datapath: Option<&str>) -> Result<OsdEngine, StageError> {
        let lang = CString::new("osd").map_err(|e| StageError::Ocr(e.to_string()))?;
        let path = datapath
            .map(CString::new)
            .transpose()
            .map_err(|e| StageError::Ocr(e.to_string()))?;
        // SAFETY: plain C API calls on a handle we own; strings outlive them.
        unsafe {
            let handle = sys::TessBaseAPICreate();
            if handle.is_null() {
                return Err(StageError::Ocr(
                    "cannot create a Tesseract engine for OSD".into(),
                ));
            }
            let rc = sys::TessBaseAPIInit3(
                handle,
                path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
                lang.as_ptr(),
            );
            if rc != 0 {
                sys::TessBaseAPIDelete(handle);
                return Err(StageError::Ocr(
                    "cannot load osd.traineddata (install tesseract-ocr-osd)".into(),
                ));
            }
            sys::TessBaseAPISetPageSegMode(handle, sys::TessPageSegMode_PSM_OSD_ONLY);
            // Tesseract's chatter ("Invalid resolution …") is not for operators.
            if let (Ok(k), Ok(v)) = (CString::new("debug_file"), CString::new("/dev/null")) {
                sys::TessBaseAPISetVariable(handle, k.as_ptr(), v.as_ptr());
            }
            Ok(OsdEngine { handle })
        }
    }

    /// Asks OSD how far the (level) page's content is turned
    /// counter-clockwise: `(degrees, confidence)`, or `None` when it has
    /// no answer (too little text).
    pub fn detect(&mut self, img: &GrayImage, dpi: u32) -> Option<(u16, f32)> {
        self.detect_sampling(img, dpi, FULL_SAMPLE)
    }

    /// As `detect`, classifying up to `blobs` of the page's blobs (OSD
    /// samples them spread over the page; Tesseract's own budget is 250).
    pub fn detect_sampling(&mut self, img: &GrayImage, dpi: u32, blobs: u32) -> Option<(u16, f32)> {
        let (w, h) = (
            i32::try_from(img.width()).ok()?,
            i32::try_from(img.height()).ok()?,
        );
        if w < 32 || h < 32 {
            return None;
        }
        let (mut deg, mut conf, mut script_conf) = (0i32, 0f32, 0f32);
        let mut script: *const std::os::raw::c_char = std::ptr::null();
        // SAFETY: the image buffer outlives the calls; Tesseract copies it.
        let dpi_text = CString::new(dpi.clamp(70, 1200).to_string()).ok()?;
        let key = CString::new("user_defined_dpi").ok()?;
        // Tesseract tries five times `min_characters_to_try` blobs.
        let sample_key = CString::new("min_characters_to_try").ok()?;
        let sample = CString::new((blobs / 5).max(1).to_string()).ok()?;
        let ok = unsafe {
            sys::TessBaseAPISetVariable(self.handle, key.as_ptr(), dpi_text.as_ptr());
            sys::TessBaseAPISetVariable(self.handle, sample_key.as_ptr(), sample.as_ptr());
            sys::TessBaseAPISetImage(self.handle, img.as_raw().as_ptr(), w, h, 1, w);
            sys::TessBaseAPISetSourceResolution(self.handle, dpi.clamp(70, 1200) as i32);
            let ok = sys::TessBaseAPIDetectOrientationScript(
                self.handle,
                &mut deg,
                &mut conf,
                &mut script,
                &mut script_conf,
            );
            sys::TessBaseAPIClear(self.handle);
            ok
        };
        // Tesseract reports the turn needed to right the page, i.e. the
        // clockwise angle of the content.
        (ok != 0).then(|| (((360 - deg.rem_euclid(360)) % 360) as u16, conf))
    }
}

impl Drop for OsdEngine {
    fn drop(&mut self) {
        // SAFETY: the handle was created by TessBaseAPICreate and is freed once.
        unsafe {
            sys::TessBaseAPIEnd(self.handle);
            sys::TessBaseAPIDelete(self.handle);
        }
    }
}

/// OSD engines shared by a process's threads, started when a page first
/// needs one. The ink and layout tests settle "upside down?" on most
/// pages (29 of 30 forms), yet an engine per worker thread cost more to
/// start than OSD then ran: on the 30 forms, 2 engines ≈ 0.2 s of CPU
/// and 31,000 page faults against one OSD call of 0.27 s. An engine is
/// borrowed for one call and given back; two pages asking at once get
/// two engines.
pub struct OsdPool {
    datapath: Option<String>,
    idle: Mutex<Vec<OsdEngine>>,
    /// Whether the warm-up has started its engine.
    warmed: Mutex<bool>,
}

impl OsdPool {
    /// An empty pool for models under `datapath` (or Tesseract's default
    /// folder); nothing is loaded yet.
    pub fn new(datapath: Option<&str>) -> OsdPool {
        OsdPool {
            datapath: datapath.map(str::to_string),
            idle: Mutex::new(Vec::new()),
            warmed: Mutex::new(false),
        }
    }

    /// Starts one engine unless one was already started: proves the
    /// model loads (a clear settings error before work is queued), and
    /// the engine serves the first page that needs it.
    pub fn warm(&self) -> Result<(), StageError> {
        let mut warmed = self.warmed.lock().unwrap_or_else(PoisonError::into_inner);
        if !*warmed {
            self.give_back(OsdEngine::new(self.datapath.as_deref())?);
            *warmed = true;
        }
        Ok(())
    }

    /// Runs `ask` with an idle engine, or a newly started one when all
    /// are lent out.
    pub fn with<T>(&self, ask: impl FnOnce(&mut OsdEngine) -> T) -> Result<T, StageError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut engine = match idle {
            Some(e) => e,
            None => OsdEngine::new(self.datapath.as_deref())?,
        };
        let answer = ask(&mut engine);
        self.give_back(engine);
        Ok(answer)
    }

    fn give_back(&self, engine: OsdEngine) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(engine);
    }
}

/// Halves a page by 2 × 2 averaging: OSD reads 150 dpi as well as 300 and
/// four times faster.
pub fn half(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() / 2, img.height() / 2);
    if w == 0 || h == 0 {
        // Nothing to halve (and no 2 × 2 block to read): keep as is.
        return img.clone();
    }
    let raw = img.as_raw();
    let stride = img.width() as usize;
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for pair in raw
        .chunks_exact(stride)
        .take(2 * h as usize)
        .collect::<Vec<_>>()
        .chunks_exact(2)
    {
        let (a, b) = (pair[0], pair[1]);
        for (ta, tb) in a.chunks_exact(2).zip(b.chunks_exact(2)) {
            let s = ta[0] as u32 + ta[1] as u32 + tb[0] as u32 + tb[1] as u32;
            out.push((s / 4) as u8);
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| img.clone())
}

/// Ink above and below the core of text lines on a level page: Latin
/// letters rise above the x-height (capitals, b d f h k l t, i-dots,
/// quotes) several times as often as they drop below the baseline (g j p
/// q y, commas), so on an upright page the ink over each line's core
/// outweighs the ink under it, and upside down the other way round.
/// Measured per vertical strip (columns need not line up), each text line
/// a run of inked rows, its core the rows at least 40% as dark as its
/// darkest. Returns `(above, below)` ink counts over all lines, or `None`
/// when fewer than `MIN_LINES` lines were found.
pub fn ink_above_below(level: &GrayImage, dpi: f32) -> Option<(u64, u64)> {
    const MIN_LINES: usize = 6;
    let (w, h) = (level.width() as usize, level.height() as usize);
    if w < 32 || h < 32 {
        return None;
    }
    let t = otsu(level);
    let raw = level.as_raw();
    // Strips about 1.5 inches wide: narrower than a column of text, wide
    // enough to hold many letters of each line.
    let strip = ((dpi.max(50.0) * 1.5) as usize).clamp(32, w);
    // A text line is 4–200 rows at 300 dpi (about 1/3 mm to 17 mm).
    let min_line = ((dpi / 75.0) as usize).max(3);
    let max_line = (dpi / 1.5) as usize;
    let (mut above, mut below, mut lines) = (0u64, 0u64, 0usize);
    let mut profile = vec![0u32; h];
    for x0 in (0..w).step_by(strip) {
        let x1 = (x0 + strip).min(w);
        for (y, p) in profile.iter_mut().enumerate() {
            *p = raw[y * w + x0..y * w + x1]
                .iter()
                .filter(|&&v| v <= t)
                .count() as u32;
        }
        // Rows with a trace of ink (a speck or a stray dot is not a line).
        let floor = ((x1 - x0) / 200).max(1) as u32;
        let mut y = 0;
        while y < h {
            if profile[y] < floor {
                y += 1;
                continue;
            }
            let start = y;
            while y < h && profile[y] >= floor {
                y += 1;
            }
            let run = &profile[start..y];
            if run.len() < min_line || run.len() > max_line {
                continue;
            }
            let peak = *run.iter().max().unwrap_or(&0);
            let core = |&p: &u32| p * 5 >= peak * 2;
            let (Some(top), Some(bottom)) = (run.iter().position(core), run.iter().rposition(core))
            else {
                continue;
            };
            above += run[..top].iter().map(|&p| u64::from(p)).sum::<u64>();
            below += run[bottom + 1..].iter().map(|&p| u64::from(p)).sum::<u64>();
            lines += 1;
        }
    }
    (lines >= MIN_LINES).then_some((above, below))
}

/// Whether the ink of a level page's text lines already says "upright"
/// clearly enough to skip OSD: ink over the line cores at least
/// `ratio` times the ink under them. A page that does not say so (too
/// few lines, scripts without ascenders, or upside down) goes to OSD;
/// `ratio` 0 sends every page there.
pub fn clearly_upright(level: &GrayImage, dpi: f32, ratio: f32) -> bool {
    if ratio <= 0.0 {
        return false;
    }
    match ink_above_below(level, dpi) {
        Some((above, below)) => above as f64 >= ratio as f64 * below.max(1) as f64,
        None => false,
    }
}

/// Whether every language of a Tesseract language string (`eng+deu`) is
/// written in Latin script, where ascenders outnumber descenders and the
/// ink test of `clearly_upright` holds.
pub fn latin_script(languages: &str) -> bool {
    const LATIN: &[&str] = &[
        "afr", "cat", "ces", "cym", "dan", "deu", "eng", "enm", "est", "eus", "fin", "fra", "frm",
        "gle", "glg", "hrv", "hun", "ind", "isl", "ita", "lat", "lav", "lit", "mlt", "msa", "nld",
        "nor", "pol", "por", "ron", "slk", "slv", "spa", "sqi", "swe", "tur", "vie",
    ];
    !languages.trim().is_empty()
        && languages
            .split('+')
            .all(|l| LATIN.contains(&l.trim()) || l.trim().starts_with("Latin"))
}

/// Where the text lines of a level page start and end: how many line
/// segments start at a left edge another line shares, how many end at a
/// right edge another line shares, and where the text's weight sits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LineLayout {
    /// Text lines found (bands of ink rows, after rules are taken out).
    pub lines: usize,
    /// Line segments (runs of words) found in them.
    pub segments: usize,
    /// Segments whose left end lines up with segments of two other lines.
    pub aligned_starts: usize,
    /// Segments whose right end lines up with segments of two other lines.
    pub aligned_ends: usize,
    /// The text's centre of weight, 0 = top of the page, 1 = bottom.
    pub centre: f32,
}

/// Measures `LineLayout` on a level page. Left-to-right writing is set
/// flush left: labels, values and paragraph lines start at shared edges
/// and end where their words end, and a form or a letter fills the page
/// from the top. Turned upside down, the shared edges are on the right
/// and the weight at the bottom. Unlike the ink above and below the line
/// cores, this does not depend on the letters, so it holds for Chinese
/// as for Latin script. Works on a 75-dpi ink map (specks under a third
/// of a cell fall away); form rules (ink runs longer than 0.8 inch across
/// or 0.35 inch down) are taken out first, or every line would start and
/// end at a box edge. `None` when fewer than 6 lines were found.
pub fn line_layout(level: &GrayImage, dpi: f32) -> Option<LineLayout> {
    const MIN_LINES: usize = 6;
    let (w, h) = (level.width() as usize, level.height() as usize);
    if w < 64 || h < 64 {
        return None;
    }
    let dpi = dpi.max(50.0);
    let f = ((dpi / 75.0).round() as usize).clamp(1, 16);
    let map = InkMap::new(level, f, otsu(level));
    let (mw, mh) = (map.width, map.height);
    let min_count = (f * f).div_ceil(3).max(1) as u16;
    let mut ink: Vec<bool> = map.counts.iter().map(|&c| c >= min_count).collect();
    let inked = ink.iter().filter(|&&b| b).count();
    if inked * 5 > ink.len() * 2 {
        // Mostly ink: a dark ground or a photograph, not lines of text.
        return None;
    }
    let cell_dpi = dpi / f as f32;
    let long_across = ((cell_dpi * 0.8) as usize).max(8);
    let long_down = ((cell_dpi * 0.35) as usize).max(4);
    for row in ink.chunks_mut(mw) {
        let mut x = 0;
        while x < mw {
            if !row[x] {
                x += 1;
                continue;
            }
            let s = x;
            while x < mw && row[x] {
                x += 1;
            }
            if x - s > long_across {
                row[s..x].fill(false);
            }
        }
    }
    for x in 0..mw {
        let mut y = 0;
        while y < mh {
            if !ink[y * mw + x] {
                y += 1;
                continue;
            }
            let s = y;
            while y < mh && ink[y * mw + x] {
                y += 1;
            }
            if y - s > long_down {
                for yy in s..y {
                    ink[yy * mw + x] = false;
                }
            }
        }
    }
    // Text lines: runs of rows with ink, from about 1 mm to half an inch.
    let min_band = ((cell_dpi * 0.04) as usize).max(2);
    let max_band = ((cell_dpi * 0.5) as usize).max(min_band + 1);
    let row_ink: Vec<usize> = ink
        .chunks(mw)
        .map(|r| r.iter().filter(|&&b| b).count())
        .collect();
    let mut segments: Vec<(usize, usize, usize)> = Vec::new(); // (line, x0, x1)
    let (mut lines, mut weight, mut weighted_y) = (0usize, 0f64, 0f64);
    let mut y = 0;
    let mut cols = vec![false; mw];
    while y < mh {
        if row_ink[y] == 0 {
            y += 1;
            continue;
        }
        let y0 = y;
        while y < mh && row_ink[y] > 0 {
            y += 1;
        }
        let band = y - y0;
        if band < min_band || band > max_band {
            continue;
        }
        cols.fill(false);
        for row in ink[y0 * mw..y * mw].chunks(mw) {
            for (c, &b) in cols.iter_mut().zip(row) {
                *c |= b;
            }
        }
        // Runs of inked columns, gaps up to the line's height bridged
        // (word spaces); a run narrower than the line is tall is a speck
        // or a stray mark, not a line of words.
        let before = segments.len();
        let mut x = 0;
        while x < mw {
            if !cols[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            let mut end = x;
            while x < mw {
                if cols[x] {
                    end = x;
                    x += 1;
                } else if x - end <= band {
                    x += 1;
                } else {
                    break;
                }
            }
            if end + 1 - x0 >= band {
                segments.push((lines, x0, end + 1));
            }
        }
        if segments.len() > before {
            let ink_here: usize = row_ink[y0..y].iter().sum();
            weight += ink_here as f64;
            weighted_y += ink_here as f64 * (y0 + y) as f64 / 2.0;
            lines += 1;
        }
    }
    if lines < MIN_LINES {
        return None;
    }
    let tol = ((cell_dpi / 75.0).round() as usize).max(1);
    let aligned = |edges: Vec<(usize, usize)>| -> usize {
        let mut edges = edges;
        edges.sort_by_key(|&(x, _)| x);
        (0..edges.len())
            .filter(|&i| {
                let (x, line) = edges[i];
                let near = |j: &usize| edges[*j].0.abs_diff(x) <= tol && edges[*j].1 != line;
                let partners = (i.saturating_sub(64)..i).filter(near).count()
                    + (i + 1..(i + 65).min(edges.len())).filter(near).count();
                // Two others: an edge three lines share is layout, two
                // that meet may be chance (specks make short segments).
                partners >= 2
            })
            .count()
    };
    let aligned_starts = aligned(segments.iter().map(|&(l, x0, _)| (x0, l)).collect());
    let aligned_ends = aligned(segments.iter().map(|&(l, _, x1)| (mw - x1, l)).collect());
    Some(LineLayout {
        lines,
        segments: segments.len(),
        aligned_starts,
        aligned_ends,
        centre: (weighted_y / weight.max(1.0) / mh as f64) as f32,
    })
}

/// Whether the layout of a level page's text lines says "upright"
/// clearly enough to skip OSD: at least 6 segments start at shared left
/// edges, `ratio` times as many as end at shared right edges, and the
/// text's weight sits in the upper 45 % of the page. Measured on the
/// shared pages (`stages/tests/orient_layout.rs`): upright Chinese forms
/// 2.1–15 (one of 30 at 1.2), every page of the sets upside down at most
/// 1.0 where its weight sits high, forms upside down at most 0.6. Justified text
/// (both edges shared), full pages and right-aligned layouts go to OSD;
/// so does a numbers table turned upside down, whose right-aligned
/// columns would look flush left but whose weight sits low or in the
/// middle. `ratio` 0 sends every page there.
pub fn clearly_upright_layout(level: &GrayImage, dpi: f32, ratio: f32) -> bool {
    if ratio <= 0.0 {
        return false;
    }
    match line_layout(level, dpi) {
        Some(l) => {
            l.aligned_starts >= 6
                && l.aligned_starts as f32 >= ratio * l.aligned_ends.max(1) as f32
                && l.centre <= 0.45
        }
        None => false,
    }
}

/// Whether every language of a Tesseract language string is written in
/// horizontal lines from left to right (so `clearly_upright_layout`
/// holds): not Arabic, Hebrew and the other right-to-left scripts, nor
/// the vertical Chinese, Japanese and Korean models.
pub fn left_to_right(languages: &str) -> bool {
    const RTL: &[&str] = &[
        "ara", "heb", "fas", "urd", "yid", "syr", "div", "pus", "snd", "uig", "kur_ara",
    ];
    !languages.trim().is_empty()
        && languages.split('+').map(str::trim).all(|l| {
            let l = l.strip_prefix("script/").unwrap_or(l);
            !l.is_empty()
                && !RTL.contains(&l)
                && !l.ends_with("_vert")
                && !l.ends_with("Vert")
                && !matches!(l, "Arabic" | "Hebrew" | "Syriac" | "Thaana")
        })
}

/// The blobs a full OSD pass classifies (Tesseract's default budget).
pub const FULL_SAMPLE: u32 = 250;

/// The blobs of the first, quick pass (`quick_upright_confidence`).
pub const QUICK_SAMPLE: u32 = 100;

/// Decides whether a level page (text lines across) is upside down:
/// returns 0 or 180 and OSD's confidence (0 with no answer). A clear
/// "upright" from a quick pass over 100 of OSD's 250 blobs settles it;
/// anything else (upside down, doubtful, no answer) asks the full pass.
pub fn up_or_down(
    level: &GrayImage,
    dpi: f32,
    osd: &mut OsdEngine,
    opts: &OrientOptions,
) -> (u16, f32) {
    let (img, dpi) = if dpi >= 250.0 {
        (half(level), dpi / 2.0)
    } else {
        (level.clone(), dpi)
    };
    let dpi = dpi.round() as u32;
    if opts.quick_upright_confidence > 0.0
        && let Some((0, conf)) = osd.detect_sampling(&img, dpi, QUICK_SAMPLE)
        && conf >= opts.quick_upright_confidence
    {
        return (0, conf);
    }
    match osd.detect(&img, dpi) {
        Some((180, conf)) if conf >= opts.min_osd_confidence => (180, conf),
        Some((_, conf)) => (0, conf),
        None => (0, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// Text-like bars across a page: 40 lines of dashes.
    fn lines_page() -> GrayImage {
        GrayImage::from_fn(1200, 1600, |x, y| {
            let in_line = (100..1500).contains(&y) && (y - 100) % 35 < 12;
            // Word gaps fall in other places on each line, as in prose.
            let in_word = (100..1100).contains(&x) && ((x + y / 35 * 53) / 19) % 5 != 4;
            Luma([if in_line && in_word { 0 } else { 255 }])
        })
    }

    #[test]
    fn text_lines_running_down_the_page_are_called_sideways() {
        let opts = OrientOptions::default();
        let page = lines_page();
        let (sideways, clarity) = find_axis(&page, &opts);
        assert!(!sideways && clarity > opts.sideways_margin, "{clarity}");
        let (sideways, clarity) = find_axis(&image::imageops::rotate90(&page), &opts);
        assert!(sideways && clarity > opts.sideways_margin, "{clarity}");
    }

    #[test]
    fn turning_back_undoes_a_counter_clockwise_quarter_turn() {
        let mut img = GrayImage::from_pixel(4, 2, Luma([255]));
        img.put_pixel(0, 0, Luma([0]));
        // Content turned 90° counter-clockwise: the top-left corner goes
        // to the bottom-left.
        let ccw = image::imageops::rotate270(&img);
        assert_eq!(turn_upright(&ccw, 90), img);
        assert_eq!(turn_upright(&image::imageops::rotate180(&img), 180), img);
        assert_eq!(turn_upright(&image::imageops::rotate90(&img), 270), img);
    }

    #[test]
    fn degenerate_pages_do_not_panic() {
        let opts = OrientOptions::default();
        for img in [
            GrayImage::new(0, 0),
            GrayImage::new(1, 1),
            GrayImage::new(1, 7),
            GrayImage::from_pixel(3, 1, Luma([255])),
            GrayImage::from_pixel(640, 480, Luma([0])),
        ] {
            let (_, clarity) = find_axis(&img, &opts);
            assert!((0.0..=1.0).contains(&clarity));
            let h = half(&img);
            assert!(h.width() <= img.width().max(1) && h.height() <= img.height().max(1));
            for q in [0, 90, 180, 270] {
                let t = turn_upright(&img, q);
                assert_eq!(t.len(), img.len());
            }
        }
        let h = half(&GrayImage::from_fn(5, 3, |x, _| Luma([(x * 60) as u8])));
        assert_eq!((h.width(), h.height()), (2, 1));
        assert_eq!(h.as_raw(), &vec![30, 150]);
    }

    /// A page of ragged-right lines in its upper half, as a letter or a
    /// form: lines of dashes starting at a shared left edge (two columns
    /// of labels and values, in boxes), ending where their words end.
    fn flush_left_page(justified: bool) -> GrayImage {
        let (w, h) = (1700u32, 2200u32);
        let mut img = GrayImage::from_pixel(w, h, Luma([255]));
        for line in 0..14u32 {
            let y0 = 150 + line * 70;
            let starts = [150u32, 700];
            for (k, &x0) in starts.iter().enumerate() {
                let len = if justified {
                    450
                } else {
                    150 + (line * 97 + k as u32 * 61) % 300
                };
                for y in y0..y0 + 24 {
                    for x in x0..x0 + len {
                        // Letters and word gaps.
                        if (x / 9) % 6 != 5 && (x + y) % 5 != 0 {
                            img.put_pixel(x, y, Luma([0]));
                        }
                    }
                }
            }
            // The form's box: a rule under each line, and its sides.
            for x in 120..1300 {
                img.put_pixel(x, y0 + 40, Luma([0]));
                img.put_pixel(x, y0 + 41, Luma([0]));
            }
        }
        for y in 120..1160 {
            for x in [120u32, 121, 680, 681, 1300, 1301] {
                img.put_pixel(x, y, Luma([0]));
            }
        }
        img
    }

    #[test]
    fn flush_left_text_in_the_upper_page_is_upright_and_turned_it_is_not() {
        let page = flush_left_page(false);
        let l = line_layout(&page, 200.0).expect("lines");
        assert_eq!(l.lines, 14, "{l:?}");
        assert!(l.aligned_starts >= 26 && l.aligned_ends <= 4, "{l:?}");
        assert!(l.centre < 0.35, "{l:?}");
        assert!(clearly_upright_layout(&page, 200.0, 2.0));
        let flipped = turn_upright(&page, 180);
        let f = line_layout(&flipped, 200.0).expect("lines");
        assert_eq!(
            (f.aligned_starts, f.aligned_ends),
            (l.aligned_ends, l.aligned_starts)
        );
        assert!(!clearly_upright_layout(&flipped, 200.0, 2.0), "{f:?}");
        // Off: always ask OSD.
        assert!(!clearly_upright_layout(&page, 200.0, 0.0));
    }

    #[test]
    fn justified_text_and_pages_without_lines_leave_the_question_open() {
        let justified = flush_left_page(true);
        let l = line_layout(&justified, 200.0).expect("lines");
        assert!(l.aligned_ends >= l.aligned_starts / 2, "{l:?}");
        assert!(!clearly_upright_layout(&justified, 200.0, 2.0));
        for img in [
            GrayImage::new(0, 0),
            GrayImage::from_pixel(640, 480, Luma([255])),
            GrayImage::from_pixel(640, 480, Luma([0])),
            lines_page(),
        ] {
            // A full page of lines: its weight sits in the middle.
            assert!(
                !clearly_upright_layout(&img, 300.0, 2.0),
                "{:?}",
                line_layout(&img, 300.0)
            );
        }
    }
}
