//! The ink test that lets a page skip OSD (`orient::clearly_upright`), on
//! the real scans: it must never call an upside-down page upright (that
//! page would stay upside down), and it must spare OSD on most upright
//! Latin pages, or it saves nothing. Every page is tried both ways up.

use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::orient::{clearly_upright, ink_above_below, latin_script, turn_upright};
use folio_stages::prepare::{ImageOptions, prepare};

/// The ratio config/folio.toml sets (`[image.orient] ink_upright_ratio`).
const UPRIGHT_INK_RATIO: f32 = 1.2;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// Upright pages of the shared sets, levelled by the image stage (OSD
/// left out: these pages are known upright; the deskew set's pages are
/// taken at quarter turns 0 and 90, which the ink axis rights alone).
fn upright_pages() -> Vec<(String, image::GrayImage, f32)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "tesseract-test",
        "scribe-benchmark/img",
        "forms-zh",
        "deskew-set",
    ] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(shared(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().to_string();
                let image = [".tif", ".png", ".jpg"].iter().any(|e| n.ends_with(e));
                let upright = !n.contains("rotated") && !n.contains("phototestrot");
                let quarter_ok =
                    !dir.starts_with("deskew") || n.contains("_q0_") || n.contains("_q90_");
                image && upright && quarter_ok
            })
            .collect();
        names.sort();
        if dir == "forms-zh" {
            names.truncate(8);
        }
        files.extend(names);
    }
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let page = decode_all(&bytes, &DecodeLimits::default())
                .unwrap()
                .remove(0);
            let dpi = page.dpi_or_default();
            let prepared = prepare(&page, &ImageOptions::default(), None);
            (
                f.file_name().unwrap().to_string_lossy().to_string(),
                prepared.image,
                dpi,
            )
        })
        .collect()
}

#[test]
fn ink_never_calls_an_upside_down_page_upright_and_spares_most_latin_pages_osd() {
    let pages = upright_pages();
    assert!(pages.len() > 40, "{} pages", pages.len());
    let (mut spared, mut latin) = (0, 0);
    for (name, img, dpi) in &pages {
        let flipped = turn_upright(img, 180);
        let ratio = |i: &image::GrayImage| {
            ink_above_below(i, *dpi).map(|(a, b)| a as f64 / b.max(1) as f64)
        };
        println!(
            "{name:40} upright {:?} flipped {:?}",
            ratio(img),
            ratio(&flipped)
        );
        // Devanagari's headline and vowel signs below it, and Chinese
        // forms, turn the test round: it is for Latin script only
        // (`latin_script`; those pages always go to OSD).
        if name.starts_with("devatest") || name.starts_with("form_") {
            continue;
        }
        assert!(
            !clearly_upright(&flipped, *dpi, UPRIGHT_INK_RATIO),
            "{name} upside down was called upright: ratio {:?}",
            ratio(&flipped)
        );
        if !name.starts_with("form_") {
            latin += 1;
            spared += clearly_upright(img, *dpi, UPRIGHT_INK_RATIO) as usize;
        }
    }
    println!("OSD spared on {spared} of {latin} upright Latin pages");
    assert!(spared * 10 >= latin * 8, "only {spared} of {latin} spared");
}

#[test]
fn only_latin_script_languages_take_the_ink_test_and_ratio_zero_always_asks_osd() {
    assert!(latin_script("eng"));
    assert!(latin_script("eng+deu+fra"));
    assert!(!latin_script("chi_sim+eng"));
    assert!(!latin_script("hin"));
    assert!(!latin_script(""));
    let pages = upright_pages();
    let (_, img, dpi) = pages
        .iter()
        .find(|(n, _, _)| n.starts_with("8087"))
        .expect("8087_054.3B.tif");
    assert!(clearly_upright(img, *dpi, UPRIGHT_INK_RATIO));
    assert!(!clearly_upright(img, *dpi, 0.0));
}
