//! Confidence that means something: the QA sample and `folio report
//! accuracy`. A share of the fields OCR accepts goes to blind double
//! keying anyway (`[keying] qa_share`); the field keeps OCR's reading in
//! `value`, so once keyed, OCR's value against the keyed one is an
//! observed error or not. From those samples the report gives, per field,
//! the error rate of accepted values with a 95 % Wilson interval, and the
//! confidence threshold that would reach a target accuracy with the
//! keying share it would cost. Sampling is decided by a hash of document
//! and field, so a document finished twice samples the same fields.

use crate::error::{ExitCode, FolioError};
use crate::store::{AccuracyFieldRow, FieldRow, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Whether field `name` of document `doc` is in a QA sample of `share`
/// (0..1) of accepted fields; the same answer every time.
pub fn picked(doc: &str, name: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    let digest = Sha256::digest(format!("qa-sample\0{doc}\0{name}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) as f64 / u64::MAX as f64) < share
}

/// Routes an accepted field picked for the QA sample to double keying,
/// keeping OCR's value (and confidence) as what the keyed value is
/// compared with. Other fields pass unchanged.
pub fn sample(mut row: FieldRow, doc: &str, share: f64) -> FieldRow {
    if row.status == "accepted" && picked(doc, &row.name, share) {
        row.reason = Some(format!(
            "QA sample: accepted at confidence {:.2}, keyed to measure OCR's error",
            row.confidence
        ));
        row.status = "awaiting_keying".into();
        row.final_value = None;
        row.outcome = None;
        row.source = None;
        row.qa_sample = true;
    }
    row
}

/// The 95 % Wilson score interval of `errors` in `n` trials: honest at
/// zero errors and small samples, where the normal approximation says
/// "0 ± 0".
pub fn wilson(errors: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, errors as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One QA-sampled, keyed field: OCR's confidence and whether OCR was wrong.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub confidence: f64,
    pub wrong: bool,
}

/// A threshold that reaches the target accuracy on the sample.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    /// Accept a value when its confidence is at least this (0..1).
    pub threshold: f64,
    /// Error rate of the sampled values at or above it, and its 95 % interval.
    pub error_rate: f64,
    pub error_upper: f64,
    /// Samples at or above it.
    pub samples: usize,
    /// Share of all this field's values (every route) below it: what
    /// would go to keying.
    pub keying_share: f64,
    /// The interval's upper end meets the target too (enough samples to
    /// show it, not just an estimate).
    pub shown: bool,
}

/// The lowest threshold at which the sampled values at or above it have
/// an error rate within `1 - target`; `None` when even the most
/// confident samples miss it (key everything). `all_confidences` are the
/// confidences of every value of the field (for the keying share; a value
/// not found counts as 0).
pub fn suggest(
    samples: &[Observation],
    all_confidences: &[f64],
    target: f64,
) -> Option<Suggestion> {
    let allowed = 1.0 - target;
    let mut cuts: Vec<f64> = samples.iter().map(|s| s.confidence).collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    cuts.into_iter().find_map(|t| {
        let above: Vec<&Observation> = samples.iter().filter(|s| s.confidence >= t).collect();
        let wrong = above.iter().filter(|s| s.wrong).count();
        let rate = wrong as f64 / above.len() as f64;
        (rate <= allowed).then(|| {
            let (_, upper) = wilson(wrong, above.len());
            let below = all_confidences.iter().filter(|c| **c < t).count();
            Suggestion {
                threshold: t,
                error_rate: rate,
                error_upper: upper,
                samples: above.len(),
                keying_share: below as f64 / all_confidences.len().max(1) as f64,
                shown: upper <= allowed,
            }
        })
    })
}

/// One field of one class in the accuracy report.
#[derive(Debug, Clone, Serialize)]
pub struct FieldAccuracy {
    pub class: String,
    pub field: String,
    /// Values of this field in the store (every route).
    pub values: usize,
    /// Accepted by OCR without keying.
    pub accepted: usize,
    /// QA samples drawn, and those keyed so far.
    pub sampled: usize,
    pub sampled_keyed: usize,
    /// Keyed samples whose OCR value differs from the keyed value.
    pub errors: usize,
    /// `errors / sampled_keyed` with its 95 % Wilson interval.
    pub error_rate: Option<f64>,
    pub error_low: Option<f64>,
    pub error_high: Option<f64>,
    /// `1 - error_rate`.
    pub accuracy: Option<f64>,
    /// Threshold reaching the target on the sample; `None` with samples
    /// means no threshold does (key every value).
    pub suggestion: Option<Suggestion>,
}

/// `folio report accuracy`'s whole answer.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyReport {
    /// Target accuracy (0..1).
    pub target: f64,
    pub fields: Vec<FieldAccuracy>,
}

/// Builds the report from the store's fields.
pub fn accuracy(rows: &[AccuracyFieldRow], target: f64) -> AccuracyReport {
    let mut groups: BTreeMap<(String, String), Vec<&AccuracyFieldRow>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.class.clone(), r.name.clone()))
            .or_default()
            .push(r);
    }
    let fields = groups
        .into_iter()
        .map(|((class, field), rows)| {
            let samples: Vec<&&AccuracyFieldRow> = rows.iter().filter(|r| r.qa_sample).collect();
            let keyed: Vec<Observation> = samples
                .iter()
                .filter(|r| r.status == "keyed")
                .map(|r| Observation {
                    confidence: r.confidence,
                    // A value keyed as illegible or empty is OCR's error
                    // too: it accepted something that is not there.
                    wrong: r.outcome.as_deref() != Some("value")
                        || r.value.as_deref().map(str::trim)
                            != r.final_value.as_deref().map(str::trim),
                })
                .collect();
            let errors = keyed.iter().filter(|o| o.wrong).count();
            let n = keyed.len();
            let (lo, hi) = wilson(errors, n);
            let confidences: Vec<f64> = rows.iter().map(|r| r.confidence).collect();
            FieldAccuracy {
                class,
                field,
                values: rows.len(),
                accepted: rows.iter().filter(|r| r.status == "accepted").count(),
                sampled: samples.len(),
                sampled_keyed: n,
                errors,
                error_rate: (n > 0).then(|| errors as f64 / n as f64),
                error_low: (n > 0).then_some(lo),
                error_high: (n > 0).then_some(hi),
                accuracy: (n > 0).then(|| 1.0 - errors as f64 / n as f64),
                suggestion: suggest(&keyed, &confidences, target),
            }
        })
        .collect();
    AccuracyReport { target, fields }
}

/// `folio report accuracy [--target PERCENT] [--json]`.
pub async fn report(
    store: &Store,
    target_percent: f64,
    json: bool,
) -> Result<ExitCode, FolioError> {
    if !(target_percent > 0.0 && target_percent < 100.0) {
        return Err(FolioError::Usage(format!(
            "--target is a percentage between 0 and 100 (e.g. 99.95), got {target_percent}"
        )));
    }
    let rows = store.accuracy_fields().await?;
    let report = accuracy(&rows, target_percent / 100.0);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(ExitCode::Ok);
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0));
    println!(
        "{:<24} {:<14} {:>7} {:>8} {:>8} {:>7} {:>9} {:>19}  threshold for {:.2}% (keying share)",
        "class",
        "field",
        "values",
        "accepted",
        "sampled",
        "errors",
        "error",
        "95% interval",
        target_percent
    );
    for f in &report.fields {
        let interval = match (f.error_low, f.error_high) {
            (Some(l), Some(h)) => format!("{:.2}%–{:.2}%", l * 100.0, h * 100.0),
            _ => "-".into(),
        };
        let suggestion = match (&f.suggestion, f.sampled_keyed) {
            (_, 0) => "no keyed samples yet".to_string(),
            (Some(s), _) => format!(
                "{:.2} ({:.1}% keyed){}",
                s.threshold,
                s.keying_share * 100.0,
                if s.shown {
                    ""
                } else {
                    ", estimate: more samples needed to show it"
                }
            ),
            (None, _) => "none: key every value".to_string(),
        };
        println!(
            "{:<24} {:<14} {:>7} {:>8} {:>8} {:>7} {:>9} {:>19}  {}",
            f.class,
            f.field,
            f.values,
            f.accepted,
            format!("{}/{}", f.sampled_keyed, f.sampled),
            f.errors,
            pct(f.error_rate),
            interval,
            suggestion
        );
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_repeatable_and_near_its_share() {
        let n = 20_000;
        let hits = (0..n)
            .filter(|i| picked(&format!("doc-{i}"), "policy_no", 0.02))
            .count();
        assert!((300..=500).contains(&hits), "{hits} of {n}");
        assert_eq!(picked("d", "f", 0.3), picked("d", "f", 0.3));
        assert!(picked("d", "f", 1.0) && !picked("d", "f", 0.0));
    }

    #[test]
    fn wilson_matches_known_values() {
        // 0 of 10: upper 27.75 %; 5 of 100: 2.15 %–11.18 %.
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson(5, 100);
        assert!(
            (lo - 0.0215).abs() < 1e-4 && (hi - 0.1118).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn suggestion_raises_the_threshold_past_the_errors() {
        let obs = |c: f64, wrong: bool| Observation {
            confidence: c,
            wrong,
        };
        let samples = [
            obs(0.5, true),
            obs(0.6, false),
            obs(0.7, true),
            obs(0.8, false),
            obs(0.9, false),
        ];
        let all = [0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
        let s = suggest(&samples, &all, 0.9995).unwrap();
        assert_eq!(s.threshold, 0.8);
        assert_eq!(s.samples, 2);
        assert_eq!(s.keying_share, 4.0 / 8.0);
        assert!(!s.shown, "two samples cannot show 99.95 %");
        assert_eq!(suggest(&[obs(0.9, true)], &all, 0.9995), None);
        assert_eq!(suggest(&[], &all, 0.9995), None);
    }
}
