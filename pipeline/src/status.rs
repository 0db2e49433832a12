//! `folio status`: where the work is, read from the store, so every
//! workstation and the console see the same numbers — batches with pages
//! and documents per state, the leases held (worker, host) and pages per
//! minute over the last five minutes; for batches a watch service took,
//! the folder name as dropped, the operator, a hold and what was set
//! aside; and whether a running watch service is paused, and why.

use crate::error::{ExitCode, FolioError};
use crate::store::intake::{IntakeRow, WatcherRow};
use crate::store::{BatchStatus, Store};
use serde::Serialize;

/// `folio status --json`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Why a live watch service is not claiming batches (`null`: none is
    /// paused).
    pub paused: Option<String>,
    pub batches: Vec<BatchView>,
    /// Watch services alive now.
    pub watchers: Vec<WatcherRow>,
    /// Batch folders a watch service could not ingest (moved to `failed/`).
    pub failed_intakes: Vec<IntakeRow>,
}

/// One batch: its counts, and for a batch a watch service took, what it
/// came with (`source` is then the folder name as dropped).
#[derive(Debug, Serialize)]
pub struct BatchView {
    #[serde(flatten)]
    pub batch: BatchStatus,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeView>,
}

/// What a watched batch came with.
#[derive(Debug, Serialize)]
pub struct IntakeView {
    /// Where the folder was ingested from (the service's claimed area).
    pub source_path: String,
    pub operator: Option<String>,
    /// Why its documents wait for the operator (`null`: not held).
    pub held: Option<String>,
    pub expected_pages: Option<i64>,
    pub found_pages: Option<i64>,
    pub manifest: serde_json::Value,
    /// Files set aside, each `{name, reason}`.
    pub quarantined: serde_json::Value,
    /// Files skipped by rule (hidden, temp, folder litter).
    pub skipped: serde_json::Value,
    /// Where the folder went after ingest (`done/<date>/<name>`).
    pub moved_to: Option<String>,
}

/// Prints the status of every batch, or of the one `key` names.
pub async fn run(store: &Store, key: Option<&str>, json: bool) -> Result<ExitCode, FolioError> {
    let watched = store.watched_batches().await?;
    let mut batches = store.status(key).await?;
    if let Some(k) = key
        && batches.is_empty()
        && let Some(w) = watched.iter().find(|w| w.source_name == k)
    {
        batches = store.status(Some(&w.batch_id)).await?;
    }
    if let Some(k) = key
        && batches.is_empty()
    {
        return Err(FolioError::input(
            k,
            "no such batch in the store (give its id, name or folder)",
        ));
    }
    let intakes = store.intakes().await?;
    let watchers = store.live_watchers().await?;
    let paused = watchers.iter().find_map(|w| w.paused.clone());
    let batches = batches
        .into_iter()
        .map(|mut b| {
            let intake = watched.iter().find(|w| w.batch_id == b.id).map(|w| {
                let row = intakes
                    .iter()
                    .find(|i| i.batch_id.as_deref() == Some(b.id.as_str()));
                let summary: serde_json::Value = row
                    .and_then(|r| r.summary.as_deref())
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                IntakeView {
                    source_path: std::mem::replace(&mut b.source, w.source_name.clone()),
                    operator: w.operator.clone(),
                    held: w.held.clone(),
                    expected_pages: w.expected_pages,
                    found_pages: w.found_pages,
                    manifest: w
                        .manifest
                        .as_deref()
                        .and_then(|m| serde_json::from_str(m).ok())
                        .unwrap_or_default(),
                    quarantined: summary["quarantined"].clone(),
                    skipped: summary["skipped"].clone(),
                    moved_to: row.and_then(|r| r.moved_to.clone()),
                }
            });
            BatchView { batch: b, intake }
        })
        .collect();
    let status = Status {
        paused,
        batches,
        watchers,
        failed_intakes: intakes
            .into_iter()
            .filter(|i| i.state == "failed")
            .collect(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(ExitCode::Ok);
    }
    print_text(store, &status);
    Ok(ExitCode::Ok)
}

fn print_text(store: &Store, status: &Status) {
    if let Some(p) = &status.paused {
        println!("paused: {p}");
    }
    for w in &status.watchers {
        println!(
            "watch service {} on {}: {} · seen {:.0} s ago",
            w.id,
            w.folders.replace('\n', ", "),
            w.paused
                .as_deref()
                .map(|p| format!("paused: {p}"))
                .unwrap_or_else(|| "claiming".into()),
            w.seen_s_ago
        );
    }
    for f in &status.failed_intakes {
        println!(
            "FAILED intake {} → {}: {}",
            f.source_name,
            f.moved_to.as_deref().unwrap_or("?"),
            f.reason.as_deref().unwrap_or("")
        );
    }
    if status.batches.is_empty() {
        println!("no batches in {}", store.url());
    }
    for view in &status.batches {
        let b = &view.batch;
        let p = &b.pages;
        let d = &b.documents;
        println!(
            "batch {} ({}) · {} · class {}",
            b.name, b.id, b.state, b.class
        );
        println!("  source {}", b.source);
        if let Some(i) = &view.intake {
            println!(
                "  taken from a watch folder · operator {} · {} page(s) found{}",
                i.operator.as_deref().unwrap_or("(none)"),
                i.found_pages.unwrap_or(0),
                i.expected_pages
                    .map(|n| format!(", {n} expected"))
                    .unwrap_or_default()
            );
            if let Some(h) = &i.held {
                println!("  HELD: {h}");
            }
            for q in i.quarantined.as_array().into_iter().flatten() {
                println!(
                    "  quarantined: {}: {}",
                    q["name"].as_str().unwrap_or(""),
                    q["reason"].as_str().unwrap_or("")
                );
            }
            let skipped = i.skipped.as_array().map(Vec::len).unwrap_or(0);
            if skipped > 0 {
                println!("  skipped by rule: {skipped} file(s) (hidden, temp, folder litter)");
            }
        }
        println!(
            "  pages: {} queued, {} leased, {} done, {} failed · {:.1} pages/min (last 5 min)",
            p.queued, p.leased, p.done, p.failed, b.pages_per_minute
        );
        println!(
            "  documents: {} queued, {} finishing, {} packaged, {} awaiting keying, {} failed",
            d.queued, d.finishing, d.packaged, d.awaiting_keying, d.failed
        );
        for l in &b.leases {
            println!(
                "  lease: {} on {} holds {} page(s), {} document(s); {}",
                l.worker,
                l.host,
                l.pages,
                l.documents,
                if l.expires_in_s >= 0.0 {
                    format!("expires in {:.0} s", l.expires_in_s)
                } else {
                    format!(
                        "expired {:.0} s ago (any worker may take it)",
                        -l.expires_in_s
                    )
                }
            );
        }
    }
}
