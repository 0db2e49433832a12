//! Extract: the index fields a document class defines, found in the OCR
//! words by their printed label and value pattern, each with a confidence
//! and a routing decision (accept, or send to keying).

use crate::error::StageError;
use crate::page::{BBox, Word};
use crate::script::is_cjk;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The pattern of a field whose value is free text (a FUNSD answer, a
/// name): any non-empty reading. Used when a class gives no `pattern`.
pub const FREE_TEXT: &str = ".+";

fn free_text() -> String {
    FREE_TEXT.to_string()
}

/// One index field as a class file declares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Key in the index record, e.g. `policy_no`.
    pub name: String,
    /// Printed labels that precede the value on the form, any language.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Regular expression the value matches; free text when absent.
    #[serde(default = "free_text")]
    pub pattern: String,
    /// Format check beyond the pattern (check digits, calendar dates).
    #[serde(default)]
    pub validate: Option<Validator>,
    /// What the keying station shows as the value's shape (e.g.
    /// `YYYY-MM-DD`); derived from the validator or pattern when absent.
    #[serde(default)]
    pub mask: Option<String>,
    /// How keyed letters are compared and stored.
    #[serde(default)]
    pub case: Case,
    /// How the value is found: `label` (the pattern after a label on its
    /// line, else anywhere), `right_or_below` (the label's linked answer)
    /// or `zone`; `zone` when only `zone` is given, else `label`.
    #[serde(default)]
    pub find: Option<Find>,
    /// The box whose words are the value, for `find = "zone"`.
    #[serde(default)]
    pub zone: Option<Zone>,
}

/// How a field's value is found on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Find {
    /// The value pattern after a label on the same line, else the pattern
    /// as whole words anywhere: fields with a shape (IDs, dates, numbers).
    Label,
    /// A label's linked answer: the words right of the label on its line
    /// up to the next column gap or label, or else the line(s) just below
    /// it: free-text answers on forms (FUNSD's question → answer).
    RightOrBelow,
    /// The words inside a box placed relative to an anchor label or to the
    /// page: forms whose layout is fixed.
    Zone,
}

/// A box on the page, in millimetres or inches (scaled by the page's dpi),
/// relative to the top-left corner of an anchor label's box, or of the
/// page when there is no anchor. Words whose centre lies inside are the
/// value, in reading order; the anchor's own words never are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Printed label the box is placed from; the page when absent.
    #[serde(default)]
    pub anchor: Option<String>,
    /// `mm` (default) or `in`.
    #[serde(default)]
    pub unit: Unit,
    /// Left edge, right of the anchor's (or page's) left edge; may be
    /// negative.
    pub dx: f32,
    /// Top edge, below the anchor's (or page's) top edge; may be negative.
    pub dy: f32,
    /// Width, more than 0.
    pub w: f32,
    /// Height, more than 0.
    pub h: f32,
}

/// Length unit of a zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Millimetres.
    #[default]
    Mm,
    /// Inches.
    In,
}

impl Unit {
    /// Pixels per unit at `dpi`.
    fn px(self, dpi: f32) -> f32 {
        match self {
            Unit::Mm => dpi / 25.4,
            Unit::In => dpi,
        }
    }
}

/// One page's words and its resolution, as extraction reads them.
#[derive(Debug, Clone, Copy)]
pub struct PageWords<'a> {
    /// The words with boxes in the page's pixels.
    pub words: &'a [Word],
    /// Dots per inch of the raster the boxes are in (zones are scaled by it).
    pub dpi: f32,
    /// Where the scan's top-left corner lies in that raster (the image
    /// stage's `scan_origin`): zones on the page are placed from it.
    pub origin: [f32; 2],
}

/// Letter case of a field's keyed value: IDs and codes are upper case on
/// paper, so a keyer's `x` and another's `X` are one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// Letters folded to upper case.
    #[default]
    Upper,
    /// Letters folded to lower case.
    Lower,
    /// Case counts as typed (names, free text).
    AsTyped,
}

/// Format checks whose failure means the OCR read is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// PRC resident ID number, GB 11643 check digit.
    PrcId,
    /// ISO date `YYYY-MM-DD` that exists on the calendar.
    Date,
    /// Amount with optional thousands separators and two decimals.
    Amount,
    /// PRC mobile number.
    Mobile,
}

impl Validator {
    /// True when `value` passes the check.
    pub fn check(self, value: &str) -> bool {
        match self {
            Validator::PrcId => prc_id_ok(value),
            Validator::Date => date_ok(value),
            Validator::Amount => {
                let re = Regex::new(r"^\d{1,3}(,\d{3})*(\.\d{2})?$|^\d+(\.\d{2})?$")
                    .expect("static regex");
                re.is_match(value)
            }
            Validator::Mobile => {
                value.len() == 11
                    && value.starts_with('1')
                    && value.bytes().all(|b| b.is_ascii_digit())
            }
        }
    }
}

/// Why a field goes to keying instead of straight into the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Route {
    /// Confident and valid: goes into the index as read.
    Accepted,
    /// A person must key it; `reason` says why.
    Keying { reason: String },
}

/// One field as extracted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub name: String,
    pub value: Option<String>,
    /// 0..1: the lowest confidence of the words the value came from.
    pub confidence: f32,
    /// Page of the document (0-based) and box of the value, for the
    /// keying station's snippet.
    pub page: Option<usize>,
    pub bbox: Option<BBox>,
    pub route: Route,
}

/// One field, compiled: its spec, label patterns, value pattern, the
/// value pattern anchored to a whole keyed value, how it is found and the
/// zone's anchor pattern.
#[derive(Debug, Clone)]
struct Compiled {
    spec: FieldSpec,
    labels: Vec<Regex>,
    value: Regex,
    whole: Regex,
    find: Find,
    anchor: Option<Regex>,
}

impl Compiled {
    /// The field's zone when it is found by a zone on the page (no anchor).
    fn page_zone(&self) -> Option<&Zone> {
        self.spec
            .zone
            .as_ref()
            .filter(|z| self.find == Find::Zone && z.anchor.is_none())
    }
}

/// A class's fields, compiled once and shared by all workers.
#[derive(Debug, Clone)]
pub struct FieldSet {
    fields: Vec<Compiled>,
}

/// A printed label as a pattern: case-insensitive, any whitespace between
/// its characters (Tesseract may split or join label words), and a
/// trailing colon optional (forms print "Date", "Date:" and "DATE :").
fn label_regex(label: &str) -> Result<Regex, regex::Error> {
    let trimmed = label.trim().trim_end_matches([':', '：']).trim_end();
    let chars: Vec<String> = trimmed
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| regex::escape(&c.to_string()))
        .collect();
    Regex::new(&format!("(?i){}", chars.join(r"\s*")))
}

impl FieldSet {
    /// Compiles the class's field specs; a bad pattern, a zone without its
    /// size or a linked answer without a label is a config error.
    pub fn new(specs: &[FieldSpec]) -> Result<Self, StageError> {
        let invalid = |reason: String| StageError::Invalid {
            stage: "extract",
            reason,
        };
        let mut fields = Vec::new();
        for spec in specs {
            let name = &spec.name;
            let value = Regex::new(&spec.pattern)
                .map_err(|e| invalid(format!("field {name}: pattern: {e}")))?;
            let labels = spec
                .labels
                .iter()
                .map(|l| {
                    if l.trim().trim_end_matches([':', '：']).trim().is_empty() {
                        return Err(invalid(format!("field {name}: an empty label")));
                    }
                    label_regex(l).map_err(|e| invalid(format!("field {name}: label {l}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let whole = Regex::new(&format!("^(?:{})$", spec.pattern))
                .map_err(|e| invalid(format!("field {name}: pattern: {e}")))?;
            let find = match (spec.find, &spec.zone) {
                (None, Some(_)) | (Some(Find::Zone), Some(_)) => Find::Zone,
                (Some(Find::Zone), None) => {
                    return Err(invalid(format!(
                        "field {name}: find = \"zone\" needs zone = {{ dx, dy, w, h }} (and optionally anchor, unit)"
                    )));
                }
                (Some(other), Some(_)) => {
                    return Err(invalid(format!(
                        "field {name}: a zone is given but find = \"{}\"; drop one of them",
                        match other {
                            Find::Label => "label",
                            _ => "right_or_below",
                        }
                    )));
                }
                (f, None) => f.unwrap_or(Find::Label),
            };
            if find == Find::RightOrBelow && labels.is_empty() {
                return Err(invalid(format!(
                    "field {name}: find = \"right_or_below\" needs at least one label"
                )));
            }
            let mut anchor = None;
            if let Some(z) = &spec.zone {
                for (key, v) in [("dx", z.dx), ("dy", z.dy), ("w", z.w), ("h", z.h)] {
                    if !v.is_finite() {
                        return Err(invalid(format!(
                            "field {name}: zone {key} must be a number, got {v}"
                        )));
                    }
                }
                if z.w <= 0.0 || z.h <= 0.0 {
                    return Err(invalid(format!(
                        "field {name}: zone w and h must be more than 0, got w = {}, h = {}",
                        z.w, z.h
                    )));
                }
                if let Some(a) = &z.anchor {
                    if a.trim().trim_end_matches([':', '：']).trim().is_empty() {
                        return Err(invalid(format!(
                            "field {name}: zone anchor is empty (leave it out to place the zone on the page)"
                        )));
                    }
                    anchor = Some(
                        label_regex(a)
                            .map_err(|e| invalid(format!("field {name}: zone anchor {a}: {e}")))?,
                    );
                }
            }
            fields.push(Compiled {
                spec: spec.clone(),
                labels,
                value,
                whole,
                find,
                anchor,
            });
        }
        Ok(Self { fields })
    }

    /// The spec of the field called `name`.
    pub fn spec(&self, name: &str) -> Option<&FieldSpec> {
        self.fields
            .iter()
            .find(|c| c.spec.name == name)
            .map(|c| &c.spec)
    }

    /// The value pattern of field `name`, anchored to the whole value:
    /// what a keyed entry must match.
    pub fn whole_pattern(&self, name: &str) -> Option<&Regex> {
        self.fields
            .iter()
            .find(|c| c.spec.name == name)
            .map(|c| &c.whole)
    }

    /// The boxes, in pixels of a `width` × `height` page at `dpi`, that
    /// hold every field: each page zone grown by `margin_mm` on all sides
    /// (a word on the zone's edge is read whole; extraction still takes
    /// only words centred inside) and clipped to the page. `None` when
    /// some field is not a page zone (a label, linked answer or anchored
    /// zone needs the whole page's words): such a class cannot read its
    /// fields alone. Empty boxes (a zone off the page) are left out.
    pub fn page_zones(
        &self,
        page: (u32, u32, f32),
        origin: [f32; 2],
        margin_mm: f32,
    ) -> Option<Vec<BBox>> {
        let (width, height, dpi) = page;
        let dpi = if dpi.is_finite() && dpi > 0.0 {
            dpi
        } else {
            300.0
        };
        let mut boxes = Vec::new();
        for c in &self.fields {
            let zone = c.page_zone()?;
            let px = zone.unit.px(dpi);
            let pad = margin_mm.max(0.0) * Unit::Mm.px(dpi);
            let clip = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
            let [ox, oy] = origin;
            let b = BBox {
                x0: clip(ox + zone.dx * px - pad, width),
                y0: clip(oy + zone.dy * px - pad, height),
                x1: clip(ox + (zone.dx + zone.w) * px + pad, width),
                y1: clip(oy + (zone.dy + zone.h) * px + pad, height),
            };
            if b.x1 > b.x0 && b.y1 > b.y0 {
                boxes.push(b);
            }
        }
        Some(boxes)
    }

    /// The first field that is not a zone on the page (found by a label,
    /// a linked answer or an anchored zone), by name: a class with one
    /// cannot read its fields alone.
    pub fn first_not_on_page(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|c| c.page_zone().is_none())
            .map(|c| c.spec.name.as_str())
    }

    /// True when the class defines no fields (its documents package at once).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Finds every field in a document's pages (`pages[i]` = words of page
    /// i, at 300 dpi) and routes each: accepted when valid and confidence
    /// ≥ `threshold` (0..1). See [`FieldSet::extract_pages`].
    pub fn extract(&self, pages: &[&[Word]], threshold: f32) -> Vec<FieldValue> {
        let pages: Vec<PageWords> = pages
            .iter()
            .map(|w| PageWords {
                words: w,
                dpi: 300.0,
                origin: [0.0, 0.0],
            })
            .collect();
        self.extract_pages(&pages, threshold)
    }

    /// Finds every field in a document's pages, each with its resolution
    /// (zones are measured in mm or inches), and routes each: accepted
    /// when valid and confidence ≥ `threshold` (0..1).
    pub fn extract_pages(&self, pages: &[PageWords], threshold: f32) -> Vec<FieldValue> {
        let lines: Vec<Line> = pages
            .iter()
            .enumerate()
            .flat_map(|(p, pw)| build_lines(p, pw.words))
            .collect();
        let all_labels: Vec<&Regex> = self.fields.iter().flat_map(|c| &c.labels).collect();
        self.fields
            .iter()
            .map(|c| {
                let found = match c.find {
                    Find::Label => find_after_label(c, &lines),
                    Find::RightOrBelow => find_linked(c, &lines, &all_labels),
                    Find::Zone => find_in_zone(c, pages, &lines),
                };
                route(c, found, threshold)
            })
            .collect()
    }
}

/// One text line: its string and, per byte range, the word it came from.
struct Line<'a> {
    page: usize,
    text: String,
    spans: Vec<(usize, usize, &'a Word)>,
    /// Tallest word's height, pixels: the line's scale for gaps.
    height: f32,
}

impl Line<'_> {
    fn top(&self) -> u32 {
        self.spans.iter().map(|s| s.2.bbox.y0).min().unwrap_or(0)
    }
    fn bottom(&self) -> u32 {
        self.spans.iter().map(|s| s.2.bbox.y1).max().unwrap_or(0)
    }
}

/// Groups words into visual rows: a word joins a row when its vertical
/// centre lies within half a word height of the row's. Tesseract's own
/// line numbers split a form's label cell from its value cell, so they are
/// not used here.
fn build_lines(page: usize, words: &[Word]) -> Vec<Line<'_>> {
    let mut sorted: Vec<&Word> = words.iter().filter(|w| !w.text.trim().is_empty()).collect();
    sorted.sort_by(|a, b| a.bbox.center_y().total_cmp(&b.bbox.center_y()));
    let mut rows: Vec<(f32, f32, Vec<&Word>)> = Vec::new();
    for w in sorted {
        let h = w.bbox.height().max(1) as f32;
        match rows.last_mut() {
            Some((cy, rh, row)) if (w.bbox.center_y() - *cy).abs() <= 0.5 * rh.max(h) => {
                row.push(w);
                let n = row.len() as f32;
                *cy += (w.bbox.center_y() - *cy) / n;
                *rh = rh.max(h);
            }
            _ => rows.push((w.bbox.center_y(), h, vec![w])),
        }
    }
    rows.into_iter()
        .map(|(_, h, mut row)| {
            row.sort_by_key(|w| w.bbox.x0);
            let mut line = Line {
                page,
                text: String::new(),
                spans: Vec::new(),
                height: h,
            };
            for w in row {
                let joins_cjk = line.text.chars().last().is_some_and(is_cjk)
                    && w.text.chars().next().is_some_and(is_cjk);
                if !line.text.is_empty() && !joins_cjk {
                    line.text.push(' ');
                }
                let start = line.text.len();
                line.text.push_str(&w.text);
                line.spans.push((start, line.text.len(), w));
            }
            line
        })
        .collect()
}

/// What a finder read: the words of the value (in reading order), its
/// text, and why its confidence is lowered below the words' own, if so.
struct Found<'a> {
    page: usize,
    text: String,
    words: Vec<&'a Word>,
    /// Where each word stands in `text` (byte ranges), where the finder
    /// knows: a value cut out of a cell by its pattern is then as sure as
    /// its own words, not as the cell's least sure word (a zone holding
    /// the printed label beside the value).
    spans: Vec<(usize, usize, &'a Word)>,
    /// Factor on the words' confidence (1 = sure of the link) and why.
    doubt: Option<(f32, String)>,
}

/// Why a field was not found, for the keyer.
type Missing = String;

/// The value pattern after a label on the same line; else the pattern as
/// whole words anywhere.
fn find_after_label<'a>(c: &Compiled, lines: &[Line<'a>]) -> Result<Found<'a>, Missing> {
    let after_label = lines.iter().find_map(|line| {
        let end = c
            .labels
            .iter()
            .filter_map(|l| l.find(&line.text))
            .map(|m| m.end())
            .max()?;
        let m = c.value.find_at(&line.text, end)?;
        Some((line, m.start(), m.end()))
    });
    // Without a label, only a match that is whole words counts: digits
    // inside a longer number are not a phone number.
    let found = after_label.or_else(|| {
        lines.iter().find_map(|line| {
            c.value
                .find_iter(&line.text)
                .find(|m| {
                    line.spans.iter().any(|(s, _, _)| *s == m.start())
                        && line.spans.iter().any(|(_, e, _)| *e == m.end())
                })
                .map(|m| (line, m.start(), m.end()))
        })
    });
    let Some((line, start, end)) = found else {
        return Err("not found on the page".into());
    };
    Ok(Found {
        page: line.page,
        text: line.text[start..end].to_string(),
        words: line
            .spans
            .iter()
            .filter(|(s, e, _)| *s < end && *e > start)
            .map(|(_, _, w)| *w)
            .collect(),
        spans: Vec::new(),
        doubt: None,
    })
}

/// A label found on a line at word boundaries: the index of its first
/// and last word in the line, and how much it looks like a form's label.
struct LabelHit {
    line: usize,
    first: usize,
    last: usize,
    /// 3: a colon follows; 2: the label is a cell of its own (a column
    /// gap or the line's end follows); 1: starts a cell, words follow.
    rank: u8,
}

/// Gap between two words wider than this many line heights starts a new
/// cell (a column, or a form's label and its value box).
const CELL_GAP: f32 = 1.6;

/// Index of the word in `line` whose byte span contains `pos`.
fn word_at(line: &Line, pos: usize) -> Option<usize> {
    line.spans
        .iter()
        .position(|(s, e, _)| *s <= pos && pos < *e)
}

/// True when word `i` begins a cell: first on its line or after a gap.
fn starts_cell(line: &Line, i: usize) -> bool {
    i == 0 || {
        let prev = line.spans[i - 1].2.bbox.x1 as f32;
        let this = line.spans[i].2.bbox.x0 as f32;
        this - prev > CELL_GAP * line.height
    }
}

/// A word that reads as a form label of its own ("Name:", "FAX #:").
fn is_label_word(text: &str) -> bool {
    let t = text.trim();
    t.chars().count() >= 2
        && (t.ends_with(':') || t.ends_with('：'))
        && t.chars().any(char::is_alphabetic)
}

/// Where `labels` occur on `lines` at word boundaries, with rank ≥ 1: a
/// label in running text (not starting a cell, no colon) is not a hit.
fn label_hits(labels: &[Regex], lines: &[Line]) -> Vec<LabelHit> {
    let mut hits = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        for re in labels {
            for m in re.find_iter(&line.text) {
                let (Some(first), Some(last)) =
                    (word_at(line, m.start()), word_at(line, m.end() - 1))
                else {
                    continue;
                };
                // Whole words: the label starts a word and what remains of
                // its last word is punctuation.
                if line.spans[first].0 != m.start() {
                    continue;
                }
                let rest = &line.text[m.end()..line.spans[last].1];
                if !rest.chars().all(|c| !c.is_alphanumeric()) {
                    continue;
                }
                let colon_next = line
                    .spans
                    .get(last + 1)
                    .is_some_and(|(s, e, _)| matches!(line.text[*s..*e].trim(), ":" | "："));
                let colon = rest.contains([':', '：']) || colon_next;
                let last = if colon_next { last + 1 } else { last };
                let cell_ends = last + 1 == line.spans.len() || starts_cell(line, last + 1);
                let rank = if colon {
                    3
                } else if starts_cell(line, first) && cell_ends {
                    2
                } else if starts_cell(line, first) {
                    // "DATE RECEIVED:" is another label, not DATE's answer.
                    let longer = line.spans[last + 1..]
                        .iter()
                        .take(3)
                        .any(|(s, e, _)| is_label_word(&line.text[*s..*e]));
                    if longer {
                        continue;
                    }
                    1
                } else {
                    continue;
                };
                hits.push(LabelHit {
                    line: li,
                    first,
                    last,
                    rank,
                });
            }
        }
    }
    hits
}

/// True when the words from `i` on start with another label: the value
/// of this one has ended.
fn label_starts_at(line: &Line, i: usize, others: &[&Regex]) -> bool {
    let (s, e, _) = line.spans[i];
    if is_label_word(&line.text[s..e]) {
        return true;
    }
    // Another field's label as whole words, with a colon or as a cell of
    // its own ("To" inside "sent to Bob" is no label).
    others.iter().any(|re| {
        re.find_at(&line.text, s).is_some_and(|m| {
            m.start() == s
                && word_at(line, m.end() - 1).is_some_and(|last| {
                    let rest = &line.text[m.end()..line.spans[last].1];
                    !rest.chars().any(char::is_alphanumeric)
                        && (rest.contains([':', '：']) || starts_cell(line, i))
                })
        })
    })
}

/// The words of `line` from word `from` to the end of its cell (the next
/// column gap) or the next label.
fn cell_from(line: &Line, from: usize, others: &[&Regex]) -> Vec<usize> {
    let mut out = Vec::new();
    for i in from..line.spans.len() {
        if i > from && (starts_cell(line, i) || label_starts_at(line, i, others)) {
            break;
        }
        out.push(i);
    }
    out
}

/// A label's linked answer on the same line: the rest of the label's cell,
/// else the next cell if it is not another label.
fn answer_right(line: &Line, hit: &LabelHit, others: &[&Regex]) -> Vec<usize> {
    let next = hit.last + 1;
    if next >= line.spans.len() || label_starts_at(line, next, others) {
        return Vec::new();
    }
    cell_from(line, next, others)
}

/// A label's linked answer below it: in the next line(s) just under the
/// label, the cell that overlaps the label's columns, while the lines
/// follow each other closely and do not start with a label.
fn answer_below<'a>(
    lines: &[Line<'a>],
    hit: &LabelHit,
    others: &[&Regex],
) -> Vec<(usize, Vec<usize>)> {
    let line = &lines[hit.line];
    let x0 = line.spans[hit.first].2.bbox.x0 as f32;
    let x1 = line.spans[hit.last].2.bbox.x1 as f32;
    let h = line.height;
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut bottom = line.bottom() as f32;
    for (li, below) in lines.iter().enumerate().skip(hit.line + 1) {
        if below.page != line.page {
            break;
        }
        // First answer line within 1.5 line heights; further lines within
        // one (a paragraph), at most three lines.
        let gap = below.top() as f32 - bottom;
        let allowed = if out.is_empty() { 1.5 * h } else { 1.0 * h };
        if gap > allowed || out.len() >= 3 {
            break;
        }
        // The cell of that line that overlaps the label's columns.
        let start = (0..below.spans.len()).find(|&i| {
            if !starts_cell(below, i) {
                return false;
            }
            let cell = cell_from(below, i, &[]);
            let cx0 = below.spans[i].2.bbox.x0 as f32;
            let cx1 = cell
                .last()
                .map(|&j| below.spans[j].2.bbox.x1 as f32)
                .unwrap_or(cx0);
            cx0 < x1 + h && cx1 > x0 - h
        });
        let Some(start) = start else {
            if out.is_empty() {
                // A line passing beside the label (another column): look
                // one line further.
                continue;
            }
            break;
        };
        if label_starts_at(below, start, others) {
            break;
        }
        let cell = cell_from(below, start, others);
        if cell.is_empty() {
            break;
        }
        bottom = below.bottom() as f32;
        out.push((li, cell));
    }
    out
}

/// Words of an answer: per line index, the indexes of its words.
type LineWords = Vec<(usize, Vec<usize>)>;
/// A label's linked answer: right of the best-placed label, else below
/// it. Several equally good labels that give different answers make the
/// link ambiguous; the value is kept, its confidence halved.
fn find_linked<'a>(
    c: &Compiled,
    lines: &[Line<'a>],
    all_labels: &[&Regex],
) -> Result<Found<'a>, Missing> {
    let hits = label_hits(&c.labels, lines);
    let Some(best) = hits.iter().map(|h| h.rank).max() else {
        return Err("label not found on the page".into());
    };
    let others: Vec<&Regex> = all_labels
        .iter()
        .copied()
        .filter(|re| !c.labels.iter().any(|l| l.as_str() == re.as_str()))
        .collect();
    let mut answers: Vec<(LineWords, bool)> = Vec::new();
    for hit in hits.iter().filter(|h| h.rank == best) {
        let right = answer_right(&lines[hit.line], hit, &others);
        let answer = if right.is_empty() {
            (answer_below(lines, hit, &others), true)
        } else {
            (vec![(hit.line, right)], false)
        };
        if !answer.0.is_empty() {
            answers.push(answer);
        }
    }
    let text_of = |parts: &[(usize, Vec<usize>)]| {
        parts
            .iter()
            .map(|(li, idx)| {
                idx.iter()
                    .map(|&i| {
                        let (s, e, _) = lines[*li].spans[i];
                        &lines[*li].text[s..e]
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let Some((first, below)) = answers.first() else {
        return Err("label found, but no answer right of it or below it".into());
    };
    let text = text_of(first);
    let distinct: std::collections::BTreeSet<String> =
        answers.iter().map(|(a, _)| text_of(a)).collect();
    let doubt = if distinct.len() > 1 {
        Some((
            0.5,
            format!(
                "ambiguous: the label is found {} times with different answers",
                distinct.len()
            ),
        ))
    } else if *below && best < 3 {
        // Below a label with no colon, the next line may be anything.
        Some((0.9, "answer below a label without a colon".into()))
    } else {
        None
    };
    Ok(Found {
        page: lines[first[0].0].page,
        text,
        words: first
            .iter()
            .flat_map(|(li, idx)| idx.iter().map(|&i| lines[*li].spans[i].2))
            .collect(),
        spans: Vec::new(),
        doubt,
    })
}

/// The words inside the field's zone: placed from its anchor label's box
/// (the first place the anchor is found as a label) or from the page's
/// corner on the first page with words inside it.
fn find_in_zone<'a>(
    c: &Compiled,
    pages: &[PageWords<'a>],
    lines: &[Line<'a>],
) -> Result<Found<'a>, Missing> {
    let Some(zone) = &c.spec.zone else {
        return Err("no zone".into());
    };
    // (page, origin x, origin y, anchor words to leave out)
    let mut origins: Vec<(usize, f32, f32, Vec<&Word>)> = Vec::new();
    match &c.anchor {
        Some(re) => {
            let hits = label_hits(std::slice::from_ref(re), lines);
            let Some(best) = hits.iter().map(|h| h.rank).max() else {
                return Err("zone anchor not found on the page".into());
            };
            for h in hits.iter().filter(|h| h.rank == best) {
                let line = &lines[h.line];
                let words: Vec<&Word> = (h.first..=h.last).map(|i| line.spans[i].2).collect();
                let x = words.iter().map(|w| w.bbox.x0).min().unwrap_or(0) as f32;
                let y = words.iter().map(|w| w.bbox.y0).min().unwrap_or(0) as f32;
                origins.push((line.page, x, y, words));
            }
        }
        None => origins.extend(
            pages
                .iter()
                .enumerate()
                .map(|(p, pw)| (p, pw.origin[0], pw.origin[1], Vec::new())),
        ),
    }
    let anchored = c.anchor.is_some();
    let mut results: Vec<(usize, Vec<&'a Word>)> = Vec::new();
    for (page, ox, oy, skip) in origins {
        let Some(pw) = pages.get(page) else { continue };
        let px = zone.unit.px(if pw.dpi.is_finite() && pw.dpi > 0.0 {
            pw.dpi
        } else {
            300.0
        });
        let (zx0, zy0) = (ox + zone.dx * px, oy + zone.dy * px);
        let (zx1, zy1) = (zx0 + zone.w * px, zy0 + zone.h * px);
        let inside: Vec<&Word> = pw
            .words
            .iter()
            .filter(|w| !w.text.trim().is_empty())
            .filter(|w| !skip.iter().any(|s| std::ptr::eq(*s, *w)))
            .filter(|w| {
                let cx = (w.bbox.x0 + w.bbox.x1) as f32 / 2.0;
                let cy = w.bbox.center_y();
                cx >= zx0 && cx < zx1 && cy >= zy0 && cy < zy1
            })
            .collect();
        if !inside.is_empty() {
            results.push((page, inside));
            if !anchored {
                break;
            }
        }
    }
    let Some((page, words)) = results.first() else {
        return Err(if anchored {
            "nothing written in the zone by its anchor".into()
        } else {
            "nothing written in the zone".into()
        });
    };
    // Reading order: the zone's words as lines, each word's place kept.
    let owned: Vec<Word> = words.iter().map(|w| (*w).clone()).collect();
    let mut text = String::new();
    let mut spans = Vec::new();
    for line in build_lines(*page, &owned) {
        if !text.is_empty() {
            text.push(' ');
        }
        let base = text.len();
        text.push_str(&line.text);
        for (start, end, w) in &line.spans {
            if let Some(i) = owned.iter().position(|o| std::ptr::eq(o, *w)) {
                spans.push((base + start, base + end, words[i]));
            }
        }
    }
    let doubt = (results.len() > 1).then(|| {
        (
            0.5,
            format!(
                "ambiguous: the zone anchor is found {} times",
                results.len()
            ),
        )
    });
    Ok(Found {
        page: *page,
        text,
        words: words.clone(),
        spans,
        doubt,
    })
}

/// Confidence and route of what a finder read (or did not).
fn route(c: &Compiled, found: Result<Found, Missing>, threshold: f32) -> FieldValue {
    let spec = &c.spec;
    let found = match found {
        Ok(f) => f,
        Err(reason) => {
            return FieldValue {
                name: spec.name.clone(),
                value: None,
                confidence: 0.0,
                page: None,
                bbox: None,
                route: Route::Keying { reason },
            };
        }
    };
    let mut text = found.text;
    let mut words = found.words;
    let mut problem = None;
    // A zone or linked answer is the whole cell: the value is the part
    // that matches the field's pattern, and where the finder knows its
    // words' places, only the words it overlaps speak for it.
    if c.find != Find::Label && spec.pattern != FREE_TEXT {
        match c.value.find(&text) {
            Some(m) => {
                let own: Vec<&Word> = found
                    .spans
                    .iter()
                    .filter(|(s, e, _)| *s < m.end() && *e > m.start())
                    .map(|(_, _, w)| *w)
                    .collect();
                if !own.is_empty() {
                    words = own;
                }
                text = m.as_str().to_string();
            }
            None => problem = Some(format!("'{text}' does not match the field's pattern")),
        }
    }
    let mut confidence = words
        .iter()
        .map(|w| w.confidence)
        .fold(100.0f32, f32::min)
        .clamp(0.0, 100.0)
        / 100.0;
    if let Some((factor, why)) = &found.doubt {
        confidence *= factor;
        problem = problem.or_else(|| (confidence < threshold).then(|| why.clone()));
    }
    let bbox = words.iter().map(|w| w.bbox).reduce(|a, b| a.union(&b));
    let route = match (problem, spec.validate) {
        (Some(reason), _) => Route::Keying { reason },
        (None, Some(v)) if !v.check(&text) => Route::Keying {
            reason: format!("fails {v:?} check"),
        },
        _ if confidence < threshold || threshold >= 1.0 => Route::Keying {
            reason: format!("confidence {confidence:.2} below {threshold:.2}"),
        },
        _ => Route::Accepted,
    };
    FieldValue {
        name: spec.name.clone(),
        value: Some(text),
        confidence,
        page: Some(found.page),
        bbox,
        route,
    }
}

fn prc_id_ok(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase() && date_ok(&birth)
}

fn date_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1800..=2200).contains(&y) && (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, x: u32, line: u32, conf: f32) -> Word {
        Word {
            text: text.into(),
            bbox: BBox {
                x0: x,
                y0: line * 40,
                x1: x + 30,
                y1: line * 40 + 20,
            },
            confidence: conf,
            line: (1, 1, line),
        }
    }

    fn spec(name: &str, labels: &[&str], pattern: &str, validate: Option<Validator>) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            pattern: pattern.into(),
            validate,
            mask: None,
            case: Case::Upper,
            find: None,
            zone: None,
        }
    }

    #[test]
    fn value_after_label_is_accepted_when_confident_and_valid() {
        let words = vec![
            word("保单号", 0, 1, 96.0),
            word("Policy", 100, 1, 95.0),
            word("No.", 140, 1, 94.0),
            word("P201228179657", 200, 1, 92.0),
            word("身份证号", 0, 2, 96.0),
            word("310104198108166679", 200, 2, 91.0),
        ];
        let set = FieldSet::new(&[
            spec("policy_no", &["保单号", "Policy No"], r"P\d{12}", None),
            spec(
                "id_number",
                &["身份证号"],
                r"\d{17}[\dX]",
                Some(Validator::PrcId),
            ),
        ])
        .unwrap();
        let got = set.extract(&[&words], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("P201228179657"));
        assert_eq!(got[0].route, Route::Accepted);
        assert!((got[0].confidence - 0.92).abs() < 1e-4);
        assert_eq!(got[1].route, Route::Accepted);
    }

    #[test]
    fn low_confidence_bad_check_digit_and_missing_go_to_keying() {
        let words = vec![
            word("Policy", 0, 1, 95.0),
            word("P201228179657", 200, 1, 41.0),
            word("310104198108166678", 0, 2, 99.0),
        ];
        let set = FieldSet::new(&[
            spec("policy_no", &["Policy"], r"P\d{12}", None),
            spec("id_number", &["ID"], r"\d{17}[\dX]", Some(Validator::PrcId)),
            spec("phone", &["Phone"], r"1\d{10}", Some(Validator::Mobile)),
        ])
        .unwrap();
        let got = set.extract(&[&words], 0.8);
        assert!(matches!(&got[0].route, Route::Keying { reason } if reason.contains("confidence")));
        assert!(matches!(&got[1].route, Route::Keying { reason } if reason.contains("PrcId")));
        assert_eq!(got[2].value, None);
        assert!(matches!(&got[2].route, Route::Keying { .. }));
    }

    #[test]
    fn validators() {
        assert!(prc_id_ok("310104198108166679"));
        assert!(!prc_id_ok("310104198108166670"));
        assert!(date_ok("2004-02-29") && !date_ok("2003-02-29") && !date_ok("2004-13-01"));
        assert!(Validator::Amount.check("915,855.49") && !Validator::Amount.check("91,5855.49"));
    }

    #[test]
    fn bad_pattern_is_a_config_error() {
        let err = FieldSet::new(&[spec("x", &[], "(", None)]).unwrap_err();
        assert!(err.to_string().contains("field x"), "{err}");
    }

    /// A word at pixel box (x, y), `w` wide, 20 high.
    fn at(text: &str, x: u32, y: u32, w: u32, conf: f32) -> Word {
        Word {
            text: text.into(),
            bbox: BBox {
                x0: x,
                y0: y,
                x1: x + w,
                y1: y + 20,
            },
            confidence: conf,
            line: (1, 1, 1),
        }
    }

    fn linked(name: &str, label: &str) -> FieldSpec {
        FieldSpec {
            find: Some(Find::RightOrBelow),
            ..spec(name, &[label], FREE_TEXT, None)
        }
    }

    fn zoned(name: &str, zone: Zone) -> FieldSpec {
        FieldSpec {
            zone: Some(zone),
            ..spec(name, &[], FREE_TEXT, None)
        }
    }

    #[test]
    fn linked_answer_right_of_its_label_stops_at_the_next_column_and_label() {
        let words = vec![
            at("DATE:", 10, 100, 50, 95.0),
            at("March", 200, 100, 50, 91.0),
            at("3,", 255, 100, 20, 88.0),
            at("1989", 280, 100, 40, 93.0),
            // Another column, far right: not part of the answer.
            at("PAGES:", 500, 100, 60, 95.0),
            at("4", 570, 100, 10, 90.0),
            // Running text mentioning "to" is no label; TO: is.
            at("Please", 10, 200, 60, 90.0),
            at("send", 75, 200, 40, 90.0),
            at("to", 120, 200, 20, 90.0),
            at("Bob", 145, 200, 30, 90.0),
            at("TO:", 10, 300, 30, 96.0),
            at("Dr.", 100, 300, 30, 94.0),
            at("Smith", 135, 300, 50, 92.0),
            at("FROM:", 190, 300, 50, 96.0),
            at("Jones", 250, 300, 50, 85.0),
        ];
        let set = FieldSet::new(&[
            linked("date", "Date"),
            linked("pages", "Pages"),
            linked("to", "To"),
            linked("from", "From:"),
        ])
        .unwrap();
        let got = set.extract(&[&words], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("March 3, 1989"));
        assert!((got[0].confidence - 0.88).abs() < 1e-4);
        assert_eq!(got[0].route, Route::Accepted);
        assert_eq!(
            got[0].bbox,
            Some(BBox {
                x0: 200,
                y0: 100,
                x1: 320,
                y1: 120
            })
        );
        assert_eq!(got[1].value.as_deref(), Some("4"));
        // "TO:" answer stops where the FROM: label begins, even without a gap.
        assert_eq!(got[2].value.as_deref(), Some("Dr. Smith"));
        assert_eq!(got[3].value.as_deref(), Some("Jones"));
        assert_eq!(got[3].route, Route::Accepted);
    }

    #[test]
    fn linked_answer_below_its_label_in_the_labels_column() {
        let words = vec![
            at("DESCRIPTION", 300, 100, 120, 95.0),
            at("BRAND", 20, 100, 60, 95.0),
            // The next line: two cells, one under each label.
            at("Winston", 20, 130, 70, 90.0),
            at("Lights", 95, 130, 60, 90.0),
            at("Filter", 300, 130, 60, 92.0),
            at("test", 365, 130, 40, 87.0),
            // A second line of the description, close under the first.
            at("in", 300, 155, 20, 93.0),
            at("Richmond", 325, 155, 80, 94.0),
            // Far below: not the answer.
            at("Approved", 300, 400, 80, 95.0),
        ];
        let set = FieldSet::new(&[
            linked("description", "Description"),
            linked("brand", "Brand"),
        ])
        .unwrap();
        let got = set.extract(&[&words], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("Filter test in Richmond"));
        // Below a label without a colon: the link is less sure (0.87 × 0.9).
        assert!(
            (got[0].confidence - 0.87 * 0.9).abs() < 1e-4,
            "{}",
            got[0].confidence
        );
        assert!(
            matches!(&got[0].route, Route::Keying { reason } if reason.contains("below a label"))
        );
        // "Winston Lights" only: the next line (Richmond) is not under BRAND.
        assert_eq!(got[1].value.as_deref(), Some("Winston Lights"));
        assert_eq!(got[1].route, Route::Accepted);
    }

    #[test]
    fn no_label_or_no_answer_goes_to_keying_with_the_reason() {
        let words = vec![
            at("SUBJECT:", 10, 100, 80, 95.0),
            at("FAX:", 10, 400, 40, 95.0),
            at("DATE:", 10, 430, 50, 95.0),
        ];
        let set = FieldSet::new(&[
            linked("cc", "cc"),
            linked("subject", "Subject"),
            linked("fax", "Fax"),
        ])
        .unwrap();
        let got = set.extract(&[&words], 0.5);
        for f in &got {
            assert_eq!(f.value, None, "{f:?}");
            assert!(matches!(f.route, Route::Keying { .. }));
        }
        assert!(
            matches!(&got[0].route, Route::Keying { reason } if reason.contains("label not found"))
        );
        assert!(matches!(&got[1].route, Route::Keying { reason } if reason.contains("no answer")));
        // FAX: has a label right under it (DATE:), which is not its answer.
        assert!(matches!(&got[2].route, Route::Keying { reason } if reason.contains("no answer")));
    }

    #[test]
    fn a_label_printed_twice_with_different_answers_is_ambiguous() {
        let words = vec![
            at("Date:", 10, 100, 50, 97.0),
            at("3/4/88", 80, 100, 60, 96.0),
            at("Date:", 10, 500, 50, 97.0),
            at("5/6/88", 80, 500, 60, 96.0),
            at("cc:", 10, 700, 30, 97.0),
            at("J.", 60, 700, 20, 96.0),
            at("cc:", 10, 900, 30, 97.0),
            at("J.", 60, 900, 20, 96.0),
        ];
        let set = FieldSet::new(&[linked("date", "Date"), linked("cc", "cc")]).unwrap();
        let got = set.extract(&[&words], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("3/4/88"));
        assert!((got[0].confidence - 0.48).abs() < 1e-4);
        assert!(matches!(&got[0].route, Route::Keying { reason } if reason.contains("ambiguous")));
        // The same answer twice is no doubt.
        assert_eq!(got[1].route, Route::Accepted);
    }

    #[test]
    fn a_linked_answer_must_match_a_given_pattern() {
        let words = vec![
            at("Phone:", 10, 100, 60, 97.0),
            at("(212)", 90, 100, 50, 96.0),
            at("555-0199", 145, 100, 80, 96.0),
            at("Fax:", 10, 200, 40, 97.0),
            at("none", 90, 200, 40, 96.0),
        ];
        let phone = |name: &str, label: &str| FieldSpec {
            find: Some(Find::RightOrBelow),
            ..spec(name, &[label], r"\d{3}-\d{4}", None)
        };
        let set = FieldSet::new(&[phone("phone", "Phone"), phone("fax", "Fax")]).unwrap();
        let got = set.extract(&[&words], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("555-0199"));
        assert_eq!(got[0].route, Route::Accepted);
        assert_eq!(got[1].value.as_deref(), Some("none"));
        assert!(matches!(&got[1].route, Route::Keying { reason } if reason.contains("pattern")));
    }

    #[test]
    fn page_zones_are_the_boxes_to_read_and_only_when_every_field_is_one() {
        let on_page = |dx, dy, w, h| Zone {
            anchor: None,
            unit: Unit::Mm,
            dx,
            dy,
            w,
            h,
        };
        let set = FieldSet::new(&[
            zoned("a", on_page(10.0, 20.0, 30.0, 5.0)),
            // Partly off the page: clipped; wholly off: left out.
            zoned("b", on_page(190.0, 280.0, 40.0, 40.0)),
            zoned("c", on_page(400.0, 20.0, 10.0, 5.0)),
        ])
        .unwrap();
        // 254 dpi: 10 px a millimetre; a 2-mm margin is 20 px.
        let boxes = set
            .page_zones((2100, 2970, 254.0), [0.0, 0.0], 2.0)
            .unwrap();
        assert_eq!(
            boxes,
            vec![
                BBox {
                    x0: 80,
                    y0: 180,
                    x1: 420,
                    y1: 270
                },
                BBox {
                    x0: 1880,
                    y0: 2780,
                    x1: 2100,
                    y1: 2970
                },
            ]
        );
        // No dpi recorded: 300.
        let b = &set.page_zones((5000, 5000, 0.0), [0.0, 0.0], 0.0).unwrap()[0];
        assert_eq!((b.x0, b.y0), (118, 236));
        // Placed from the scan's corner where levelling and crop moved it.
        let b = &set
            .page_zones((5000, 5000, 0.0), [40.0, -20.0], 0.0)
            .unwrap()[0];
        assert_eq!((b.x0, b.y0, b.x1), (158, 216, 512));
        // A field found by its label, or a zone placed from an anchor,
        // needs the whole page's words.
        let by_label = FieldSet::new(&[
            zoned("a", on_page(10.0, 20.0, 30.0, 5.0)),
            spec("d", &["Date"], r"\d+", None),
        ])
        .unwrap();
        assert_eq!(
            by_label.page_zones((2480, 3508, 300.0), [0.0, 0.0], 2.0),
            None
        );
        assert_eq!(by_label.first_not_on_page(), Some("d"));
        assert_eq!(set.first_not_on_page(), None);
        let anchored = FieldSet::new(&[zoned(
            "a",
            Zone {
                anchor: Some("Date".into()),
                ..on_page(10.0, 0.0, 30.0, 5.0)
            },
        )])
        .unwrap();
        assert_eq!(
            anchored.page_zones((2480, 3508, 300.0), [0.0, 0.0], 2.0),
            None
        );
        assert_eq!(anchored.first_not_on_page(), Some("a"));
    }

    #[test]
    fn a_page_zone_holding_its_label_is_as_sure_as_the_values_own_words() {
        // A row read whole (label and value) for context: the pattern cuts
        // the value out, and the label's unsure words neither lower its
        // confidence nor widen its box. The page's corner moved by 30 px.
        let words = vec![
            at("保险金额", 60, 330, 70, 41.0),
            at("Amount", 140, 330, 60, 62.0),
            at("73,272.77", 330, 330, 90, 93.0),
        ];
        let spec = FieldSpec {
            zone: Some(Zone {
                anchor: None,
                unit: Unit::Mm,
                dx: 10.0,
                dy: 70.0,
                w: 100.0,
                h: 10.0,
            }),
            ..spec("amount", &[], r"\d{1,3}(,\d{3})*\.\d{2}", None)
        };
        let set = FieldSet::new(&[spec]).unwrap();
        // 100 dpi: the zone is 39–433 px across, 276–315 px down from the
        // corner, so 306–345 px on this page.
        let page = |origin| PageWords {
            words: &words,
            dpi: 100.0,
            origin,
        };
        let got = set.extract_pages(&[page([0.0, 30.0])], 0.8);
        assert_eq!(got[0].value.as_deref(), Some("73,272.77"));
        assert!((got[0].confidence - 0.93).abs() < 1e-4, "{:?}", got[0]);
        assert_eq!(got[0].route, Route::Accepted);
        assert_eq!(got[0].bbox.map(|b| b.x0), Some(330));
        // From the image's own corner the zone misses the row.
        let got = set.extract_pages(&[page([0.0, 0.0])], 0.8);
        assert_eq!(got[0].value, None);
    }

    #[test]
    fn zone_by_anchor_is_scaled_by_the_pages_dpi() {
        // At 100 dpi, 1 mm = 3.937 px. The anchor "Date:" is at (100, 200);
        // the zone starts 20 mm (79 px) right of it, 0 mm down, 40 × 6 mm.
        let words = vec![
            at("Date:", 100, 200, 50, 97.0),
            at("12", 185, 200, 20, 93.0),
            at("May", 210, 200, 30, 91.0),
            // Left of the zone (centre at 160 < 178.7).
            at("x", 150, 200, 20, 99.0),
            // Right of the zone (ends at 100+79+157 = 336).
            at("Total:", 340, 200, 50, 97.0),
        ];
        let zone = Zone {
            anchor: Some("Date:".into()),
            unit: Unit::Mm,
            dx: 20.0,
            dy: 0.0,
            w: 40.0,
            h: 6.0,
        };
        let set = FieldSet::new(&[zoned("date", zone.clone())]).unwrap();
        let got = set.extract_pages(
            &[PageWords {
                words: &words,
                dpi: 100.0,
                origin: [0.0, 0.0],
            }],
            0.8,
        );
        assert_eq!(got[0].value.as_deref(), Some("12 May"));
        assert_eq!(got[0].route, Route::Accepted);
        assert!((got[0].confidence - 0.91).abs() < 1e-4);
        // At 300 dpi the same millimetres are three times the pixels: the
        // zone starts at 336 px and holds "Total:".
        let got = set.extract_pages(
            &[PageWords {
                words: &words,
                dpi: 300.0,
                origin: [0.0, 0.0],
            }],
            0.8,
        );
        assert_eq!(got[0].value.as_deref(), Some("Total:"));
        // Inches: 0.8 in at 100 dpi = 80 px, 1.6 in wide.
        let inches = Zone {
            unit: Unit::In,
            dx: 0.8,
            w: 1.6,
            h: 0.25,
            ..zone
        };
        let set = FieldSet::new(&[zoned("date", inches)]).unwrap();
        let got = set.extract_pages(
            &[PageWords {
                words: &words,
                dpi: 100.0,
                origin: [0.0, 0.0],
            }],
            0.8,
        );
        assert_eq!(got[0].value.as_deref(), Some("12 May"));
    }

    #[test]
    fn zone_on_the_page_and_empty_or_unanchored_zones_go_to_keying() {
        let words = vec![
            at("ACME", 100, 40, 60, 97.0),
            at("Ltd", 165, 40, 30, 70.0),
            at("Ref:", 100, 600, 40, 97.0),
        ];
        let page = |dx: f32, dy: f32| Zone {
            anchor: None,
            unit: Unit::In,
            dx,
            dy,
            w: 1.5,
            h: 0.5,
        };
        let set = FieldSet::new(&[
            zoned("company", page(0.9, 0.3)),
            zoned("blank", page(5.0, 5.0)),
            zoned(
                "date",
                Zone {
                    anchor: Some("Date".into()),
                    ..page(0.5, 0.0)
                },
            ),
            zoned(
                "ref",
                Zone {
                    anchor: Some("Ref".into()),
                    ..page(0.5, 0.0)
                },
            ),
        ])
        .unwrap();
        let got = set.extract_pages(
            &[PageWords {
                words: &words,
                dpi: 100.0,
                origin: [0.0, 0.0],
            }],
            0.8,
        );
        assert_eq!(got[0].value.as_deref(), Some("ACME Ltd"));
        assert!(matches!(&got[0].route, Route::Keying { reason } if reason.contains("0.70")));
        assert!(
            matches!(&got[1].route, Route::Keying { reason } if reason == "nothing written in the zone")
        );
        assert!(
            matches!(&got[2].route, Route::Keying { reason } if reason.contains("anchor not found"))
        );
        assert_eq!(got[3].value, None);
        assert!(
            matches!(&got[3].route, Route::Keying { reason } if reason.contains("by its anchor"))
        );
    }

    #[test]
    fn bad_zones_and_links_are_config_errors() {
        let zone = Zone {
            anchor: None,
            unit: Unit::Mm,
            dx: 0.0,
            dy: 0.0,
            w: 10.0,
            h: 10.0,
        };
        let cases: Vec<(FieldSpec, &str)> = vec![
            (
                zoned(
                    "a",
                    Zone {
                        w: 0.0,
                        ..zone.clone()
                    },
                ),
                "zone w and h must be more than 0",
            ),
            (
                zoned(
                    "b",
                    Zone {
                        h: f32::NAN,
                        ..zone.clone()
                    },
                ),
                "zone h must be a number",
            ),
            (
                zoned(
                    "c",
                    Zone {
                        anchor: Some(" : ".into()),
                        ..zone.clone()
                    },
                ),
                "zone anchor is empty",
            ),
            (
                FieldSpec {
                    find: Some(Find::Zone),
                    ..spec("d", &[], FREE_TEXT, None)
                },
                "needs zone",
            ),
            (
                FieldSpec {
                    find: Some(Find::RightOrBelow),
                    ..zoned("e", zone.clone())
                },
                "drop one of them",
            ),
            (
                FieldSpec {
                    find: Some(Find::RightOrBelow),
                    ..spec("f", &[], FREE_TEXT, None)
                },
                "needs at least one label",
            ),
            (spec("g", &[":"], FREE_TEXT, None), "an empty label"),
        ];
        for (s, want) in cases {
            let err = FieldSet::new(std::slice::from_ref(&s))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(want) && err.contains(&format!("field {}", s.name)),
                "{err}"
            );
        }
    }
}
