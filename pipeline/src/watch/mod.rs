//! `folio watch`: the long-lived service over the watch folders. Each
//! sub-folder of a watch folder is a batch; once complete
//! (`completion`), and if the disks have room for it (`guard`), it is
//! claimed by an atomic rename (`claim`), opened in the store with what
//! its manifest (`manifest`) or the folder's binding says, ingested
//! (originals into the object store, bad files into quarantine), and
//! moved to `done/<date>/`. File events (`notify`) only wake the scan
//! early; a polling pass is the truth (network shares drop events). By
//! default the same process works the pages (`work::work`); `--no-work`
//! leaves them to `folio worker`s. Every step is idempotent, so a
//! service killed anywhere continues where the store says it was, and
//! a claim is only ever held by one live service.

pub mod claim;
pub mod completion;
pub mod guard;
pub mod manifest;

use crate::error::FolioError;
use crate::ingest::{self, IngestOptions, Intake};
use crate::settings::{Settings, WatchFolder};
use crate::store::intake::{IntakeRow, WatchedBatchRequest};
use crate::store::{Actor, Store};
use crate::work::{self, Scope, WorkReport};
use completion::{Rules, Tracker};
use notify::Watcher;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// A watch folder, checked and resolved, with its binding.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Canonical path of the watch folder.
    pub folder: PathBuf,
    /// Canonical output folder.
    pub out: PathBuf,
    pub class: Option<String>,
    pub operator: Option<String>,
}

/// What a service did, printed when it stops.
#[derive(Debug, Default, Serialize)]
pub struct WatchReport {
    pub watcher: String,
    /// Batch folders ingested and moved to `done/`.
    pub taken: usize,
    /// Batch folders moved to `failed/`.
    pub failed: usize,
    /// The pages this process worked (absent with `--no-work`).
    pub work: Option<WorkReport>,
}

/// Checks the watch folders before anything starts: each must exist, its
/// class must be known, its output folder must not be inside it.
pub fn bind(settings: &Settings, folders: &[WatchFolder]) -> Result<Vec<Binding>, FolioError> {
    if folders.is_empty() {
        return Err(settings.config_error(
            "no watch folder: give `folio watch <DIR> --out <DIR>` or add [[watch.folders]] to folio.toml",
        ));
    }
    let mut out = Vec::new();
    for f in folders {
        if !f.folder.is_dir() {
            return Err(FolioError::input(
                &f.folder,
                "is not a folder (a watch folder must exist)",
            ));
        }
        let folder = f
            .folder
            .canonicalize()
            .map_err(|e| FolioError::input(&f.folder, e))?;
        settings.class(f.class.as_deref())?;
        std::fs::create_dir_all(&f.out).map_err(|e| FolioError::output(&f.out, e))?;
        let dest = f
            .out
            .canonicalize()
            .map_err(|e| FolioError::output(&f.out, e))?;
        if dest.starts_with(&folder) {
            return Err(FolioError::output(
                &dest,
                "is inside the watch folder; it would be taken for a batch",
            ));
        }
        let area = claim::area(&folder).join("claimed");
        std::fs::create_dir_all(&area).map_err(|e| FolioError::output(&area, e))?;
        out.push(Binding {
            folder,
            out: dest,
            class: f.class.clone(),
            operator: f.operator.clone(),
        });
    }
    Ok(out)
}

/// Runs the service until `stop` turns true (SIGINT/SIGTERM): stops
/// claiming, lets the worker finish or give back its pages, forgets
/// itself in the store.
pub async fn serve(
    store: &Store,
    settings: Arc<Settings>,
    bindings: Vec<Binding>,
    do_work: bool,
    stop: watch::Receiver<bool>,
) -> Result<WatchReport, FolioError> {
    if do_work {
        for b in &bindings {
            crate::run::check_engines(&settings, b.class.as_deref())?;
        }
    }
    let actor = Actor::worker();
    let w = &settings.watch;
    let poll = Duration::from_secs_f64(w.poll_seconds);
    let stale = (3.0 * w.poll_seconds).max(settings.work.lease_seconds);
    let folders: Vec<String> = bindings
        .iter()
        .map(|b| b.folder.to_string_lossy().to_string())
        .collect();
    store
        .register_watcher(&actor, &folders.join("\n"), stale)
        .await?;
    for b in &bindings {
        eprintln!(
            "folio: {actor} watching {} → {} (class {}){}",
            b.folder.display(),
            b.out.display(),
            b.class.as_deref().unwrap_or(&settings.default_class),
            if do_work { "" } else { " · --no-work" }
        );
    }

    let paused: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let heartbeat = {
        let (store, actor, paused) = (store.clone(), actor.clone(), paused.clone());
        let every = Duration::from_secs_f64((stale / 4.0).max(0.1));
        tokio::spawn(async move {
            loop {
                let reason = paused.lock().map(|p| p.clone()).unwrap_or(None);
                if let Err(e) = store.watcher_heartbeat(&actor, reason.as_deref()).await {
                    tracing::warn!("watch heartbeat: {e}");
                }
                tokio::time::sleep(every).await;
            }
        })
    };

    let worker = do_work
        .then(|| -> Result<_, FolioError> {
            let pool = Arc::new(work::thread_pool(&settings)?);
            let (store, settings, actor, stop) =
                (store.clone(), settings.clone(), actor.clone(), stop.clone());
            Ok(tokio::spawn(async move {
                let scope = Scope {
                    batch: None,
                    until_idle: false,
                };
                // A store that cannot be reached stops one round of work,
                // not the service: work again after a pause.
                loop {
                    let round = work::work(
                        &store,
                        settings.clone(),
                        pool.clone(),
                        &actor,
                        &scope,
                        stop.clone(),
                    )
                    .await;
                    match round {
                        Err(e) if !*stop.borrow() => {
                            tracing::warn!(
                                "work: {e}; working again in {:.1} s",
                                poll.as_secs_f64()
                            );
                            tokio::time::sleep(poll).await;
                        }
                        done => return done,
                    }
                }
            }))
        })
        .transpose()?;

    // File events only wake the scan early. The watch folders and the
    // batch folders waiting in them are watched, each alone (not
    // `done/`, which grows: inotify watches are a bounded resource).
    let wake = Arc::new(Notify::new());
    let events = {
        let wake = wake.clone();
        match notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            wake.notify_one();
        }) {
            Ok(mut watcher) => {
                for b in &bindings {
                    if let Err(e) = watcher.watch(&b.folder, notify::RecursiveMode::NonRecursive) {
                        tracing::warn!(
                            "no file events for {} ({e}); polling every {:.1} s",
                            b.folder.display(),
                            w.poll_seconds
                        );
                    }
                }
                Some(watcher)
            }
            Err(e) => {
                tracing::warn!("no file events ({e}); polling only");
                None
            }
        }
    };

    let mut service = Service {
        store,
        settings: settings.clone(),
        actor: actor.clone(),
        ingest_pool: rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "folio-intake".into())
            .build()
            .map_err(|e| FolioError::Internal(e.to_string()))?,
        rules: Rules {
            marker: w.marker.clone(),
            manifest: w.manifest.clone(),
            quiet: Duration::from_secs_f64(w.quiet_seconds),
        },
        tracker: Tracker::default(),
        events,
        watched: BTreeSet::new(),
        paused,
        bindings,
        last_sweep: None,
        warned: BTreeSet::new(),
        report: WatchReport {
            watcher: actor.to_string(),
            ..WatchReport::default()
        },
    };
    let mut stop_rx = stop.clone();
    loop {
        if *stop_rx.borrow() {
            break;
        }
        if let Err(e) = service.pass(&stop).await {
            tracing::warn!("watch pass: {e}; trying again in {:.1} s", w.poll_seconds);
        }
        tokio::select! {
            _ = stop_rx.changed() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = wake.notified() => {
                // Let a burst of events settle into one pass.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut report = std::mem::take(&mut service.report);
    if let Some(worker) = worker {
        let done = worker
            .await
            .map_err(|e| FolioError::Internal(format!("the worker stopped: {e}")))?;
        report.work = Some(done?);
    }
    heartbeat.abort();
    store.remove_watcher(&actor).await?;
    Ok(report)
}

/// What happened to one claim.
enum Outcome {
    Done,
    Failed,
    /// Not enough room after all (ingest's exact check): the batch stays
    /// claimed and is taken up again when space returns.
    Short(String),
    Gone,
}

struct Service<'a> {
    store: &'a Store,
    settings: Arc<Settings>,
    actor: Actor,
    ingest_pool: rayon::ThreadPool,
    rules: Rules,
    tracker: Tracker,
    /// File events; `None` when the platform gives none.
    events: Option<notify::RecommendedWatcher>,
    /// Batch folders watched for events now.
    watched: BTreeSet<PathBuf>,
    paused: Arc<Mutex<Option<String>>>,
    bindings: Vec<Binding>,
    last_sweep: Option<Instant>,
    /// Entries already warned about (not batches), to say it once.
    warned: BTreeSet<PathBuf>,
    report: WatchReport,
}

impl Service<'_> {
    /// One scan of every watch folder: continue open claims (this
    /// service's and those of services that died), then take complete
    /// batches while the disks have room.
    async fn pass(&mut self, stop: &watch::Receiver<bool>) -> Result<(), FolioError> {
        let mut short: Option<String> = None;
        let mut present = Vec::new();
        let sweep = self
            .last_sweep
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(600));
        if sweep {
            self.last_sweep = Some(Instant::now());
        }
        for b in self.bindings.clone() {
            let folder = b.folder.to_string_lossy().to_string();
            for row in self.store.open_intakes(&folder, &self.actor).await? {
                if *stop.borrow() {
                    return Ok(());
                }
                if let Outcome::Short(why) = self.take_in(&b, &row).await? {
                    short.get_or_insert(why);
                }
            }
            if sweep {
                let today = chrono::Utc::now().date_naive();
                claim::sweep_done(&b.folder, self.settings.watch.retain_days, today);
            }
            for dir in self.candidates(&b.folder) {
                present.push(dir.clone());
                if short.is_some() || *stop.borrow() {
                    continue;
                }
                let Some(ready) = self.tracker.check(&dir, &self.rules) else {
                    continue;
                };
                let estimate = guard::estimate(&dir);
                if let Some(s) = guard::check(
                    estimate,
                    &self.settings.data_dir,
                    &self.settings.objects_dir,
                    &b.out,
                ) {
                    short = Some(s.reason());
                    continue;
                }
                let Some(os_name) = dir.file_name().map(|n| n.to_os_string()) else {
                    continue;
                };
                let name = os_name.to_string_lossy().to_string();
                let id = uuid::Uuid::now_v7().simple().to_string();
                self.store
                    .begin_intake(&id, &folder, &name, &self.actor)
                    .await?;
                match claim::take(&b.folder, &os_name, &name, &id) {
                    Ok(true) => {
                        tracing::info!("{name}: complete ({}); claimed as {id}", ready.as_str());
                        self.store
                            .update_intake(&id, "claimed", None, Some(ready.as_str()))
                            .await?;
                        let row = IntakeRow {
                            id: id.clone(),
                            folder: folder.clone(),
                            source_name: name.clone(),
                            watcher: self.actor.to_string(),
                            state: "claimed".into(),
                            batch_id: None,
                            operator: None,
                            moved_to: None,
                            reason: None,
                            summary: None,
                        };
                        if let Outcome::Short(why) = self.take_in(&b, &row).await? {
                            short.get_or_insert(why);
                        }
                    }
                    Ok(false) => {
                        tracing::info!("{name}: taken by another service first");
                        self.store.drop_intake(&id).await?;
                    }
                    Err(e) => {
                        tracing::warn!("{name}: cannot claim: {e}");
                        self.store.drop_intake(&id).await?;
                    }
                }
            }
        }
        self.tracker.retain(&present);
        self.follow_events(&present);
        self.set_paused(short);
        Ok(())
    }

    /// Watches the batch folders now waiting (a marker written into one
    /// wakes the scan) and forgets those that left.
    fn follow_events(&mut self, present: &[PathBuf]) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        let now: BTreeSet<PathBuf> = present.iter().cloned().collect();
        for gone in self.watched.difference(&now) {
            let _ = events.unwatch(gone);
        }
        for new in now.difference(&self.watched) {
            if let Err(e) = events.watch(new, notify::RecursiveMode::NonRecursive) {
                tracing::debug!("no file events for {}: {e}", new.display());
            }
        }
        self.watched = now;
    }

    /// Sub-folders of a watch folder that may be batches.
    fn candidates(&mut self, folder: &Path) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(folder) else {
            tracing::warn!("cannot list {}", folder.display());
            return Vec::new();
        };
        let mut dirs = Vec::new();
        for entry in rd.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().to_string();
            if !claim::is_candidate_name(&name) {
                continue;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(_) => {
                    if self.warned.insert(path.clone()) {
                        tracing::warn!(
                            "{}: not a batch (a batch is a sub-folder; links are never followed); left alone",
                            path.display()
                        );
                    }
                }
                Err(_) => {}
            }
        }
        dirs.sort();
        dirs
    }

    fn set_paused(&mut self, reason: Option<String>) {
        let Ok(mut p) = self.paused.lock() else {
            return;
        };
        if *p != reason {
            match &reason {
                Some(r) => tracing::warn!("paused: {r}; not claiming until there is room"),
                None => tracing::warn!("resumed: claiming batches again"),
            }
            *p = reason;
        }
    }

    /// Takes a claimed folder in: manifest, batch, ingest, page count,
    /// `done/`. Idempotent: a restart runs it again on the same claim.
    async fn take_in(&mut self, b: &Binding, row: &IntakeRow) -> Result<Outcome, FolioError> {
        let (id, name) = (row.id.as_str(), row.source_name.as_str());
        let w = &self.settings.watch;
        let control = [w.marker.as_str(), w.manifest.as_str()];
        let dir = claim::claimed_batch(&b.folder, id, name);
        if std::fs::symlink_metadata(&dir).is_err() {
            if row.state == "claiming" {
                // The rename never happened: the folder (if still there)
                // is claimed again by a later scan.
                self.store.drop_intake(id).await?;
                let _ = std::fs::remove_dir(claim::claim_dir(&b.folder, id));
            } else {
                self.store
                    .update_intake(
                        id,
                        "done",
                        None,
                        Some("the claimed folder was already moved"),
                    )
                    .await?;
            }
            return Ok(Outcome::Gone);
        }
        if row.state == "claiming" {
            self.store.update_intake(id, "claimed", None, None).await?;
        }
        claim::set_control_files_aside(&b.folder, id, name, &control);
        let manifest = match manifest::read(&claim::claim_dir(&b.folder, id).join(&w.manifest)) {
            Ok(m) => m,
            Err(e) => return self.fail(b, row, &e.to_string()).await,
        };
        let m = manifest.clone().unwrap_or_default();
        let operator = m.operator.clone().or_else(|| b.operator.clone());
        if m.rescan_of.is_some() || !m.replaces.is_empty() {
            return self.take_in_rescan(b, row, &m, operator).await;
        }
        let class_name = m.class.clone().or_else(|| b.class.clone());
        let class = match self.settings.class(class_name.as_deref()) {
            Ok(c) => c.name.clone(),
            Err(e) => return self.fail(b, row, &e.to_string()).await,
        };
        let source = dir.canonicalize().map_err(|e| FolioError::input(&dir, e))?;
        let batch_name = crate::plan::ascii_slug(name);
        let by = match &operator {
            Some(o) => Actor(format!("user:{o}")),
            None => self.actor.clone(),
        };
        let manifest_json = manifest
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| FolioError::Internal(e.to_string()))?;
        let opts = IngestOptions {
            input: source.clone(),
            out: b.out.clone(),
            class: Some(class.clone()),
            quarantine: None,
        };
        let tag = &ingest::sha256_hex(source.to_string_lossy().as_bytes())[..8];
        let quarantine = self
            .settings
            .data_dir
            .join("quarantine")
            .join(format!("{batch_name}-{tag}"));
        let request = WatchedBatchRequest {
            source: source.to_string_lossy().to_string(),
            name: batch_name,
            class,
            out_dir: b.out.to_string_lossy().to_string(),
            quarantine_dir: quarantine.to_string_lossy().to_string(),
            source_name: name.to_string(),
            operator: operator.clone(),
            manifest: manifest_json,
            expected_pages: m.expected_pages.map(|n| n as i64),
        };
        let batch = self.store.open_watched_batch(id, &request, &by).await?;
        let intake = ingest::ingest(
            self.store,
            &self.settings,
            &self.ingest_pool,
            &IngestOptions {
                quarantine: Some(quarantine),
                ..opts
            },
            &by,
        )
        .await;
        let intake = match intake {
            Ok(i) => i,
            Err(e @ FolioError::Space { .. }) => {
                let FolioError::Space { path, need, have } = &e else {
                    unreachable!()
                };
                let why = guard::Shortage {
                    place: path.clone(),
                    need: *need,
                    have: *have,
                }
                .reason();
                tracing::warn!("{name}: {e}; it stays claimed and is taken in when there is room");
                return Ok(Outcome::Short(why));
            }
            Err(e @ FolioError::Input { .. }) => return self.fail(b, row, &e.to_string()).await,
            Err(e) => return Err(e),
        };
        let (pages, _) = self.store.batch_counts(&batch.id).await?;
        let found = pages.queued + pages.leased + pages.done + pages.failed;
        let watched = self
            .store
            .settle_watched_batch(
                &batch.id,
                found,
                self.settings
                    .review
                    .holds(crate::store::review::Flag::PageCount),
                &by,
            )
            .await?;
        if let Some(why) = &watched.held {
            tracing::warn!("{name} ({}): HELD: {why}", batch.id);
        }
        let summary = summary(&intake, found);
        self.store.intake_summary(id, &summary.to_string()).await?;
        let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let moved = claim::finish_done(&b.folder, id, name, &control, &date)
            .map_err(|e| FolioError::output(&dir, e))?;
        let moved = moved.map(|p| p.to_string_lossy().to_string());
        self.store
            .update_intake(id, "done", moved.as_deref(), None)
            .await?;
        self.report.taken += 1;
        tracing::info!(
            "{name}: batch {} · {found} page(s) queued · {} quarantined · {} skipped → {}",
            batch.id,
            intake.quarantined.len(),
            intake.ignored.len(),
            moved.as_deref().unwrap_or("?")
        );
        Ok(Outcome::Done)
    }

    /// Takes a re-scan folder in: its pages go into the original batch's
    /// documents in the place of the pages they replace; a manifest that
    /// does not fit (unknown batch or page, a page not awaiting a
    /// re-scan, a count that differs) moves the folder to `failed/` with
    /// the reason, nothing queued.
    async fn take_in_rescan(
        &mut self,
        b: &Binding,
        row: &IntakeRow,
        m: &manifest::Manifest,
        operator: Option<String>,
    ) -> Result<Outcome, FolioError> {
        let (id, name) = (row.id.as_str(), row.source_name.as_str());
        let w = &self.settings.watch;
        let control = [w.marker.as_str(), w.manifest.as_str()];
        let dir = claim::claimed_batch(&b.folder, id, name);
        let source = dir.canonicalize().map_err(|e| FolioError::input(&dir, e))?;
        let manifest_path = claim::claim_dir(&b.folder, id).join(&w.manifest);
        let by = match &operator {
            Some(o) => Actor(format!("user:{o}")),
            None => self.actor.clone(),
        };
        let intake = ingest::ingest_rescan(
            self.store,
            &self.settings,
            &self.ingest_pool,
            &source,
            &manifest_path,
            m,
            &by,
        )
        .await;
        let intake = match intake {
            Ok(i) => i,
            Err(e @ FolioError::Input { .. }) => return self.fail(b, row, &e.to_string()).await,
            Err(e) => return Err(e),
        };
        self.store
            .update_intake_batch(id, &intake.batch.id, operator.as_deref())
            .await?;
        let found = intake.pages() as i64;
        let summary = summary(&intake, found);
        self.store.intake_summary(id, &summary.to_string()).await?;
        let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let moved = claim::finish_done(&b.folder, id, name, &control, &date)
            .map_err(|e| FolioError::output(&dir, e))?;
        let moved = moved.map(|p| p.to_string_lossy().to_string());
        self.store
            .update_intake(id, "done", moved.as_deref(), None)
            .await?;
        self.report.taken += 1;
        tracing::info!(
            "{name}: re-scan of batch {} · {found} page(s) queued in place of the rejected ones → {}",
            intake.batch.id,
            moved.as_deref().unwrap_or("?")
        );
        Ok(Outcome::Done)
    }

    /// Moves a claimed folder that cannot be ingested to `failed/` with
    /// its reason.
    async fn fail(
        &mut self,
        b: &Binding,
        row: &IntakeRow,
        reason: &str,
    ) -> Result<Outcome, FolioError> {
        let w = &self.settings.watch;
        let control = [w.marker.as_str(), w.manifest.as_str()];
        let moved = claim::finish_failed(&b.folder, &row.id, &row.source_name, &control, reason)
            .map_err(|e| FolioError::output(&b.folder, e))?;
        let moved = moved.map(|p| p.to_string_lossy().to_string());
        self.store
            .update_intake(&row.id, "failed", moved.as_deref(), Some(reason))
            .await?;
        self.report.failed += 1;
        tracing::warn!(
            "{}: cannot be ingested: {reason}; moved to {}",
            row.source_name,
            moved.as_deref().unwrap_or("?")
        );
        Ok(Outcome::Failed)
    }
}

/// The part of an ingest the operator needs later: what was set aside
/// and why, what was skipped by rule.
fn summary(i: &Intake, found: i64) -> serde_json::Value {
    serde_json::json!({
        "pages": found,
        "accepted": i.accepted.len(),
        "known": i.known.iter().map(|(n, s)| serde_json::json!({"name": n, "state": s})).collect::<Vec<_>>(),
        "duplicates": i.duplicates.iter().map(|(n, f)| serde_json::json!({"name": n, "same_as": f})).collect::<Vec<_>>(),
        "quarantined": i.quarantined.iter().map(|q| serde_json::json!({"name": q.name, "reason": q.reason})).collect::<Vec<_>>(),
        "skipped": i.ignored,
        "quarantine": i.quarantine,
    })
}
