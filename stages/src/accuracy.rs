//! Accuracy of a reading against its truth: the character and word error
//! counts behind `folio eval`, and the truth formats of the shared test
//! data (plain text, hOCR words, the forms' JSON, FUNSD annotations)
//! turned into one shape. Pure: text in, counts out; no files.
//!
//! Texts are normalised the way the shared data's README defines CER:
//! whitespace runs folded to one space and trimmed. One addition: spaces
//! between two CJK characters are dropped, because Chinese is written
//! without them and Tesseract puts one between every character — a space
//! there is not an error a reader would see.

use crate::page::BBox;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Errors of one reading against its truth, in characters and in words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Characters of the normalised truth.
    pub chars: usize,
    /// Edit distance (insertions, deletions, substitutions) in characters.
    pub char_errors: usize,
    /// Words (whitespace-separated) of the normalised truth.
    pub words: usize,
    /// Edit distance in words.
    pub word_errors: usize,
}

impl ErrorCounts {
    /// Character error rate: errors over truth characters (0 for an empty
    /// truth read as empty; 1 per inserted character otherwise).
    pub fn cer(&self) -> f64 {
        rate(self.char_errors, self.chars)
    }

    /// Word error rate, likewise over truth words.
    pub fn wer(&self) -> f64 {
        rate(self.word_errors, self.words)
    }

    /// The sum of two counts: overall figures weigh pages by their length.
    pub fn add(&self, other: &ErrorCounts) -> ErrorCounts {
        ErrorCounts {
            chars: self.chars + other.chars,
            char_errors: self.char_errors + other.char_errors,
            words: self.words + other.words,
            word_errors: self.word_errors + other.word_errors,
        }
    }
}

fn rate(errors: usize, total: usize) -> f64 {
    if total == 0 {
        if errors == 0 { 0.0 } else { errors as f64 }
    } else {
        errors as f64 / total as f64
    }
}

/// Compares a reading with its truth after normalising both.
pub fn compare(truth: &str, read: &str) -> ErrorCounts {
    let (t, r) = (normalise(truth), normalise(read));
    let tc: Vec<char> = t.chars().collect();
    let rc: Vec<char> = r.chars().collect();
    let tw: Vec<&str> = t.split(' ').filter(|w| !w.is_empty()).collect();
    let rw: Vec<&str> = r.split(' ').filter(|w| !w.is_empty()).collect();
    ErrorCounts {
        chars: tc.len(),
        char_errors: levenshtein(&tc, &rc),
        words: tw.len(),
        word_errors: levenshtein(&tw, &rw),
    }
}

/// Whitespace runs (line breaks included) become one space, ends are
/// trimmed, and a space between two CJK characters is dropped.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space && !(out.chars().next_back().is_some_and(is_cjk) && is_cjk(c)) {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

pub use crate::script::is_cjk;

/// Edit distance between two sequences (unit costs), in O(len(b)) memory.
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y {
                diag
            } else {
                1 + diag.min(up).min(row[j])
            };
            diag = up;
        }
    }
    row[b.len()]
}

/// The truth of one page in whichever format it came: its full text in
/// reading order and its field values by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageTruth {
    /// The page's text, lines in reading order.
    pub text: String,
    /// Field name → true value.
    pub fields: BTreeMap<String, String>,
}

/// Why a truth file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TruthError(String);

/// A forms-zh page (`form_NNN.json`): `text` and `fields` (name → `value`).
pub fn forms_truth(json: &str) -> Result<PageTruth, TruthError> {
    #[derive(Deserialize)]
    struct Field {
        value: String,
    }
    #[derive(Deserialize)]
    struct Form {
        text: String,
        #[serde(default)]
        fields: BTreeMap<String, Field>,
    }
    let form: Form = serde_json::from_str(json).map_err(|e| TruthError(e.to_string()))?;
    Ok(PageTruth {
        text: form.text,
        fields: form.fields.into_iter().map(|(k, f)| (k, f.value)).collect(),
    })
}

/// One FUNSD entity, as its annotation file gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct FunsdEntity {
    pub id: usize,
    pub label: String,
    pub text: String,
    pub box_: BBox,
    pub words: Vec<(String, BBox)>,
    /// (question id, answer id) pairs this entity takes part in.
    pub linking: Vec<(usize, usize)>,
}

/// A FUNSD annotation file: its entities.
pub fn funsd_entities(json: &str) -> Result<Vec<FunsdEntity>, TruthError> {
    #[derive(Deserialize)]
    struct RawWord {
        #[serde(rename = "box")]
        bbox: [i64; 4],
        text: String,
    }
    #[derive(Deserialize)]
    struct RawEntity {
        id: usize,
        label: String,
        text: String,
        #[serde(rename = "box")]
        bbox: [i64; 4],
        #[serde(default)]
        words: Vec<RawWord>,
        #[serde(default)]
        linking: Vec<(usize, usize)>,
    }
    #[derive(Deserialize)]
    struct Doc {
        form: Vec<RawEntity>,
    }
    let doc: Doc = serde_json::from_str(json).map_err(|e| TruthError(e.to_string()))?;
    let bbox = |b: [i64; 4]| BBox {
        x0: b[0].max(0) as u32,
        y0: b[1].max(0) as u32,
        x1: b[2].max(0) as u32,
        y1: b[3].max(0) as u32,
    };
    Ok(doc
        .form
        .into_iter()
        .map(|e| FunsdEntity {
            id: e.id,
            label: e.label,
            text: e.text,
            box_: bbox(e.bbox),
            words: e
                .words
                .into_iter()
                .filter(|w| !w.text.trim().is_empty())
                .map(|w| (w.text, bbox(w.bbox)))
                .collect(),
            linking: e.linking,
        })
        .collect())
}

/// A field name made from a printed label: lower case, runs of anything
/// but letters and digits become one `_` (`"Fax No.:"` → `fax_no`). Used
/// to name a FUNSD question's answer as a field.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// A FUNSD page's truth: its words in reading order (rows top to bottom,
/// left to right; the annotation keeps no order) and, per question with
/// one linked answer, `slug(question)` → answer text. A question that
/// appears twice on the form names no field (it would be ambiguous).
pub fn funsd_truth(json: &str) -> Result<PageTruth, TruthError> {
    let entities = funsd_entities(json)?;
    let words: Vec<(String, BBox)> = entities
        .iter()
        .flat_map(|e| e.words.iter().cloned())
        .collect();
    let text = words_in_reading_order(&words);
    let by_id: BTreeMap<usize, &FunsdEntity> = entities.iter().map(|e| (e.id, e)).collect();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut twice: Vec<String> = Vec::new();
    for (q, a) in linked_answers(&entities) {
        let name = slug(&by_id[&q].text);
        let value = by_id[&a].text.trim().to_string();
        if name.is_empty() || value.is_empty() {
            continue;
        }
        if fields.insert(name.clone(), value).is_some() {
            twice.push(name);
        }
    }
    for name in twice {
        fields.remove(&name);
    }
    Ok(PageTruth { text, fields })
}

/// (question id, answer id) of every question with exactly one linked
/// answer, in the file's order.
pub fn linked_answers(entities: &[FunsdEntity]) -> Vec<(usize, usize)> {
    let label: BTreeMap<usize, &str> = entities.iter().map(|e| (e.id, e.label.as_str())).collect();
    let mut out = Vec::new();
    for e in entities.iter().filter(|e| e.label == "question") {
        let answers: Vec<usize> = e
            .linking
            .iter()
            .filter(|(q, a)| *q == e.id && label.get(a) == Some(&"answer"))
            .map(|(_, a)| *a)
            .collect();
        if let [a] = answers.as_slice() {
            out.push((e.id, *a));
        }
    }
    out
}

/// Words with boxes put in reading order: grouped into rows by vertical
/// centre, rows top to bottom, words left to right.
pub fn words_in_reading_order(words: &[(String, BBox)]) -> String {
    /// A row being built: centre, height, words.
    type Row<'a> = (f32, f32, Vec<&'a (String, BBox)>);
    let mut sorted: Vec<&(String, BBox)> = words.iter().collect();
    sorted.sort_by(|a, b| a.1.center_y().total_cmp(&b.1.center_y()));
    let mut rows: Vec<Row> = Vec::new();
    for w in sorted {
        let h = w.1.height().max(1) as f32;
        match rows.last_mut() {
            Some((cy, rh, row)) if (w.1.center_y() - *cy).abs() <= 0.5 * rh.max(h) => {
                row.push(w);
                *cy += (w.1.center_y() - *cy) / row.len() as f32;
                *rh = rh.max(h);
            }
            _ => rows.push((w.1.center_y(), h, vec![w])),
        }
    }
    rows.into_iter()
        .map(|(_, _, mut row)| {
            row.sort_by_key(|w| w.1.x0);
            row.iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The words of an hOCR page (`ocrx_word` elements) with their boxes,
/// grouped into its lines (`ocr_line`, `ocr_caption`, `ocr_header`,
/// `ocr_textfloat`) in the file's order: the truth's reading order.
/// Inner markup (`<strong>`, `<em>`) is dropped and entities decoded.
pub fn hocr_lines(html: &str) -> Vec<Vec<(String, Option<BBox>)>> {
    let mut lines: Vec<Vec<(String, Option<BBox>)>> = Vec::new();
    let mut rest = html;
    let mut new_line = true;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..=end];
        rest = &rest[end + 1..];
        let class = attr(tag, "class").unwrap_or_default();
        if is_line_class(&class) {
            new_line = true;
        } else if class.split_whitespace().any(|c| c == "ocrx_word") {
            let (text, after) = element_text(rest);
            rest = after;
            let text = decode_entities(text.trim());
            if text.is_empty() {
                continue;
            }
            let bbox = attr(tag, "title").and_then(|t| title_bbox(&t));
            if new_line || lines.is_empty() {
                lines.push(Vec::new());
                new_line = false;
            }
            if let Some(l) = lines.last_mut() {
                l.push((text, bbox));
            }
        }
    }
    lines
}

/// An hOCR page's text: words joined by spaces, lines by line breaks.
pub fn hocr_text(html: &str) -> String {
    hocr_lines(html)
        .iter()
        .map(|l| l.iter().map(|w| w.0.as_str()).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_line_class(class: &str) -> bool {
    class.split_whitespace().any(|c| {
        matches!(
            c,
            "ocr_line" | "ocr_caption" | "ocr_header" | "ocr_textfloat"
        )
    })
}

/// The value of `name="…"` or `name='…'` in a start tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || tag[..at].ends_with(|c: char| c.is_whitespace());
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let body = &rest[1..];
        return body.find(quote).map(|e| body[..e].to_string());
    }
    None
}

/// `bbox x0 y0 x1 y1` out of an hOCR `title`.
fn title_bbox(title: &str) -> Option<BBox> {
    let part = title
        .split(';')
        .map(str::trim)
        .find(|p| p.starts_with("bbox "))?;
    let n: Vec<u32> = part[5..]
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [x0, y0, x1, y1] = n.as_slice() else {
        return None;
    };
    Some(BBox {
        x0: *x0,
        y0: *y0,
        x1: *x1,
        y1: *y1,
    })
}

/// The text inside an element whose start tag was just read, up to its
/// matching end tag, inner tags dropped; and what follows the element.
fn element_text(mut rest: &str) -> (String, &str) {
    let mut depth = 1usize;
    let mut text = String::new();
    while depth > 0 {
        let Some(i) = rest.find('<') else {
            text.push_str(rest);
            return (text, "");
        };
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(e) = rest.find('>') else {
            return (text, "");
        };
        let tag = &rest[..=e];
        if tag.starts_with("</") {
            depth -= 1;
        } else if !tag.ends_with("/>") {
            depth += 1;
        }
        rest = &rest[e + 1..];
    }
    (text, rest)
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Compares a field's read value with its truth: equal after trimming and
/// folding inner whitespace (a keyer's or OCR's spacing is not the value).
pub fn field_matches(truth: &str, read: &str) -> bool {
    normalise(truth) == normalise(read)
}

#[cfg(test)]
mod tests;
