//! The worker: claims pages by lease from the store, runs the stages on
//! its rayon threads, commits each page's results with the lease token,
//! and finishes a document when it commits the document's last page.
//! Leases are renewed while the work runs; a worker that dies simply
//! stops renewing, and another takes its pages once they expire. This is
//! the one place where async orchestration meets CPU-bound stages
//! (`on_pool`): stages never see the store, the store never waits on a
//! stage.

use crate::batch::BatchState;
use crate::delivery;
use crate::document;
use crate::error::FolioError;
use crate::objects::Objects;
use crate::process;
use crate::review;
use crate::settings::Settings;
use crate::store::{Actor, DocClaim, PageClaim, PageCommit, Store};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// What a worker should work on and when it should stop.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only this batch's pages (`folio run`); any batch when `None`.
    pub batch: Option<String>,
    /// Return once nothing is queued or leased (in scope), instead of
    /// waiting for new work.
    pub until_idle: bool,
}

/// What one worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkReport {
    pub worker: String,
    /// Pages whose results this worker committed.
    pub pages: usize,
    /// Results refused because the lease had passed to another worker.
    pub stale: usize,
    /// Documents this worker finished.
    pub documents: usize,
    /// Leases given back at shutdown.
    pub released: u64,
    /// True when a signal stopped the worker.
    pub interrupted: bool,
}

/// The shared parts of one worker process.
struct Ctx {
    store: Store,
    settings: Arc<Settings>,
    objects: Objects,
    actor: Actor,
    pool: Arc<rayon::ThreadPool>,
    /// Pages on the page threads now (claimed and not yet through the
    /// stages): a thread is free when its page leaves the stages, before
    /// the page's image is written and its result committed.
    processing: AtomicUsize,
    /// Told when a page leaves the stages, so its thread gets the next.
    freed: Notify,
}

enum Done {
    /// A page committed; `ready` is its document when it was the last.
    Page {
        stale: bool,
        ready: Option<DocClaim>,
    },
    Document(bool),
}

/// Runs `f` on the rayon pool and waits for it without blocking the
/// async runtime: the one bridge between orchestration and stages.
pub async fn on_pool<T: Send + 'static>(
    pool: &rayon::ThreadPool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FolioError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        let _ = tx.send(f());
    });
    rx.await
        .map_err(|_| FolioError::Internal("a worker thread stopped unexpectedly".into()))
}

/// The process's one packaging thread, beside the page threads: a
/// package is mostly file writes and fsync (~25 ms a document), and so is
/// a page's derived image, which a page thread would otherwise wait out
/// instead of reading its next page.
/// One thread, not the runtime's blocking pool: every new thread that
/// builds packages keeps its own allocator arena, and memory grew with
/// the batch (spine's memory test).
fn packaging_pool() -> Result<&'static rayon::ThreadPool, FolioError> {
    static POOL: std::sync::OnceLock<Result<rayon::ThreadPool, String>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "folio-package".into())
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| FolioError::Internal(format!("packaging thread: {e}")))
}

/// A flag that turns true on SIGINT or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("folio: stopping: finishing or giving back the pages in hand");
        let _ = tx.send(true);
    });
    rx
}

/// The worker's thread pool: one thread (and one OCR engine) per slot.
pub fn thread_pool(settings: &Settings) -> Result<rayon::ThreadPool, FolioError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(settings.workers.max(1))
        .thread_name(|i| format!("folio-worker-{i}"))
        .build()
        .map_err(|e| FolioError::Internal(e.to_string()))
}

/// Works until the scope is idle (`until_idle`) or `stop` turns true.
/// At most `settings.workers` pages are on the page threads at once,
/// whatever the batch. A thread is given its next page as soon as its
/// page leaves the stages: the page's image is written (fsync) and its
/// result committed beside it, for at most as many pages again, instead
/// of the thread idling through both. No page is claimed before a thread
/// is free for it, so workers sharing a batch share its last pages.
pub async fn work(
    store: &Store,
    settings: Arc<Settings>,
    pool: Arc<rayon::ThreadPool>,
    actor: &Actor,
    scope: &Scope,
    mut stop: watch::Receiver<bool>,
) -> Result<WorkReport, FolioError> {
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        objects: Objects::new(&settings.objects_dir),
        settings: settings.clone(),
        actor: actor.clone(),
        pool,
        processing: AtomicUsize::new(0),
        freed: Notify::new(),
    });
    let lease = settings.work.lease_seconds;
    let outage = settings.work.outage();
    let slots = settings.workers.max(1);
    let poll = Duration::from_millis(settings.work.poll_ms.max(10));
    let renewer = {
        let store = store.clone();
        let actor = actor.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs_f64((lease / 3.0).max(0.2));
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = store.renew(&actor, lease).await {
                    tracing::warn!("renewing leases: {e}");
                }
            }
        })
    };
    let batch = scope.batch.as_deref();
    let mut report = WorkReport {
        worker: actor.to_string(),
        ..WorkReport::default()
    };
    // Pages hold the rayon threads; documents are packaged beside them
    // (mostly file writes and fsync), so a thread does not wait for a
    // package before its next page. At most `slots` of each at a time.
    let mut inflight: JoinSet<Result<Done, FolioError>> = JoinSet::new();
    let mut finishing: JoinSet<Result<Done, FolioError>> = JoinSet::new();
    let orphan_every = Duration::from_secs_f64((lease / 3.0).max(0.2));
    // The first look is at once: a worker started after a crash writes
    // the deliveries owed before anything else.
    let mut last_orphan_check: Option<std::time::Instant> = None;
    let result: Result<(), FolioError> = async {
        loop {
            if *stop.borrow() {
                report.interrupted = true;
                return Ok(());
            }
            while let Some(done) = inflight.try_join_next() {
                settle(&mut report, &mut finishing, &ctx, done)?;
            }
            while let Some(done) = finishing.try_join_next() {
                tally(&mut report, done)?;
            }
            let mut claimed = 0;
            let free = if finishing.len() < slots {
                let idle_threads = slots.saturating_sub(ctx.processing.load(Ordering::SeqCst));
                idle_threads.min((2 * slots).saturating_sub(inflight.len()))
            } else {
                0
            };
            if free > 0 {
                // A document whose finishing worker died is taken before
                // new pages (looked for once per renewal period), so it
                // does not wait for the end of the batch.
                let orphans_due = last_orphan_check.is_none_or(|t| t.elapsed() >= orphan_every);
                if orphans_due {
                    last_orphan_check = Some(std::time::Instant::now());
                    deliver_due(&ctx, batch).await?;
                    if let Some(doc) = patiently("taking a document", outage, || {
                        store.claim_document(actor, lease, batch)
                    })
                    .await?
                    {
                        finishing.spawn(finish_task(ctx.clone(), doc));
                        continue;
                    }
                }
                let claims = patiently("claiming pages", outage, || {
                    store.claim_pages(actor, free, lease, batch)
                })
                .await?;
                claimed += claims.len();
                for claim in claims {
                    ctx.processing.fetch_add(1, Ordering::SeqCst);
                    inflight.spawn(page_task(ctx.clone(), claim));
                }
                if claimed == 0
                    && !orphans_due
                    && let Some(doc) = patiently("taking a document", outage, || {
                        store.claim_document(actor, lease, batch)
                    })
                    .await?
                {
                    claimed += 1;
                    finishing.spawn(finish_task(ctx.clone(), doc));
                }
            }
            if claimed > 0 {
                continue;
            }
            if inflight.is_empty()
                && finishing.is_empty()
                && scope.until_idle
                && patiently("looking for work", outage, || store.idle(batch)).await?
            {
                return Ok(());
            }
            tokio::select! {
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    settle(&mut report, &mut finishing, &ctx, done)?;
                }
                Some(done) = finishing.join_next(), if !finishing.is_empty() => {
                    tally(&mut report, done)?;
                }
                _ = ctx.freed.notified() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
    .await;
    // Stopping (signal, idle or error): let the pages in hand finish for
    // a grace period, then give back whatever is still held.
    let grace = Duration::from_secs_f64(settings.work.shutdown_grace_seconds.max(0.0));
    let drained = tokio::time::timeout(grace, async {
        while let Some(done) = inflight.join_next().await {
            if let Err(e) = settle(&mut report, &mut finishing, &ctx, done) {
                tracing::warn!("{e}");
            }
        }
        while let Some(done) = finishing.join_next().await {
            if let Err(e) = tally(&mut report, done) {
                tracing::warn!("{e}");
            }
        }
    })
    .await;
    if drained.is_err() {
        inflight.abort_all();
        finishing.abort_all();
    }
    renewer.abort();
    let reason = if report.interrupted {
        "worker stopped by a signal; lease given back"
    } else {
        "worker stopped; lease given back"
    };
    report.released = patiently("giving leases back", outage, || {
        store.release(actor, reason)
    })
    .await?;
    result.map(|()| report)
}

/// Task results as the worker loop receives them.
type Joined = Result<Result<Done, FolioError>, tokio::task::JoinError>;

/// Counts a finished page; one that completed its document hands the
/// document to packaging, beside the page threads.
fn settle(
    report: &mut WorkReport,
    finishing: &mut JoinSet<Result<Done, FolioError>>,
    ctx: &Arc<Ctx>,
    done: Joined,
) -> Result<(), FolioError> {
    if let Some(doc) = tally(report, done)? {
        finishing.spawn(finish_task(ctx.clone(), doc));
    }
    Ok(())
}

/// Counts a finished task; a page that completed its document hands the
/// document back to be packaged.
fn tally(report: &mut WorkReport, done: Joined) -> Result<Option<DocClaim>, FolioError> {
    match done.map_err(|e| FolioError::Internal(format!("a page task failed: {e}")))?? {
        Done::Page { stale, ready } => {
            if stale {
                report.stale += 1;
            } else {
                report.pages += 1;
            }
            Ok(ready)
        }
        Done::Document(finished) => {
            report.documents += finished as usize;
            Ok(None)
        }
    }
}

async fn finish_task(ctx: Arc<Ctx>, doc: DocClaim) -> Result<Done, FolioError> {
    // Finishing again after a cut-off attempt is what a worker taking
    // over a dead one's document does: the package is rebuilt or found.
    patiently("packaging a document", ctx.settings.work.outage(), || {
        finish(&ctx, doc.clone())
    })
    .await
    .map(Done::Document)
}

/// Writes the deliveries of packaged batches whose closing process
/// stopped before writing them. A delivery that cannot be written (its
/// folder gone, the database cut off midway) is reported and tried again
/// next time.
async fn deliver_due(ctx: &Arc<Ctx>, batch: Option<&str>) -> Result<(), FolioError> {
    let outage = ctx.settings.work.outage();
    let due = patiently("looking for deliveries due", outage, || {
        ctx.store.deliveries_due(batch)
    })
    .await?;
    for b in due {
        match delivery::deliver(&ctx.store, &b, &ctx.actor).await {
            Ok(d) => tracing::info!("batch {}: delivery written in {}", b.name, d.dir.display()),
            Err(e) => tracing::warn!("batch {}: delivery index not written: {e}", b.name),
        }
    }
    Ok(())
}

/// Runs a store operation, waiting out failures that may pass (a cut
/// connection, a restarting server: `FolioError::is_transient`) with
/// growing pauses for up to `outage`. Other failures, and outages that
/// last longer, are returned: the worker stops and its leases run out.
pub(crate) async fn patiently<T, F, Fut>(
    what: &str,
    outage: Duration,
    mut op: F,
) -> Result<T, FolioError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FolioError>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match op().await {
            Err(e) if e.is_transient() && started.elapsed() < outage => {
                tracing::warn!(
                    "{what}: database unreachable ({e}); retrying in {:.1} s",
                    pause.as_secs_f64()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Counts a page off the page threads when dropped (also when its task
/// fails or is cut off), and tells the worker loop its thread is free.
struct OnThread(Arc<Ctx>);

impl Drop for OnThread {
    fn drop(&mut self) {
        self.0.processing.fetch_sub(1, Ordering::SeqCst);
        self.0.freed.notify_one();
    }
}

async fn page_task(ctx: Arc<Ctx>, claim: PageClaim) -> Result<Done, FolioError> {
    let settings = ctx.settings.clone();
    let max = settings.work.max_attempts;
    let on_thread = OnThread(ctx.clone());
    let result = if claim.attempts > max {
        drop(on_thread);
        process::failed(
            "work",
            format!(
                "given up after {} attempts: the worker processing this page stopped each time",
                claim.attempts - 1
            ),
        )
    } else {
        let languages = settings
            .classes
            .get(&claim.class)
            .map(|c| c.languages.clone())
            .unwrap_or_else(|| settings.ocr.languages.clone());
        let objects = ctx.objects.clone();
        let page = claim.clone();
        let processed = on_pool(&ctx.pool, move || {
            process::process_page(&page, &settings, &objects, &languages)
        })
        .await;
        drop(on_thread);
        let processed = processed?;
        // The derived image is written (and synced) on the packaging
        // thread, beside the page threads: this one has gone on to its
        // next page.
        let objects = ctx.objects.clone();
        on_pool(packaging_pool()?, move || processed.write_derived(&objects)).await?
    };
    // The page's result is in hand: an outage delays its commit, never
    // loses it (unless the lease runs out first, and another worker
    // reads the page again).
    let commit = patiently("committing a page", ctx.settings.work.outage(), || {
        ctx.store
            .complete_page(&claim, &result, &ctx.actor, ctx.settings.work.lease_seconds)
    })
    .await?;
    Ok(match commit {
        PageCommit::Stale => {
            tracing::warn!(
                "page {} of {}: the lease passed to another worker; result dropped",
                claim.seq,
                claim.document_id
            );
            Done::Page {
                stale: true,
                ready: None,
            }
        }
        PageCommit::Recorded => Done::Page {
            stale: false,
            ready: None,
        },
        PageCommit::DocumentReady(doc) => Done::Page {
            stale: false,
            ready: Some(doc),
        },
    })
}

/// Packages a document whose finishing lease `actor` holds — the keying
/// station's server, once a document's last field is final — with the
/// same code a worker uses; true when the store accepted the outcome.
pub async fn finish_claimed(
    store: &Store,
    settings: Arc<Settings>,
    pool: Arc<rayon::ThreadPool>,
    actor: &Actor,
    claim: DocClaim,
) -> Result<bool, FolioError> {
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        objects: Objects::new(&settings.objects_dir),
        settings,
        actor: actor.clone(),
        pool,
        processing: AtomicUsize::new(0),
        freed: Notify::new(),
    });
    finish(&ctx, claim).await
}

/// Finishes a document this worker holds the lease of; true when the
/// store accepted the outcome.
async fn finish(ctx: &Arc<Ctx>, claim: DocClaim) -> Result<bool, FolioError> {
    let work = ctx.store.document_work(&claim.document_id).await?;
    let intake = ctx.store.watched_batch(&work.batch.id).await?;
    let candidates = ctx
        .store
        .rescan_candidates(&work.batch.id, &work.id, ctx.settings.rescan.window)
        .await?;
    let rescans = document::find_rescans(&work, &candidates, &ctx.settings);
    // The first finish (a keyed document's second one has its fields)
    // records the pages' flags and the decisions taken by rule.
    let first = work.fields.is_empty();
    let mut decided_by_rule = false;
    if first {
        // Counted (after ingest) and different from the manifest.
        let page_count = intake
            .as_ref()
            .and_then(|i| match (i.expected_pages, i.found_pages) {
                (Some(e), Some(f)) if e != f => Some(format!(
                    "the batch holds {f} page(s), its manifest expects {e}"
                )),
                _ => None,
            });
        let (flags, auto) =
            review::flags_for(&work, &rescans, page_count.as_deref(), &ctx.settings);
        decided_by_rule = !auto.is_empty();
        if !ctx
            .store
            .record_flags(&claim, &flags, &auto, &ctx.actor)
            .await?
        {
            return Ok(false);
        }
    }
    // A held batch (page count differs from its manifest) is packaged
    // only once an operator confirms it.
    if ctx.store.hold_document(&claim, &ctx.actor).await? {
        return Ok(false);
    }
    // A document whose pages carry undecided holding flags (or wait for
    // a re-scan) waits for a person.
    if first && let Some(why) = ctx.store.hold_for_review(&claim, &ctx.actor).await? {
        tracing::warn!("{}: {why}", claim.document_id);
        return Ok(false);
    }
    let work = if decided_by_rule {
        ctx.store.document_work(&claim.document_id).await?
    } else {
        work
    };
    let batch_id = work.batch.id.clone();
    let class = ctx.settings.class(Some(&work.class))?.clone();
    let history = ctx.store.document_history(&work.id).await?;
    let settings = ctx.settings.clone();
    let objects = ctx.objects.clone();
    let attempt = claim.token[claim.token.len().saturating_sub(12)..].to_string();
    // Beside the page threads, not on them: they stay on pages.
    let outcome = on_pool(packaging_pool()?, move || {
        document::build(
            &work,
            &class,
            &rescans,
            intake.as_ref(),
            &history,
            &settings,
            &objects,
            &attempt,
        )
    })
    .await??;
    let accepted = ctx
        .store
        .finish_document(&claim, &outcome, &ctx.actor)
        .await?;
    if !accepted {
        tracing::warn!(
            "{}: the lease passed to another worker before the commit; its outcome stands",
            claim.document_id
        );
    } else if let Some(batch) = ctx.store.batch(&batch_id).await?
        && batch.state == BatchState::Packaged
    {
        // This document closed its batch: deliver the batch index. A
        // failure here loses nothing (the batch stays owed its delivery,
        // and the next worker's `deliver_due` writes it); say so.
        if let Err(e) = delivery::deliver(&ctx.store, &batch, &ctx.actor).await {
            tracing::warn!("batch {}: delivery index not written: {e}", batch.name);
        }
    }
    Ok(accepted)
}
