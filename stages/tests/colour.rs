//! A colour page is read from its darkest channel, as Tesseract reads
//! colour itself (channel by channel), not from the luma grey the other
//! steps work on: on the scribe set's coloured table (table_11) Folio's
//! prepared grey gives Tesseract 223 of the truth's 362 words, its darkest
//! channel 237 (OCRmyPDF, given colour: 237). Grey and bilevel pages have
//! no such raster.

use folio_stages::accuracy::{compare, hocr_text};
use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::prepare::{ImageOptions, prepare};
use folio_stages::recognize::{OcrOptions, Recognizer, TesseractEngine};
use std::collections::HashMap;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// How many of the truth's words the text holds (as a multiset).
fn found(truth: &str, text: &str) -> usize {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for w in text.split_whitespace() {
        *left.entry(w).or_default() += 1;
    }
    truth
        .split_whitespace()
        .filter(|w| match left.get_mut(w) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

#[test]
fn a_coloured_table_is_read_from_its_darkest_channel() {
    let bytes = std::fs::read(shared("scribe-benchmark/img/table_11.png")).unwrap();
    let page = decode_all(&bytes, &DecodeLimits::default())
        .unwrap()
        .remove(0);
    assert!(page.ink.is_some(), "a colour page has its ink raster");
    let prepared = prepare(&page, &ImageOptions::default(), None);
    let ink = prepared.ink.as_ref().unwrap();
    assert_eq!(ink.dimensions(), prepared.image.dimensions());
    let truth = hocr_text(
        &std::fs::read_to_string(shared("scribe-benchmark/ground_truth/table_11.truth.hocr"))
            .unwrap(),
    );
    let mut ocr = TesseractEngine::new(&OcrOptions {
        languages: "eng".into(),
        ..OcrOptions::default()
    })
    .unwrap();
    let dpi = page.dpi_or_default().round() as u32;
    let from_ink = ocr.recognize(prepared.for_ocr(), dpi).unwrap();
    let from_grey = ocr.recognize(&prepared.image, dpi).unwrap();
    let (ink_found, grey_found) = (
        found(&truth, &from_ink.text),
        found(&truth, &from_grey.text),
    );
    assert!(
        ink_found >= 232 && ink_found >= grey_found + 8,
        "words found: ink {ink_found}, grey {grey_found}"
    );
    let cer = compare(&truth, &from_ink.text).cer();
    let grey_cer = compare(&truth, &from_grey.text).cer();
    assert!(cer < grey_cer, "CER ink {cer}, grey {grey_cer}");

    // A grey page has none: recognition reads its prepared grey.
    let grey = std::fs::read(shared("tesseract-test/phototest.tif")).unwrap();
    let page = decode_all(&grey, &DecodeLimits::default())
        .unwrap()
        .remove(0);
    assert!(page.ink.is_none());
    let prepared = prepare(&page, &ImageOptions::default(), None);
    assert!(std::ptr::eq(prepared.for_ocr(), &prepared.image));
}
