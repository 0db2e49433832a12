//! Content walk: which image on a page is the scan, and where it is drawn
//! (the current transformation matrix when it is painted).

use super::*;

/// A PDF transformation matrix `[a b c d e f]`: a point `(x, y)` maps to
/// `(a·x + c·y + e, b·x + d·y + f)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Matrix {
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) c: f64,
    pub(super) d: f64,
    pub(super) e: f64,
    pub(super) f: f64,
}

impl Matrix {
    pub(super) const IDENTITY: Matrix = Matrix {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        e: 0.0,
        f: 0.0,
    };

    pub(super) fn from_numbers(objs: &[Object]) -> Option<Matrix> {
        let [a, b, c, d, e, f] = objs else {
            return None;
        };
        Some(Matrix {
            a: number(a)?,
            b: number(b)?,
            c: number(c)?,
            d: number(d)?,
            e: number(e)?,
            f: number(f)?,
        })
    }

    /// `self` applied first, then `outer`: `cm` makes the new CTM
    /// `cm.then(&ctm)`.
    pub(super) fn then(&self, outer: &Matrix) -> Matrix {
        Matrix {
            a: self.a * outer.a + self.b * outer.c,
            b: self.a * outer.b + self.b * outer.d,
            c: self.c * outer.a + self.d * outer.c,
            d: self.c * outer.b + self.d * outer.d,
            e: self.e * outer.a + self.f * outer.c + outer.e,
            f: self.e * outer.b + self.f * outer.d + outer.f,
        }
    }

    /// Area (points²) of the unit square drawn through this matrix.
    pub(super) fn area(&self) -> f64 {
        (self.a * self.d - self.b * self.c).abs()
    }

    /// Resolution of an image `width` pixels wide drawn through this CTM:
    /// pixels along the image's own x axis per inch of its drawn length.
    pub(super) fn dpi(&self, width: u32) -> Option<f32> {
        let inches = self.a.hypot(self.b) / 72.0;
        let dpi = f64::from(width) / inches;
        (inches > 1e-9 && dpi.is_finite() && dpi > 0.0)
            .then(|| ((dpi * 100.0).round() / 100.0) as f32)
    }
}

pub(super) enum ImageSource<'d> {
    XObject(&'d Stream),
    Inline(Stream),
}

pub(super) struct Candidate<'d> {
    pub(super) image: ImageSource<'d>,
    /// Which image this is (the same XObject drawn twice has one id).
    pub(super) id: usize,
    /// Current transformation matrix when the image was painted.
    pub(super) ctm: Matrix,
    /// Resources in force there (named colour spaces of inline images).
    pub(super) resources: Option<&'d Dictionary>,
}

impl Candidate<'_> {
    pub(super) fn stream(&self) -> &Stream {
        match &self.image {
            ImageSource::XObject(s) => s,
            ImageSource::Inline(s) => s,
        }
    }
}

pub(super) struct Walk<'d> {
    pub(super) doc: &'d Document,
    pub(super) page: usize,
    /// Content bytes still allowed to be inflated for Form XObjects.
    pub(super) budget: usize,
    pub(super) best: Option<Candidate<'d>>,
    /// Area and id of every image drawn.
    pub(super) drawn: Vec<(f64, usize)>,
    /// Why the walk stopped early, if it did.
    pub(super) broken: Option<String>,
}

impl<'d> Walk<'d> {
    pub(super) fn run(
        &mut self,
        data: &[u8],
        resources: Option<&'d Dictionary>,
        base: Matrix,
        depth: usize,
    ) -> Result<(), StageError> {
        let mut ctm = base;
        let mut saved: Vec<Matrix> = Vec::new();
        for op in Content::decode_iter(data) {
            let op = match op {
                Ok(op) => op,
                Err(e) => {
                    // Keep what was found before the unreadable part; a page
                    // with nothing found reports this instead of "no image".
                    self.broken
                        .get_or_insert_with(|| format!("unreadable page content: {e}"));
                    return Ok(());
                }
            };
            match op.operator.as_str() {
                "q" => {
                    if saved.len() >= MAX_GSTATE_DEPTH {
                        return Err(corrupt(self.page, "graphics states nested too deep"));
                    }
                    saved.push(ctm);
                }
                "Q" => ctm = saved.pop().unwrap_or(ctm),
                "cm" => {
                    if let Some(m) = Matrix::from_numbers(&op.operands) {
                        ctm = m.then(&ctm);
                    }
                }
                "Do" => {
                    if let Some(Object::Name(name)) = op.operands.first() {
                        self.draw(name, resources, ctm, depth)?;
                    }
                }
                "BI" => {
                    if let Some(Object::Stream(s)) = op.operands.into_iter().next() {
                        self.offer(ImageSource::Inline(s), ctm, resources);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn draw(
        &mut self,
        name: &[u8],
        resources: Option<&'d Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), StageError> {
        let doc = self.doc;
        // A missing resource draws nothing, as in viewers.
        let Some(stream) = resources
            .and_then(|r| get_dict(doc, r, b"XObject"))
            .and_then(|x| get(doc, x, &[name]))
            .and_then(|o| o.as_stream().ok())
        else {
            return Ok(());
        };
        match get(doc, &stream.dict, &[b"Subtype"]).and_then(|o| o.as_name().ok()) {
            Some(b"Image") => self.offer(ImageSource::XObject(stream), ctm, resources),
            Some(b"Form") if depth < MAX_FORM_DEPTH => {
                let matrix = get(doc, &stream.dict, &[b"Matrix"])
                    .and_then(|o| o.as_array().ok())
                    .and_then(|a| Matrix::from_numbers(a))
                    .unwrap_or(Matrix::IDENTITY);
                let form_resources = get_dict(doc, &stream.dict, b"Resources").or(resources);
                let data = stream
                    .decompressed_content_with_limit(self.budget)
                    .map_err(|e| corrupt(self.page, format!("form content: {e}")))?;
                self.budget = self.budget.saturating_sub(data.len());
                self.run(&data, form_resources, matrix.then(&ctm), depth + 1)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Keeps the image with the largest drawn area (the first of equals)
    /// and notes every image drawn, to tell a layered page from a scan.
    pub(super) fn offer(
        &mut self,
        image: ImageSource<'d>,
        ctm: Matrix,
        resources: Option<&'d Dictionary>,
    ) {
        let area = ctm.area();
        if !area.is_finite() || area <= 0.0 {
            return;
        }
        let id = match &image {
            ImageSource::XObject(s) => std::ptr::from_ref::<Stream>(s) as usize,
            // Inline images are each their own image.
            ImageSource::Inline(_) => usize::MAX - self.drawn.len(),
        };
        self.drawn.push((area, id));
        if self.best.as_ref().is_none_or(|b| area > b.ctm.area()) {
            self.best = Some(Candidate {
                image,
                id,
                ctm,
                resources,
            });
        }
    }

    /// How many other images are drawn at a quarter or more of the chosen
    /// image's area: a layered (MRC) page, a scan cut into strips, or a
    /// page of several photos. Redrawing the same image does not count.
    pub(super) fn large_others(&self) -> usize {
        let Some(best) = &self.best else {
            return 0;
        };
        let floor = best.ctm.area() * 0.25;
        self.drawn
            .iter()
            .filter(|(area, id)| *id != best.id && *area >= floor)
            .count()
    }
}
