//! Snippet: the part of a deskewed page a keyer is shown for one field —
//! the value's box with a margin, or with more surroundings on request,
//! never the whole page (keyers must not see a client's other data).
//! Pure: image in, PNG bytes out.

use crate::error::StageError;
use crate::page::BBox;
use image::{GenericImageView, GrayImage, ImageEncoder};

/// How much of the page around a field's box a snippet shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The box and a margin: what a keyer types from.
    Field,
    /// More lines above and below and the label to the left: for a
    /// value that only makes sense in its row.
    Context,
}

/// The region of a `width`×`height` page shown for `bbox`. A field with
/// no box (not found by OCR) shows the top band of the page where forms
/// carry their headers, never more than a quarter of it.
pub fn region(bbox: Option<BBox>, width: u32, height: u32, reach: Reach) -> BBox {
    let Some(b) = bbox else {
        return BBox {
            x0: 0,
            y0: 0,
            x1: width,
            y1: (height / 4).max(1).min(height),
        };
    };
    let h = b.height().max(16);
    let (mx, my) = match reach {
        Reach::Field => (h.max(24), (h / 2).max(12)),
        Reach::Context => (b.width().max(h * 6), h * 3),
    };
    let mut r = BBox {
        x0: b.x0.saturating_sub(mx),
        y0: b.y0.saturating_sub(my),
        x1: b.x1.saturating_add(mx).min(width),
        y1: b.y1.saturating_add(my).min(height),
    };
    // Never more than half the page either way, centred on the field.
    let cap = |lo: &mut u32, hi: &mut u32, centre: u32, max: u32| {
        if *hi - *lo > max {
            *lo = centre.saturating_sub(max / 2);
            *hi = (*lo + max).min(*hi);
        }
    };
    let (cx, cy) = ((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2);
    cap(
        &mut r.x0,
        &mut r.x1,
        cx,
        (width / 2).max(b.width() + 2 * mx.min(width / 8)),
    );
    cap(&mut r.y0, &mut r.y1, cy, (height / 2).max(1));
    r
}

/// Cuts `region` out of the page and encodes it as PNG.
pub fn cut(page: &GrayImage, region: BBox) -> Result<Vec<u8>, StageError> {
    let (w, h) = page.dimensions();
    let x0 = region.x0.min(w.saturating_sub(1));
    let y0 = region.y0.min(h.saturating_sub(1));
    let cw = region.x1.min(w).saturating_sub(x0).max(1);
    let ch = region.y1.min(h).saturating_sub(y0).max(1);
    let view = page.view(x0, y0, cw.min(w - x0), ch.min(h - y0)).to_image();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            view.as_raw(),
            view.width(),
            view.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| StageError::Invalid {
            stage: "snippet",
            reason: e.to_string(),
        })?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: (u32, u32) = (2480, 3508);

    fn field() -> BBox {
        BBox {
            x0: 950,
            y0: 900,
            x1: 1450,
            y1: 950,
        }
    }

    #[test]
    fn field_region_holds_the_box_and_little_else() {
        let r = region(Some(field()), PAGE.0, PAGE.1, Reach::Field);
        assert!(r.x0 < 950 && r.x1 > 1450 && r.y0 < 900 && r.y1 > 950);
        assert!(r.y1 - r.y0 < 150, "{r:?}");
        assert!((r.x1 - r.x0) * (r.y1 - r.y0) < PAGE.0 * PAGE.1 / 50);
    }

    #[test]
    fn context_shows_more_but_never_the_whole_page() {
        let f = region(Some(field()), PAGE.0, PAGE.1, Reach::Field);
        let c = region(Some(field()), PAGE.0, PAGE.1, Reach::Context);
        assert!(c.x0 <= f.x0 && c.y0 <= f.y0 && c.x1 >= f.x1 && c.y1 >= f.y1);
        assert!((c.x1 - c.x0) * (c.y1 - c.y0) > (f.x1 - f.x0) * (f.y1 - f.y0));
        assert!((c.x1 - c.x0) * (c.y1 - c.y0) <= PAGE.0 * PAGE.1 / 2);
        let huge = BBox {
            x0: 0,
            y0: 0,
            x1: PAGE.0,
            y1: PAGE.1,
        };
        let h = region(Some(huge), PAGE.0, PAGE.1, Reach::Context);
        assert!(h.y1 - h.y0 <= PAGE.1 / 2, "{h:?}");
    }

    #[test]
    fn cut_is_a_png_of_the_region() {
        let page = GrayImage::from_pixel(300, 200, image::Luma([200]));
        let png = cut(
            &page,
            BBox {
                x0: 10,
                y0: 20,
                x1: 110,
                y1: 70,
            },
        )
        .unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (100, 50));
        // Out-of-page regions are clamped, not a panic.
        let png = cut(
            &page,
            BBox {
                x0: 290,
                y0: 190,
                x1: 900,
                y1: 900,
            },
        )
        .unwrap();
        assert!(image::load_from_memory(&png).is_ok());
    }
}
