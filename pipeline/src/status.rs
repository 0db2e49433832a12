//! `folio status`: where the work is, read from the store, so every
//! workstation and the console see the same numbers — batches with pages
//! and documents per state, the leases held (worker, host) and pages per
//! minute over the last five minutes.

use crate::error::{ExitCode, FolioError};
use crate::store::{BatchStatus, Store};
use serde::Serialize;

/// `folio status --json`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub batches: Vec<BatchStatus>,
}

/// Prints the status of every batch, or of the one `key` names.
pub async fn run(store: &Store, key: Option<&str>, json: bool) -> Result<ExitCode, FolioError> {
    let batches = store.status(key).await?;
    if let Some(k) = key
        && batches.is_empty()
    {
        return Err(FolioError::input(
            k,
            "no such batch in the store (give its id, name or folder)",
        ));
    }
    let status = Status { batches };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(ExitCode::Ok);
    }
    if status.batches.is_empty() {
        println!("no batches in {}", store.url());
    }
    for b in &status.batches {
        let p = &b.pages;
        let d = &b.documents;
        println!(
            "batch {} ({}) · {} · class {}",
            b.name, b.id, b.state, b.class
        );
        println!("  source {}", b.source);
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
    Ok(ExitCode::Ok)
}
