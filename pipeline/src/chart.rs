//! Small charts for reports, drawn twice from one model: as inline SVG
//! for the HTML report and the console, and as PDF vector paths for the
//! PDF report. One model means the two reports cannot disagree, and the
//! PDF needs no converter at run time (plotters has no PDF backend).

use std::fmt::Write;

/// Bars (one per label) or a line through the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bars,
    Line,
}

/// One series over labelled x positions.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub kind: Kind,
    pub labels: Vec<String>,
    pub values: Vec<f64>,
}

/// Width and height of a chart in SVG pixels / PDF points.
pub const WIDTH: f64 = 500.0;
pub const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 40.0;

/// A plot area with a "nice" y scale, in a y-down frame (SVG's); the PDF
/// writer flips it.
struct Frame {
    max: f64,
    ticks: Vec<f64>,
}

impl Frame {
    fn of(values: &[f64]) -> Frame {
        let top = values.iter().cloned().fold(0.0_f64, f64::max);
        let step = nice_step(if top > 0.0 { top / 4.0 } else { 0.25 });
        let max = (top / step).ceil().max(1.0) * step;
        let ticks = (0..=((max / step).round() as usize))
            .map(|i| i as f64 * step)
            .collect();
        Frame { max, ticks }
    }
    fn y(&self, v: f64) -> f64 {
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / self.max)
    }
    fn slot(&self, n: usize) -> f64 {
        (WIDTH - LEFT - RIGHT) / n.max(1) as f64
    }
    fn x_center(&self, i: usize, n: usize) -> f64 {
        LEFT + self.slot(n) * (i as f64 + 0.5)
    }
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn number(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Which x labels to print so they do not overlap (about 12 at most).
fn label_every(n: usize) -> usize {
    n.div_ceil(12).max(1)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Chart {
    /// The chart as a standalone `<svg>` element.
    pub fn svg(&self) -> String {
        let f = Frame::of(&self.values);
        let n = self.values.len();
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}" font-family="sans-serif" font-size="10"><title>{t}</title><text x="{LEFT}" y="16" font-size="12" font-weight="bold">{t}</text>"#,
            t = xml_escape(&self.title)
        );
        for t in &f.ticks {
            let y = f.y(*t);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 4.0,
                y + 3.0,
                number(*t)
            );
        }
        let base = f.y(0.0);
        match self.kind {
            Kind::Bars => {
                let w = f.slot(n) * 0.7;
                for (i, v) in self.values.iter().enumerate() {
                    let y = f.y(*v);
                    let _ = write!(
                        s,
                        r##"<rect class="bar" x="{:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="#4a78b0"><title>{}: {}</title></rect>"##,
                        f.x_center(i, n) - w / 2.0,
                        (base - y).max(0.0),
                        xml_escape(&self.labels[i]),
                        number(*v)
                    );
                }
            }
            Kind::Line => {
                let pts: Vec<String> = self
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("{:.1},{:.1}", f.x_center(i, n), f.y(*v)))
                    .collect();
                let _ = write!(
                    s,
                    r##"<polyline class="line" points="{}" fill="none" stroke="#c0504d" stroke-width="2"/>"##,
                    pts.join(" ")
                );
            }
        }
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#333"/>"##,
            WIDTH - RIGHT
        );
        let every = label_every(n);
        for (i, l) in self.labels.iter().enumerate().step_by(every) {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                f.x_center(i, n),
                HEIGHT - BOTTOM + 14.0,
                xml_escape(l)
            );
        }
        s.push_str("</svg>");
        s
    }

    /// The chart as PDF content-stream operators, its top-left corner at
    /// (`x`, `y_top`) in PDF points (y up). Text uses font `/F1`
    /// (a standard Type1 font: ASCII only; other characters print as ?).
    pub fn pdf(&self, x: f64, y_top: f64) -> String {
        let f = Frame::of(&self.values);
        let n = self.values.len();
        // SVG frame (y down, origin top-left) → PDF page.
        let px = |sx: f64| x + sx;
        let py = |sy: f64| y_top - sy;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "BT /F1 11 Tf {:.1} {:.1} Td ({}) Tj ET",
            px(LEFT),
            py(16.0),
            pdf_text(&self.title)
        );
        let _ = writeln!(s, "0.87 0.87 0.87 RG 0.5 w");
        for t in &f.ticks {
            let y = py(f.y(*t));
            let _ = writeln!(
                s,
                "{:.1} {y:.1} m {:.1} {y:.1} l S",
                px(LEFT),
                px(WIDTH - RIGHT)
            );
            let label = number(*t);
            let _ = writeln!(
                s,
                "0 g BT /F1 8 Tf {:.1} {:.1} Td ({}) Tj ET",
                px(LEFT - 6.0) - 4.4 * label.len() as f64,
                y - 3.0,
                pdf_text(&label)
            );
        }
        let base = f.y(0.0);
        match self.kind {
            Kind::Bars => {
                let w = f.slot(n) * 0.7;
                let _ = writeln!(s, "0.29 0.47 0.69 rg");
                for (i, v) in self.values.iter().enumerate() {
                    let top = f.y(*v);
                    let _ = writeln!(
                        s,
                        "{:.1} {:.1} {w:.1} {:.1} re f",
                        px(f.x_center(i, n) - w / 2.0),
                        py(base),
                        (base - top).max(0.0)
                    );
                }
            }
            Kind::Line => {
                let _ = writeln!(s, "0.75 0.31 0.30 RG 2 w");
                for (i, v) in self.values.iter().enumerate() {
                    let op = if i == 0 { "m" } else { "l" };
                    let _ = write!(s, "{:.1} {:.1} {op} ", px(f.x_center(i, n)), py(f.y(*v)));
                }
                if n > 0 {
                    let _ = writeln!(s, "S");
                }
            }
        }
        let _ = writeln!(
            s,
            "0.2 0.2 0.2 RG 1 w {:.1} {:.1} m {:.1} {:.1} l S",
            px(LEFT),
            py(base),
            px(WIDTH - RIGHT),
            py(base)
        );
        let every = label_every(n);
        for (i, l) in self.labels.iter().enumerate().step_by(every) {
            let _ = writeln!(
                s,
                "0 g BT /F1 8 Tf {:.1} {:.1} Td ({}) Tj ET",
                px(f.x_center(i, n)) - 2.2 * l.chars().count() as f64,
                py(HEIGHT - BOTTOM + 14.0),
                pdf_text(l)
            );
        }
        s
    }
}

/// Text for a PDF string literal in a standard font: ASCII printable,
/// parentheses and backslashes escaped, anything else as `?`.
pub fn pdf_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => format!("\\{c}"),
            ' '..='~' => c.to_string(),
            _ => "?".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind) -> Chart {
        Chart {
            title: "Pages <per> operator".into(),
            kind,
            labels: vec!["a".into(), "b(1)".into(), "张".into()],
            values: vec![3.0, 7.0, 0.0],
        }
    }

    #[test]
    fn bars_have_one_rect_per_value_scaled_to_the_largest() {
        let svg = chart(Kind::Bars).svg();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert!(svg.contains("Pages &lt;per&gt; operator"));
        // 7 is the largest: the scale rounds up to a tick step of 2 (8),
        // so its bar stands at 7/8 of the plot's height.
        let f = Frame::of(&[3.0, 7.0, 0.0]);
        assert_eq!(f.max, 8.0);
        assert_eq!(f.ticks, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        let plot = HEIGHT - TOP - BOTTOM;
        assert!((f.y(0.0) - f.y(7.0) - plot * 7.0 / 8.0).abs() < 1e-9);
    }

    #[test]
    fn pdf_paths_match_the_values_and_text_is_safe() {
        let ops = chart(Kind::Bars).pdf(40.0, 800.0);
        assert_eq!(ops.matches(" re f").count(), 3);
        assert!(ops.contains("(b\\(1\\))"), "{ops}");
        assert!(ops.contains("(?)"), "non-ASCII label becomes ?");
        let line = chart(Kind::Line).pdf(40.0, 800.0);
        let path = line
            .lines()
            .skip_while(|l| !l.contains("RG 2 w"))
            .nth(1)
            .unwrap();
        assert_eq!(path.matches(" m ").count(), 1, "{path}");
        assert_eq!(path.matches(" l ").count(), 2, "three points: {path}");
    }

    #[test]
    fn an_empty_or_flat_series_still_draws() {
        let c = Chart {
            title: "none".into(),
            kind: Kind::Line,
            labels: vec![],
            values: vec![],
        };
        assert!(c.svg().ends_with("</svg>"));
        assert!(!c.pdf(0.0, 0.0).is_empty());
        assert!(Frame::of(&[0.0, 0.0]).max > 0.0);
    }
}
