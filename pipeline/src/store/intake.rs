//! The store's part of `folio watch`: running services (heartbeat and the
//! reason one is paused, so `folio status` in another process sees it),
//! the batch folders they took (one owner per claimed folder, taken over
//! only by compare-and-set when the owner died), batches opened with what
//! the manifest or the folder's binding says (operator, references,
//! expected pages) and batches held until an operator confirms them. No
//! file system work here: `watch::claim` moves the folders.

use super::{BATCH_COLUMNS, DocClaim, Store, Tx, batch_row};
use crate::batch::BatchState;
use crate::error::FolioError;
use crate::store::{Actor, BatchRow};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

/// A running watch service as `folio status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WatcherRow {
    pub id: String,
    pub host: String,
    /// The watch folders, one per line.
    pub folders: String,
    /// Why it is not claiming new batches (`None`: claiming).
    pub paused: Option<String>,
    /// Seconds since its last heartbeat.
    pub seen_s_ago: f64,
}

/// A batch folder a watch service took.
#[derive(Debug, Clone, Serialize)]
pub struct IntakeRow {
    /// The claim id: the folder under `<watch>/.folio/claimed/`.
    pub id: String,
    /// The watch folder (canonical path).
    pub folder: String,
    /// The batch folder's name as dropped.
    pub source_name: String,
    pub watcher: String,
    /// `claiming`, `claimed`, `done` or `failed`.
    pub state: String,
    pub batch_id: Option<String>,
    pub operator: Option<String>,
    /// Where the folder went (`done/<date>/…` or `failed/…`).
    pub moved_to: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The ingest summary (JSON): quarantined and skipped files.
    pub summary: Option<String>,
}

/// What a watched batch came with, for `folio status`.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedBatch {
    pub batch_id: String,
    pub source_name: String,
    pub operator: Option<String>,
    /// The manifest as JSON text.
    pub manifest: Option<String>,
    pub expected_pages: Option<i64>,
    pub found_pages: Option<i64>,
    /// Why its documents wait for an operator (`None`: not held).
    pub held: Option<String>,
}

/// A batch to open for a claimed folder, before its files are ingested.
#[derive(Debug, Clone)]
pub struct WatchedBatchRequest {
    /// Canonical path of the claimed folder (the batch's `source`).
    pub source: String,
    pub name: String,
    pub class: String,
    pub out_dir: String,
    pub quarantine_dir: String,
    pub source_name: String,
    pub operator: Option<String>,
    /// The manifest as JSON text.
    pub manifest: Option<String>,
    pub expected_pages: Option<i64>,
}

const INTAKE_COLUMNS: &str = "id, folder, source_name, watcher, state, batch_id, operator, moved_to, reason, CAST(summary AS TEXT)";

fn intake_row(r: &sqlx::any::AnyRow) -> Result<IntakeRow, sqlx::Error> {
    Ok(IntakeRow {
        id: r.try_get(0)?,
        folder: r.try_get(1)?,
        source_name: r.try_get(2)?,
        watcher: r.try_get(3)?,
        state: r.try_get(4)?,
        batch_id: r.try_get(5)?,
        operator: r.try_get(6)?,
        moved_to: r.try_get(7)?,
        reason: r.try_get(8)?,
        summary: r.try_get(9)?,
    })
}

/// A watcher counts as alive while its heartbeat is younger than its
/// `stale_seconds` (`w` is the watchers alias).
const ALIVE: &str = "{until:w.heartbeat_at} > -w.stale_seconds";

impl Store {
    // ---- watch services ---------------------------------------------

    /// Records (or refreshes) a running watch service.
    pub async fn register_watcher(
        &self,
        watcher: &Actor,
        folders: &str,
        stale_s: f64,
    ) -> Result<(), FolioError> {
        sqlx::query("DELETE FROM watchers WHERE id = $1")
            .bind(watcher.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query(self.sql(
            "INSERT INTO watchers (id, host, folders, paused, stale_seconds, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, NULL, $4, {now}, {now})",
        ))
        .bind(watcher.as_str())
        .bind(watcher.host())
        .bind(folders)
        .bind(stale_s)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The service's heartbeat, with why it is paused (`None`: claiming).
    pub async fn watcher_heartbeat(
        &self,
        watcher: &Actor,
        paused: Option<&str>,
    ) -> Result<(), FolioError> {
        sqlx::query(
            self.sql("UPDATE watchers SET heartbeat_at = {now}, paused = $1 WHERE id = $2"),
        )
        .bind(paused)
        .bind(watcher.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets a service that stops: its claims may be taken at once.
    pub async fn remove_watcher(&self, watcher: &Actor) -> Result<(), FolioError> {
        sqlx::query("DELETE FROM watchers WHERE id = $1")
            .bind(watcher.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The watch services alive now (heartbeat not stale).
    pub async fn live_watchers(&self) -> Result<Vec<WatcherRow>, FolioError> {
        self.fetch_map(
            sqlx::query(self.sql(&format!(
                "SELECT w.id, w.host, w.folders, w.paused, -{{until:w.heartbeat_at}} FROM watchers w \
                 WHERE {ALIVE} ORDER BY w.started_at"
            ))),
            |r| {
                Ok(WatcherRow {
                    id: r.try_get(0)?,
                    host: r.try_get(1)?,
                    folders: r.try_get(2)?,
                    paused: r.try_get(3)?,
                    seen_s_ago: r.try_get(4)?,
                })
            },
        )
        .await
    }

    // ---- claims ------------------------------------------------------

    /// Records that `watcher` is about to rename a batch folder into its
    /// claimed area (before the rename: every claimed folder has an owner).
    pub async fn begin_intake(
        &self,
        id: &str,
        folder: &str,
        source_name: &str,
        watcher: &Actor,
    ) -> Result<(), FolioError> {
        sqlx::query(self.sql(
            "INSERT INTO intakes (id, folder, source_name, watcher, state, claimed_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'claiming', {now}, {now})",
        ))
        .bind(id)
        .bind(folder)
        .bind(source_name)
        .bind(watcher.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Moves a claim on: `claimed` once renamed, `done` or `failed` once
    /// the folder left the claimed area (with where it went and why).
    pub async fn update_intake(
        &self,
        id: &str,
        state: &str,
        moved_to: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), FolioError> {
        sqlx::query(self.sql(
            "UPDATE intakes SET state = $1, moved_to = COALESCE($2, moved_to), reason = COALESCE($3, reason), \
             updated_at = {now} WHERE id = $4",
        ))
        .bind(state)
        .bind(moved_to)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Names the batch a claim's folder went into (a re-scan folder goes
    /// into the batch it re-scans) and its operator.
    pub async fn update_intake_batch(
        &self,
        id: &str,
        batch_id: &str,
        operator: Option<&str>,
    ) -> Result<(), FolioError> {
        sqlx::query(self.sql(
            "UPDATE intakes SET batch_id = $1, operator = $2, state = 'claimed', updated_at = {now} WHERE id = $3",
        ))
        .bind(batch_id)
        .bind(operator)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores the ingest summary (JSON) of a claim.
    pub async fn intake_summary(&self, id: &str, summary: &str) -> Result<(), FolioError> {
        sqlx::query(
            self.sql("UPDATE intakes SET summary = {json:$1}, updated_at = {now} WHERE id = $2"),
        )
        .bind(summary)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets a claim whose rename lost the race (another service took
    /// the folder first) or whose folder vanished before it was renamed.
    pub async fn drop_intake(&self, id: &str) -> Result<(), FolioError> {
        sqlx::query("DELETE FROM intakes WHERE id = $1 AND state = 'claiming'")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Open claims of `folder` that `watcher` holds now: its own, plus
    /// those of services that died (taken over by compare-and-set, so two
    /// live services never hold the same one).
    pub async fn open_intakes(
        &self,
        folder: &str,
        watcher: &Actor,
    ) -> Result<Vec<IntakeRow>, FolioError> {
        let orphans = self
            .fetch_map(
                sqlx::query(self.sql(&format!(
                    "SELECT i.id, i.watcher FROM intakes i WHERE i.folder = $1 \
                     AND i.state IN ('claiming', 'claimed') AND i.watcher <> $2 \
                     AND NOT EXISTS (SELECT 1 FROM watchers w WHERE w.id = i.watcher AND {ALIVE})"
                )))
                .bind(folder)
                .bind(watcher.as_str()),
                |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)),
            )
            .await?;
        for (id, old) in orphans {
            let taken = sqlx::query(self.sql(
                "UPDATE intakes SET watcher = $1, updated_at = {now} WHERE id = $2 AND watcher = $3",
            ))
            .bind(watcher.as_str())
            .bind(&id)
            .bind(&old)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            if taken == 1 {
                tracing::warn!("claim {id}: its service {old} stopped; taken over");
            }
        }
        self.fetch_map(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {INTAKE_COLUMNS} FROM intakes WHERE folder = $1 AND watcher = $2 \
                 AND state IN ('claiming', 'claimed') ORDER BY claimed_at, id"
            )))
            .bind(folder)
            .bind(watcher.as_str()),
            intake_row,
        )
        .await
    }

    /// Every claim, newest first (status: failed folders and summaries).
    pub async fn intakes(&self) -> Result<Vec<IntakeRow>, FolioError> {
        self.fetch_map(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {INTAKE_COLUMNS} FROM intakes ORDER BY claimed_at DESC, id"
            ))),
            intake_row,
        )
        .await
    }

    // ---- watched batches ---------------------------------------------

    /// Opens the batch of a claimed folder with what it came with, before
    /// its files are ingested (`Store::ingest` then finds it by source).
    /// A manifest that announces a page count holds the batch until the
    /// count found is known (`settle_watched_batch`), so nothing of it is
    /// packaged early. Returns the existing batch on a second call.
    pub async fn open_watched_batch(
        &self,
        intake_id: &str,
        req: &WatchedBatchRequest,
        actor: &Actor,
    ) -> Result<BatchRow, FolioError> {
        let mut tx = self.begin().await?;
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE source = $1 ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(&req.source)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let batch = match existing {
            Some(r) => batch_row(&r).map_err(|e| self.err(e))?,
            None => {
                let id = uuid::Uuid::now_v7().simple().to_string();
                let held = req
                    .expected_pages
                    .map(|n| format!("manifest expects {n} page(s); counting"));
                sqlx::query(self.sql(
                    "INSERT INTO batches (id, name, source, class, state, out_dir, quarantine_dir, created_at, updated_at, \
                     source_name, operator, manifest, expected_pages, held) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, {now}, {now}, $8, $9, {json:$10}, $11, $12)",
                ))
                .bind(&id)
                .bind(&req.name)
                .bind(&req.source)
                .bind(&req.class)
                .bind(BatchState::Received.as_str())
                .bind(&req.out_dir)
                .bind(&req.quarantine_dir)
                .bind(&req.source_name)
                .bind(&req.operator)
                .bind(&req.manifest)
                .bind(req.expected_pages)
                .bind(&held)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                let reason = format!(
                    "taken from watch folder as '{}'{}",
                    req.source_name,
                    req.operator
                        .as_deref()
                        .map(|o| format!(", operator {o}"))
                        .unwrap_or_default()
                );
                self.event(&mut tx, actor, ("batch", &id), (None, "received"), &reason)
                    .await?;
                BatchRow {
                    id,
                    name: req.name.clone(),
                    source: req.source.clone(),
                    class: req.class.clone(),
                    state: BatchState::Received,
                    out_dir: req.out_dir.clone(),
                    quarantine_dir: req.quarantine_dir.clone(),
                }
            }
        };
        sqlx::query(self.sql(
            "UPDATE intakes SET batch_id = $1, operator = $2, state = 'claimed', updated_at = {now} WHERE id = $3",
        ))
        .bind(&batch.id)
        .bind(&req.operator)
        .bind(intake_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(batch)
    }

    /// After ingest: records the pages found; a batch whose manifest
    /// announced another count stays held with both numbers, when
    /// `hold_on_mismatch` (`[review] hold` lists `page_count`) (its
    /// documents are worked but not packaged until `confirm_batch`), one
    /// whose count matches is released. A batch ingest queued nothing
    /// for is closed (nothing to package).
    pub async fn settle_watched_batch(
        &self,
        batch_id: &str,
        found: i64,
        hold_on_mismatch: bool,
        actor: &Actor,
    ) -> Result<WatchedBatch, FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT expected_pages, held, found_pages, {BATCH_COLUMNS} FROM batches WHERE id = $1"
        )))
        .bind(batch_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let expected: Option<i64> = row.try_get(0).map_err(|e| self.err(e))?;
        let held: Option<String> = row.try_get(1).map_err(|e| self.err(e))?;
        let before: Option<i64> = row.try_get(2).map_err(|e| self.err(e))?;
        let mut batch = super::batch_row_at(&row, 3).map_err(|e| self.err(e))?;
        // A settled batch keeps its verdict (an operator may have
        // confirmed it already); a re-ingest after a crash only fills in.
        if before.is_none() {
            let now_held = match expected {
                Some(n) if n != found && hold_on_mismatch => Some(format!(
                    "page count differs from the manifest: found {found}, expected {n}; \
                     confirm with `folio batch confirm {batch_id}` or re-scan"
                )),
                _ => None,
            };
            sqlx::query("UPDATE batches SET found_pages = $1, held = $2 WHERE id = $3")
                .bind(found)
                .bind(&now_held)
                .bind(batch_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            let state = batch.state.as_str();
            match (&held, &now_held) {
                (_, Some(why)) => {
                    self.event(
                        &mut tx,
                        actor,
                        ("batch", batch_id),
                        (Some(state), state),
                        &format!("held: {why}"),
                    )
                    .await?
                }
                (Some(_), None) => {
                    let why = format!("page count as the manifest says ({found}); released");
                    self.event(
                        &mut tx,
                        actor,
                        ("batch", batch_id),
                        (Some(state), state),
                        &why,
                    )
                    .await?
                }
                (None, None) => {}
            }
        }
        if batch.state == BatchState::Received {
            self.close_empty_batch(&mut tx, &mut batch, actor).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        self.watched_batch(batch_id)
            .await?
            .ok_or_else(|| self.err(format!("batch {batch_id} vanished")))
    }

    /// What a watched batch came with (`None` for batches `folio run` or
    /// `folio ingest` made).
    pub async fn watched_batch(&self, batch_id: &str) -> Result<Option<WatchedBatch>, FolioError> {
        Ok(self
            .watched_batches()
            .await?
            .into_iter()
            .find(|b| b.batch_id == batch_id))
    }

    /// Every batch a watch service opened.
    pub async fn watched_batches(&self) -> Result<Vec<WatchedBatch>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT id, source_name, operator, CAST(manifest AS TEXT), expected_pages, found_pages, held \
                 FROM batches WHERE source_name IS NOT NULL ORDER BY created_at DESC",
            ),
            |r| {
                Ok(WatchedBatch {
                    batch_id: r.try_get(0)?,
                    source_name: r.try_get(1)?,
                    operator: r.try_get(2)?,
                    manifest: r.try_get(3)?,
                    expected_pages: r.try_get(4)?,
                    found_pages: r.try_get(5)?,
                    held: r.try_get(6)?,
                })
            },
        )
        .await
    }

    /// The batch an operator names: by id, name or source folder, or by
    /// the folder name as it was dropped into a watch folder.
    pub async fn operator_batch(&self, key: &str) -> Result<BatchRow, FolioError> {
        if let Some(b) = self.find_batch(key).await? {
            return Ok(b);
        }
        let by_name = self
            .watched_batches()
            .await?
            .into_iter()
            .find(|b| b.source_name == key);
        match by_name {
            Some(w) => self
                .batch(&w.batch_id)
                .await?
                .ok_or_else(|| self.err(format!("batch {} vanished", w.batch_id))),
            None => Err(FolioError::input(
                key,
                "no such batch in the store (give its id, name or folder)",
            )),
        }
    }

    /// `folio batch confirm`: the operator accepts a held batch as it is;
    /// its documents may be packaged. Returns the batch and the reason it
    /// was held (`None`: it was not held).
    pub async fn confirm_batch(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<(BatchRow, Option<String>), FolioError> {
        let batch = self.operator_batch(key).await?;
        let mut tx: Tx = self.begin().await?;
        let held: Option<String> = sqlx::query("SELECT held FROM batches WHERE id = $1")
            .bind(&batch.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        if let Some(why) = &held {
            sqlx::query("UPDATE batches SET held = NULL WHERE id = $1")
                .bind(&batch.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            let state = batch.state.as_str();
            self.event(
                &mut tx,
                actor,
                ("batch", &batch.id),
                (Some(state), state),
                &format!("confirmed by the operator as it is (was held: {why})"),
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((batch, held))
    }

    /// Called by the worker that is to finish a document: when the
    /// document's batch is held, gives the document's lease back (it
    /// stays `finishing`, and `claim_document` skips held batches) and
    /// returns true. One statement, so a confirmation that commits first
    /// lets the document through and one that commits later finds it
    /// free to claim.
    pub async fn hold_document(
        &self,
        claim: &DocClaim,
        worker: &Actor,
    ) -> Result<bool, FolioError> {
        // A read first, so the common case costs no write transaction: a
        // batch is held from before its pages are queued and only ever
        // released afterwards, so "not held" cannot turn into "held".
        let held: Option<String> = sqlx::query(
            "SELECT b.held FROM documents d JOIN batches b ON b.id = d.batch_id WHERE d.id = $1",
        )
        .bind(&claim.document_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| r.try_get::<Option<String>, _>(0))
        .transpose()
        .map_err(|e| self.err(e))?
        .flatten();
        if held.is_none() {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let held = sqlx::query(
            "UPDATE documents SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'finishing' AND EXISTS \
             (SELECT 1 FROM batches b WHERE b.id = documents.batch_id AND b.held IS NOT NULL)",
        )
        .bind(&claim.document_id)
        .bind(&claim.token)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if held == 1 {
            self.event(
                &mut tx,
                worker,
                ("document", &claim.document_id),
                (Some("finishing"), "finishing"),
                "held: its batch waits for the operator (page count differs from the manifest)",
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(held == 1)
    }
}
