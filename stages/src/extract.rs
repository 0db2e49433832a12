//! Extract: the index fields a document class defines, found in the OCR
//! words by their printed label and value pattern, each with a confidence
//! and a routing decision (accept, or send to keying).

use crate::error::StageError;
use crate::page::{BBox, Word};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// One index field as a class file declares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Key in the index record, e.g. `policy_no`.
    pub name: String,
    /// Printed labels that precede the value on the form, any language.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Regular expression the value matches.
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

/// A class's fields, compiled once and shared by all workers.
#[derive(Debug, Clone)]
pub struct FieldSet {
    /// Spec, label patterns, value pattern, and the value pattern
    /// anchored to a whole keyed value.
    fields: Vec<(FieldSpec, Vec<Regex>, Regex, Regex)>,
}

impl FieldSet {
    /// Compiles the class's field specs; a bad pattern is a config error.
    pub fn new(specs: &[FieldSpec]) -> Result<Self, StageError> {
        let invalid = |reason: String| StageError::Invalid {
            stage: "extract",
            reason,
        };
        let mut fields = Vec::new();
        for spec in specs {
            let value = Regex::new(&spec.pattern)
                .map_err(|e| invalid(format!("field {}: pattern: {e}", spec.name)))?;
            let labels = spec
                .labels
                .iter()
                .map(|l| {
                    // Tesseract may split or join label words: allow any
                    // whitespace between the label's characters.
                    let chars: Vec<String> = l
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .map(|c| regex::escape(&c.to_string()))
                        .collect();
                    Regex::new(&format!("(?i){}", chars.join(r"\s*")))
                        .map_err(|e| invalid(format!("field {}: label {l}: {e}", spec.name)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let whole = Regex::new(&format!("^(?:{})$", spec.pattern))
                .map_err(|e| invalid(format!("field {}: pattern: {e}", spec.name)))?;
            fields.push((spec.clone(), labels, value, whole));
        }
        Ok(Self { fields })
    }

    /// The spec of the field called `name`.
    pub fn spec(&self, name: &str) -> Option<&FieldSpec> {
        self.fields
            .iter()
            .find(|(s, ..)| s.name == name)
            .map(|(s, ..)| s)
    }

    /// The value pattern of field `name`, anchored to the whole value:
    /// what a keyed entry must match.
    pub fn whole_pattern(&self, name: &str) -> Option<&Regex> {
        let (.., whole) = self.fields.iter().find(|(s, ..)| s.name == name)?;
        Some(whole)
    }

    /// True when the class defines no fields (its documents package at once).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Finds every field in a document's pages (`pages[i]` = words of page i)
    /// and routes each: accepted when valid and confidence ≥ `threshold` (0..1).
    pub fn extract(&self, pages: &[&[Word]], threshold: f32) -> Vec<FieldValue> {
        let lines: Vec<Line> = pages
            .iter()
            .enumerate()
            .flat_map(|(p, words)| build_lines(p, words))
            .collect();
        self.fields
            .iter()
            .map(|(spec, labels, value, _)| find_field(spec, labels, value, &lines, threshold))
            .collect()
    }
}

/// One text line: its string and, per byte range, the word it came from.
struct Line<'a> {
    page: usize,
    text: String,
    spans: Vec<(usize, usize, &'a Word)>,
}

/// Groups words into visual rows: a word joins a row when its vertical
/// centre lies within half a word height of the row's. Tesseract's own
/// line numbers split a form's label cell from its value cell, so they are
/// not used here.
fn build_lines(page: usize, words: &[Word]) -> Vec<Line<'_>> {
    let mut sorted: Vec<&Word> = words.iter().collect();
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
        .map(|(_, _, mut row)| {
            row.sort_by_key(|w| w.bbox.x0);
            let mut line = Line {
                page,
                text: String::new(),
                spans: Vec::new(),
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

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

fn find_field(
    spec: &FieldSpec,
    labels: &[Regex],
    value: &Regex,
    lines: &[Line],
    threshold: f32,
) -> FieldValue {
    // Value after a label on the same line; else the pattern anywhere.
    let after_label = lines.iter().find_map(|line| {
        let end = labels
            .iter()
            .filter_map(|l| l.find(&line.text))
            .map(|m| m.end())
            .max()?;
        let m = value.find_at(&line.text, end)?;
        Some((line, m.start(), m.end()))
    });
    // Without a label, only a match that is whole words counts: digits
    // inside a longer number are not a phone number.
    let found = after_label.or_else(|| {
        lines.iter().find_map(|line| {
            value
                .find_iter(&line.text)
                .find(|m| {
                    line.spans.iter().any(|(s, _, _)| *s == m.start())
                        && line.spans.iter().any(|(_, e, _)| *e == m.end())
                })
                .map(|m| (line, m.start(), m.end()))
        })
    });
    let Some((line, start, end)) = found else {
        return FieldValue {
            name: spec.name.clone(),
            value: None,
            confidence: 0.0,
            page: None,
            bbox: None,
            route: Route::Keying {
                reason: "not found on the page".into(),
            },
        };
    };
    let text = line.text[start..end].to_string();
    let words: Vec<&Word> = line
        .spans
        .iter()
        .filter(|(s, e, _)| *s < end && *e > start)
        .map(|(_, _, w)| *w)
        .collect();
    let confidence = words.iter().map(|w| w.confidence).fold(100.0f32, f32::min) / 100.0;
    let bbox = words.iter().map(|w| w.bbox).reduce(|a, b| a.union(&b));
    let route = match spec.validate {
        Some(v) if !v.check(&text) => Route::Keying {
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
        page: Some(line.page),
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
}
