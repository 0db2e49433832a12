//! What a package costs beside OCR, per page, measured on the same pages
//! in one run: the derived image (Group 4 for bilevel masters, JPEG for
//! the others), the searchable PDF page, the hOCR, and hashing the page's
//! payload with SHA-256 and SHA-512 as the manifests do — against
//! Tesseract's recognition time of that page. Also the derived bytes per
//! page against the greyscale PNG every package carried before.
//!
//! `cargo bench -p folio --bench package_cost -- [--set samples|forms|all]`
//! The sets: `samples/batch-0001` (bilevel G4 TIFF masters) and 20 pages
//! of `../shared/data/forms-zh` (JPEG, PNG and G4 TIFF masters).

use folio::settings::Settings;
use folio_stages::ColorMode;
use folio_stages::bagit::{self, Algorithm};
use folio_stages::decode;
use folio_stages::encode::{self, DerivedFormat};
use folio_stages::hocr;
use folio_stages::orient::OsdPool;
use folio_stages::pdf::{self, PdfImage, PdfMeta, PdfPage};
use folio_stages::prepare;
use folio_stages::recognize::{OcrOptions, Recognizer, TesseractEngine};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Totals {
    pages: usize,
    ocr_ms: f64,
    package_ms: f64,
    png_bytes: u64,
    derived_bytes: u64,
    pdf_bytes: u64,
    master_bytes: u64,
}

fn files(set: &str, root: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if set == "samples" || set == "all" {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("samples/batch-0001"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        out.extend(v.into_iter().map(|p| (p, "eng")));
    }
    if set == "forms" || set == "all" {
        let dir = root.join("../shared/data/forms-zh");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x != "json"))
            .collect();
        v.sort();
        out.extend(v.into_iter().take(20).map(|p| (p, "chi_sim+eng")));
    }
    out
}

fn main() {
    let mut set = "all".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--set" {
            set = args.next().unwrap_or(set);
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let settings = Settings::load(Some(&root.join("config/folio.toml"))).unwrap();
    let mut totals: Vec<(&str, Totals)> = Vec::new();
    let osd = OsdPool::new(None);
    let mut engines: std::collections::HashMap<&str, TesseractEngine> = Default::default();
    for (file, langs) in files(&set, &root) {
        let kind = if langs == "eng" {
            "samples (G4 masters)"
        } else {
            "forms-zh (JPEG/PNG/G4)"
        };
        if !totals.iter().any(|(k, _)| *k == kind) {
            totals.push((
                kind,
                Totals {
                    pages: 0,
                    ocr_ms: 0.0,
                    package_ms: 0.0,
                    png_bytes: 0,
                    derived_bytes: 0,
                    pdf_bytes: 0,
                    master_bytes: 0,
                },
            ));
        }
        let t = &mut totals.iter_mut().find(|(k, _)| *k == kind).unwrap().1;
        let bytes = std::fs::read(&file).unwrap();
        t.master_bytes += bytes.len() as u64;
        let engine = engines.entry(langs).or_insert_with(|| {
            TesseractEngine::new(&OcrOptions {
                languages: langs.into(),
                ..settings.ocr.clone()
            })
            .unwrap()
        });
        for page in decode::decode_all(&bytes, &settings.decode).unwrap() {
            let prepared = prepare::prepare(&page, &settings.image, Some(&osd));
            let dpi = page.dpi_or_default().round() as u32;
            let started = Instant::now();
            let ocr = engine.recognize(&prepared.image, dpi).unwrap();
            t.ocr_ms += started.elapsed().as_secs_f64() * 1000.0;

            let png = encode::encode(&prepared.image, DerivedFormat::Png, dpi, 80).unwrap();
            t.png_bytes += png.len() as u64;

            // What packaging does for this page.
            let started = Instant::now();
            let format = if page.color == ColorMode::Bilevel {
                settings.delivery.derived_bilevel
            } else {
                settings.delivery.derived_other
            };
            let derived =
                encode::encode(&prepared.image, format, dpi, settings.delivery.jpeg_quality)
                    .unwrap();
            let (w, h) = prepared.image.dimensions();
            let image = match format {
                DerivedFormat::G4 => {
                    let (width, height, data) = encode::g4_from_tiff(&derived).unwrap();
                    PdfImage::G4 {
                        width,
                        height,
                        data,
                    }
                }
                DerivedFormat::Jpeg => PdfImage::Jpeg {
                    width: w,
                    height: h,
                    data: derived.clone(),
                },
                DerivedFormat::Png => PdfImage::Gray {
                    width: w,
                    height: h,
                    samples: prepared.image.as_raw().clone(),
                },
            };
            let pdf = pdf::write(
                &[PdfPage {
                    image,
                    dpi: dpi as f32,
                    words: ocr.words.clone(),
                }],
                &PdfMeta {
                    title: file.display().to_string(),
                    producer: "folio bench".into(),
                    created: "2026-11-28T00:00:00Z".into(),
                    identifier: file.display().to_string(),
                },
            )
            .unwrap();
            let hocr = hocr::page(&ocr.words, w, h, "p");
            let algorithms = [Algorithm::Sha256, Algorithm::Sha512];
            for payload in [
                &bytes[..],
                &derived,
                &pdf,
                hocr.as_bytes(),
                ocr.text.as_bytes(),
            ] {
                std::hint::black_box(bagit::digests(payload, &algorithms));
            }
            t.package_ms += started.elapsed().as_secs_f64() * 1000.0;
            t.derived_bytes += derived.len() as u64;
            t.pdf_bytes += pdf.len() as u64;
            t.pages += 1;
        }
    }
    println!(
        "| pages | masters KiB/page | PNG KiB/page (before) | derived KiB/page (now) | derived now / before | PDF KiB/page | OCR ms/page | package ms/page | package / OCR |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, t) in &totals {
        let n = t.pages.max(1) as f64;
        println!(
            "| {kind}: {} | {:.0} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} | {:.1} | {:.1} % |",
            t.pages,
            t.master_bytes as f64 / 1024.0 / n,
            t.png_bytes as f64 / 1024.0 / n,
            t.derived_bytes as f64 / 1024.0 / n,
            t.derived_bytes as f64 / t.png_bytes.max(1) as f64,
            t.pdf_bytes as f64 / 1024.0 / n,
            t.ocr_ms / n,
            t.package_ms / n,
            100.0 * t.package_ms / t.ocr_ms.max(1e-9),
        );
    }
}
