//! Criterion benches of the image stage on a real 300-dpi page (UNLV 8087,
//! CCITT G4, 2,480 × 3,300): skew estimate, full-resolution rotate, axis
//! detection, OSD up/down, blank check, QC and fingerprint. The page is the
//! shared deskew set's copy of `tesseract-test/8087_054.3B.tif` turned 1.9°.
//! Run: `cargo bench -p folio-stages --bench stages`.

use criterion::{Criterion, criterion_group, criterion_main};
use folio_stages::blank::{BlankOptions, detect_blank};
use folio_stages::decode::{DecodeLimits, decode_all};
use folio_stages::deskew::{DeskewOptions, find_skew, rotate};
use folio_stages::orient::{OrientOptions, OsdEngine, find_axis, up_or_down};
use folio_stages::quality::{QualityOptions, check_quality};
use folio_stages::rescan::fingerprint;
use std::hint::black_box;

fn page() -> folio_stages::PageImage {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/deskew-set/8087_054.3B_q0_a+1.90.tif");
    let bytes = std::fs::read(&path).expect("shared deskew set");
    decode_all(&bytes, &DecodeLimits::default())
        .expect("decodes")
        .remove(0)
}

fn image_stage(c: &mut Criterion) {
    let page = page();
    let opts = DeskewOptions::default();
    let skew = find_skew(&page.gray, &opts);
    c.bench_function("deskew/find_skew 300dpi A4", |b| {
        b.iter(|| find_skew(black_box(&page.gray), &opts))
    });
    c.bench_function("deskew/rotate 300dpi A4", |b| {
        b.iter(|| rotate(black_box(&page.gray), skew.angle_deg))
    });
    c.bench_function("orient/find_axis", |b| {
        b.iter(|| find_axis(black_box(&page.gray), &OrientOptions::default()))
    });
    // Up/down through Tesseract OSD on the levelled page (what `prepare`
    // asks once per page); the model is loaded once, as a worker does.
    if let Ok(mut osd) = OsdEngine::new(None) {
        let level = rotate(&page.gray, skew.angle_deg);
        c.bench_function("orient/up_or_down (OSD)", |b| {
            b.iter(|| {
                up_or_down(
                    black_box(&level),
                    300.0,
                    &mut osd,
                    &OrientOptions::default(),
                )
            })
        });
    }
    c.bench_function("blank/detect_blank", |b| {
        b.iter(|| detect_blank(black_box(&page.gray), 300.0, &BlankOptions::default()))
    });
    c.bench_function("quality/check_quality", |b| {
        b.iter(|| check_quality(black_box(&page), &QualityOptions::default()))
    });
    c.bench_function("rescan/fingerprint", |b| {
        b.iter(|| fingerprint(black_box(&page.gray), 300.0))
    });
    // The same page with the 96-dpi tag many PNGs carry.
    c.bench_function("rescan/fingerprint_tagged_96dpi", |b| {
        b.iter(|| fingerprint(black_box(&page.gray), 96.0))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = image_stage
}
criterion_main!(benches);
