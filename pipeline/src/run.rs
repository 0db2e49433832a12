//! `folio run`: ingest a batch folder, then work its pages until every
//! page is done and every document finished (packaged, waiting for
//! keying, or failed) — by this process and by any other worker sharing
//! the store. A second `folio run` of the same folder helps with the same
//! batch; a rerun after a crash picks up where the store says it is.

use crate::error::FolioError;
use crate::ingest::{self, IngestOptions, Intake};
use crate::progress::Progress;
use crate::settings::Settings;
use crate::store::review::HeldDocument;
use crate::store::{Actor, BatchRow, DocState, PageCounts, PageReportRow, Store};
use crate::work::{self, Scope, WorkReport};
use folio_stages::orient::OsdEngine;
use folio_stages::recognize::TesseractEngine;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::watch;

/// What `folio run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub ingest: IngestOptions,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

/// One document as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct DocSummary {
    pub id: String,
    /// Number of the document in its batch.
    pub seq: i64,
    pub state: String,
    pub pages: i64,
    pub path: PathBuf,
    pub fields_accepted: usize,
    pub fields_for_keying: usize,
}

/// The outcome of a run, printed as text or JSON.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub batch: BatchRow,
    pub out: PathBuf,
    pub quarantine: PathBuf,
    /// The batch delivery folder (packages, index.csv/xlsx, delivery.json)
    /// when the batch closed.
    pub delivery: Option<PathBuf>,
    pub intake: Intake,
    /// Documents this run's ingest queued, as they ended.
    pub documents: Vec<DocSummary>,
    pub documents_awaiting_keying: usize,
    /// Documents of the batch held for review, with the pages that hold
    /// them.
    pub held: Vec<HeldDocument>,
    /// Pages of the whole batch per state (other runs' work included).
    pub batch_pages: PageCounts,
    pub pages: usize,
    pub pages_failed: usize,
    pub pages_blank: usize,
    pub pages_qc_failed: usize,
    pub pages_rescanned: usize,
    pub seconds: f64,
    pub pages_per_minute: f64,
    pub workers: usize,
    pub work: WorkReport,
    /// `OMP_THREAD_LIMIT` as this process saw it (Folio sets it to 1).
    pub omp_thread_limit: Option<String>,
    /// Most threads the process had at once while pages were processed.
    pub threads_peak: usize,
    /// Peak resident memory of the process, MiB (Linux `VmHWM`): bounded by
    /// pages in flight and engines, not by batch size.
    pub peak_rss_mib: Option<f64>,
}

impl RunSummary {
    /// True when an operator must look at something: quarantined files,
    /// failed pages anywhere in the batch (also when another run or
    /// worker processed them), or documents held for review.
    pub fn needs_attention(&self) -> bool {
        !self.intake.quarantined.is_empty()
            || self.pages_failed > 0
            || self.batch_pages.failed > 0
            || !self.held.is_empty()
    }
}

/// Checks that this machine can run the class's engines before anything
/// is taken in.
pub fn check_engines(settings: &Settings, class: Option<&str>) -> Result<(), FolioError> {
    let class = settings.class(class)?;
    let ocr = crate::process::ocr_options(settings, &class.languages);
    TesseractEngine::new(&ocr).map_err(|e| settings.config_error(e))?;
    OsdEngine::new(ocr.datapath.as_deref()).map_err(|e| settings.config_error(e))?;
    Ok(())
}

/// Starts the class's engines on every thread of `pool` (in parallel)
/// and the first OSD engine beside them, so a missing model is a
/// settings error before anything is queued and no thread pays the start
/// on its first page.
pub fn warm_engines(
    pool: &rayon::ThreadPool,
    settings: &Settings,
    class: Option<&str>,
) -> Result<(), FolioError> {
    let name = class.unwrap_or(&settings.default_class);
    let languages = settings.class(class)?.languages.clone();
    let failed = std::thread::scope(|s| {
        let osd = s.spawn(|| crate::process::warm_osd(settings, name, &languages));
        let ocr = pool
            .broadcast(|_| crate::process::warm_engines(settings, name, &languages))
            .into_iter()
            .find_map(Result::err);
        let osd = osd
            .join()
            .unwrap_or_else(|_| Err("the OSD engine's start panicked".into()))
            .err();
        ocr.or(osd)
    });
    failed.map_or(Ok(()), |e| Err(settings.config_error(e)))
}

/// Runs one batch folder end to end.
pub async fn run(
    store: &Store,
    settings: Arc<Settings>,
    opts: &RunOptions,
    stop: watch::Receiver<bool>,
) -> Result<RunSummary, FolioError> {
    let started = Instant::now();
    let pool = Arc::new(work::thread_pool(&settings)?);
    warm_engines(&pool, &settings, opts.ingest.class.as_deref())?;
    let user = Actor::user();
    let intake = ingest::ingest(store, &settings, &pool, &opts.ingest, &user).await?;
    let batch_id = intake.batch.id.clone();
    let (pages_before, _) = store.batch_counts(&batch_id).await?;
    let total = pages_before.queued + pages_before.leased + pages_before.done + pages_before.failed;
    let progress = Progress::new(total as u64, opts.progress);
    let ticker = {
        let store = store.clone();
        let id = batch_id.clone();
        let bar = progress.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((p, _)) = store.batch_counts(&id).await {
                    bar.set((p.done + p.failed) as u64);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        })
    };
    let sampler = ThreadSampler::start();
    let scope = Scope {
        batch: Some(batch_id.clone()),
        until_idle: true,
    };
    let worker = Actor::worker();
    let report = work::work(store, settings.clone(), pool, &worker, &scope, stop).await;
    let threads_peak = sampler.stop();
    ticker.abort();
    progress.finish();
    let report = report?;
    if report.interrupted {
        return Err(FolioError::Interrupted(format!(
            "batch {} ({}) is not finished; its pages stay queued for `folio worker` or another `folio run`",
            intake.batch.name, batch_id
        )));
    }

    // The summary reads the store again: an outage now (the batch may
    // close inside one) is waited out as the work's own calls are.
    let outage = settings.work.outage();
    let (batch, delivery, documents, rows, batch_pages, held) =
        work::patiently("summarizing the run", outage, || {
            outcome(store, &batch_id, &intake, &user)
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let pages = intake.pages();
    Ok(RunSummary {
        out: intake.out.clone(),
        quarantine: intake.quarantine.clone(),
        delivery,
        documents_awaiting_keying: documents
            .iter()
            .filter(|d| d.state == DocState::AwaitingKeying.as_str())
            .count(),
        documents,
        held,
        batch_pages,
        pages,
        pages_failed: rows.iter().filter(|r| r.outcome != "ok").count(),
        pages_blank: rows.iter().filter(|r| r.blank).count(),
        pages_qc_failed: rows
            .iter()
            .filter(|r| !r.qc_pass && r.outcome == "ok")
            .count(),
        pages_rescanned: rows.iter().filter(|r| r.rescan_of.is_some()).count(),
        seconds,
        pages_per_minute: if seconds > 0.0 {
            pages as f64 * 60.0 / seconds
        } else {
            0.0
        },
        workers: settings.workers,
        work: report,
        omp_thread_limit: std::env::var("OMP_THREAD_LIMIT").ok(),
        threads_peak,
        peak_rss_mib: peak_rss_mib(),
        batch,
        intake,
    })
}

/// What a finished run reports, read from the store: the batch, its
/// delivery folder (written here too if the worker that closed the batch
/// stopped before writing it), this run's documents and page reports,
/// the batch's page counts and its held documents.
type Outcome = (
    BatchRow,
    Option<PathBuf>,
    Vec<DocSummary>,
    Vec<PageReportRow>,
    PageCounts,
    Vec<HeldDocument>,
);

async fn outcome(
    store: &Store,
    batch_id: &str,
    intake: &Intake,
    user: &Actor,
) -> Result<Outcome, FolioError> {
    let batch = store
        .batch(batch_id)
        .await?
        .ok_or_else(|| FolioError::Internal(format!("batch {batch_id} vanished")))?;
    // The batch delivery (index.csv/xlsx, delivery.json) once the batch is
    // closed; written here only when the worker that closed it stopped
    // before writing it (the store still owes it).
    let delivery = if batch.state == crate::batch::BatchState::Packaged {
        if store.deliveries_due(Some(batch_id)).await?.is_empty() {
            Some(crate::layout::delivery_dir(
                Path::new(&batch.out_dir),
                &batch,
            ))
        } else {
            Some(crate::delivery::deliver(store, &batch, user).await?.dir)
        }
    } else {
        None
    };
    let mine: Vec<&str> = intake.documents.iter().map(|d| d.id.as_str()).collect();
    let mut documents = Vec::new();
    for d in store.documents(batch_id).await? {
        if !mine.contains(&d.id.as_str()) {
            continue;
        }
        let fields = store.fields(&d.id).await?;
        let keying = fields
            .iter()
            .filter(|f| f.status == "awaiting_keying")
            .count();
        documents.push(DocSummary {
            path: PathBuf::from(d.package_path.clone().unwrap_or_default()),
            id: d.id,
            seq: d.seq,
            state: d.state,
            pages: d.pages,
            fields_accepted: fields.len() - keying,
            fields_for_keying: keying,
        });
    }
    let rows: Vec<_> = store
        .page_reports(batch_id)
        .await?
        .into_iter()
        .filter(|r| mine.contains(&r.document_id.as_str()))
        .collect();
    let (batch_pages, _) = store.batch_counts(batch_id).await?;
    let held = store.held_documents(batch_id).await?;
    Ok((batch, delivery, documents, rows, batch_pages, held))
}

/// Peak resident set size of this process in MiB, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Samples the process's thread count while pages run, to prove that
/// OCR stays at one thread per engine.
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<usize>,
}

impl ThreadSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
                    peak = peak.max(dir.count());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak
        });
        Self { stop, handle }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}
