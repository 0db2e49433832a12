//! Two columns of text that Tesseract reads as one (its lines running
//! across the gutter) come out column by column. The page is a real
//! deposition scan cut in two and set side by side, as a two-column
//! transcript is printed; at the resolution given here Tesseract's own
//! layout analysis merges the columns (`tesseract --dpi 70` reads it line
//! by line across both: CER 68 % against 11 % for the same words).

use folio_stages::recognize::{OcrOptions, Recognizer, TesseractEngine};
use image::{GrayImage, Luma};
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// The deposition page's top half beside its bottom half, 60 px apart.
fn two_column_sheet() -> GrayImage {
    let page = image::open(shared("scribe-benchmark/img/deposition_02.png"))
        .expect("shared deposition scan")
        .to_luma8();
    let (w, h) = page.dimensions();
    // Between two text lines (from the page's word boxes in its truth).
    let cut = 1358;
    let mut sheet = GrayImage::from_pixel(2 * w + 60, cut.max(h - cut), Luma([255]));
    let top = image::imageops::crop_imm(&page, 0, 0, w, cut).to_image();
    let bottom = image::imageops::crop_imm(&page, 0, cut, w, h - cut).to_image();
    image::imageops::replace(&mut sheet, &top, 0, 0);
    image::imageops::replace(&mut sheet, &bottom, i64::from(w) + 60, 0);
    sheet
}

#[test]
fn two_columns_tesseract_merges_are_read_column_by_column() {
    let sheet = two_column_sheet();
    let mut ocr = TesseractEngine::new(&OcrOptions {
        languages: "eng".into(),
        ..OcrOptions::default()
    })
    .unwrap();
    let page = ocr.recognize(&sheet, 70).unwrap();
    let text = &page.text;
    // No line holds words of both columns.
    let across: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("basement") && l.contains("Dumpster"))
        .collect();
    assert!(
        across.is_empty(),
        "lines across the gutter: {across:?}\n{text}"
    );
    // The left column ends before the right one starts.
    let left_end = text.find("second floor").expect("left column's last line");
    let right_start = text.find("Dumpster").expect("right column's text");
    assert!(left_end < right_start, "{text}");
    // Every word recognised is still there, each once: text and words agree.
    let in_words: usize = page.words.iter().map(|w| w.text.len()).sum();
    let in_text: usize = text.split_whitespace().map(str::len).sum();
    assert_eq!(in_words, in_text, "{text}");
}
