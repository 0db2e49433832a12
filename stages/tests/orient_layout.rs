//! The layout test that lets a page of any left-to-right script skip OSD
//! (`orient::clearly_upright_layout`), on the real pages: it must never
//! call an upside-down page upright (that page would be read upside
//! down), and it must spare OSD on most upright Chinese forms, where the
//! Latin ink test cannot be used, or it saves nothing. Every page is tried
//! both ways up; the forms also turned a quarter each way and through the
//! whole image stage with OSD, to show turned forms are still found.

use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::orient::{
    OrientOptions, OsdPool, clearly_upright_layout, left_to_right, line_layout, turn_upright,
};
use folio_stages::page::PageImage;
use folio_stages::prepare::{ImageOptions, prepare};
use std::path::PathBuf;

/// The ratio config/folio.toml sets (`[image.orient] layout_upright_ratio`).
const LAYOUT_RATIO: f32 = 2.0;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(shared(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            [".tif", ".png", ".jpg"].iter().any(|e| n.ends_with(e))
                && !n.contains("rotated")
                && !n.contains("phototestrot")
        })
        .collect();
    names.sort();
    names
}

fn load(f: &PathBuf) -> PageImage {
    let bytes = std::fs::read(f).unwrap();
    decode_all(&bytes, &DecodeLimits::default())
        .unwrap()
        .remove(0)
}

/// Upright pages levelled by the image stage (OSD left out: they are
/// known upright).
fn levelled(dirs: &[&str]) -> Vec<(String, image::GrayImage, f32)> {
    dirs.iter()
        .flat_map(|d| files(d))
        .map(|f| {
            let page = load(&f);
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
fn layout_never_calls_an_upside_down_page_upright_and_spares_most_forms_osd() {
    let pages = levelled(&["forms-zh", "tesseract-test", "scribe-benchmark/img"]);
    assert!(pages.len() >= 50, "{} pages", pages.len());
    let (mut spared, mut forms, mut spared_other) = (0, 0, 0);
    let mut worst_flipped = 0f32;
    let mut form_ratios = Vec::new();
    for (name, img, dpi) in &pages {
        let flipped = turn_upright(img, 180);
        let r = |l: Option<folio_stages::orient::LineLayout>| {
            l.map(|l| {
                (
                    l.aligned_starts as f32 / l.aligned_ends.max(1) as f32,
                    l.centre,
                )
            })
        };
        if let Some((q, c)) = r(line_layout(&flipped, *dpi))
            && c <= 0.45
        {
            worst_flipped = worst_flipped.max(q);
        }
        if name.starts_with("form_0") && name.len() == 12 {
            form_ratios.push(r(line_layout(img, *dpi)).map(|x| x.0).unwrap_or(0.0));
        }
        println!(
            "{name:28} upright {:?}\n{:28} flipped {:?}",
            line_layout(img, *dpi),
            "",
            line_layout(&flipped, *dpi)
        );
        assert!(
            !clearly_upright_layout(&flipped, *dpi, LAYOUT_RATIO),
            "{name} upside down was called upright: {:?}",
            line_layout(&flipped, *dpi)
        );
        let up = clearly_upright_layout(img, *dpi, LAYOUT_RATIO);
        if name.starts_with("form_0") && name.len() == 12 {
            forms += 1;
            spared += up as usize;
        } else {
            spared_other += up as usize;
        }
    }
    form_ratios.sort_by(|a, b| a.total_cmp(b));
    println!(
        "worst flipped ratio (centre <= 0.45) {worst_flipped}; upright form ratios {form_ratios:?}"
    );
    println!(
        "OSD spared on {spared} of {forms} upright forms, {spared_other} of {} other pages",
        pages.len() - forms
    );
    assert!(
        forms == 30 && spared * 10 >= forms * 8,
        "only {spared} of {forms} spared"
    );
}

#[test]
fn forms_fed_turned_are_found_by_the_image_stage() {
    let osd = OsdPool::new(None);
    osd.warm().expect("osd.traineddata installed");
    let opts = ImageOptions {
        orient: OrientOptions {
            layout_upright_ratio: LAYOUT_RATIO,
            ..OrientOptions::default()
        },
        ..ImageOptions::default()
    };
    for f in files("forms-zh").iter().step_by(3) {
        let page = load(f);
        for turn in [0u16, 90, 180, 270] {
            // Content turned counter-clockwise by `turn`.
            let gray = match turn {
                90 => image::imageops::rotate270(&page.gray),
                180 => image::imageops::rotate180(&page.gray),
                270 => image::imageops::rotate90(&page.gray),
                _ => page.gray.clone(),
            };
            let turned = PageImage {
                gray,
                ..page.clone()
            };
            let got = prepare(&turned, &opts, Some(&osd)).report;
            assert_eq!(
                got.orientation.degrees,
                turn,
                "{} turned {turn}: {:?}",
                f.display(),
                got
            );
            if turn == 0 {
                assert!(
                    !got.steps.osd,
                    "{}: OSD asked on an upright form",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn only_left_to_right_languages_take_the_layout_test_and_ratio_zero_asks_osd() {
    assert!(left_to_right("chi_sim+eng"));
    assert!(left_to_right("eng"));
    assert!(left_to_right("hin+script/HanS"));
    assert!(!left_to_right("ara"));
    assert!(!left_to_right("eng+heb"));
    assert!(!left_to_right("chi_sim_vert"));
    assert!(!left_to_right(""));
    let pages = levelled(&["forms-zh"]);
    let (_, img, dpi) = &pages[1];
    assert!(clearly_upright_layout(img, *dpi, LAYOUT_RATIO));
    assert!(!clearly_upright_layout(img, *dpi, 0.0));
}
