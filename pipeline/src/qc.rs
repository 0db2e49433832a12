//! `folio qc`: the batch's image-quality report from the store — every
//! page's verdict with reasons, blank and re-scan flags, and the batch's
//! pass rate against the DA/T 31 acceptance bar (≥ 95 % of images pass).

use crate::error::{ExitCode, FolioError};
use crate::store::{BatchRow, PageReportRow, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// DA/T 31-2017: a batch is accepted when at least 95 % of images pass.
pub const ACCEPT_PASS_RATE: f64 = 0.95;

/// The QC report of one batch.
#[derive(Debug, Serialize)]
pub struct QcReport {
    pub batch: BatchRow,
    pub pages: usize,
    pub passed: usize,
    pub pass_rate: f64,
    pub accepted: bool,
    pub blank: usize,
    pub rescans: usize,
    /// Count of pages per failing reason code.
    pub reasons: BTreeMap<String, usize>,
    pub page_rows: Vec<PageReportRow>,
}

/// Builds the report.
pub async fn report(store: &Store, batch: BatchRow) -> Result<QcReport, FolioError> {
    let rows = store.page_reports(&batch.id).await?;
    let passed = rows.iter().filter(|r| r.qc_pass).count();
    let mut reasons = BTreeMap::new();
    for r in &rows {
        if let Ok(serde_json::Value::Array(list)) =
            serde_json::from_str::<serde_json::Value>(&r.qc_reasons)
        {
            for reason in list {
                let code = reason
                    .get("code")
                    .and_then(|c| c.as_str())
                    .unwrap_or("unknown")
                    .to_string();
                *reasons.entry(code).or_insert(0) += 1;
            }
        }
    }
    let pages = rows.len();
    let pass_rate = if pages == 0 {
        0.0
    } else {
        passed as f64 / pages as f64
    };
    Ok(QcReport {
        batch,
        pages,
        passed,
        pass_rate,
        accepted: pages > 0 && pass_rate >= ACCEPT_PASS_RATE,
        blank: rows.iter().filter(|r| r.blank).count(),
        rescans: rows.iter().filter(|r| r.rescan_of.is_some()).count(),
        reasons,
        page_rows: rows,
    })
}

/// Prints the report; exit code 4 when the batch fails acceptance.
pub async fn run(store: &Store, key: &str, json: bool) -> Result<ExitCode, FolioError> {
    let batch = store.find_batch(key).await?.ok_or_else(|| {
        FolioError::input(
            key,
            "no such batch in the store (give its id, name or folder)",
        )
    })?;
    let rep = report(store, batch).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rep).map_err(|e| FolioError::Internal(e.to_string()))?
        );
    } else {
        println!(
            "QC report · batch {} ({}) · {}",
            rep.batch.name, rep.batch.id, rep.batch.state
        );
        println!(
            "{} page(s), {} pass ({:.1} %), {} flagged blank, {} re-scans · acceptance (≥ 95 %): {}",
            rep.pages,
            rep.passed,
            rep.pass_rate * 100.0,
            rep.blank,
            rep.rescans,
            if rep.accepted { "PASS" } else { "FAIL" }
        );
        for (code, n) in &rep.reasons {
            println!("  {code}: {n} page(s)");
        }
        for r in &rep.page_rows {
            let flags = [
                (!r.qc_pass).then(|| format!("QC {}", r.qc_reasons)),
                r.blank.then(|| "BLANK?".to_string()),
                r.rescan_of.as_ref().map(|o| format!("RESCAN of {o}")),
                r.failure.clone(),
            ];
            let flags: Vec<String> = flags.into_iter().flatten().collect();
            println!(
                "  {}/p{:04} {} p{} skew {:+.2}° turn {}° {}",
                r.document_id,
                r.seq,
                r.original_name,
                r.file_page,
                r.skew_deg,
                r.orientation_deg,
                if flags.is_empty() {
                    "ok".into()
                } else {
                    flags.join(" · ")
                }
            );
        }
    }
    Ok(if rep.accepted {
        ExitCode::Ok
    } else {
        ExitCode::Attention
    })
}
