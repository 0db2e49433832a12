//! Processing one claimed page: read its original from the object store
//! (proved by SHA-256) and decode just that page; run the image stage and
//! OCR, write the derived page image into the object store, and return
//! the results as the store keeps them. Synchronous and CPU-bound: it runs
//! on the worker's rayon threads, each keeping its own engines.

use crate::objects::Objects;
use crate::settings::{FIELD_ZONE_MARGIN_MM, Recognize, Settings};
use crate::store::{PageClaim, PageResult};
use folio_stages::ColorMode;
use folio_stages::decode;
use folio_stages::encode;
use folio_stages::orient::{self, OsdPool};
use folio_stages::page::{BBox, PageImage};
use folio_stages::prepare::{self, ImageOptions, ImageReport, PreparedPage, StepTimes};
use folio_stages::recognize::{OcrOptions, OcrPage, Recognizer, Segmentation, TesseractEngine};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Originals recently read, shared by a process's threads: the pages of
/// one multi-page file are read and proved once, not once per page.
/// Bounded in bytes, so memory stays bounded by pages in flight.
static ORIGINALS: Mutex<VecDeque<(String, Arc<Vec<u8>>)>> = Mutex::new(VecDeque::new());
const ORIGINALS_BYTES: usize = 256 << 20;

thread_local! {
    /// This thread's OCR engines, by OCR languages and page segmentation
    /// (classes may differ).
    static ENGINES: RefCell<HashMap<String, Result<TesseractEngine, String>>> =
        RefCell::new(HashMap::new());
}

/// The process's OSD engines, by model folder: shared by the threads and
/// started only as pages need them (`OsdPool`).
static OSD: Mutex<Vec<(Option<String>, Arc<OsdPool>)>> = Mutex::new(Vec::new());

fn osd_pool(datapath: Option<&str>) -> Arc<OsdPool> {
    let mut pools = OSD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, pool)) = pools.iter().find(|(d, _)| d.as_deref() == datapath) {
        return pool.clone();
    }
    let pool = Arc::new(OsdPool::new(datapath));
    pools.push((datapath.map(str::to_string), pool.clone()));
    pool
}

/// The OCR settings for a class's languages.
pub fn ocr_options(settings: &Settings, languages: &str) -> OcrOptions {
    OcrOptions {
        languages: languages.to_string(),
        ..settings.ocr.clone()
    }
}

/// The OCR settings for a page of `class`: its languages and, where the
/// class file sets one, its own page segmentation (a class that reads its
/// field zones only reads each as one block unless it sets its own).
fn class_ocr_options(settings: &Settings, class: &str, languages: &str) -> OcrOptions {
    let mut opts = ocr_options(settings, languages);
    let class = settings.classes.get(class);
    if class.is_some_and(|c| c.recognize == Recognize::Fields) {
        opts.segmentation = Segmentation::SingleBlock;
    }
    if let Some(s) = class.and_then(|c| c.segmentation) {
        opts.segmentation = s;
    }
    opts
}

/// The boxes a page of `class` is read in: `None` for the whole page,
/// else the class's field zones on the prepared page.
fn field_zones(
    settings: &Settings,
    class: &str,
    prepared: &PreparedPage,
    dpi: f32,
) -> Option<Vec<BBox>> {
    let class = settings.classes.get(class)?;
    if class.recognize != Recognize::Fields {
        return None;
    }
    let (w, h) = prepared.for_ocr().dimensions();
    class.fields.page_zones(
        (w, h, dpi),
        prepared.report.scan_origin,
        FIELD_ZONE_MARGIN_MM,
    )
}

/// The image-stage settings for a class's languages: the ink test that
/// spares OSD holds for Latin script only, the layout test for
/// left-to-right scripts only; other pages always ask OSD.
pub fn image_options(settings: &Settings, languages: &str) -> ImageOptions {
    let mut opts = settings.image.clone();
    if !orient::latin_script(languages) {
        opts.orient.ink_upright_ratio = 0.0;
    }
    if !orient::left_to_right(languages) {
        opts.orient.layout_upright_ratio = 0.0;
    }
    opts
}

/// A page's results as the stages leave them: its image report and step
/// times still open (the caller adds what it timed around the stages),
/// and its derived image encoded but not yet written. The write (an
/// fsync) is done by [`Processed::write_derived`] off the page threads,
/// so a thread goes on to its next page instead of waiting for the disk.
pub struct Processed {
    result: PageResult,
    report: Option<ImageReport>,
    steps: StepTimes,
    derived: Option<(String, Vec<u8>)>,
}

impl Processed {
    /// A result with no report and nothing to write.
    fn only(result: PageResult) -> Processed {
        Processed {
            result,
            report: None,
            steps: StepTimes::default(),
            derived: None,
        }
    }

    /// Writes the derived image into the object store (its path is the
    /// result's `derived_path`) and returns the result to commit, its
    /// report with every step's time, the write's included; a write that
    /// fails fails the page. Blocking: run it beside the page threads.
    pub fn write_derived(mut self, objects: &Objects) -> PageResult {
        if let Some((rel, bytes)) = self.derived {
            let started = Instant::now();
            let written = objects.write(&rel, &bytes);
            self.steps.write_ms = ms_since(started);
            if let Err(e) = written
                && self.result.failure.is_none()
            {
                self.result.failure = Some(format!("derive: {e}"));
            }
        }
        if let Some(mut report) = self.report {
            report.steps = self.steps;
            self.result.report = serde_json::to_string(&report).unwrap_or_default();
        }
        self.result
    }
}

/// Runs the stages on one claimed page. Never fails as a whole: a page
/// that cannot be read or recognised comes back with `failure` set (and
/// a panic inside a stage is caught and reported the same way).
pub fn process_page(
    claim: &PageClaim,
    settings: &Settings,
    objects: &Objects,
    languages: &str,
) -> Processed {
    let run = std::panic::AssertUnwindSafe(|| run_stages(claim, settings, objects, languages));
    match std::panic::catch_unwind(run) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Processed::only(failed(
                "internal",
                format!("a stage stopped unexpectedly: {what}"),
            ))
        }
    }
}

/// A result that says only what failed.
pub fn failed(stage: &str, reason: String) -> PageResult {
    PageResult {
        color: "unknown".into(),
        failure: Some(format!("{stage}: {reason}")),
        ..PageResult::default()
    }
}

/// Starts the process's first OSD engine for a class's model folder: it
/// proves the model loads (a clear settings error before anything is
/// queued) and serves the first page that asks. Run beside the worker
/// threads' own warm-up, not on one of them: a worker waiting for it sat
/// idle (0.28 s of 0.9 s before the first page, on the forms).
pub fn warm_osd(settings: &Settings, class: &str, languages: &str) -> Result<(), String> {
    let opts = class_ocr_options(settings, class, languages);
    osd_pool(opts.datapath.as_deref())
        .warm()
        .map_err(|e| e.to_string())
}

/// Starts this thread's OCR engine for a class, as its first page would:
/// run on every worker thread before work starts, it both proves the
/// models load (a clear settings error before anything is queued) and
/// spares each thread that start on its first page — the check is the
/// warm-up, not a load thrown away.
pub fn warm_engines(settings: &Settings, class: &str, languages: &str) -> Result<(), String> {
    let opts = class_ocr_options(settings, class, languages);
    ENGINES.with(|cell| {
        let mut map = cell.borrow_mut();
        let key = format!("{languages}/{:?}", opts.segmentation);
        let engine = map
            .entry(key.clone())
            .or_insert_with(|| TesseractEngine::new(&opts).map_err(|e| e.to_string()));
        match engine {
            // Not kept: a fixed installation is tried again next time.
            Err(e) => {
                let e = e.clone();
                map.remove(&key);
                Err(e)
            }
            Ok(_) => Ok(()),
        }
    })
}

fn run_stages(
    claim: &PageClaim,
    settings: &Settings,
    objects: &Objects,
    languages: &str,
) -> Processed {
    let index = (claim.file_page.max(1) - 1) as usize;
    let started = Instant::now();
    let bytes = match original(objects, &claim.file_sha256) {
        Ok(b) => b,
        Err(e) => return Processed::only(failed("read", e)),
    };
    let read_ms = ms_since(started);
    let started = Instant::now();
    let image = match decode::page_at(&bytes, index, &settings.decode) {
        Ok(p) => p,
        Err(e) => return Processed::only(failed("decode", e.to_string())),
    };
    let decode_ms = ms_since(started);
    ENGINES.with(|cell| {
        let mut map = cell.borrow_mut();
        let opts = class_ocr_options(settings, &claim.class, languages);
        let key = format!("{languages}/{:?}", opts.segmentation);
        let engine = map
            .entry(key)
            .or_insert_with(|| TesseractEngine::new(&opts).map_err(|e| e.to_string()));
        let osd = osd_pool(opts.datapath.as_deref());
        let mut processed = recognize_page(&image, claim, settings, engine, &osd, languages);
        processed.steps.read_ms = read_ms;
        processed.steps.decode_ms = decode_ms;
        processed
    })
}

/// This thread's CPU time so far, in milliseconds (0 where the clock is
/// not available).
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn recognize_page(
    image: &PageImage,
    claim: &PageClaim,
    settings: &Settings,
    engine: &mut Result<TesseractEngine, String>,
    osd: &OsdPool,
    languages: &str,
) -> Processed {
    let prepared = prepare::prepare(image, &image_options(settings, languages), Some(osd));
    let report = &prepared.report;
    let mut steps = report.steps.clone();
    let started = Instant::now();
    let cpu_started = thread_cpu_ms();
    let dpi = image.dpi_or_default().round() as u32;
    // A page flagged blank is not read: the flag is all it gets (its
    // text is empty, as Tesseract's on an empty sheet is, or noise).
    let zones = field_zones(settings, &claim.class, &prepared, dpi as f32);
    let ocr = match engine {
        Ok(_) if report.blank.blank => Ok(OcrPage::default()),
        Ok(engine) => match &zones {
            Some(zones) => engine.recognize_regions(prepared.for_ocr(), dpi, zones),
            None => engine.recognize(prepared.for_ocr(), dpi),
        }
        .map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let ocr_ms = ms_since(started);
    steps.recognition_cpu_ms = thread_cpu_ms() - cpu_started;
    let started = Instant::now();
    let (width, height) = prepared.image.dimensions();
    let color = serde_json::to_value(image.color)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    // The derived page is encoded once, as the package and its PDF carry
    // it: Group 4 for bilevel masters, JPEG (or PNG) for the others.
    let delivery = &settings.delivery;
    let format = match image.color {
        ColorMode::Bilevel => delivery.derived_bilevel,
        _ => delivery.derived_other,
    };
    let rel = Objects::derived_rel(
        &claim.document_id,
        claim.seq,
        claim.page_id,
        format.extension(),
    );
    let encoded = encode::encode(&prepared.image, format, dpi, delivery.jpeg_quality);
    steps.encode_ms = ms_since(started);
    let mut result = PageResult {
        width: width as i64,
        height: height as i64,
        dpi: image.dpi.map(f64::from),
        color,
        skew_deg: report.skew.angle_deg as f64,
        orientation_deg: report.orientation.degrees as i64,
        blank: report.blank.blank,
        qc_pass: report.qc.pass,
        qc_reasons: serde_json::to_string(&report.qc.reasons).unwrap_or_else(|_| "[]".into()),
        phash: serde_json::to_string(&report.hash).unwrap_or_default(),
        image_ms: report.ms,
        ocr_ms,
        derived_path: Some(rel.clone()),
        ..PageResult::default()
    };
    match ocr {
        Ok(o) => {
            result.ocr_confidence = o.mean_confidence as f64;
            result.words = serde_json::to_string(&o.words).unwrap_or_else(|_| "[]".into());
            result.ocr_text = o.text;
        }
        Err(e) => result.failure = Some(format!("recognize: {e}")),
    }
    let derived = match encoded {
        Ok(bytes) => Some((rel, bytes)),
        Err(e) => {
            if result.failure.is_none() {
                result.failure = Some(format!("derive: {e}"));
            }
            None
        }
    };
    Processed {
        result,
        report: Some(prepared.report),
        steps,
        derived,
    }
}

/// An original's bytes, proved against its arrival SHA-256.
fn original(objects: &Objects, sha256: &str) -> Result<Arc<Vec<u8>>, String> {
    if let Ok(cache) = ORIGINALS.lock()
        && let Some((_, b)) = cache.iter().find(|(s, _)| s == sha256)
    {
        return Ok(b.clone());
    }
    let bytes = Arc::new(objects.read_original(sha256)?);
    if bytes.len() <= ORIGINALS_BYTES / 2
        && let Ok(mut cache) = ORIGINALS.lock()
    {
        cache.push_back((sha256.to_string(), bytes.clone()));
        while cache.iter().map(|(_, b)| b.len()).sum::<usize>() > ORIGINALS_BYTES {
            cache.pop_front();
        }
    }
    Ok(bytes)
}
