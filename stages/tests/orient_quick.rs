//! The quick OSD pass (`OrientOptions::quick_upright_confidence`): a page
//! it calls clearly upright is settled with 40 % of OSD's work, and it
//! never settles a page that is upside down. Real pages from the shared
//! sets, each upright and turned 180°, at OSD's 150 dpi as the image
//! stage hands them over.

use folio_stages::decode::{self, DecodeLimits};
use folio_stages::orient::{OrientOptions, OsdEngine, half, up_or_down};
use image::GrayImage;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// Pages of the forms and the English scans, grey, with their dpi.
fn pages() -> Vec<(String, GrayImage, f32)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared("forms-zh"))
        .expect("../shared/data/forms-zh")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x != "json"))
        .collect();
    files.sort();
    let mut picked: Vec<PathBuf> = files.into_iter().step_by(5).collect();
    picked.push(shared("tesseract-test/phototest.tif"));
    picked.push(shared("tesseract-test/eurotext.tif"));
    picked
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let page = decode::page_at(&bytes, 0, &DecodeLimits::default()).unwrap();
            let dpi = page.dpi_or_default();
            let (gray, dpi) = if dpi >= 250.0 {
                (half(&page.gray), dpi / 2.0)
            } else {
                (page.gray, dpi)
            };
            (f.display().to_string(), gray, dpi)
        })
        .collect()
}

#[test]
fn the_quick_pass_settles_upright_pages_sooner_and_never_an_upside_down_one() {
    let mut osd = OsdEngine::new(None).expect("osd.traineddata installed");
    let quick = OrientOptions::default();
    assert!(quick.quick_upright_confidence > 0.0, "on by default");
    let full = OrientOptions {
        quick_upright_confidence: 0.0,
        ..OrientOptions::default()
    };
    let (mut t_quick, mut t_full) = (0f64, 0f64);
    for (name, gray, dpi) in pages() {
        let down = image::imageops::rotate180(&gray);
        let t = Instant::now();
        let q_up = up_or_down(&gray, dpi, &mut osd, &quick);
        t_quick += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let f_up = up_or_down(&gray, dpi, &mut osd, &full);
        t_full += t.elapsed().as_secs_f64();
        assert_eq!(q_up.0, 0, "{name} upright: {q_up:?}");
        assert_eq!(f_up.0, 0, "{name} upright, full pass: {f_up:?}");
        // Turned over, the quick pass must not call it upright: the full
        // pass answers, as without the quick pass.
        let q_down = up_or_down(&down, dpi, &mut osd, &quick);
        let f_down = up_or_down(&down, dpi, &mut osd, &full);
        assert_eq!(q_down, f_down, "{name} upside down");
        assert_eq!(q_down.0, 180, "{name} upside down: {q_down:?}");
    }
    eprintln!("upright pages: quick pass {t_quick:.2} s, full pass {t_full:.2} s");
    assert!(
        t_quick <= 0.8 * t_full,
        "upright pages: quick pass {t_quick:.2} s against full {t_full:.2} s"
    );
}
