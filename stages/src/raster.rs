//! Raster helpers shared by the image steps and the decoders: threshold
//! choice, block reduction to a small ink map, and the pixel conversions
//! both the TIFF/PNG/JPEG and the PDF readers use (CMYK to RGB, the
//! bi-level test). Private to the crate.

use image::GrayImage;

/// Otsu's threshold over the whole page: the grey level that best splits
/// ink from paper. Bilevel pages give 127.
pub fn otsu(img: &GrayImage) -> u8 {
    otsu_from_hist(&histogram(img))
}

/// The paper's grey level: the commonest level lighter than the ink
/// threshold. Old and recycled paper is grey or yellowed, not white; area
/// a stage adds (a rotated page's corners) takes this level, or OCR's own
/// threshold would see the paper as ink against pure-white corners.
pub fn paper_level(img: &GrayImage) -> u8 {
    let hist = histogram(img);
    let t = otsu_from_hist(&hist);
    (t.saturating_add(1)..=255)
        .max_by_key(|&v| hist[v as usize])
        .unwrap_or(255)
}

/// Grey-level histogram of about 128 rows spread over the page (every 25th
/// row of a 300-dpi A4 page): plenty for page-wide levels.
fn histogram(img: &GrayImage) -> [u64; 256] {
    let mut hist = SplitHistogram::default();
    let w = img.width() as usize;
    let step = (img.height() as usize / 128).max(1);
    for row in img.as_raw().chunks(w.max(1)).step_by(step) {
        hist.add(row);
    }
    hist.total()
}

/// A grey-level histogram kept as four side by side, filled in turn: a
/// bilevel page sends every pixel to one of two bins, and a single
/// histogram would make each count wait for the one before it.
pub struct SplitHistogram([[u64; 256]; 4]);

impl Default for SplitHistogram {
    fn default() -> Self {
        SplitHistogram([[0; 256]; 4])
    }
}

impl SplitHistogram {
    /// Counts the grey levels of `pixels`.
    pub fn add(&mut self, pixels: &[u8]) {
        let hists = &mut self.0;
        let mut quads = pixels.chunks_exact(4);
        for q in &mut quads {
            hists[0][q[0] as usize] += 1;
            hists[1][q[1] as usize] += 1;
            hists[2][q[2] as usize] += 1;
            hists[3][q[3] as usize] += 1;
        }
        for &v in quads.remainder() {
            hists[0][v as usize] += 1;
        }
    }

    /// The one histogram the parts add up to.
    pub fn total(&self) -> [u64; 256] {
        let mut hist = [0u64; 256];
        for (i, h) in hist.iter_mut().enumerate() {
            *h = self.0.iter().map(|part| part[i]).sum();
        }
        hist
    }
}

/// Whether most of the page is darker than Otsu's threshold: light text
/// on a dark ground (slides, inverted headings over a whole page).
pub fn dark_ground(img: &GrayImage) -> bool {
    let hist = histogram(img);
    let t = otsu_from_hist(&hist) as usize;
    let dark: u64 = hist[..=t].iter().sum();
    let total: u64 = hist.iter().sum();
    total > 0 && dark * 2 > total
}

/// Otsu's threshold from a histogram.
pub fn otsu_from_hist(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 127;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0f64, 0f64);
    let (mut best, mut best_t) = (-1f64, 127u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        if w0 == 0.0 {
            continue;
        }
        let w1 = total as f64 - w0;
        if w1 == 0.0 {
            break;
        }
        sum0 += t as f64 * c as f64;
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Naive CMYK to RGB (no colour profile): enough for a grey working
/// raster. Lives here so the image and PDF decoders share one conversion
/// without importing each other.
pub fn cmyk_to_rgb(c: u8, m: u8, y: u8, k: u8) -> [u8; 3] {
    let k = 255 - u16::from(k);
    [c, m, y].map(|v| ((255 - u16::from(v)) * k / 255) as u8)
}

/// Whether a grey raster holds only pure black and white (a bi-level
/// master stored as grey); shared by the image and PDF decoders.
pub fn is_bilevel(gray: &GrayImage) -> bool {
    gray.as_raw().iter().all(|&v| v == 0 || v == 255)
}

/// An ink map reduced by `factor`: each cell counts the ink pixels
/// (value ≤ `threshold`) of its `factor × factor` block.
pub struct InkMap {
    pub width: usize,
    pub height: usize,
    pub factor: usize,
    pub counts: Vec<u16>,
}

impl InkMap {
    /// Reduces `img` by `factor` (≥ 1, at most 255 so counts fit).
    pub fn new(img: &GrayImage, factor: usize, threshold: u8) -> InkMap {
        let factor = factor.clamp(1, 255);
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (rw, rh) = (w.div_ceil(factor), h.div_ceil(factor));
        let mut counts = vec![0u16; rw * rh];
        let raw = img.as_raw();
        // Per band of `factor` rows: ink per column first (a straight,
        // vectorised pass over the pixels), then the columns summed into
        // cells, so the per-cell work is once per band, not per row.
        let mut columns = vec![0u16; w];
        for (band, out) in counts.chunks_mut(rw.max(1)).enumerate().take(rh) {
            columns.fill(0);
            let rows =
                raw[band * factor * w..((band + 1) * factor).min(h) * w].chunks_exact(w.max(1));
            for row in rows {
                for (c, &v) in columns.iter_mut().zip(row) {
                    *c += u16::from(v <= threshold);
                }
            }
            for (cell, block) in out.iter_mut().zip(columns.chunks(factor)) {
                *cell = block.iter().sum();
            }
        }
        InkMap {
            width: rw,
            height: rh,
            factor,
            counts,
        }
    }

    /// The map with rows and columns swapped: text running down the page
    /// runs across it here.
    pub fn transpose(&self) -> InkMap {
        let mut counts = vec![0u16; self.counts.len()];
        for y in 0..self.height {
            for x in 0..self.width {
                counts[x * self.height + y] = self.counts[y * self.width + x];
            }
        }
        InkMap {
            width: self.height,
            height: self.width,
            factor: self.factor,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ink_map_counts_each_cell_as_counted_pixel_by_pixel() {
        let img = GrayImage::from_fn(37, 23, |x, y| {
            image::Luma([((x * 31 + y * 17) % 256) as u8])
        });
        for factor in [1, 2, 3, 5, 8, 40] {
            let map = InkMap::new(&img, factor, 100);
            assert_eq!(
                (map.width, map.height),
                (37usize.div_ceil(factor), 23usize.div_ceil(factor))
            );
            for (i, &n) in map.counts.iter().enumerate() {
                let (cx, cy) = (i % map.width, i / map.width);
                let by_hand = (0..23u32)
                    .flat_map(|y| (0..37u32).map(move |x| (x, y)))
                    .filter(|&(x, y)| x as usize / factor == cx && y as usize / factor == cy)
                    .filter(|&(x, y)| img.get_pixel(x, y).0[0] <= 100)
                    .count();
                assert_eq!(n as usize, by_hand, "factor {factor}, cell ({cx}, {cy})");
            }
        }
    }

    #[test]
    fn otsu_splits_two_levels() {
        let mut img = GrayImage::from_pixel(10, 10, image::Luma([230]));
        for x in 0..10 {
            img.put_pixel(x, 3, image::Luma([20]));
        }
        let t = otsu(&img);
        assert!((20..230).contains(&t), "{t}");
        let map = InkMap::new(&img, 4, t);
        assert_eq!((map.width, map.height), (3, 3));
        assert_eq!(map.counts[0], 4);
    }
}
