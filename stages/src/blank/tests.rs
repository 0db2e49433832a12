//! Blank detection on synthetic sheets: empty sheets from punched and
//! bound files (holes, bands, speckle, bilevel) are blank; one line of
//! text, a signature or a stamp on such a sheet is content.

use super::*;
use image::Luma;

/// A4 at 300 dpi.
const W: u32 = 2480;
const H: u32 = 3508;
const DPI: f32 = 300.0;

fn mm(v: f32) -> i64 {
    (v * DPI / 25.4).round() as i64
}

/// A small deterministic random source (xorshift), so every sheet is the
/// same on every run.
struct Rng(u32);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

fn put(img: &mut GrayImage, x: i64, y: i64, v: u8) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Luma([v]));
    }
}

fn disc(img: &mut GrayImage, cx: i64, cy: i64, r: i64, v: u8) {
    for y in cy - r..=cy + r {
        for x in cx - r..=cx + r {
            if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                put(img, x, y, v);
            }
        }
    }
}

fn ring(img: &mut GrayImage, cx: i64, cy: i64, r: i64, thick: i64, v: u8) {
    let (lo, hi) = ((r - thick).pow(2), r * r);
    for y in cy - r..=cy + r {
        for x in cx - r..=cx + r {
            let d = (x - cx).pow(2) + (y - cy).pow(2);
            if d <= hi && d >= lo {
                put(img, x, y, v);
            }
        }
    }
}

/// A pen stroke from (x0,y0) to (x1,y1), `r` pixels wide each side.
fn stroke(img: &mut GrayImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), r: i64, v: u8) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) as usize).max(1);
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        disc(
            img,
            (x0 + (x1 - x0) * t) as i64,
            (y0 + (y1 - y0) * t) as i64,
            r,
            v,
        );
    }
}

/// A dark band along a side with a ragged inner edge, as the scanner bed
/// shows beside a sheet or a binding shadows it. `side`: 0 left, 1 right,
/// 2 top, 3 bottom; `from..to` is the stretch of the side it covers.
fn band(img: &mut GrayImage, side: u8, depth: i64, from: f32, to: f32, v: u8, rng: &mut Rng) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let along = if side < 2 { h } else { w };
    let (a0, a1) = ((along as f32 * from) as i64, (along as f32 * to) as i64);
    for a in a0..a1 {
        let d = depth + rng.below(9) as i64 - 4;
        for k in 0..d {
            let (x, y) = match side {
                0 => (k, a),
                1 => (w - 1 - k, a),
                2 => (a, k),
                _ => (a, h - 1 - k),
            };
            put(img, x, y, v);
        }
    }
}

/// Dust and toner specks over the whole sheet, up to `max_r` pixels in
/// radius.
fn speckle(img: &mut GrayImage, count: usize, max_r: u32, rng: &mut Rng) {
    for _ in 0..count {
        let (x, y) = (
            rng.below(img.width()) as i64,
            rng.below(img.height()) as i64,
        );
        let r = rng.below(max_r + 1) as i64;
        disc(img, x, y, r, 0);
    }
}

/// Punch holes by the `side` (as for `band`), centred `inset_mm` in and
/// `pitch_mm` apart around the middle of the side; `ring_only` draws the
/// shadow outline a white lid leaves instead of a dark hole.
fn holes(
    img: &mut GrayImage,
    side: u8,
    n: usize,
    diameter_mm: f32,
    inset_mm: f32,
    pitch_mm: f32,
    ring_only: bool,
) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let along = if side < 2 { h } else { w };
    let r = mm(diameter_mm / 2.0);
    for i in 0..n {
        let off = (i as f32 - (n as f32 - 1.0) / 2.0) * pitch_mm;
        let a = along / 2 + mm(off);
        let d = mm(inset_mm);
        let (cx, cy) = match side {
            0 => (d, a),
            1 => (w - 1 - d, a),
            2 => (a, d),
            _ => (a, h - 1 - d),
        };
        if ring_only {
            ring(img, cx, cy, r, 4, 40);
        } else {
            disc(img, cx, cy, r, 15);
        }
    }
}

/// Paper: white for bilevel sheets, off-white with grain otherwise.
fn paper(w: u32, h: u32, grain: bool, rng: &mut Rng) -> GrayImage {
    if grain {
        GrayImage::from_fn(w, h, |_, _| Luma([232 + rng.below(14) as u8]))
    } else {
        GrayImage::from_pixel(w, h, Luma([255]))
    }
}

/// Thresholds at 128, as a bilevel (G4) scanner writes the sheet.
fn bilevel(img: &mut GrayImage) {
    for p in img.pixels_mut() {
        p.0[0] = if p.0[0] < 128 { 0 } else { 255 };
    }
}

/// The empty sheets of bound files, each as a scanner gives it.
fn bound_blanks() -> Vec<(&'static str, GrayImage)> {
    let mut out = Vec::new();
    let mut rng = Rng(0x9e37_79b9);
    // ISO 838 two holes on the left, bed band on the left, speckle, G4.
    let mut a = paper(W, H, false, &mut rng);
    holes(&mut a, 0, 2, 6.0, 12.0, 80.0, false);
    band(&mut a, 0, mm(4.0), 0.0, 1.0, 20, &mut rng);
    speckle(&mut a, 6000, 3, &mut rng);
    bilevel(&mut a);
    out.push(("two holes left, band, speckle, bilevel", a));
    // Its back: holes on the right, a partial band at the bottom.
    let mut b = paper(W, H, false, &mut rng);
    holes(&mut b, 1, 2, 6.0, 12.0, 80.0, false);
    band(&mut b, 3, mm(9.0), 0.1, 0.8, 30, &mut rng);
    speckle(&mut b, 6000, 3, &mut rng);
    bilevel(&mut b);
    out.push(("back: two holes right, bottom band, speckle, bilevel", b));
    // Ring binder, four holes seen as shadow rings under a white lid, grey paper.
    let mut c = paper(W, H, true, &mut rng);
    holes(&mut c, 0, 4, 5.5, 10.0, 70.0, true);
    speckle(&mut c, 3000, 2, &mut rng);
    out.push(("four shadow-ring holes, grain, speckle", c));
    // US three-hole punch, 8 mm holes, a binding shadow along the side
    // and the bed at the top (an L of dark), bilevel with heavy speckle.
    let mut d = paper(W, H, false, &mut rng);
    holes(&mut d, 0, 3, 8.0, 10.0, 108.0, false);
    band(&mut d, 0, mm(15.0), 0.0, 1.0, 40, &mut rng);
    band(&mut d, 2, mm(6.0), 0.0, 1.0, 25, &mut rng);
    speckle(&mut d, 20000, 3, &mut rng);
    bilevel(&mut d);
    out.push(("three 8 mm holes, side and top bands, heavy speckle", d));
    // A landscape sheet punched along the top.
    let mut e = paper(H, W, false, &mut rng);
    holes(&mut e, 2, 2, 6.0, 12.0, 80.0, false);
    band(&mut e, 2, mm(3.0), 0.0, 1.0, 10, &mut rng);
    speckle(&mut e, 6000, 3, &mut rng);
    bilevel(&mut e);
    out.push(("landscape, holes on top, band, speckle", e));
    out
}

/// Letter-like strokes: words of vertical and slanted strokes with
/// ascenders, 10-point size at 300 dpi, from `x` along baseline `y`.
fn text_line(img: &mut GrayImage, x: f32, y: f32, words: usize, rng: &mut Rng) {
    let (xh, stem) = (25.0, 2);
    let mut pen = x;
    for _ in 0..words {
        for _ in 0..3 + rng.below(6) {
            let tall = rng.below(4) == 0;
            let top = if tall { y - xh * 1.45 } else { y - xh };
            stroke(img, (pen, top), (pen, y), stem, 10);
            stroke(img, (pen, y - xh), (pen + 12.0, y - xh), 1, 10);
            stroke(img, (pen + 12.0, y - xh), (pen + 12.0, y), stem, 10);
            pen += 18.0;
        }
        pen += 22.0;
    }
}

/// A handwritten signature: one looping pen curve about 55 × 15 mm.
fn signature(img: &mut GrayImage, x: f32, y: f32) {
    let n = 600;
    let mut last = (x, y);
    for i in 1..=n {
        let t = i as f32 / n as f32;
        let px = x + t * 650.0 + 40.0 * (t * 40.0).sin();
        let py = y + 60.0 * (t * 25.0).sin() * (1.0 - t * 0.5) + 25.0 * (t * 7.0).cos();
        stroke(img, last, (px, py), 1, 30);
        last = (px, py);
    }
}

/// A round office stamp: 40 mm double ring with marks (a star and short
/// strokes for its lettering), in a mid-dark ink.
fn stamp(img: &mut GrayImage, cx: i64, cy: i64) {
    let r = mm(20.0);
    ring(img, cx, cy, r, 9, 70);
    ring(img, cx, cy, r - 40, 4, 70);
    for k in 0..5 {
        let a = k as f32 * std::f32::consts::TAU * 2.0 / 5.0;
        let b = (k + 1) as f32 * std::f32::consts::TAU * 2.0 / 5.0;
        let p = |a: f32| (cx as f32 + 60.0 * a.sin(), cy as f32 - 60.0 * a.cos());
        stroke(img, p(a), p(b), 2, 70);
    }
    for k in 0..24 {
        let a = k as f32 / 24.0 * std::f32::consts::TAU;
        let (ri, ro) = ((r - 90) as f32, (r - 55) as f32);
        stroke(
            img,
            (cx as f32 + ri * a.cos(), cy as f32 + ri * a.sin()),
            (cx as f32 + ro * a.cos(), cy as f32 + ro * a.sin()),
            2,
            70,
        );
    }
}

#[test]
fn empty_sheets_from_punched_and_bound_files_are_blank() {
    let opts = BlankOptions::default();
    for (name, img) in bound_blanks() {
        let v = detect_blank(&img, DPI, &opts);
        assert!(v.blank, "{name}: {v:?}");
    }
}

#[test]
fn one_line_signature_or_stamp_on_a_punched_sheet_is_content() {
    let opts = BlankOptions::default();
    let mut rng = Rng(7);
    for (name, sheet) in bound_blanks() {
        let (w, h) = (sheet.width() as f32, sheet.height() as f32);
        let mut line = sheet.clone();
        text_line(&mut line, w * 0.2, h * 0.3, 4, &mut rng);
        let mut signed = sheet.clone();
        signature(&mut signed, w * 0.55, h * 0.8);
        let mut stamped = sheet.clone();
        stamp(&mut stamped, (w * 0.6) as i64, (h * 0.7) as i64);
        for (what, mut img) in [
            ("one line", line),
            ("signature", signed),
            ("stamp", stamped),
        ] {
            if name.contains("bilevel") {
                bilevel(&mut img);
            }
            let v = detect_blank(&img, DPI, &opts);
            assert!(!v.blank, "{what} on {name}: {v:?}");
        }
    }
}

#[test]
fn content_alone_on_clean_paper_is_content() {
    // The same marks without any punch or band: nothing set aside may
    // take them with it.
    let opts = BlankOptions::default();
    let mut rng = Rng(11);
    let mut line = paper(W, H, false, &mut rng);
    text_line(&mut line, 400.0, 1200.0, 3, &mut rng);
    let mut signed = paper(W, H, false, &mut rng);
    signature(&mut signed, 1300.0, 2900.0);
    let mut stamped = paper(W, H, false, &mut rng);
    stamp(&mut stamped, 1500, 2600);
    for (what, img) in [
        ("one line", line),
        ("signature", signed),
        ("stamp", stamped),
    ] {
        let v = detect_blank(&img, DPI, &opts);
        assert!(!v.blank, "{what}: {v:?}");
    }
}

#[test]
fn a_single_round_mark_by_the_edge_is_not_taken_for_a_hole() {
    // Two small discs near the edge are holes; the same discs far from
    // any edge, or one alone with a line of text beside it, are content.
    let opts = BlankOptions::default();
    let mut rng = Rng(5);
    let mut inner = paper(W, H, false, &mut rng);
    for k in 0..12 {
        disc(&mut inner, 800 + k * 90, 1500, mm(3.0), 0);
    }
    assert!(!detect_blank(&inner, DPI, &opts).blank);
    let mut pair = paper(W, H, false, &mut rng);
    holes(&mut pair, 0, 2, 6.0, 12.0, 80.0, false);
    assert!(detect_blank(&pair, DPI, &opts).blank);
}

#[test]
fn white_page_with_specks_is_blank_and_a_word_is_not() {
    let mut img = GrayImage::from_pixel(2480, 3508, image::Luma([245]));
    // Isolated specks every 97 px.
    for y in (50..3400).step_by(97) {
        for x in (50..2400).step_by(89) {
            img.put_pixel(x, y, image::Luma([0]));
            img.put_pixel(x + 1, y, image::Luma([0]));
        }
    }
    let opts = BlankOptions::default();
    assert!(detect_blank(&img, 300.0, &opts).blank);
    // One short word: a 200 × 40 px block of strokes.
    for y in 1000..1040 {
        for x in 1000..1200 {
            if x % 9 < 4 {
                img.put_pixel(x, y, image::Luma([10]));
            }
        }
    }
    let v = detect_blank(&img, 300.0, &opts);
    assert!(!v.blank, "{v:?}");
}

#[test]
fn tiny_short_black_and_marginless_pages_do_not_panic() {
    let opts = BlankOptions::default();
    assert!(detect_blank(&GrayImage::new(3, 3), 300.0, &opts).blank);
    assert!(detect_blank(&GrayImage::new(1, 1), f32::NAN, &opts).blank);
    // 14 cells tall: the 4 % margin rounds to zero rows.
    let strip = GrayImage::from_pixel(2000, 84, image::Luma([0]));
    assert!(!detect_blank(&strip, 300.0, &opts).blank);
    let no_margin = BlankOptions {
        margin: 0.0,
        ..BlankOptions::default()
    };
    let black = GrayImage::from_pixel(300, 300, image::Luma([0]));
    let v = detect_blank(&black, 300.0, &no_margin);
    assert!(!v.blank && v.ink_ratio > 0.9, "{v:?}");
}
