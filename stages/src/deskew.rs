//! Deskew: find the angle by which a page's content is turned, and turn it
//! back. The angle comes from the sharpness of the page's horizontal ink
//! profile (text lines give sharp peaks only when level): a coarse sweep
//! over ±`max_angle_deg` on a 4×-reduced ink map, then two finer sweeps on
//! a 2×-reduced map with a parabola through the best three. Pure raster
//! math; no I/O.

use crate::raster::{InkMap, otsu};
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

/// Ink points of a reduced map, weighted by how much ink each cell holds.
struct Points {
    pts: Vec<(f32, f32, f32)>,
    width: f32,
    height: f32,
}

impl Points {
    /// Keeps only the lower edges of ink (an inked cell over an empty one):
    /// baselines and letter bottoms line up along text lines, and there are
    /// several times fewer of them than inked cells.
    fn from_map(map: &InkMap) -> Points {
        let mut pts = Vec::new();
        let min = ((map.factor * map.factor) / 4).max(1) as u16;
        for y in 0..map.height.saturating_sub(1) {
            let row = &map.counts[y * map.width..(y + 1) * map.width];
            let below = &map.counts[(y + 1) * map.width..(y + 2) * map.width];
            for x in 0..map.width {
                if row[x] >= min && below[x] < min {
                    pts.push((x as f32, y as f32, 1.0));
                }
            }
        }
        Points {
            pts,
            width: map.width as f32,
            height: map.height as f32,
        }
    }

    /// Sharpness of the ink profile along lines of slope `angle_deg`
    /// (content turned counter-clockwise): the sum of squared differences
    /// between neighbouring rows, each point split between two rows.
    fn score(&self, angle_deg: f32, max_deg: f32) -> f64 {
        let tan = angle_deg.to_radians().tan();
        let pad = (self.width * max_deg.to_radians().tan().abs()).ceil() + 2.0;
        let bins = (self.height + 2.0 * pad) as usize + 2;
        let mut hist = vec![0f32; bins];
        for &(x, y, w) in &self.pts {
            let yp = y + x * tan + pad;
            if yp < 0.0 {
                continue;
            }
            let i = yp as usize;
            let f = yp - i as f32;
            if i + 1 < bins {
                hist[i] += w * (1.0 - f);
                hist[i + 1] += w * f;
            }
        }
        hist.windows(2)
            .map(|p| ((p[1] - p[0]) as f64).powi(2))
            .sum()
    }

    /// Best angle of a sweep `from..=to` by `step`, refined by a parabola
    /// through the best sample and its neighbours; also the sweep's mean.
    fn sweep(&self, from: f32, to: f32, step: f32, max_deg: f32) -> (f32, f64, f64) {
        let n = ((to - from) / step).round().max(0.0) as usize + 1;
        let scores: Vec<f64> = (0..n)
            .map(|i| self.score(from + i as f32 * step, max_deg))
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

/// Reduction factor that brings the long side of the page near `target` px.
pub(crate) fn factor_for(img: &GrayImage, target: u32) -> usize {
    (img.width().max(img.height()) / target).max(1) as usize
}

/// How sharply text lines stand out along the map's rows at their best
/// angle within ±`max_deg` (0..1; a coarse sweep only). Orientation
/// compares this across and down the page.
pub(crate) fn line_sharpness(map: &InkMap, max_deg: f32) -> f32 {
    let pts = Points::from_map(map);
    if pts.pts.len() < 20 {
        return 0.0;
    }
    let (_, best, mean) = pts.sweep(-max_deg, max_deg, 0.5, max_deg);
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
    // Fine map near 900 px on the long side (4× at 300 dpi), read from
    // every second row; the coarse map is 2× smaller again. The factor is even from 4 up so that every map row gets the same
    // number of sampled rows: uneven rows would print a stripe pattern
    // that pulls the estimate towards exactly 0°.
    let factor = match factor_for(img, 900) {
        f @ 1..=2 => f,
        f => f + f % 2,
    };
    let fine_map = InkMap::sampled(img, factor, factor.div_ceil(2), threshold);
    let coarse = Points::from_map(&fine_map.halve());
    if coarse.pts.len() < 20 {
        return Skew::NONE;
    }
    let (angle, best, mean) = coarse.sweep(-max, max, 0.5, max);
    if best <= 0.0 {
        return Skew::NONE;
    }
    let confidence = ((1.0 - mean / best) as f32).clamp(0.0, 1.0);
    let fine = Points::from_map(&fine_map);
    let (angle, _, _) = fine.sweep(angle - 0.6, angle + 0.6, 0.1, max);
    let (angle, _, _) = fine.sweep(angle - 0.1, angle + 0.1, 0.02, max);
    Skew {
        angle_deg: angle.clamp(-max, max),
        confidence,
    }
}

/// Turns the page by `-angle_deg` so its text lines become level (bilinear,
/// fixed point); the canvas grows to keep every pixel, new area is white.
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
    let mut out = GrayImage::from_pixel(nw32, nh32, image::Luma([255]));
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
        let mut sx = sx0 + dx_step * lo as i64;
        let mut sy = sy0 + dy_step * lo as i64;
        for px in &mut row[lo..hi] {
            // In the span, 0 ≤ sx < (w − 1)·2¹⁶ and 0 ≤ sy < (h − 1)·2¹⁶,
            // so both neighbours exist.
            let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
            let (fx, fy) = (((sx >> 8) & 0xFF) as u32, ((sy >> 8) & 0xFF) as u32);
            let r0 = y0 * ws + x0;
            let (top, bot) = match (src.get(r0..r0 + 2), src.get(r0 + ws..r0 + ws + 2)) {
                (Some(t), Some(b)) => (t, b),
                _ => break,
            };
            let t = top[0] as u32 * (256 - fx) + top[1] as u32 * fx;
            let b = bot[0] as u32 * (256 - fx) + bot[1] as u32 * fx;
            *px = ((t * (256 - fy) + b * fy) >> 16) as u8;
            sx += dx_step;
            sy += dy_step;
        }
    }
    out
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

    #[test]
    fn rotation_grows_the_canvas_and_keeps_white_paper() {
        let img = GrayImage::from_pixel(100, 50, image::Luma([255]));
        let r = rotate(&img, 90.0);
        assert_eq!((r.width(), r.height()), (50, 100));
        assert!(r.as_raw().iter().all(|&v| v > 250));
    }
}
