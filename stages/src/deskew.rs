//! Deskew: find the angle by which a page's content is turned, and turn it
//! back. The angle comes from the sharpness of the page's horizontal ink
//! profile (text lines give sharp peaks only when level). The page is read
//! once, one pixel row per band of 4 rows (at 300 dpi), into a bit map of
//! 8-px cells; the lower edges of ink are the points. A 1° sweep over
//! ±`max_angle_deg` on bands twice as tall, then 0.1° and 0.02° sweeps,
//! each refined by a parabola through its best three. About 1 ms for a
//! 300-dpi A4 page; pure raster math, no I/O.

use crate::raster::{InkMap, otsu, paper_level};
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Settings of the skew search (`[image.deskew]` in folio.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeskewOptions {
    /// Largest skew searched, either way, in degrees.
    pub max_angle_deg: f32,
    /// Below this |angle| the page is left as scanned (rotation blurs).
    pub min_correct_deg: f32,
    /// Below this confidence the page is left as scanned.
    pub min_confidence: f32,
}

impl Default for DeskewOptions {
    fn default() -> Self {
        Self {
            max_angle_deg: 15.0,
            min_correct_deg: 0.05,
            min_confidence: 0.05,
        }
    }
}

/// The skew found on a page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Skew {
    /// Angle of the content, degrees, counter-clockwise positive.
    pub angle_deg: f32,
    /// 0..1: how clearly the best angle stood out (0 = no text lines found).
    pub confidence: f32,
}

impl Skew {
    const NONE: Skew = Skew {
        angle_deg: 0.0,
        confidence: 0.0,
    };
}

/// Lower edges of ink on a reduced map, in fixed point (16.16) so a sweep
/// is integer work. Stored column by column: neighbouring points then
/// fall in different rows of a profile, and adding them does not wait on
/// the same counter.
struct Points {
    xs: Vec<i64>,
    ys: Vec<i64>,
    /// Profile length: map height plus room for the steepest line.
    bins: usize,
    /// Width of a column in units of a row's height (cells need not be
    /// square).
    x_scale: f64,
}

const FIX: i64 = 1 << 16;

/// Rows of room a profile needs at each end so that lines across `width`
/// (in row units) at slopes up to `max_deg`, and a degree beyond for the
/// fine sweeps, stay inside it.
fn pad_for(width: f64, max_deg: f32) -> i64 {
    let slope = f64::from(max_deg.abs().min(44.0) + 1.0).to_radians().tan();
    (width * slope).ceil() as i64 + 2
}

impl Points {
    /// Keeps only the lower edges of ink (an inked cell over an empty one):
    /// baselines and letter bottoms line up along text lines, and there are
    /// several times fewer of them than inked cells. `max_deg` sizes the
    /// padding so every line slope up to it (and a degree beyond, for the
    /// fine sweeps) stays inside the profile.
    fn from_map(map: &InkMap, max_deg: f32) -> Points {
        let min = ((map.factor * map.factor) / 4).max(1) as u16;
        let (w, h) = (map.width, map.height);
        let pad = pad_for(w as f64, max_deg);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let rows = map.counts.chunks_exact(w.max(1));
        for (y, (row, below)) in rows.clone().zip(rows.skip(1)).enumerate() {
            let yf = (y as i64 + pad) * FIX;
            for (x, (&c, &b)) in row.iter().zip(below).enumerate() {
                if c >= min && b < min {
                    xs.push(x as i64);
                    ys.push(yf);
                }
            }
        }
        Points {
            xs,
            ys,
            bins: h + 2 * pad as usize + 2,
            x_scale: 1.0,
        }
    }

    fn len(&self) -> usize {
        self.xs.len()
    }

    /// Sharpness of the ink profile along lines of slope `angle_deg`
    /// (content turned counter-clockwise): the sum of squared differences
    /// between neighbouring rows, each point split between two rows.
    fn score(&self, angle_deg: f32, hist: &mut Vec<u32>) -> f64 {
        let tan =
            ((angle_deg as f64).to_radians().tan() * self.x_scale * FIX as f64).round() as i64;
        // Four interleaved profiles: points of one text line land in the
        // same rows, and a single profile would make each addition wait
        // for the one before it.
        let bins = self.bins;
        hist.clear();
        hist.resize(4 * bins, 0);
        let (h0, rest) = hist.split_at_mut(bins);
        let (h1, rest) = rest.split_at_mut(bins);
        let (h2, h3) = rest.split_at_mut(bins);
        let add = |h: &mut [u32], x: i64, y: i64| {
            let yp = y + x * tan;
            let i = (yp >> 16) as usize;
            let f = ((yp >> 8) & 0xFF) as u32;
            if let Some([a, b]) = h.get_mut(i..i + 2) {
                *a += 256 - f;
                *b += f;
            }
        };
        let mut xs = self.xs.chunks_exact(4);
        let mut ys = self.ys.chunks_exact(4);
        for (x, y) in (&mut xs).zip(&mut ys) {
            add(h0, x[0], y[0]);
            add(h1, x[1], y[1]);
            add(h2, x[2], y[2]);
            add(h3, x[3], y[3]);
        }
        for (&x, &y) in xs.remainder().iter().zip(ys.remainder()) {
            add(h0, x, y);
        }
        let total =
            |i: usize| i64::from(h0[i]) + i64::from(h1[i]) + i64::from(h2[i]) + i64::from(h3[i]);
        (1..bins)
            .map(|i| {
                let d = (total(i) - total(i - 1)) as f64;
                d * d
            })
            .sum()
    }

    /// Best angle of a sweep `from..=to` by `step`, refined by a parabola
    /// through the best sample and its neighbours; also the sweep's mean.
    fn sweep(&self, from: f32, to: f32, step: f32) -> (f32, f64, f64) {
        let n = ((to - from) / step).round().max(0.0) as usize + 1;
        let mut hist = Vec::with_capacity(self.bins);
        let scores: Vec<f64> = (0..n)
            .map(|i| self.score(from + i as f32 * step, &mut hist))
            .collect();
        let (best_i, &best) = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        let mean = scores.iter().sum::<f64>() / n as f64;
        let mut angle = from + best_i as f32 * step;
        if best_i > 0 && best_i + 1 < n {
            let (a, b, c) = (scores[best_i - 1], scores[best_i], scores[best_i + 1]);
            let denom = a - 2.0 * b + c;
            if denom < 0.0 {
                let shift = (0.5 * (a - c) / denom) as f32;
                angle += shift.clamp(-0.5, 0.5) * step;
            }
        }
        (angle, best, mean)
    }
}

/// Width in pixels of one cell of [`Bands`]: horizontal position matters
/// little to a skew estimate, so cells are wider than tall.
const CELL: usize = 8;

/// The page's ink, one bit per cell: one pixel row sampled in the middle
/// of each band of `band` rows, a cell set when at least `min_ink` of its
/// [`CELL`] pixels on that row are ink (a lone speck is not). Packed 64
/// cells to a word, so lower edges of ink come out of a few word
/// operations per row.
struct Bands {
    words: usize,
    rows: usize,
    /// Band height in pixels.
    band: usize,
    bits: Vec<u64>,
}

impl Bands {
    fn sample(img: &GrayImage, band: usize, threshold: u8) -> Bands {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let band = band.max(1);
        let cells = w.div_ceil(CELL);
        let words = cells.div_ceil(64).max(1);
        let rows = h.div_ceil(band);
        let min_ink = if band >= 3 { 2 } else { 1 };
        let mut bits = vec![0u64; words * rows];
        // Pixels past the right edge stay 0 (paper) in the mask.
        let mut mask = vec![0u8; cells * CELL];
        for (b, out) in bits.chunks_exact_mut(words).enumerate() {
            let y = (b * band + band / 2).min(h.saturating_sub(1));
            let Some(row) = img.as_raw().get(y * w..(y + 1) * w) else {
                continue;
            };
            // A byte mask first: the compare runs 16 pixels at a time.
            for (m, &v) in mask.iter_mut().zip(row) {
                *m = u8::from(v <= threshold);
            }
            for (word, block) in out.iter_mut().zip(mask.chunks(64 * CELL)) {
                let mut bits = 0u64;
                for (k, chunk) in block.chunks_exact(CELL).enumerate() {
                    let Ok(eight) = <[u8; CELL]>::try_from(chunk) else {
                        continue;
                    };
                    // Bytes are 0 or 1: the product's top byte is their sum.
                    let ink = u64::from_ne_bytes(eight).wrapping_mul(0x0101_0101_0101_0101) >> 56;
                    bits |= u64::from(ink >= min_ink) << k;
                }
                *word = bits;
            }
        }
        Bands {
            words,
            rows,
            band,
            bits,
        }
    }

    /// Bands twice as tall: a cell is set when either of its two halves is.
    fn merge_pairs(&self) -> Bands {
        let rows = self.rows.div_ceil(2);
        let mut bits = vec![0u64; self.words * rows];
        for (out, pair) in bits
            .chunks_exact_mut(self.words)
            .zip(self.bits.chunks(2 * self.words))
        {
            for (i, o) in out.iter_mut().enumerate() {
                *o = pair.get(i).copied().unwrap_or(0)
                    | pair.get(i + self.words).copied().unwrap_or(0);
            }
        }
        Bands {
            words: self.words,
            rows,
            band: self.band * 2,
            bits,
        }
    }

    /// Lower edges of ink (a set cell over an unset one), as points in
    /// units of rows, with room for slopes up to `max_deg` (plus a degree).
    fn edges(&self, max_deg: f32) -> Points {
        let x_scale = CELL as f64 / self.band as f64;
        let pad = pad_for(self.words as f64 * 64.0 * x_scale, max_deg);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let rows = self.bits.chunks_exact(self.words);
        for (y, (row, below)) in rows.clone().zip(rows.skip(1)).enumerate() {
            let yf = (y as i64 + pad) * FIX;
            for (i, (&r, &b)) in row.iter().zip(below).enumerate() {
                let mut e = r & !b;
                while e != 0 {
                    let x = (i * 64) as i64 + i64::from(e.trailing_zeros());
                    xs.push(x);
                    ys.push(yf + dither(x, y as i64));
                    e &= e - 1;
                }
            }
        }
        Points {
            xs,
            ys,
            bins: self.rows + 2 * pad as usize + 2,
            x_scale,
        }
    }
}

/// A fixed pseudo-random fraction of a row (16.16) for the point at
/// `(x, y)`. Edge points sit on whole rows; undithered, a level sweep
/// angle would find every point of a line in one row and look sharper than
/// the true angle, whose points are split between rows — a pull towards
/// exactly 0°.
fn dither(x: i64, y: i64) -> i64 {
    let h = (x.wrapping_mul(0x9E37_79B9) ^ y.wrapping_mul(0x85EB_CA6B)).wrapping_mul(0xC2B2_AE35);
    (h >> 16) & (FIX - 1)
}

/// Reduction factor that brings the long side of the page near `target` px.
pub(crate) fn factor_for(img: &GrayImage, target: u32) -> usize {
    (img.width().max(img.height()) / target).max(1) as usize
}

/// How sharply text lines stand out along the map's rows at their best
/// angle within ±`max_deg` (0..1; a coarse sweep only). Orientation
/// compares this across and down the page.
pub(crate) fn line_sharpness(map: &InkMap, max_deg: f32) -> f32 {
    let pts = Points::from_map(map, max_deg);
    if pts.len() < 20 {
        return 0.0;
    }
    let (_, best, mean) = pts.sweep(-max_deg, max_deg, 0.5);
    if best <= 0.0 {
        0.0
    } else {
        ((1.0 - mean / best) as f32).clamp(0.0, 1.0)
    }
}

/// Estimates the skew of the page content.
pub fn find_skew(img: &GrayImage, opts: &DeskewOptions) -> Skew {
    let max = opts.max_angle_deg.clamp(0.0, 45.0);
    if img.width() < 16 || img.height() < 16 {
        return Skew::NONE;
    }
    let threshold = otsu(img);
    // Fine bands near 700 to the long side (4 px at 300 dpi, 3 at 200);
    // the coarse ones twice as tall. Cells are 8 px wide at every size.
    let band = factor_for(img, 700);
    let fine_bands = Bands::sample(img, band, threshold);
    let coarse = fine_bands.merge_pairs().edges(max);
    if coarse.len() < 20 {
        return Skew::NONE;
    }
    let (angle, best, mean) = coarse.sweep(-max, max, 1.0);
    if best <= 0.0 {
        return Skew::NONE;
    }
    let confidence = ((1.0 - mean / best) as f32).clamp(0.0, 1.0);
    let fine = fine_bands.edges(max);
    let (angle, _, _) = fine.sweep(angle - 0.6, angle + 0.6, 0.1);
    let (angle, _, _) = fine.sweep(angle - 0.1, angle + 0.1, 0.02);
    Skew {
        angle_deg: angle.clamp(-max, max),
        confidence,
    }
}

/// Turns the page by `-angle_deg` so its text lines become level (bilinear,
/// fixed point); the canvas grows to keep every pixel, new area takes the
/// paper's level.
pub fn rotate(img: &GrayImage, angle_deg: f32) -> GrayImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if w == 0 || h == 0 || angle_deg == 0.0 || !angle_deg.is_finite() {
        return img.clone();
    }
    let t = (angle_deg as f64).to_radians();
    let (sin, cos) = t.sin_cos();
    let nw = ((w as f64) * cos.abs() + (h as f64) * sin.abs() - 1e-6).ceil() as i64;
    let nh = ((w as f64) * sin.abs() + (h as f64) * cos.abs() - 1e-6).ceil() as i64;
    let (Ok(nw32), Ok(nh32)) = (u32::try_from(nw), u32::try_from(nh)) else {
        return img.clone();
    };
    let mut out = GrayImage::from_pixel(nw32, nh32, image::Luma([paper_level(img)]));
    let src = img.as_raw();
    // Bilinear for every page, bilevel ones too: a nearest-neighbour turn
    // was 3× faster but its jagged strokes made OCR misread a date on a G4
    // form (2004-08-01 → 2004-08-04, accepted as confident).
    let ws = w as usize;
    let (cxs, cys) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let (cxd, cyd) = ((nw as f64 - 1.0) / 2.0, (nh as f64 - 1.0) / 2.0);
    const ONE: f64 = 65536.0;
    let (dx_step, dy_step) = ((cos * ONE) as i64, (-sin * ONE) as i64);
    // Sample only where both neighbours exist: 0 ≤ s < size − 1.
    let (xlim, ylim) = ((w - 1) << 16, (h - 1) << 16);
    // Below ~6° a source row serves ten or more output pixels in a row:
    // blend whole runs at a time. Steeper, pixel by pixel.
    let runs = sin.abs() < 0.1;
    for (yd, row) in out.chunks_mut(nw as usize).enumerate() {
        let dy = yd as f64 - cyd;
        // Source of this row's first pixel: s = R_ccw(t)·(d − cd) + cs.
        let sx0 = ((cxs - cxd * cos + dy * sin) * ONE) as i64;
        let sy0 = ((cys + cxd * sin + dy * cos) * ONE) as i64;
        let (lo, hi) = span(sx0, dx_step, xlim, row.len());
        let (lo2, hi2) = span(sy0, dy_step, ylim, row.len());
        let (lo, hi) = (lo.max(lo2), hi.min(hi2));
        if lo >= hi {
            continue;
        }
        let (sx, sy) = (sx0 + dx_step * lo as i64, sy0 + dy_step * lo as i64);
        let Some(row) = row.get_mut(lo..hi) else {
            continue;
        };
        if runs {
            row_by_runs(row, src, ws, (sx, dx_step), (sy, dy_step));
        } else {
            row_by_pixels(row, src, ws, (sx, dx_step), (sy, dy_step));
        }
    }
    out
}

/// One in 16.16 fixed point.
const ONE_FIX: i64 = 1 << 16;

/// How many steps `k ≥ 0` keep `frac + k·step` within `0..ONE_FIX` (a
/// fixed-point fraction that stays in one pixel).
fn steps_within(frac: i64, step: i64) -> usize {
    let n = match step {
        0 => return usize::MAX,
        s if s > 0 => (ONE_FIX - frac + s - 1) / s,
        s => frac / -s + 1,
    };
    usize::try_from(n).unwrap_or(0)
}

/// One output row (the part inside the source), sampled pixel by pixel.
/// `x` and `y` are the 16.16 source position of the first pixel and its
/// step per pixel.
fn row_by_pixels(row: &mut [u8], src: &[u8], ws: usize, x: (i64, i64), y: (i64, i64)) {
    let ((mut sx, dx), (mut sy, dy)) = (x, y);
    for px in row {
        // Inside the span both neighbours exist on both axes.
        let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
        let r0 = y0 * ws + x0;
        let (Some(&[t0, t1]), Some(&[b0, b1])) = (
            src.get(r0..r0 + 2)
                .and_then(|s| <&[u8; 2]>::try_from(s).ok()),
            src.get(r0 + ws..r0 + ws + 2)
                .and_then(|s| <&[u8; 2]>::try_from(s).ok()),
        ) else {
            break;
        };
        // Paper and solid ink are most of a page: four equal neighbours
        // need no weights.
        *px = if t0 == t1 && b0 == b1 && t0 == b0 {
            t0
        } else {
            let (fx, fy) = (((sx >> 8) & 0xFF) as u32, ((sy >> 8) & 0xFF) as u32);
            let t = t0 as u32 * (256 - fx) + t1 as u32 * fx;
            let b = b0 as u32 * (256 - fx) + b1 as u32 * fx;
            ((t * (256 - fy) + b * fy) >> 16) as u8
        };
        sx += dx;
        sy += dy;
    }
}

/// One output row in runs: pixels whose neighbours are the next ones along
/// the same two source rows. Within a run the horizontal fraction barely
/// moves (by 1 − cos θ per pixel) and is taken at the run's middle; the
/// vertical one moves by sin θ and is followed exactly, in 16-bit lanes.
fn row_by_runs(row: &mut [u8], src: &[u8], ws: usize, x: (i64, i64), y: (i64, i64)) {
    let ((mut sx, dx), (mut sy, dy)) = (x, y);
    let mut i = 0;
    while i < row.len() {
        let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
        let (fx, fy) = (sx & (ONE_FIX - 1), sy & (ONE_FIX - 1));
        let n = steps_within(fy, dy)
            .min(steps_within(fx, dx - ONE_FIX))
            .min(row.len() - i)
            .max(1);
        let r0 = y0 * ws + x0;
        let (Some(top), Some(bot), Some(out)) = (
            src.get(r0..r0 + n + 1),
            src.get(r0 + ws..r0 + ws + n + 1),
            row.get_mut(i..i + n),
        ) else {
            break;
        };
        let wx = (((fx + (dx - ONE_FIX) * (n as i64 - 1) / 2) >> 8).clamp(0, 255)) as u16;
        blend_run(out, top, bot, wx, fy as u16, dy as u16);
        sx += dx * n as i64;
        sy += dy * n as i64;
        i += n;
    }
}

/// Bilinear blend of one run: output pixel `k` lies between `top[k..k+2]`
/// and `bot[k..k+2]`, `wx`/256 of the way across and `fy + k·dfy` (16-bit
/// fraction, wrapping step) down. All products fit 16 bits.
fn blend_run(out: &mut [u8], top: &[u8], bot: &[u8], wx: u16, fy: u16, dfy: u16) {
    let n = out.len();
    let (Some(t0), Some(t1), Some(b0), Some(b1)) = (
        top.get(..n),
        top.get(1..n + 1),
        bot.get(..n),
        bot.get(1..n + 1),
    ) else {
        return;
    };
    let mut f = fy;
    for ((((px, &a), &b), &c), &d) in out.iter_mut().zip(t0).zip(t1).zip(b0).zip(b1) {
        let wy = f >> 8;
        // Rounded at each step; at most 255·256 + 128 < 2¹⁶.
        let t = (u16::from(a) * (256 - wx) + u16::from(b) * wx + 128) >> 8;
        let u = (u16::from(c) * (256 - wx) + u16::from(d) * wx + 128) >> 8;
        *px = ((t * (256 - wy) + u * wy + 128) >> 8) as u8;
        f = f.wrapping_add(dfy);
    }
}

/// The index range `lo..hi` of a row where `start + i·step` stays within
/// `0..limit` (16.16 fixed point).
fn span(start: i64, step: i64, limit: i64, len: usize) -> (usize, usize) {
    let inside = |i: i64| {
        let v = start + step * i;
        (0..limit).contains(&v)
    };
    if step == 0 {
        return if inside(0) { (0, len) } else { (0, 0) };
    }
    // Solve 0 ≤ start + step·i < limit for i, then nudge for rounding.
    let (a, b) = (
        (-start) as f64 / step as f64,
        (limit - 1 - start) as f64 / step as f64,
    );
    let (lo, hi) = (a.min(b).ceil().max(0.0), a.max(b).floor() + 1.0);
    let mut lo = (lo as i64).clamp(0, len as i64);
    let mut hi = (hi as i64).clamp(0, len as i64);
    while lo < hi && !inside(lo) {
        lo += 1;
    }
    while hi > lo && !inside(hi - 1) {
        hi -= 1;
    }
    (lo as usize, hi as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_page(angle: f32) -> GrayImage {
        // Text-like bars on white, then turned counter-clockwise by `angle`.
        let mut img = GrayImage::from_pixel(1200, 1600, image::Luma([255]));
        for line in 0..30 {
            let y0 = 100 + line * 45;
            for y in y0..y0 + 14 {
                for x in 100..1100 {
                    if (x / 23) % 4 != 3 {
                        img.put_pixel(x, y, image::Luma([0]));
                    }
                }
            }
        }
        rotate(&img, -angle)
    }

    #[test]
    fn finds_the_angle_it_was_turned_by_both_ways() {
        for angle in [-12.0f32, -3.3, 0.0, 0.7, 9.0, 14.5] {
            let skew = find_skew(&lines_page(angle), &DeskewOptions::default());
            assert!(
                (skew.angle_deg - angle).abs() < 0.1,
                "{angle}: found {}",
                skew.angle_deg
            );
            assert!(skew.confidence > 0.2);
        }
    }

    #[test]
    fn blank_tiny_and_black_pages_do_not_panic() {
        let opts = DeskewOptions::default();
        for img in [
            GrayImage::new(1, 1),
            GrayImage::from_pixel(800, 600, image::Luma([255])),
            GrayImage::from_pixel(800, 600, image::Luma([0])),
        ] {
            let s = find_skew(&img, &opts);
            assert!(s.angle_deg.abs() <= 15.0);
            let _ = rotate(&img, 3.0);
        }
        assert_eq!(
            find_skew(&GrayImage::from_pixel(800, 600, image::Luma([255])), &opts).confidence,
            0.0
        );
    }

    #[test]
    fn a_turned_page_is_found_again_and_grey_is_interpolated() {
        let turned = rotate(&lines_page(0.0), 2.0);
        let back = find_skew(&turned, &DeskewOptions::default()).angle_deg;
        assert!((back + 2.0).abs() < 0.1, "{back}");
        // Grey stripes (50 and 200): a bilinear turn blends their edges and
        // makes no value darker than the darkest input.
        let grey = GrayImage::from_fn(200, 100, |x, _| {
            image::Luma([if x % 20 < 10 { 50 } else { 200 }])
        });
        let turned = rotate(&grey, 1.0);
        assert!(turned.as_raw().iter().any(|&v| v > 60 && v < 190));
        assert!(turned.as_raw().iter().all(|&v| v >= 50));
    }

    /// Straight bilinear interpolation in floating point, for reference.
    fn reference_rotate(img: &GrayImage, angle_deg: f32, nw: u32, nh: u32) -> Vec<Option<f64>> {
        let (w, h) = (img.width() as f64, img.height() as f64);
        let (sin, cos) = (angle_deg as f64).to_radians().sin_cos();
        let (cxs, cys) = ((w - 1.0) / 2.0, (h - 1.0) / 2.0);
        let (cxd, cyd) = ((nw as f64 - 1.0) / 2.0, (nh as f64 - 1.0) / 2.0);
        let mut out = Vec::new();
        for yd in 0..nh {
            for xd in 0..nw {
                let (dx, dy) = (xd as f64 - cxd, yd as f64 - cyd);
                let (sx, sy) = (cxs + dx * cos + dy * sin, cys - dx * sin + dy * cos);
                // Within a hair of the source's edge fixed point may fall
                // either side of it: compare the rest.
                let e = 0.01;
                if sx < e || sy < e || sx >= w - 1.0 - e || sy >= h - 1.0 - e {
                    out.push(None);
                    continue;
                }
                let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
                let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
                let p = |x: u32, y: u32| img.get_pixel(x, y).0[0] as f64;
                let t = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
                let b = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
                out.push(Some(t * (1.0 - fy) + b * fy));
            }
        }
        out
    }

    #[test]
    fn run_and_pixel_paths_both_match_plain_bilinear() {
        // A grey pattern with slopes up to ~35 levels per pixel: both the
        // run path (small angles) and the pixel path (steep ones) must
        // agree with floating-point bilinear to within rounding.
        let img = GrayImage::from_fn(301, 207, |x, y| {
            let v = 128.0 + 100.0 * (x as f64 / 3.0).sin() * (y as f64 / 4.0).cos();
            image::Luma([v as u8])
        });
        for angle in [0.3f32, -1.9, 4.0, -9.0, 14.5] {
            let out = rotate(&img, angle);
            let reference = reference_rotate(&img, angle, out.width(), out.height());
            let mut compared = 0;
            for (got, want) in out.as_raw().iter().zip(&reference) {
                if let Some(want) = want {
                    assert!(
                        (*got as f64 - want).abs() <= 2.0,
                        "{angle}°: got {got}, want {want:.1}"
                    );
                    compared += 1;
                }
            }
            assert!(compared > 50_000, "{angle}°: {compared}");
        }
    }

    #[test]
    fn rotation_grows_the_canvas_and_keeps_white_paper() {
        let img = GrayImage::from_pixel(100, 50, image::Luma([255]));
        let r = rotate(&img, 90.0);
        assert_eq!((r.width(), r.height()), (50, 100));
        assert!(r.as_raw().iter().all(|&v| v > 250));
    }
}
