//! The whole image stage on pages no scanner should produce but an intake
//! will meet anyway: empty, 1 × 1, a single row, all black, all white,
//! extreme aspect ratios, nonsense resolutions. Nothing may panic, and
//! every verdict must stay in range.

use folio_stages::page::{ColorMode, PageImage};
use folio_stages::prepare::{ImageOptions, prepare};
use image::{GrayImage, Luma};

#[test]
fn degenerate_pages_pass_through_every_image_step_without_panicking() {
    let opts = ImageOptions::default();
    let pages = [
        GrayImage::new(0, 0),
        GrayImage::new(1, 1),
        GrayImage::new(5000, 1),
        GrayImage::new(1, 5000),
        GrayImage::from_pixel(2480, 3508, Luma([0])),
        GrayImage::from_pixel(2480, 3508, Luma([255])),
        GrayImage::from_fn(6000, 40, |x, y| Luma([((x ^ y) & 1) as u8 * 255])),
    ];
    for (i, img) in pages.into_iter().enumerate() {
        for dpi in [
            None,
            Some(0.0),
            Some(f32::NAN),
            Some(-5.0),
            Some(1e30),
            Some(300.0),
        ] {
            let page = PageImage::new(img.clone(), ColorMode::Gray, dpi);
            let r = prepare(&page, &opts, None).report;
            assert!(r.skew.angle_deg.abs() <= 15.0, "page {i}: {:?}", r.skew);
            assert!((0.0..=1.0).contains(&r.skew.confidence), "page {i}");
            assert!(
                [0, 90, 180, 270].contains(&r.orientation.degrees),
                "page {i}"
            );
            assert!((0.0..=1.0).contains(&r.blank.ink_ratio), "page {i}");
            assert_eq!(r.qc.pass, r.qc.reasons.is_empty());
        }
    }
    // The all-white A4 page is blank; the all-black one is not.
    let white = PageImage::new(
        GrayImage::from_pixel(2480, 3508, Luma([255])),
        ColorMode::Gray,
        None,
    );
    assert!(prepare(&white, &opts, None).report.blank.blank);
    let black = PageImage::new(
        GrayImage::from_pixel(2480, 3508, Luma([0])),
        ColorMode::Gray,
        None,
    );
    assert!(!prepare(&black, &opts, None).report.blank.blank);
}
