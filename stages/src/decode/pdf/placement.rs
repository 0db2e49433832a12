//! Orientation on the displayed page: where an image's columns and rows
//! run once the page's /Rotate and the image's matrix are applied.

use super::*;

/// Where an image's columns (x) and rows (y) run on the displayed page,
/// as unit steps in display pixels (x right, y down), snapped to the
/// nearest quarter turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Placement {
    pub(super) col: (i8, i8),
    pub(super) row: (i8, i8),
    /// What the snap left out: how far the page shows the image turned
    /// beyond the quarter turns, degrees counter-clockwise.
    pub(super) tilt_deg: f32,
}

impl Placement {
    /// From the image's CTM and the page's clockwise quarter turns.
    /// `None` when the matrix draws the image flat (no area).
    pub(super) fn new(ctm: &Matrix, turns: u8) -> Option<Placement> {
        // Image space: sample column i runs along the unit square's x,
        // sample row j runs down from its top edge (y = 1 to y = 0). User
        // space has y up; display has y down, hence the flips.
        let to_display = |x: f64, y: f64| {
            let mut v = (x, -y);
            for _ in 0..turns % 4 {
                v = (-v.1, v.0); // a quarter turn clockwise on screen
            }
            v
        };
        let col = to_display(ctm.a, ctm.b);
        let row = to_display(-ctm.c, -ctm.d);
        let cross = col.0 * row.1 - col.1 * row.0;
        if !cross.is_finite() || cross == 0.0 || (col.0 == 0.0 && col.1 == 0.0) {
            return None;
        }
        let snapped = if col.0.abs() >= col.1.abs() {
            (if col.0 >= 0.0 { 1 } else { -1 }, 0)
        } else {
            (0, if col.1 >= 0.0 { 1 } else { -1 })
        };
        // Display y runs down, so a clockwise-looking angle is positive
        // here; the tilt is reported counter-clockwise positive.
        let shown = col.1.atan2(col.0);
        let snap = f64::from(snapped.1).atan2(f64::from(snapped.0));
        let diff = (shown - snap + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
            - std::f64::consts::PI;
        let tilt_deg = (-diff.to_degrees()) as f32;
        let col = snapped;
        // Rows run a quarter turn clockwise from columns unless mirrored.
        let cw = (-col.1, col.0);
        let row = if cross > 0.0 { cw } else { (-cw.0, -cw.1) };
        Some(Placement { col, row, tilt_deg })
    }

    /// The image as displayed.
    pub(super) fn apply(&self, src: GrayImage) -> GrayImage {
        if self.col == (1, 0) && self.row == (0, 1) {
            return src;
        }
        let (w, h) = (i64::from(src.width()), i64::from(src.height()));
        let (ow, oh) = if self.col.0 != 0 { (w, h) } else { (h, w) };
        let (cx, cy) = (i64::from(self.col.0), i64::from(self.col.1));
        let (rx, ry) = (i64::from(self.row.0), i64::from(self.row.1));
        let bx = if cx < 0 { w - 1 } else { 0 } + if rx < 0 { h - 1 } else { 0 };
        let by = if cy < 0 { w - 1 } else { 0 } + if ry < 0 { h - 1 } else { 0 };
        let mut out = vec![255u8; src.as_raw().len()];
        for (j, row) in (0i64..).zip(src.rows()) {
            for (i, px) in (0i64..).zip(row) {
                let x = bx + i * cx + j * rx;
                let y = by + i * cy + j * ry;
                if let Some(dst) = usize::try_from(y * ow + x)
                    .ok()
                    .and_then(|k| out.get_mut(k))
                {
                    *dst = px.0[0];
                }
            }
        }
        GrayImage::from_raw(ow as u32, oh as u32, out).unwrap_or(src)
    }
}
