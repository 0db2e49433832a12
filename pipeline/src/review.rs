//! Review holds, orchestrated: which flags a finished document's pages
//! carry (the rules are `folio_stages::review`, the settings `[review]`),
//! the decisions the worker takes by rule (`drop_blank_backs`), and a
//! person's decision (`decide`), which packages the document in this
//! process once its last hold is decided — with the workers' own code
//! (`work::finish_claimed`), as the keying server does. `folio review`
//! prints what the store holds.

use crate::error::{ExitCode, FolioError};
use crate::settings::Settings;
use crate::store::review::{AutoDecision, Decision, FoundFlag, ReviewPage};
use crate::store::{Actor, DocumentWork, PageState, Store};
use crate::work;
use folio_stages::prepare::ImageReport;
use folio_stages::review::{Flag, PageFacts, page_flags};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What a decision did.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub document_id: String,
    /// Pages of the document whose holding flags are still undecided.
    pub undecided_left: usize,
    /// True when this decision released the document and it is now
    /// packaged.
    pub packaged: bool,
}

/// Records the decision with its actor (an event) and, when it was the
/// document's last undecided hold, packages the document in this process
/// (as the keying server does). Unknown page: `FolioError::NotFound`; a
/// page of a document already packaged: `FolioError::Conflict`.
pub async fn decide(
    store: &Store,
    settings: Arc<Settings>,
    pool: Arc<rayon::ThreadPool>,
    actor: &Actor,
    page_id: i64,
    decision: Decision,
    reason: &str,
) -> Result<Decided, FolioError> {
    // The packaging is the worker's job done here: its own actor, so the
    // document's history tells the person's decision from the packaging.
    let finisher = Actor::worker();
    let lease = settings.work.lease_seconds;
    let decided = store
        .decide_page(page_id, decision, reason, actor, &finisher, lease)
        .await?;
    let mut packaged = false;
    if let Some(claim) = decided.claim {
        let renewer = {
            let store = store.clone();
            let finisher = finisher.clone();
            tokio::spawn(async move {
                let every = Duration::from_secs_f64((lease / 3.0).max(0.2));
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = store.renew(&finisher, lease).await {
                        tracing::warn!("renewing leases: {e}");
                    }
                }
            })
        };
        let finished = work::finish_claimed(store, settings, pool, &finisher, claim).await;
        renewer.abort();
        if finished.is_err() {
            // Whatever is left goes back to any worker.
            let _ = store
                .release(
                    &finisher,
                    "packaging after a decision failed; lease given back",
                )
                .await;
        }
        packaged = finished?
            && store.document_state(&decided.document_id).await?.as_deref() == Some("packaged");
    }
    Ok(Decided {
        document_id: decided.document_id,
        undecided_left: decided.undecided_left,
        packaged,
    })
}

/// The flags of a document's pages and the worker's rule-based
/// decisions, from the stored results. `rescans` are the re-scan pairs
/// found against earlier pages; `page_count` why the batch is held for
/// its page count, if it is.
pub fn flags_for(
    work: &DocumentWork,
    rescans: &[(i64, String)],
    page_count: Option<&str>,
    settings: &Settings,
) -> (Vec<FoundFlag>, Vec<AutoDecision>) {
    let review = &settings.review;
    let mut flags = Vec::new();
    let mut auto = Vec::new();
    for page in &work.pages {
        if page.state != PageState::Done {
            continue;
        }
        let report: Option<ImageReport> = serde_json::from_str(&page.result.report).ok();
        let rescan_of = rescans
            .iter()
            .find(|(s, _)| *s == page.seq)
            .map(|(_, l)| l.as_str());
        let found = page_flags(
            &PageFacts {
                report: report.as_ref(),
                rescan_of,
                page_count,
            },
            &review.thresholds,
        );
        let blank = found.iter().any(|(f, _)| *f == Flag::Blank);
        for (flag, detail) in found {
            flags.push(FoundFlag {
                page_id: page.page_id,
                flag,
                detail,
                holds: review.holds(flag),
            });
        }
        if review.drop_blank_backs && blank && page.seq % 2 == 0 {
            auto.push(AutoDecision {
                page_id: page.page_id,
                decision: Decision::Drop,
                reason: format!(
                    "blank back side (page {} is even): dropped by rule, [review] drop_blank_backs = true",
                    page.seq
                ),
            });
        }
    }
    (flags, auto)
}

/// `folio review list`: the batch's pages with flags and decisions.
pub async fn run_list(store: &Store, key: &str, json: bool) -> Result<ExitCode, FolioError> {
    let batch = find(store, key).await?;
    let pages = store.review_pages(&batch.id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&pages)
                .map_err(|e| FolioError::Internal(e.to_string()))?
        );
        return Ok(ExitCode::Ok);
    }
    let flagged: Vec<&ReviewPage> = pages.iter().filter(|p| !p.flags.is_empty()).collect();
    println!(
        "review · batch {} ({}) · {} page(s), {} flagged, {} holding",
        batch.name,
        batch.id,
        pages.len(),
        flagged.len(),
        pages.iter().filter(|p| p.holds).count()
    );
    for p in flagged {
        print_page(p);
    }
    if pages.iter().any(|p| p.holds) {
        println!("decide with `folio review decide PAGE_ID keep|drop|rescan [--reason TEXT]`");
    }
    Ok(ExitCode::Ok)
}

/// One page in a listing: id, place, flags, decision.
pub fn print_page(p: &ReviewPage) {
    let flags: Vec<String> = p
        .flags
        .iter()
        .map(|f| format!("{}: {}", f.flag, f.detail))
        .collect();
    let decision = match (&p.decision, &p.decided_by) {
        (Some(d), Some(by)) => format!("{d} by {by}"),
        (Some(d), None) => d.to_string(),
        (None, _) if p.holds => "UNDECIDED (holds the document)".into(),
        (None, _) => "undecided".into(),
    };
    println!(
        "  page {:>6}  {} p{:04} ({} p{}) [{}]  {} · {}",
        p.page_id,
        p.document_id,
        p.seq,
        p.original,
        p.file_page,
        p.document_state,
        flags.join(" · "),
        decision
    );
}

/// `folio review rescans`: the open re-scan requests (a printable list,
/// or CSV for the scanning station).
pub async fn run_rescans(store: &Store, key: &str, csv: bool) -> Result<ExitCode, FolioError> {
    let batch = find(store, key).await?;
    let requests = store.rescan_requests(&batch.id).await?;
    if csv {
        println!(
            "batch,document_id,seq,original,file_page,reason,requested_by,requested_at,replaces"
        );
        for r in &requests {
            let (seq, file_page) = (r.seq.to_string(), r.file_page.to_string());
            let fields: [&str; 9] = [
                &r.batch,
                &r.document_id,
                &seq,
                &r.original,
                &file_page,
                &r.reason,
                &r.requested_by,
                &r.requested_at,
                &r.replaces,
            ];
            let row = fields.map(csv_field);
            println!("{}", row.join(","));
        }
        return Ok(ExitCode::Ok);
    }
    println!(
        "re-scan requests · batch {} ({}) · {} open",
        batch.name,
        batch.id,
        requests.len()
    );
    for r in &requests {
        println!(
            "  {}  {} p{} (page {} of {})  by {} at {}: {}",
            r.replaces,
            r.original,
            r.file_page,
            r.seq,
            r.document_id,
            r.requested_by,
            r.requested_at,
            r.reason
        );
    }
    if !requests.is_empty() {
        println!(
            "re-scan them into a folder with a batch.toml: rescan_of = \"{}\" and replaces = [\"DOC:PAGE\", …] in page order",
            batch.name
        );
    }
    Ok(ExitCode::Ok)
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn find(store: &Store, key: &str) -> Result<crate::store::BatchRow, FolioError> {
    store.find_batch(key).await?.ok_or_else(|| {
        FolioError::NotFound(format!(
            "{key}: no such batch in the store (give its id, name or folder)"
        ))
    })
}
