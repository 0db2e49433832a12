//! `folio eval`: how well Folio read, measured against ground truth.
//! Owns finding the truth file of each packaged page (by the original
//! file's name, as `index.json` records it), reading each package's text
//! where its index says it is, and adding up the counts; the counting
//! itself is `folio_stages::accuracy`. Reads packages, never changes them;
//! needs no store.

use crate::error::{ExitCode, FolioError};
use folio_stages::accuracy::{self, ErrorCounts, PageTruth};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The text reading of one original file (a page, in the shared data)
/// against its truth.
#[derive(Debug, Clone, Serialize)]
pub struct PageEval {
    /// Package folder.
    pub package: String,
    pub document_id: String,
    /// The scanner's file name, as the index records it.
    pub original_name: String,
    /// Package pages read from this original (`seq` numbers).
    pub pages: Vec<i64>,
    /// Truth file used.
    pub truth: String,
    /// `txt`, `hocr`, `forms_json` or `funsd`.
    pub format: &'static str,
    #[serde(flatten)]
    pub counts: ErrorCounts,
    pub cer: f64,
    pub wer: f64,
}

/// Totals over every evaluated page: errors over truth length, so long
/// pages weigh more (the figure a client's contract means).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overall {
    pub pages: usize,
    #[serde(flatten)]
    pub counts: ErrorCounts,
    pub cer: f64,
    pub wer: f64,
    /// Mean of the pages' own CER (each page weighs the same).
    pub mean_page_cer: f64,
}

/// One field over every evaluated document that defines it and has it in
/// its truth.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FieldEval {
    pub name: String,
    /// Documents whose class has the field and whose truth gives a value.
    pub total: usize,
    /// OCR read a value (right or wrong); `total - found` were not found.
    pub found: usize,
    /// OCR's reading equals the truth (whatever its route).
    pub ocr_right: usize,
    /// Accepted without keying.
    pub accepted: usize,
    /// Accepted without keying and right: `accepted - accepted_right`
    /// wrong values went into the index unseen.
    pub accepted_right: usize,
    /// Sent to keying.
    pub keying: usize,
    /// The package's final value equals the truth (after keying, if any).
    pub final_right: usize,
    /// `ocr_right / total`.
    pub ocr_accuracy: f64,
    /// `accepted_right / accepted` (1 when none accepted).
    pub accepted_accuracy: f64,
}

/// What `folio eval` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    pub packages: usize,
    pub pages: Vec<PageEval>,
    pub overall: Overall,
    pub fields: Vec<FieldEval>,
    /// Every field together (`name` = `all`); absent when no field was
    /// evaluated.
    pub fields_overall: Option<FieldEval>,
    /// Originals with no truth file of the same name (not counted).
    pub unmatched: Vec<String>,
}

/// Truth formats, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    Json,
    Hocr,
    Txt,
}

/// Truth files by the stem they are matched on (`8071_093.3B`,
/// `form_000`, `0000971160`).
fn index_truth(dir: &Path) -> Result<BTreeMap<String, (Format, PathBuf)>, FolioError> {
    if !dir.is_dir() {
        return Err(FolioError::input(dir, "truth folder not found"));
    }
    let mut found: BTreeMap<String, (Format, PathBuf)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| FolioError::input(dir, e))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let (stem, format) = if let Some(s) = name.strip_suffix(".truth.hocr") {
            (s, Format::Hocr)
        } else if let Some(s) = name.strip_suffix(".hocr") {
            (s, Format::Hocr)
        } else if let Some(s) = name.strip_suffix(".json") {
            (s, Format::Json)
        } else if let Some(s) = name.strip_suffix(".txt") {
            (s, Format::Txt)
        } else {
            continue;
        };
        let path = entry.path().to_path_buf();
        // One truth per stem: JSON (text and fields) before hOCR before text.
        match found.get(stem) {
            Some((f, _)) if *f <= format => {}
            _ => {
                found.insert(stem.to_string(), (format, path));
            }
        }
    }
    Ok(found)
}

fn read_truth(format: Format, path: &Path) -> Result<(PageTruth, &'static str), FolioError> {
    let text = std::fs::read_to_string(path).map_err(|e| FolioError::input(path, e))?;
    let bad = |e: accuracy::TruthError| FolioError::input(path, format!("not a truth file: {e}"));
    Ok(match format {
        Format::Txt => (
            PageTruth {
                text,
                fields: BTreeMap::new(),
            },
            "txt",
        ),
        Format::Hocr => (
            PageTruth {
                text: accuracy::hocr_text(&text),
                fields: BTreeMap::new(),
            },
            "hocr",
        ),
        Format::Json => {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| FolioError::input(path, format!("not JSON: {e}")))?;
            if v.get("form").is_some() {
                (accuracy::funsd_truth(&text).map_err(bad)?, "funsd")
            } else {
                (accuracy::forms_truth(&text).map_err(bad)?, "forms_json")
            }
        }
    })
}

/// The index record of a package folder: where `layout` puts it, or
/// where packages written before the delivery layout kept it.
fn index_of(package: &Path) -> Option<PathBuf> {
    [crate::layout::INDEX, "data/index.json"]
        .iter()
        .map(|rel| package.join(rel))
        .find(|p| p.is_file())
}

/// Package folders named by `paths`: a package itself (it has an index
/// record), or a folder holding packages up to three levels down (a
/// `folio run --out` folder: deliveries of packages, and those waiting
/// for keying in `.awaiting-keying/`; staging and failed attempts are
/// left out).
fn find_packages(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FolioError> {
    let mut out = Vec::new();
    for p in paths {
        if index_of(p).is_some() {
            out.push(p.clone());
            continue;
        }
        if !p.is_dir() {
            return Err(FolioError::input(
                p,
                "not a package or a folder of packages",
            ));
        }
        let before = out.len();
        let mut walk = walkdir::WalkDir::new(p)
            .min_depth(1)
            .max_depth(3)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| FolioError::input(p, e))?;
            if !entry.file_type().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if name.starts_with('.') && name != ".awaiting-keying" {
                walk.skip_current_dir();
                continue;
            }
            if index_of(entry.path()).is_some() {
                out.push(entry.path().to_path_buf());
                walk.skip_current_dir();
            }
        }
        if out.len() == before {
            return Err(FolioError::input(
                p,
                "no package here (no index record in it or its sub-folders)",
            ));
        }
    }
    Ok(out)
}

/// A package's text of one page: the file its index names under `text`,
/// else the words of its hOCR (`hocr`); a page with neither (a failed
/// page) reads as nothing.
fn page_text(package: &Path, page: &Value) -> Result<String, FolioError> {
    if let Some(rel) = page.get("text").and_then(Value::as_str) {
        let path = package.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(t) => return Ok(t),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FolioError::input(&path, e));
            }
            Err(_) => {}
        }
    }
    if let Some(rel) = page.get("hocr").and_then(Value::as_str) {
        let path = package.join(rel);
        let html = std::fs::read_to_string(&path).map_err(|e| FolioError::input(&path, e))?;
        return Ok(accuracy::hocr_text(&html));
    }
    Ok(String::new())
}

/// Evaluates packages against a truth folder.
pub fn evaluate(truth_dir: &Path, packages: &[PathBuf]) -> Result<EvalReport, FolioError> {
    let truth = index_truth(truth_dir)?;
    let packages = find_packages(packages)?;
    let mut report = EvalReport {
        packages: packages.len(),
        ..EvalReport::default()
    };
    let mut fields: BTreeMap<String, FieldEval> = BTreeMap::new();
    for package in &packages {
        let index_path = index_of(package).unwrap_or_else(|| package.join(crate::layout::INDEX));
        let index: Value = std::fs::read_to_string(&index_path)
            .map_err(|e| FolioError::input(&index_path, e))
            .and_then(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| FolioError::input(&index_path, format!("not JSON: {e}")))
            })?;
        let document_id = index
            .get("document_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // Pages grouped by their original, in page order: a multi-page
        // file's truth is the text of all its pages.
        let mut by_original: Vec<(String, Vec<(i64, String)>)> = Vec::new();
        for page in index
            .get("pages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = page
                .get("original_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let seq = page.get("seq").and_then(Value::as_i64).unwrap_or(0);
            let text = page_text(package, page)?;
            match by_original.iter_mut().find(|(n, _)| *n == name) {
                Some((_, pages)) => pages.push((seq, text)),
                None => by_original.push((name, vec![(seq, text)])),
            }
        }
        let mut doc_truth: BTreeMap<String, String> = BTreeMap::new();
        for (name, pages) in by_original {
            let stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let Some((format, path)) = truth.get(&stem) else {
                report.unmatched.push(format!("{document_id}: {name}"));
                continue;
            };
            let (page_truth, format_name) = read_truth(*format, path)?;
            let read: Vec<&str> = pages.iter().map(|(_, t)| t.as_str()).collect();
            let counts = accuracy::compare(&page_truth.text, &read.join("\n"));
            report.pages.push(PageEval {
                package: package.display().to_string(),
                document_id: document_id.clone(),
                original_name: name,
                pages: pages.iter().map(|(s, _)| *s).collect(),
                truth: path.display().to_string(),
                format: format_name,
                counts,
                cer: counts.cer(),
                wer: counts.wer(),
            });
            doc_truth.extend(page_truth.fields);
        }
        let Some(doc_fields) = index.get("fields").and_then(Value::as_object) else {
            continue;
        };
        for (name, want) in &doc_truth {
            let Some(got) = doc_fields.get(name) else {
                continue;
            };
            let f = fields.entry(name.clone()).or_insert_with(|| FieldEval {
                name: name.clone(),
                ..FieldEval::default()
            });
            let value = |k: &str| got.get(k).and_then(Value::as_str);
            let right = |v: Option<&str>| v.is_some_and(|v| accuracy::field_matches(want, v));
            let status = value("status").unwrap_or_default();
            f.total += 1;
            f.found += value("ocr_value").is_some_and(|v| !v.trim().is_empty()) as usize;
            f.ocr_right += right(value("ocr_value")) as usize;
            f.final_right += right(value("value")) as usize;
            // Accepted by OCR means the field never went to keying: its
            // source is OCR (a keyed value says "keyed" or the like).
            let by_ocr = status == "accepted" && value("source").is_none_or(|s| s == "ocr");
            if by_ocr {
                f.accepted += 1;
                f.accepted_right += right(value("value")) as usize;
            } else {
                f.keying += 1;
            }
        }
    }
    if report.pages.is_empty() {
        return Err(FolioError::Usage(format!(
            "no packaged page matches a truth file in {} (pages are matched by their original file name without extension; unmatched: {})",
            truth_dir.display(),
            report.unmatched.len()
        )));
    }
    let mut total = ErrorCounts::default();
    for p in &report.pages {
        total = total.add(&p.counts);
    }
    report.overall = Overall {
        pages: report.pages.len(),
        counts: total,
        cer: total.cer(),
        wer: total.wer(),
        mean_page_cer: report.pages.iter().map(|p| p.cer).sum::<f64>() / report.pages.len() as f64,
    };
    let rates = |mut f: FieldEval| {
        f.ocr_accuracy = f.ocr_right as f64 / f.total.max(1) as f64;
        f.accepted_accuracy = if f.accepted == 0 {
            1.0
        } else {
            f.accepted_right as f64 / f.accepted as f64
        };
        f
    };
    report.fields = fields.into_values().map(rates).collect();
    report.fields_overall = (!report.fields.is_empty()).then(|| {
        rates(report.fields.iter().fold(
            FieldEval {
                name: "all".into(),
                ..FieldEval::default()
            },
            |mut a, f| {
                a.total += f.total;
                a.found += f.found;
                a.ocr_right += f.ocr_right;
                a.accepted += f.accepted;
                a.accepted_right += f.accepted_right;
                a.keying += f.keying;
                a.final_right += f.final_right;
                a
            },
        ))
    });
    Ok(report)
}

/// `folio eval`: prints the report (a table, or JSON).
pub fn run(truth: &Path, packages: &[PathBuf], json: bool) -> Result<ExitCode, FolioError> {
    let report = evaluate(truth, packages)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(ExitCode::Ok);
    }
    println!(
        "{:<32} {:<10} {:>7} {:>6} {:>8} {:>6} {:>6} {:>8}",
        "original", "truth", "chars", "errors", "CER", "words", "errors", "WER"
    );
    for p in &report.pages {
        println!(
            "{:<32} {:<10} {:>7} {:>6} {:>7.2}% {:>6} {:>6} {:>7.2}%",
            p.original_name,
            p.format,
            p.counts.chars,
            p.counts.char_errors,
            p.cer * 100.0,
            p.counts.words,
            p.counts.word_errors,
            p.wer * 100.0
        );
    }
    let o = &report.overall;
    println!(
        "overall: {} page(s) in {} package(s): CER {:.2}% ({} of {} chars), WER {:.2}% ({} of {} words), mean page CER {:.2}%",
        o.pages,
        report.packages,
        o.cer * 100.0,
        o.counts.char_errors,
        o.counts.chars,
        o.wer * 100.0,
        o.counts.word_errors,
        o.counts.words,
        o.mean_page_cer * 100.0
    );
    if !report.fields.is_empty() {
        println!(
            "{:<20} {:>6} {:>6} {:>10} {:>9} {:>15} {:>7} {:>12}",
            "field",
            "total",
            "found",
            "OCR right",
            "accepted",
            "accepted right",
            "keying",
            "final right"
        );
        for f in report.fields.iter().chain(&report.fields_overall) {
            println!(
                "{:<20} {:>6} {:>6} {:>10} {:>9} {:>15} {:>7} {:>12}",
                f.name,
                f.total,
                f.found,
                f.ocr_right,
                f.accepted,
                f.accepted_right,
                f.keying,
                f.final_right
            );
        }
    }
    if !report.unmatched.is_empty() {
        println!(
            "{} original(s) without a truth file (not counted)",
            report.unmatched.len()
        );
    }
    Ok(ExitCode::Ok)
}
