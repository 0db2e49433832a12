//! The driver behind the store work-queue bench (`benches/store_queue.rs`)
//! and its short form in `cargo test` (`pipeline/tests/queue_load.rs`):
//! one file so the bench and the test measure and check the same thing.
//!
//! It queues N one-page tasks in a fresh database (a SQLite file in a
//! temporary folder, or a PostgreSQL database made for the run and dropped
//! after), then lets W workers share one `Store` and loop claim 1 →
//! complete (empty result, no OCR) → finish the document when theirs was
//! its last page, until the queue is idle. What it measures is the
//! coordination cost alone: the time the store's leases, fencing tokens
//! and events take per page. What it counts, never assumes: pages handed
//! to more than one claim, and pages whose completion the event log does
//! not show exactly once.

use anyhow::{Context, bail};
use folio::store::{
    Actor, BatchRow, DocState, DocumentOutcome, FileRow, FileState, IngestRequest, PageCommit,
    PageRef, PageResult, Planner, Store,
};
use serde::Serialize;
use sqlx::Connection;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Pages per file and so per document: documents get finished every ten
/// pages, so document finishing is part of the measured cost.
pub const PAGES_PER_FILE: usize = 10;

/// Lease length: long enough that no lease ever runs out during a run, so
/// a page claimed twice can only be a bug, never a take-over.
pub const LEASE_S: f64 = 300.0;

/// How long a worker that found nothing to claim (while others still hold
/// the last pages) waits before asking again.
const EMPTY_CLAIM_PAUSE: Duration = Duration::from_millis(5);

/// How often the optional PostgreSQL wait sampler looks at the backends.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Which database a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A file in a temporary folder (one host, one writer).
    Sqlite,
    /// A database of its own on the local server (several workstations).
    Postgres,
}

impl Kind {
    /// The name used in arguments and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// One run: which database, how many tasks, how many concurrent workers.
#[derive(Debug, Clone)]
pub struct Config {
    pub kind: Kind,
    /// Page tasks queued (and so claimed and completed).
    pub tasks: usize,
    /// Workers looping at once, all on one shared `Store`.
    pub workers: usize,
    /// PostgreSQL only: sample `pg_stat_activity` during the run to show
    /// which statement and wait the backends spend their time in. Off for
    /// headline numbers (the sampler takes a little CPU itself).
    pub sample_waits: bool,
    /// PostgreSQL only: `ANALYZE` the run's database after the ingest, as
    /// autovacuum would on a production server (this test server runs with
    /// autovacuum off). Without statistics the planner picks a claim plan
    /// that rescans every queued page once per document, so a claim costs
    /// seconds at 20,000 pages; `false` measures that case. SQLite never
    /// analyses by itself, so it is always measured as it is.
    pub analyze: bool,
}

/// What one run measured and counted.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub backend: Kind,
    pub workers: usize,
    pub tasks: usize,
    /// True when PostgreSQL's statistics were gathered after the ingest.
    pub pg_analyzed: bool,
    /// Queueing the tasks (one ingest transaction); not part of `seconds`.
    pub ingest_s: f64,
    /// Wall time from the workers' start to the last one finding the
    /// queue idle.
    pub seconds: f64,
    pub tasks_per_s: f64,
    /// Wall time × workers / tasks: worker time the store costs per page
    /// (there is no other work in the loop).
    pub store_ms_per_page: f64,
    /// Sum of every store call's latency (claims, empty claims, idle
    /// checks, completes, finishes) / tasks.
    pub call_ms_per_page: f64,
    /// Claims that returned a page.
    pub claim_mean_ms: f64,
    pub claim_p50_ms: f64,
    pub claim_p99_ms: f64,
    /// Median claim latency over the first and the last tenth of the
    /// claims: a claim that slows as done pages pile up scans them.
    pub claim_p50_first_tenth_ms: f64,
    pub claim_p50_last_tenth_ms: f64,
    pub complete_mean_ms: f64,
    pub complete_p50_ms: f64,
    pub complete_p99_ms: f64,
    pub finish_mean_ms: f64,
    pub finish_p99_ms: f64,
    /// Documents this run finished (tasks / pages per document).
    pub documents_finished: usize,
    /// Claims that came back empty while other workers held the last pages.
    pub empty_claims: usize,
    /// `complete_page` answers of `Stale`: with a 300 s lease, a bug.
    pub stale_commits: usize,
    /// `finish_document` answers of false (lease lost): also a bug here.
    pub lost_finishes: usize,
    /// Pages handed out by more than one claim (any worker, itself included).
    pub double_claims: usize,
    /// Pages whose leased → done event is not there exactly once (or that
    /// are missing from the batch).
    pub not_completed_once: usize,
    /// PostgreSQL wait profile when sampled: share of busy backend samples
    /// per `state | wait | statement`, largest first.
    pub waits: Vec<(String, f64)>,
}

impl Report {
    /// Everything that makes the run a failure: double claims, pages not
    /// completed exactly once, stale commits, lost finishes, unfinished
    /// documents. Empty when the queue behaved.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let run = format!("{} with {} workers", self.backend.name(), self.workers);
        if self.double_claims > 0 {
            out.push(format!(
                "{run}: {} page(s) claimed twice",
                self.double_claims
            ));
        }
        if self.not_completed_once > 0 {
            out.push(format!(
                "{run}: {} page(s) not completed exactly once",
                self.not_completed_once
            ));
        }
        if self.stale_commits > 0 {
            out.push(format!(
                "{run}: {} result(s) refused as stale",
                self.stale_commits
            ));
        }
        if self.lost_finishes > 0 {
            out.push(format!(
                "{run}: {} document finish(es) lost their lease",
                self.lost_finishes
            ));
        }
        let documents = self.tasks.div_ceil(PAGES_PER_FILE);
        if self.documents_finished != documents {
            out.push(format!(
                "{run}: {} of {documents} document(s) finished",
                self.documents_finished
            ));
        }
        out
    }
}

/// One document per file, ten pages each (the last file may be shorter).
struct PerFile;

impl Planner for PerFile {
    fn groups(&self, files: &[FileRow]) -> Vec<Vec<PageRef>> {
        files
            .iter()
            .enumerate()
            .map(|(file, f)| {
                (0..f.pages as usize)
                    .map(|file_page| PageRef { file, file_page })
                    .collect()
            })
            .collect()
    }

    fn document_id(&self, batch: &BatchRow, seq: i64) -> String {
        format!("{}-{seq:06}", batch.name)
    }
}

/// Where a run's database lives, to be removed after the run.
enum Scratch {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

/// Numbers the PostgreSQL databases of one process.
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The server that hosts the PostgreSQL runs' databases
/// (`FOLIO_BENCH_PG_ADMIN_URL`, default the local server as `postgres`).
fn pg_admin_url() -> String {
    std::env::var("FOLIO_BENCH_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Makes an empty database for one run; returns it and its URL.
async fn scratch(kind: Kind) -> anyhow::Result<(Scratch, String)> {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("folio.db").display()
            );
            Ok((Scratch::Sqlite(dir), url))
        }
        Kind::Postgres => {
            let admin = pg_admin_url();
            let name = format!(
                "folio_bench_{}_{}",
                std::process::id(),
                NEXT_DB.fetch_add(1, Ordering::Relaxed)
            );
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .with_context(|| format!("PostgreSQL at {admin} is needed"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            let base = admin
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin);
            let url = format!("{base}/{name}");
            Ok((Scratch::Postgres { admin, name }, url))
        }
    }
}

/// Removes a run's database.
async fn remove(scratch: Scratch) -> anyhow::Result<()> {
    match scratch {
        Scratch::Sqlite(dir) => dir.close()?,
        Scratch::Postgres { admin, name } => {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await?;
        }
    }
    Ok(())
}

/// Runs one configuration in a fresh database and removes it after, also
/// when the run failed.
pub async fn run(cfg: &Config) -> anyhow::Result<Report> {
    if cfg.tasks == 0 || cfg.workers == 0 {
        bail!("a run needs at least one task and one worker");
    }
    let (scratch, url) = scratch(cfg.kind).await?;
    let result = run_in(cfg, &url).await;
    let removed = remove(scratch).await;
    let report = result?;
    removed.context("removing the run's database")?;
    Ok(report)
}

/// What one worker saw.
#[derive(Default)]
struct WorkerLog {
    /// Every page id a claim gave this worker.
    claimed: Vec<i64>,
    /// (start since t0 in s, latency in ms) of claims that returned a page.
    claims: Vec<(f64, f64)>,
    completes: Vec<f64>,
    finishes: Vec<f64>,
    /// Latency of empty claims and idle checks (ms), summed.
    polling_ms: f64,
    empty_claims: usize,
    stale: usize,
    lost_finishes: usize,
}

fn bench_files(tasks: usize) -> Vec<FileRow> {
    (0..tasks.div_ceil(PAGES_PER_FILE))
        .map(|i| FileRow {
            sha256: format!("{i:064x}"),
            batch_id: String::new(),
            original_name: format!("scan-{i:06}.tif"),
            bytes: 1000,
            pages: (tasks - i * PAGES_PER_FILE).min(PAGES_PER_FILE) as i64,
            state: FileState::Arrived,
            reason: None,
            // A4 at 300 dpi a page.
            pixels: 8_700_000 * (tasks - i * PAGES_PER_FILE).min(PAGES_PER_FILE) as i64,
        })
        .collect()
}

async fn run_in(cfg: &Config, url: &str) -> anyhow::Result<Report> {
    let store = Store::open(url).await?;
    let t = Instant::now();
    let queued = store
        .ingest(
            &IngestRequest {
                source: "/bench/queue".into(),
                name: "bench".into(),
                class: "general".into(),
                out_dir: "/bench/out".into(),
                quarantine_dir: "/bench/quarantine".into(),
                files: bench_files(cfg.tasks),
                quarantined: vec![],
            },
            &PerFile,
            &Actor("user:bench".into()),
        )
        .await?;
    let ingest_s = t.elapsed().as_secs_f64();
    let batch_id = queued.batch.id.clone();
    let pages: usize = queued.documents.iter().map(|d| d.pages).sum();
    if pages != cfg.tasks {
        bail!("ingest queued {pages} pages, not {}", cfg.tasks);
    }

    let pg_analyzed = cfg.kind == Kind::Postgres && cfg.analyze;
    if pg_analyzed {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
    }

    let sampler = match (cfg.kind, cfg.sample_waits) {
        (Kind::Postgres, true) => Some(Sampler::start(url).await?),
        _ => None,
    };
    let start = Arc::new(tokio::sync::Barrier::new(cfg.workers + 1));
    let workers: Vec<_> = (0..cfg.workers)
        .map(|i| {
            let store = store.clone();
            let start = start.clone();
            let batch_id = batch_id.clone();
            tokio::spawn(async move {
                start.wait().await;
                work(&store, &Actor(format!("worker:bench/{i}/x")), &batch_id).await
            })
        })
        .collect();
    start.wait().await;
    let t0 = Instant::now();
    let mut logs = Vec::with_capacity(cfg.workers);
    for w in workers {
        logs.push(w.await??);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let waits = match sampler {
        Some(s) => s.stop().await?,
        None => Vec::new(),
    };

    let completions = store.completions_per_page(&batch_id).await?;
    store.close().await;

    let mut claims_per_page: HashMap<i64, usize> = HashMap::new();
    for id in logs.iter().flat_map(|l| &l.claimed) {
        *claims_per_page.entry(*id).or_default() += 1;
    }
    let double_claims = claims_per_page.values().filter(|&&n| n > 1).count();
    let not_completed_once =
        completions.iter().filter(|(_, n)| *n != 1).count() + cfg.tasks.abs_diff(completions.len());

    let mut claims: Vec<(f64, f64)> = logs.iter().flat_map(|l| l.claims.clone()).collect();
    claims.sort_by(|a, b| a.0.total_cmp(&b.0));
    let tenth = (claims.len() / 10).max(1).min(claims.len());
    let first: Vec<f64> = claims[..tenth].iter().map(|c| c.1).collect();
    let last: Vec<f64> = claims[claims.len() - tenth..].iter().map(|c| c.1).collect();
    let claim_ms: Vec<f64> = claims.iter().map(|c| c.1).collect();
    let complete_ms: Vec<f64> = logs.iter().flat_map(|l| l.completes.clone()).collect();
    let finish_ms: Vec<f64> = logs.iter().flat_map(|l| l.finishes.clone()).collect();
    let polling_ms: f64 = logs.iter().map(|l| l.polling_ms).sum();
    let calls_ms = claim_ms.iter().sum::<f64>()
        + complete_ms.iter().sum::<f64>()
        + finish_ms.iter().sum::<f64>()
        + polling_ms;
    let tasks = cfg.tasks as f64;
    Ok(Report {
        backend: cfg.kind,
        workers: cfg.workers,
        tasks: cfg.tasks,
        pg_analyzed,
        ingest_s,
        seconds,
        tasks_per_s: tasks / seconds,
        store_ms_per_page: seconds * 1000.0 * cfg.workers as f64 / tasks,
        call_ms_per_page: calls_ms / tasks,
        claim_mean_ms: mean(&claim_ms),
        claim_p50_ms: quantile(&claim_ms, 0.50),
        claim_p99_ms: quantile(&claim_ms, 0.99),
        claim_p50_first_tenth_ms: quantile(&first, 0.50),
        claim_p50_last_tenth_ms: quantile(&last, 0.50),
        complete_mean_ms: mean(&complete_ms),
        complete_p50_ms: quantile(&complete_ms, 0.50),
        complete_p99_ms: quantile(&complete_ms, 0.99),
        finish_mean_ms: mean(&finish_ms),
        finish_p99_ms: quantile(&finish_ms, 0.99),
        documents_finished: finish_ms.len(),
        empty_claims: logs.iter().map(|l| l.empty_claims).sum(),
        stale_commits: logs.iter().map(|l| l.stale).sum(),
        lost_finishes: logs.iter().map(|l| l.lost_finishes).sum(),
        double_claims,
        not_completed_once,
        waits,
    })
}

/// One worker: claim one page, complete it with an empty result, finish
/// the document when the store hands it over; stop when a claim comes
/// back empty and the batch is idle.
async fn work(store: &Store, me: &Actor, batch_id: &str) -> anyhow::Result<WorkerLog> {
    let t0 = Instant::now();
    let mut log = WorkerLog::default();
    let done = DocumentOutcome {
        state: DocState::Packaged,
        package_path: "x".into(),
        fields: vec![],
        rescans: vec![],
        rekeyed: false,
    };
    let empty = PageResult::default();
    loop {
        let t = Instant::now();
        let claims = store.claim_pages(me, 1, LEASE_S, Some(batch_id)).await?;
        let claim_ms = ms(t);
        if claims.is_empty() {
            log.empty_claims += 1;
            let t = Instant::now();
            let idle = store.idle(Some(batch_id)).await?;
            log.polling_ms += claim_ms + ms(t);
            if idle {
                return Ok(log);
            }
            tokio::time::sleep(EMPTY_CLAIM_PAUSE).await;
            continue;
        }
        log.claims
            .push(((t - t0).as_secs_f64(), claim_ms / claims.len() as f64));
        for claim in claims {
            log.claimed.push(claim.page_id);
            let t = Instant::now();
            let commit = store.complete_page(&claim, &empty, me, LEASE_S).await?;
            log.completes.push(ms(t));
            match commit {
                PageCommit::Stale => log.stale += 1,
                PageCommit::Recorded => {}
                PageCommit::DocumentReady(doc) => {
                    let t = Instant::now();
                    let finished = store.finish_document(&doc, &done, me).await?;
                    log.finishes.push(ms(t));
                    if !finished {
                        log.lost_finishes += 1;
                    }
                }
            }
        }
    }
}

/// Samples what the run's PostgreSQL backends are doing, until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<Vec<(String, f64)>>>,
}

impl Sampler {
    async fn start(url: &str) -> anyhow::Result<Sampler> {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tally: BTreeMap<String, usize> = BTreeMap::new();
            let mut busy = 0usize;
            while !stopped.load(Ordering::Relaxed) {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT COALESCE(state, ''), \
                     COALESCE(wait_event_type || ':' || wait_event, 'cpu'), \
                     regexp_replace(left(query, 70), '\\s+', ' ', 'g') \
                     FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND state <> 'idle'",
                )
                .fetch_all(&mut conn)
                .await?;
                for (state, wait, query) in rows {
                    busy += 1;
                    *tally
                        .entry(format!("{state} | {wait} | {query}"))
                        .or_default() += 1;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
            conn.close().await?;
            let mut shares: Vec<(String, f64)> = tally
                .into_iter()
                .map(|(k, n)| (k, n as f64 / busy.max(1) as f64))
                .collect();
            shares.sort_by(|a, b| b.1.total_cmp(&a.1));
            Ok(shares)
        });
        Ok(Sampler { stop, task })
    }

    async fn stop(self) -> anyhow::Result<Vec<(String, f64)>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The `q` quantile (nearest rank) of unsorted values; 0 when empty.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}
