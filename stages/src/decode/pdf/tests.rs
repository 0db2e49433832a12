//! Tests of the PDF reader on shared sample files and synthetic PDFs.

use super::super::tests::assert_same_page;
use super::super::{Format, decode_all, page_at, pages};
use super::*;

fn shared(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/ocrmypdf-resources")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn decode(path: &str) -> Vec<PageImage> {
    decode_all(&shared(path), &DecodeLimits::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ink_fraction(p: &PageImage) -> f64 {
    let raw = p.gray.as_raw();
    raw.iter().filter(|&&v| v < 128).count() as f64 / raw.len() as f64
}

/// Variance of the ink per row and per column: text lines running
/// across the raster make rows vary far more than columns.
fn profile_variances(p: &PageImage) -> (f64, f64) {
    let (w, h) = p.gray.dimensions();
    let mut rows = vec![0f64; h as usize];
    let mut cols = vec![0f64; w as usize];
    for (x, y, px) in p.gray.enumerate_pixels() {
        if px.0[0] < 128 {
            rows[y as usize] += 1.0 / f64::from(w);
            cols[x as usize] += 1.0 / f64::from(h);
        }
    }
    let var = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
    };
    (var(&rows), var(&cols))
}

/// Ink in the top quarter minus ink in the bottom quarter, and left
/// quarter minus right quarter: where the page's dense title sits.
fn ink_bias(p: &PageImage) -> (f64, f64) {
    let (w, h) = p.gray.dimensions();
    let (mut top, mut bottom, mut left, mut right) = (0f64, 0f64, 0f64, 0f64);
    for (x, y, px) in p.gray.enumerate_pixels() {
        if px.0[0] < 128 {
            top += f64::from(u8::from(y < h / 4));
            bottom += f64::from(u8::from(y >= h - h / 4));
            left += f64::from(u8::from(x < w / 4));
            right += f64::from(u8::from(x >= w - w / 4));
        }
    }
    (top - bottom, left - right)
}

#[test]
fn sniffs_pdf_and_names_its_extension() {
    let bytes = shared("skew.pdf");
    assert_eq!(Format::sniff(&bytes).unwrap(), Format::Pdf);
    assert_eq!(Format::Pdf.extension(), "pdf");
}

#[test]
fn jbig2_scan_decodes_bilevel_at_300_dpi() {
    let pages = decode("skew.pdf");
    assert_eq!(pages.len(), 1);
    let p = &pages[0];
    assert_eq!(p.gray.dimensions(), (2550, 3300));
    assert_eq!(p.color, ColorMode::Bilevel);
    assert_eq!(p.dpi.map(|d| d.round()), Some(300.0));
    let ink = ink_fraction(p);
    assert!(ink > 0.01 && ink < 0.3, "a text page, got ink {ink}");
    let (rows, cols) = profile_variances(p);
    assert!(rows > 2.0 * cols, "text lines run across: {rows} vs {cols}");
}

#[test]
fn page_rotate_is_applied_as_a_viewer_shows_it() {
    // rotated_skew.pdf draws the same scan on a landscape MediaBox,
    // turned a quarter counter-clockwise, and sets /Rotate 90: a viewer
    // (pdftoppm) shows an upright portrait page, like skew.pdf.
    let skew = &decode("skew.pdf")[0];
    let rotated = decode("rotated_skew.pdf");
    assert_eq!(rotated.len(), 1);
    let r = &rotated[0];
    assert_eq!(r.gray.dimensions(), skew.gray.dimensions());
    assert_eq!(r.color, ColorMode::Bilevel);
    assert_eq!(r.dpi.map(|d| d.round()), Some(300.0));
    // Same pixels: both snap to the upright scan.
    assert_eq!(r.gray.as_raw(), skew.gray.as_raw());
    let (top_minus_bottom, _) = ink_bias(r);
    assert!(top_minus_bottom > 0.0, "the title is at the top");
}

#[test]
fn cardinal_pages_come_out_turned_as_displayed() {
    // Page 1 upright, 2 turned 90° clockwise, 3 upside down, 4 turned
    // 270° clockwise (pdftoppm and pdfinfo agree).
    let pages = decode("cardinal.pdf");
    assert_eq!(pages.len(), 4);
    let dims: Vec<_> = pages.iter().map(|p| p.gray.dimensions()).collect();
    assert_eq!(
        dims,
        vec![(2550, 3300), (3300, 2550), (2550, 3300), (3300, 2550)]
    );
    for p in &pages {
        assert_eq!(p.color, ColorMode::Bilevel);
        assert_eq!(p.dpi.map(|d| d.round()), Some(300.0));
    }
    let (rows, cols) = profile_variances(&pages[0]);
    assert!(rows > 2.0 * cols, "page 1 upright: {rows} vs {cols}");
    let (rows, cols) = profile_variances(&pages[1]);
    assert!(cols > 2.0 * rows, "page 2 sideways: {rows} vs {cols}");
    // The dense title block: top (p1), right (p2), bottom (p3), left (p4).
    assert!(ink_bias(&pages[0]).0 > 0.0);
    assert!(ink_bias(&pages[1]).1 < 0.0);
    assert!(ink_bias(&pages[2]).0 < 0.0);
    assert!(ink_bias(&pages[3]).1 > 0.0);
    // And exactly the upright page turned, pixel for pixel.
    let up = &pages[0].gray;
    assert_eq!(
        image::imageops::rotate90(up).as_raw(),
        pages[1].gray.as_raw()
    );
    assert_eq!(
        image::imageops::rotate180(up).as_raw(),
        pages[2].gray.as_raw()
    );
    assert_eq!(
        image::imageops::rotate270(up).as_raw(),
        pages[3].gray.as_raw()
    );
}

#[test]
fn ccitt_scan_is_mostly_white_with_black_ink() {
    let pages = decode("ccitt.pdf");
    assert_eq!(pages.len(), 1);
    let p = &pages[0];
    assert_eq!(p.gray.dimensions(), (2550, 3300));
    assert_eq!(p.color, ColorMode::Bilevel);
    let ink = ink_fraction(p);
    assert!(ink > 0.01 && ink < 0.3, "mostly white paper, got ink {ink}");
    assert!(ink_bias(p).0 > 0.0, "upright, title on top");
}

#[test]
fn multipage_dct_and_flate_pages_all_decode() {
    let bytes = shared("multipage.pdf");
    let mut it = pages(&bytes, &DecodeLimits::default()).unwrap();
    let mut n = 0;
    for page in it.by_ref() {
        let p = page.unwrap_or_else(|e| panic!("page {n}: {e}"));
        assert!(p.gray.width() > 0 && p.dpi.is_some(), "page {n}");
        n += 1;
    }
    assert_eq!(n, 6);
    let all = decode("multipage.pdf");
    // pdfimages: 800×981 colour JPEG at 150 dpi; 958×400 RGB at 96 dpi.
    assert_eq!(all[0].gray.dimensions(), (800, 981));
    assert_eq!(all[0].color, ColorMode::Color);
    assert_eq!(all[0].dpi.map(|d| d.round()), Some(150.0));
    assert_eq!(all[2].gray.dimensions(), (958, 400));
    assert_eq!(all[2].dpi.map(|d| d.round()), Some(96.0));
}

#[test]
fn page_at_matches_pages_on_every_page_of_a_pdf() {
    let limits = DecodeLimits::default();
    for (path, count) in [("multipage.pdf", 6), ("cardinal.pdf", 4)] {
        let bytes = shared(path);
        let all = decode(path);
        assert_eq!(all.len(), count, "{path}");
        for (k, want) in all.iter().enumerate() {
            let got = page_at(&bytes, k, &limits).unwrap_or_else(|e| panic!("{path} {k}: {e}"));
            assert_same_page(&got, want, &format!("{path} page index {k}"));
        }
        for index in [count, count + 1, usize::MAX] {
            let err = page_at(&bytes, index, &limits).unwrap_err();
            assert!(
                matches!(err, StageError::NoSuchPage { page, count: c } if page == index && c == count),
                "{path}: {err}"
            );
        }
    }
    // The page count limit is checked up front, as by `pages`.
    let limits = DecodeLimits {
        max_pages: 3,
        ..DecodeLimits::default()
    };
    let err = page_at(&shared("cardinal.pdf"), 0, &limits).unwrap_err();
    assert!(err.to_string().contains("max_pages"), "{err}");
}

#[test]
fn other_encodings_decode() {
    // cmyk.pdf is born-digital: six CMYK JPEG ink fills clipped by
    // text. The page is refused; one of its JPEGs still decodes.
    let bytes = shared("cmyk.pdf");
    let err = decode_all(&bytes, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, StageError::NotAScan { .. }), "{err}");
    let doc = Document::load_mem(&bytes).unwrap();
    let cand = Candidate {
        image: ImageSource::XObject(doc.get_object((12, 0)).unwrap().as_stream().unwrap()),
        id: 0,
        ctm: Matrix::IDENTITY,
        resources: None,
    };
    let (gray, color) = decode_image(&doc, &cand, 0, &DecodeLimits::default()).unwrap();
    assert_eq!((gray.dimensions(), color), ((900, 900), ColorMode::Color));
    // JBIG2 in a one-ink DeviceN: ink 0 is paper, so this test file's
    // JBIG2 paper is dark; pdftoppm shows it 92 % dark too.
    let devn = &decode("jbig2_baddevicen.pdf")[0];
    assert_eq!(devn.gray.dimensions(), (2550, 3300));
    assert!(ink_fraction(devn) > 0.85, "{}", ink_fraction(devn));
    // Palette (Indexed), CCITT from a scanner.
    for (path, dims) in [("palette.pdf", (640, 682)), ("epson.pdf", (2480, 3507))] {
        let p = &decode(path)[0];
        assert_eq!(p.gray.dimensions(), dims, "{path}");
        let ink = ink_fraction(p);
        assert!(ink < 0.9, "{path}: not all black, got {ink}");
    }
    // 1-bit Indexed reads as bi-level.
    let small = decode("3small.pdf");
    assert_eq!(small.len(), 3);
    assert_eq!(small[2].color, ColorMode::Bilevel);
    // A layered (MRC) page: a background JPEG plus a masked foreground,
    // both over the whole page; neither alone is what a viewer shows.
    let err = decode_all(&shared("masks.pdf"), &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, StageError::NotAScan { page: 0, .. }), "{err}");
    assert!(err.to_string().contains("2 large images"), "{err}");
}

#[test]
fn text_only_pdf_is_not_a_scan() {
    for path in ["trivial.pdf", "vector.pdf", "tagged.pdf"] {
        let err = decode_all(&shared(path), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, StageError::NotAScan { page: 0, .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("page 1") && msg.contains("born-digital"),
            "{msg}"
        );
    }
}

#[test]
fn unsupported_filter_is_named_not_panicked() {
    let err = decode_all(&shared("lichtenstein.pdf"), &DecodeLimits::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("JPXDecode") && msg.contains("page 1"), "{msg}");
}

#[test]
fn broken_pdfs_are_errors_not_panics() {
    let bytes = shared("skew.pdf");
    // (A cut in the trailer alone is repaired by lopdf: the data is whole.)
    for cut in [5, 100, bytes.len() / 3, bytes.len() / 2] {
        assert!(
            decode_all(&bytes[..cut], &DecodeLimits::default()).is_err(),
            "cut at {cut}"
        );
    }
    let mut junk = b"%PDF-1.4\n".to_vec();
    junk.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert!(decode_all(&junk, &DecodeLimits::default()).is_err());
    assert!(decode_all(b"%PDF-1.4", &DecodeLimits::default()).is_err());
    assert!(decode_all(&shared("invalid.pdf"), &DecodeLimits::default()).is_err());
}

#[test]
fn limits_apply_before_decoding() {
    let bytes = shared("skew.pdf");
    let limits = DecodeLimits {
        max_pixels: 1_000_000,
        ..DecodeLimits::default()
    };
    let err = decode_all(&bytes, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            StageError::LimitExceeded {
                key: "max_pixels",
                actual: 8_415_000,
                ..
            }
        ),
        "{err}"
    );
    let limits = DecodeLimits {
        max_side: 3000,
        ..DecodeLimits::default()
    };
    let err = decode_all(&bytes, &limits).unwrap_err();
    assert!(err.to_string().contains("max_side"), "{err}");
    let limits = DecodeLimits {
        max_pages: 3,
        ..DecodeLimits::default()
    };
    let err = pages(&shared("cardinal.pdf"), &limits).err().unwrap();
    assert!(err.to_string().contains("max_pages"), "{err}");
    let limits = DecodeLimits {
        max_file_bytes: 1000,
        ..DecodeLimits::default()
    };
    let err = pages(&bytes, &limits).err().unwrap();
    assert!(err.to_string().contains("max_file_bytes"), "{err}");
    // A 35000 × 35000 CCITT page is refused by its dictionary alone.
    let err = decode_all(&shared("hugemono.pdf"), &DecodeLimits::default()).unwrap_err();
    assert!(err.to_string().contains("max_pixels"), "{err}");
}

#[test]
fn placement_follows_matrix_and_rotate() {
    let m = |a, b, c, d| Matrix {
        a,
        b,
        c,
        d,
        e: 0.0,
        f: 0.0,
    };
    let p = |m: Matrix, t| Placement::new(&m, t).unwrap();
    let turn = |col, row| Placement {
        col,
        row,
        tilt_deg: 0.0,
    };
    let quarter = |q: Placement| (q.col, q.row);
    // Upright, and upright under a small tilt, which is kept: skew.pdf
    // draws its straight scan 1.865° clockwise.
    let up = turn((1, 0), (0, 1));
    assert_eq!(p(m(612.0, 0.0, 0.0, 792.0), 0), up);
    let tilted = p(m(611.673, -19.919, 25.777, 791.577), 0);
    assert_eq!(quarter(tilted), quarter(up));
    assert!(
        (tilted.tilt_deg + 1.865).abs() < 0.01,
        "{}",
        tilted.tilt_deg
    );
    // /Rotate 90 turns it clockwise: columns run down, rows run left.
    let cw = turn((0, 1), (-1, 0));
    assert_eq!(p(m(612.0, 0.0, 0.0, 792.0), 1), cw);
    // Drawn a quarter turn counter-clockwise, then /Rotate 90: upright.
    assert_eq!(p(m(0.0, 612.0, -792.0, 0.0), 1), up);
    // rotated_skew.pdf: drawn 92.79° counter-clockwise under /Rotate 90:
    // upright, shown turned 2.79° counter-clockwise.
    let shown = p(m(-29.808, 611.272, -791.057, -38.575), 1);
    assert_eq!(quarter(shown), quarter(up));
    assert!((shown.tilt_deg - 2.79).abs() < 0.01, "{}", shown.tilt_deg);
    // Mirrored left to right by the matrix.
    let mirrored = turn((-1, 0), (0, 1));
    assert_eq!(p(m(-612.0, 0.0, 0.0, 792.0), 0), mirrored);
    assert!(Placement::new(&m(1.0, 1.0, 1.0, 1.0), 0).is_none());
    // A 2 × 3 raster turned clockwise becomes 3 × 2.
    let src = GrayImage::from_raw(2, 3, vec![1, 2, 3, 4, 5, 6]).unwrap();
    let turned = cw.apply(src.clone());
    assert_eq!(turned, image::imageops::rotate90(&src));
    assert_eq!(
        mirrored.apply(src.clone()),
        image::imageops::flip_horizontal(&src)
    );
}

#[test]
fn matrix_composes_like_pdf_cm() {
    let scale = Matrix {
        a: 2.0,
        d: 3.0,
        ..Matrix::IDENTITY
    };
    let shift = Matrix {
        e: 10.0,
        f: 20.0,
        ..Matrix::IDENTITY
    };
    // `cm` with the scale inside a shifted CTM: scale first, then shift.
    let ctm = scale.then(&shift);
    assert_eq!((ctm.a, ctm.d, ctm.e, ctm.f), (2.0, 3.0, 10.0, 20.0));
    assert_eq!(ctm.area(), 6.0);
    let ctm = Matrix {
        a: 612.0,
        d: 792.0,
        ..Matrix::IDENTITY
    };
    assert_eq!(ctm.dpi(2550), Some(300.0));
    assert_eq!(Matrix { a: 0.0, ..ctm }.dpi(2550), None);
}

/// A one-page PDF drawing `content` with a 3 × 2 grey image `/Im0`
/// (rows 10 20 30 / 40 50 60) and a Form `/Fm0` that draws it at
/// 3 × 2 inches; `/Rotate` sits on the page-tree root, to be inherited.
fn synthetic(content: &[u8], rotate: i64, image: Option<Stream>) -> Vec<u8> {
    use lopdf::dictionary;
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image = image.unwrap_or_else(|| {
        Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => 3,
                "Height" => 2,
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8
            },
            vec![10, 20, 30, 40, 50, 60],
        )
    });
    let img = doc.add_object(image);
    let form = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 216.into(), 144.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => img } }
        },
        b"216 0 0 144 0 0 cm /Im0 Do".to_vec(),
    ));
    let contents = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => contents,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        "Resources" => dictionary! {
            "XObject" => dictionary! { "Im0" => img, "Fm0" => form }
        }
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page.into()],
            "Count" => 1,
            "Rotate" => rotate
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn one_page(bytes: &[u8]) -> PageImage {
    let mut pages = decode_all(bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(pages.len(), 1);
    pages.remove(0)
}

#[test]
fn every_quarter_turn_and_mirror_is_shown_as_displayed() {
    use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
    let src = GrayImage::from_raw(3, 2, vec![10, 20, 30, 40, 50, 60]).unwrap();
    let cases: [(&[u8], i64, GrayImage); 8] = [
        (b"q 216 0 0 144 0 0 cm /Im0 Do Q", 0, src.clone()),
        (b"q 216 0 0 144 0 0 cm /Im0 Do Q", 90, rotate90(&src)),
        (b"q 216 0 0 144 0 0 cm /Im0 Do Q", -90, rotate270(&src)),
        (b"q 216 0 0 144 0 0 cm /Im0 Do Q", 540, rotate180(&src)),
        // Drawn a quarter turn counter-clockwise; then /Rotate 90 undoes it.
        (b"q 0 216 -144 0 144 0 cm /Im0 Do Q", 0, rotate270(&src)),
        (b"q 0 216 -144 0 144 0 cm /Im0 Do Q", 90, src.clone()),
        // Mirrored by the matrix: left-right, then top-bottom.
        (
            b"q -216 0 0 144 216 0 cm /Im0 Do Q",
            0,
            flip_horizontal(&src),
        ),
        (b"q 216 0 0 -144 0 144 cm /Im0 Do Q", 0, flip_vertical(&src)),
    ];
    for (content, rotate, want) in cases {
        let p = one_page(&synthetic(content, rotate, None));
        let what = String::from_utf8_lossy(content);
        assert_eq!(p.gray, want, "{what} /Rotate {rotate}");
        assert_eq!(p.dpi, Some(1.0), "{what}: 3 px over 3 inches");
        assert_eq!(p.color, ColorMode::Gray);
    }
}

#[test]
fn forms_and_inline_images_are_followed() {
    let src = GrayImage::from_raw(3, 2, vec![10, 20, 30, 40, 50, 60]).unwrap();
    // The form draws the image; the page mirrors the form.
    let p = one_page(&synthetic(b"q -1 0 0 1 216 0 cm /Fm0 Do Q", 0, None));
    assert_eq!(p.gray, image::imageops::flip_horizontal(&src));
    // An unfiltered inline image, larger than the XObject drawn beside it.
    let mut content = b"72 0 0 72 0 0 cm /Im0 Do 0.0139 0 0 0.0139 0 0 cm \
        q 216 0 0 144 0 0 cm BI /W 3 /H 2 /CS /G /BPC 8 ID "
        .to_vec();
    content.extend([10, 20, 30, 40, 50, 60]);
    content.extend(b"\nEI Q");
    let p = one_page(&synthetic(&content, 0, None));
    assert_eq!(p.gray, src);
    assert_eq!(p.dpi.map(|d| d.round()), Some(1.0));
}

#[test]
fn palettes_bit_depths_and_decode_arrays_apply() {
    use lopdf::dictionary;
    let image = |extra: Dictionary, data: Vec<u8>| {
        let mut dict = dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => 3,
            "Height" => 2
        };
        dict.extend(&extra);
        Some(Stream::new(dict, data))
    };
    let draw = b"q 216 0 0 144 0 0 cm /Im0 Do Q";
    // 1-bit grey, rows padded to a byte: 101 / 010.
    let bits = image(
        dictionary! { "ColorSpace" => "DeviceGray", "BitsPerComponent" => 1 },
        vec![0b1010_0000, 0b0100_0000],
    );
    let p = one_page(&synthetic(draw, 0, bits.clone()));
    assert_eq!(p.gray.as_raw(), &[255, 0, 255, 0, 255, 0]);
    assert_eq!(p.color, ColorMode::Bilevel);
    // The same with /Decode [1 0]: inverted.
    let mut inverted = bits.unwrap();
    inverted.dict.set("Decode", vec![1.into(), 0.into()]);
    let p = one_page(&synthetic(draw, 0, Some(inverted)));
    assert_eq!(p.gray.as_raw(), &[0, 255, 0, 255, 0, 255]);
    // A stencil mask paints its 0 samples black.
    let mask = image(
        dictionary! { "ImageMask" => true },
        vec![0b1010_0000, 0b0100_0000],
    );
    let p = one_page(&synthetic(draw, 0, mask));
    assert_eq!(p.gray.as_raw(), &[255, 0, 255, 0, 255, 0]);
    // 4-bit Indexed RGB: index 0 white, 1 red, 2 black.
    let palette = Object::Array(vec![
        "Indexed".into(),
        "DeviceRGB".into(),
        2.into(),
        Object::string_literal(vec![255, 255, 255, 255, 0, 0, 0, 0, 0]),
    ]);
    let indexed = image(
        dictionary! { "ColorSpace" => palette, "BitsPerComponent" => 4 },
        vec![0x01, 0x20, 0x21, 0x00],
    );
    let p = one_page(&synthetic(draw, 0, indexed));
    assert_eq!(p.gray.as_raw(), &[255, 54, 0, 0, 54, 255]);
    assert_eq!(p.color, ColorMode::Color);
    // 16-bit RGB keeps the high byte; CMYK inks darken.
    let rgb16 = image(
        dictionary! { "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 16 },
        [[0xFF, 0xFF]; 18].concat(),
    );
    assert_eq!(
        one_page(&synthetic(draw, 0, rgb16)).gray.as_raw(),
        &[255; 6]
    );
    let cmyk = image(
        dictionary! { "ColorSpace" => "DeviceCMYK", "BitsPerComponent" => 8 },
        [
            [0, 0, 0, 255],
            [0, 0, 0, 0],
            [0, 0, 0, 255],
            [0, 0, 0, 0],
            [0, 0, 0, 255],
            [0, 0, 0, 0],
        ]
        .concat(),
    );
    assert_eq!(
        one_page(&synthetic(draw, 0, cmyk)).gray.as_raw(),
        &[0, 255, 0, 255, 0, 255]
    );
    // Data shorter than the image needs is an error, not a guess.
    let short = image(
        dictionary! { "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
        vec![1, 2, 3],
    );
    let err = decode_all(&synthetic(draw, 0, short), &DecodeLimits::default()).unwrap_err();
    assert!(err.to_string().contains("short"), "{err}");
}

#[test]
fn encrypted_pdf_is_refused_by_name() {
    let mut bytes = synthetic(b"q 216 0 0 144 0 0 cm /Im0 Do Q", 0, None);
    let mut doc = Document::load_mem(&bytes).unwrap();
    let enc = doc.add_object(lopdf::dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => Object::string_literal(vec![0u8; 32]),
        "U" => Object::string_literal(vec![0u8; 32]),
        "P" => -4
    });
    doc.trailer.set("Encrypt", enc);
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal(vec![1u8; 16]),
            Object::string_literal(vec![1u8; 16]),
        ],
    );
    bytes.clear();
    doc.save_to(&mut bytes).unwrap();
    let err = pages(&bytes, &DecodeLimits::default()).err().unwrap();
    assert!(matches!(err, StageError::UnsupportedFormat(_)), "{err}");
    assert!(err.to_string().contains("encrypted"), "{err}");
}
