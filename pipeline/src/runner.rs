//! The runner: drives a batch from folder to packages. Ingest first, then
//! pages flow producer → rayon workers (one Tesseract engine each, reused)
//! → the recorder on the calling thread, the only one that writes the store
//! or the progress bar. At most `2 × workers` page rasters are in memory,
//! whatever the batch size.

use crate::batch::BatchState;
use crate::document::{self, DocPlan, FinishedPage};
use crate::error::FolioError;
use crate::ingest::{self, AcceptedFile, Intake};
use crate::progress::Progress;
use crate::settings::{DocClass, Settings};
use crate::store::{BatchRow, DocState, Store};
use crossbeam_channel::{Receiver, Sender, bounded};
use folio_stages::decode;
use folio_stages::orient::OsdEngine;
use folio_stages::page::PageImage;
use folio_stages::prepare::{self, ImageReport};
use folio_stages::recognize::{OcrOptions, OcrPage, Recognizer, TesseractEngine};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::runtime::Handle;

/// What `folio run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The batch folder (read only).
    pub input: PathBuf,
    /// Where packages go.
    pub out: PathBuf,
    /// Quarantine folder; default `<data_dir>/quarantine/<batch>`.
    pub quarantine: Option<PathBuf>,
    /// Document class; default from folio.toml.
    pub class: Option<String>,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

/// One document as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct DocSummary {
    pub id: String,
    /// Number of the document in its batch.
    pub seq: i64,
    pub state: DocState,
    pub pages: usize,
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
    pub intake: Intake,
    pub documents: Vec<DocSummary>,
    pub pages: usize,
    pub pages_failed: usize,
    pub pages_blank: usize,
    pub pages_qc_failed: usize,
    pub pages_rescanned: usize,
    pub seconds: f64,
    pub pages_per_minute: f64,
    pub workers: usize,
    /// `OMP_THREAD_LIMIT` as this process saw it (Folio sets it to 1).
    pub omp_thread_limit: Option<String>,
    /// Most threads the process had at once while pages were processed.
    pub threads_peak: usize,
    /// Peak resident memory of the process, MiB (Linux `VmHWM`): bounded by
    /// pages in flight and engines, not by batch size.
    pub peak_rss_mib: Option<f64>,
}

impl RunSummary {
    /// True when an operator must look at something: quarantined files
    /// or failed pages.
    pub fn needs_attention(&self) -> bool {
        !self.intake.quarantined.is_empty() || self.pages_failed > 0
    }
}

/// A page on its way to a worker.
struct PageTask {
    doc: usize,
    seq: usize,
    page: Result<PageImage, String>,
}

/// A page back from a worker.
struct PageDone {
    doc: usize,
    seq: usize,
    page: FinishedPage,
}

/// Runs one batch folder end to end.
pub fn run(
    rt: &Handle,
    store: &Store,
    settings: &Settings,
    opts: &RunOptions,
) -> Result<RunSummary, FolioError> {
    let started = Instant::now();
    let class = settings.class(opts.class.as_deref())?;
    let ocr = OcrOptions {
        languages: class.languages.clone(),
        ..settings.ocr.clone()
    };
    // Fail before touching anything if the engine cannot start.
    TesseractEngine::new(&ocr).map_err(|e| settings.config_error(e))?;
    OsdEngine::new(ocr.datapath.as_deref()).map_err(|e| settings.config_error(e))?;
    let input = opts
        .input
        .canonicalize()
        .map_err(|e| FolioError::input(&opts.input, e))?;
    if !input.is_dir() {
        return Err(FolioError::input(
            &input,
            "not a folder (give the folder that holds the batch's page files)",
        ));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| FolioError::output(&opts.out, e))?;
    let out = opts
        .out
        .canonicalize()
        .map_err(|e| FolioError::output(&opts.out, e))?;
    if out.starts_with(&input) {
        return Err(FolioError::output(
            &out,
            "is inside the batch folder; folio run never writes into its input",
        ));
    }
    let batch = find_or_create_batch(rt, store, &input, &class.name)?;
    let quarantine = opts.quarantine.clone().unwrap_or_else(|| {
        settings.data_dir.join("quarantine").join(format!(
            "{}-{}",
            batch.name,
            &batch.id[batch.id.len() - 8..]
        ))
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.workers)
        .thread_name(|i| format!("folio-worker-{i}"))
        .build()
        .map_err(|e| FolioError::Internal(e.to_string()))?;
    let intake = ingest::ingest(rt, store, settings, &pool, &input, &batch.id, &quarantine)?;

    let mut summary = RunSummary {
        batch: batch.clone(),
        out: out.clone(),
        quarantine,
        documents: Vec::new(),
        pages: intake.accepted.iter().map(|f| f.pages).sum(),
        pages_failed: 0,
        pages_blank: 0,
        pages_qc_failed: 0,
        pages_rescanned: 0,
        seconds: 0.0,
        pages_per_minute: 0.0,
        workers: settings.workers,
        omp_thread_limit: std::env::var("OMP_THREAD_LIMIT").ok(),
        threads_peak: 0,
        peak_rss_mib: None,
        intake,
    };
    let fresh_batch = batch.state == BatchState::Received;
    if summary.intake.accepted.is_empty() && !fresh_batch {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let reason = format!(
        "{} new file(s), {} page(s)",
        summary.intake.accepted.len(),
        summary.pages
    );
    rt.block_on(store.transition(&batch.id, BatchState::Processing, &reason))?;

    let first_seq = rt.block_on(store.next_document_seq(&batch.id))?;
    let plans = document::plan(&batch, class, &summary.intake.accepted, first_seq);
    let sampler = ThreadSampler::start();
    let processed = process(
        rt,
        store,
        settings,
        class,
        &ocr,
        &pool,
        &batch,
        &summary.intake.accepted,
        &plans,
        &out,
        opts.progress,
    );
    summary.threads_peak = sampler.stop();
    let docs = match processed {
        Ok(docs) => docs,
        Err(e) => {
            let _ =
                rt.block_on(store.transition(&batch.id, BatchState::Interrupted, &e.to_string()));
            return Err(e);
        }
    };
    for (doc, stats) in docs {
        summary.pages_failed += stats.failed;
        summary.pages_blank += stats.blank;
        summary.pages_qc_failed += stats.qc_failed;
        summary.pages_rescanned += stats.rescans;
        summary.documents.push(doc);
    }
    summary.documents.sort_by_key(|d| d.seq);
    let all_docs = rt.block_on(store.documents(&batch.id))?;
    let waiting = all_docs
        .iter()
        .filter(|d| d.state == DocState::AwaitingKeying.as_str())
        .count();
    let (to, why) = if waiting > 0 {
        (
            BatchState::AwaitingKeying,
            format!("{waiting} document(s) have fields for keying"),
        )
    } else {
        (
            BatchState::Packaged,
            format!("{} document(s) packaged", all_docs.len()),
        )
    };
    rt.block_on(store.transition(&batch.id, to, &why))?;
    summary.batch.state = to;
    summary.peak_rss_mib = peak_rss_mib();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.pages_per_minute = if summary.seconds > 0.0 {
        summary.pages as f64 * 60.0 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

fn find_or_create_batch(
    rt: &Handle,
    store: &Store,
    input: &Path,
    class: &str,
) -> Result<BatchRow, FolioError> {
    let source = input.to_string_lossy().to_string();
    if let Some(batch) = rt.block_on(store.batch_by_source(&source))? {
        return Ok(batch);
    }
    let name = document::ascii_slug(
        &input
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    let id = uuid::Uuid::now_v7().simple().to_string();
    rt.block_on(store.create_batch(&id, &name, &source, class))
}

/// Per-document page counts for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageStats {
    pub failed: usize,
    pub blank: usize,
    pub qc_failed: usize,
    pub rescans: usize,
}

#[allow(clippy::too_many_arguments)]
fn process(
    rt: &Handle,
    store: &Store,
    settings: &Settings,
    class: &DocClass,
    ocr: &OcrOptions,
    pool: &rayon::ThreadPool,
    batch: &BatchRow,
    files: &[AcceptedFile],
    plans: &[DocPlan],
    out: &Path,
    show_progress: bool,
) -> Result<Vec<(DocSummary, PageStats)>, FolioError> {
    let total: usize = plans.iter().map(|p| p.pages.len()).sum();
    let progress = Progress::new(total as u64, show_progress);
    let (task_tx, task_rx) = bounded::<PageTask>(settings.workers.max(1));
    let (done_tx, done_rx) = bounded::<PageDone>(settings.workers.max(1) * 2);
    let stop = AtomicBool::new(false);
    let mut finisher =
        document::Finisher::new(rt, store, settings, class, batch, files, plans, out);
    let mut result = Ok(());
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || produce(files, plans, settings, &task_tx, stop));
        s.spawn(move || {
            pool.broadcast(|_| work(&task_rx, &done_tx, ocr, settings, plans, out));
            drop(done_tx);
        });
        for done in done_rx.iter() {
            progress.page_done();
            if result.is_err() {
                continue;
            }
            match finisher.add(done.doc, done.seq, done.page) {
                Ok(Some(doc)) => progress.note(&format!(
                    "{} {:?}: {}",
                    doc.id,
                    doc.state,
                    doc.path.display()
                )),
                Ok(None) => {}
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    result = Err(e);
                }
            }
        }
    });
    progress.finish();
    result?;
    Ok(finisher.into_summaries())
}

/// Reads each file again (checking it is still the file that arrived),
/// decodes its pages one by one and hands them to the workers in order.
fn produce(
    files: &[AcceptedFile],
    plans: &[DocPlan],
    settings: &Settings,
    tx: &Sender<PageTask>,
    stop: &AtomicBool,
) {
    let slots = document::page_slots(plans);
    for (file_idx, file) in files.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(slots) = slots.get(&file_idx) else {
            continue;
        };
        let bytes =
            std::fs::read(&file.path).map_err(|e| format!("cannot read {}: {e}", file.name));
        let bytes = bytes.and_then(|b| {
            let now = ingest::sha256_hex(&b);
            if now == file.sha256 {
                Ok(b)
            } else {
                Err(format!(
                    "{} changed since it arrived (SHA-256 {} → {now})",
                    file.name, file.sha256
                ))
            }
        });
        let mut pages: Box<dyn Iterator<Item = Result<PageImage, String>>> = match &bytes {
            Ok(b) => match decode::pages(b, &settings.decode) {
                Ok(it) => Box::new(it.map(|r| r.map_err(|e| e.to_string()))),
                Err(e) => Box::new(std::iter::once(Err(e.to_string()))),
            },
            Err(e) => Box::new(std::iter::once(Err(e.clone()))),
        };
        let mut last_err = None;
        for &(file_page, doc, seq) in slots {
            let page = match pages.next() {
                Some(Ok(p)) => Ok(p),
                Some(Err(e)) => {
                    last_err = Some(e.clone());
                    Err(e)
                }
                None => Err(last_err
                    .clone()
                    .unwrap_or_else(|| format!("page {file_page} is missing from {}", file.name))),
            };
            if tx.send(PageTask { doc, seq, page }).is_err() {
                return;
            }
        }
    }
}

/// One worker thread: owns one OCR engine for its whole life.
fn work(
    rx: &Receiver<PageTask>,
    tx: &Sender<PageDone>,
    ocr: &OcrOptions,
    settings: &Settings,
    plans: &[DocPlan],
    out: &Path,
) {
    let mut engine = TesseractEngine::new(ocr).map_err(|e| e.to_string());
    let mut osd = OsdEngine::new(ocr.datapath.as_deref()).ok();
    for task in rx.iter() {
        let plan = &plans[task.doc];
        let page = match task.page {
            Ok(image) => run_page(
                &image,
                settings,
                &mut engine,
                osd.as_mut(),
                plan,
                task.seq,
                out,
            ),
            Err(reason) => FinishedPage::failed("decode", reason),
        };
        if tx
            .send(PageDone {
                doc: task.doc,
                seq: task.seq,
                page,
            })
            .is_err()
        {
            return;
        }
    }
}

fn run_page(
    image: &PageImage,
    settings: &Settings,
    engine: &mut Result<TesseractEngine, String>,
    osd: Option<&mut OsdEngine>,
    plan: &DocPlan,
    seq: usize,
    out: &Path,
) -> FinishedPage {
    let prepared = prepare::prepare(image, &settings.image, osd);
    let report: ImageReport = prepared.report.clone();
    let derived = document::derived_path(out, &plan.id, seq);
    let saved = document::save_derived(&prepared.image, &derived);
    let started = Instant::now();
    let dpi = image.dpi_or_default().round() as u32;
    let ocr: Result<OcrPage, String> = match engine {
        Ok(engine) => engine
            .recognize(&prepared.image, dpi)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let ocr_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (width, height) = prepared.image.dimensions();
    let mut page = FinishedPage::from_stages(image, report, ocr, width, height, ocr_ms);
    if let Err(e) = saved {
        page.mark_failed("derive", e);
    }
    page
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
    stop: std::sync::Arc<AtomicBool>,
    handle: std::thread::JoinHandle<usize>,
}

impl ThreadSampler {
    fn start() -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
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
