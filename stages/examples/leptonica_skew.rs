//! Bench comparator: Leptonica's skew finder on the same pages, through
//! `leptonica-sys` (already linked for Tesseract). `leptonica_skew FILE…`
//! (PGM/PNM/TIFF/PNG that Leptonica reads) prints one JSON line per file
//! for its default `pixFindSkew` (±7° sweep) and for a ±15° sweep and
//! search: skew in degrees counter-clockwise positive, confidence, ms.
//! Leptonica declines (confidence below its minimum) by returning angle 0
//! with a low confidence; the JSON keeps what it returned.

use leptonica_sys as lept;
use std::ffi::CString;
use std::time::Instant;

fn main() {
    for file in std::env::args().skip(1) {
        let Ok(path) = CString::new(file.clone()) else {
            continue;
        };
        // SAFETY: Leptonica C API on pixes we create and destroy here.
        unsafe {
            let mut pix = lept::pixRead(path.as_ptr());
            if pix.is_null() {
                println!("{{\"file\":{file:?},\"error\":\"leptonica cannot read it\"}}");
                continue;
            }
            // Binarising is part of the work: counted in both timings.
            let t = Instant::now();
            let mut bin = lept::pixConvertTo1(pix, 130);
            let convert_ms = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            let (mut a7, mut c7) = (0f32, 0f32);
            lept::pixFindSkew(bin, &mut a7, &mut c7);
            let ms7 = convert_ms + t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            let (mut a15, mut c15) = (0f32, 0f32);
            lept::pixFindSkewSweepAndSearch(bin, &mut a15, &mut c15, 4, 2, 15.0, 1.0, 0.01);
            let ms15 = convert_ms + t.elapsed().as_secs_f64() * 1000.0;
            let name = std::path::Path::new(&file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let name = name.trim_end_matches(".pgm");
            // Leptonica's angle is the content's, counter-clockwise positive.
            println!(
                "{{\"file\":{name:?},\"default_skew_deg\":{:.3},\"default_conf\":{c7:.2},\"default_ms\":{ms7:.2},\"skew_deg\":{:.3},\"conf\":{c15:.2},\"ms\":{ms15:.2}}}",
                a7, a15
            );
            lept::pixDestroy(&mut bin);
            lept::pixDestroy(&mut pix);
        }
    }
}
