//! The store: the source of truth for all work. Batches, files by SHA-256,
//! documents and pages with their leases and results, fields, and an event
//! (time, actor, reason) for every state change. One `Store` type serves
//! both backends; what differs — connecting, migrating, the server clock,
//! row locks, JSON columns — lives in `sqlite.rs` and `postgres.rs` as a
//! `Dialect` the queries are written against.
//!
//! Work is claimed by lease: an owner (worker id), a random token and an
//! expiry on the database's clock. A result commits only with the current
//! token, so a worker that lost its lease cannot overwrite the worker that
//! took it over. A document is finished once: the transaction that commits
//! its last page also hands its lease to that worker.

pub mod acceptance;
mod fault;
pub mod intake;
mod keying;
pub mod monthly;
mod postgres;
mod records;
pub mod retry;
pub mod review;
mod sqlite;

pub use keying::*;
pub use records::*;

use crate::batch::BatchState;
use crate::error::FolioError;
use crate::settings::redact;
use fault::Fault;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};

/// The SQL that differs between backends, as fragments the queries below
/// are written with: `{now}`, `{later:$n}` (now + $n seconds),
/// `{until:COL}` (seconds from now to COL), `{json:$n}`, `{ts:$n}` (text
/// as a timestamp), `{lock:ALIAS}` (row lock that skips rows other workers
/// hold) and `{for_update}` (row lock that waits).
#[derive(Debug)]
pub struct Dialect {
    begin: &'static str,
    now: &'static str,
    later: &'static str,
    seconds_until: &'static str,
    json: &'static str,
    lock_rows: &'static str,
    /// `FOR UPDATE`: a row the transaction changes next, waited for.
    row_lock: &'static str,
    /// A text parameter read as a timestamp.
    timestamp: &'static str,
    lock_source: Option<&'static str>,
    /// The pages table as claims read it (SQLite must be told to walk
    /// the partial index of claimable pages).
    claimable: &'static str,
}

/// A page's expected recognition cost as the claim can know it before
/// the page is decoded: its share of the original's pixels (measured:
/// recognition time per pixel varies 7-fold over the OCR bench's pages,
/// per compressed byte 60-fold, as Group 4 text pages are small), or of
/// its bytes for a file recorded before pixels were. Read through
/// `files f`, the same in both dialects.
const PAGE_COST: &str = "CASE WHEN f.pages <= 0 THEN f.bytes WHEN f.pixels > 0 THEN f.pixels / f.pages ELSE f.bytes / f.pages END";

/// How many claimable pages, oldest first, a claim orders by cost. The
/// dearest of them go first, so that at the end of a batch the long pages
/// are not left for one worker while the others idle (longest job first);
/// the window keeps older batches ahead of newer ones and bounds the sort.
const CLAIM_WINDOW: i64 = 64;

impl Dialect {
    fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let tag = &rest[start + 1..start + len];
            let (name, arg) = tag.split_once(':').unwrap_or((tag, ""));
            match name {
                "now" => out.push_str(self.now),
                "later" => out.push_str(&self.later.replace("$S", arg)),
                "until" => out.push_str(&self.seconds_until.replace("$X", arg)),
                "json" => out.push_str(&self.json.replace("$N", arg)),
                "lock" => out.push_str(&self.lock_rows.replace("$X", arg)),
                "claimable" => out.push_str(self.claimable),
                "page_cost" => out.push_str(PAGE_COST),
                "for_update" => out.push_str(self.row_lock),
                "ts" => out.push_str(&self.timestamp.replace("$N", arg)),
                _ => {
                    out.push('{');
                    out.push_str(tag);
                    out.push('}');
                }
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Which database is behind the store; picked once from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Folio's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    dialect: &'static Dialect,
    url: String,
    /// The URL as given (the SQLite file's path is in it).
    raw_url: String,
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

const PAGE_RESULT_COLUMNS: &str = "p.width, p.height, p.dpi, p.color, p.skew_deg, p.orientation_deg, \
     CAST(CASE WHEN p.blank THEN 1 ELSE 0 END AS BIGINT), CAST(CASE WHEN p.qc_pass THEN 1 ELSE 0 END AS BIGINT), \
     CAST(p.qc_reasons AS TEXT), CAST(p.phash AS TEXT), CAST(p.report AS TEXT), p.ocr_text, p.ocr_confidence, \
     CAST(p.words AS TEXT), p.derived_path, p.failure, p.image_ms, p.ocr_ms";

/// How a batch event recording its written delivery starts.
pub const DELIVERY_WRITTEN: &str = "delivery written";

const BATCH_COLUMNS: &str = "id, name, source, class, state, out_dir, quarantine_dir";

impl Store {
    /// Connects and makes sure the schema is this build's. SQLite (and an
    /// empty PostgreSQL database) is migrated here; a PostgreSQL schema of
    /// another version is refused — `folio migrate` changes a shared one.
    pub async fn open(url: &str) -> Result<Store, FolioError> {
        let store = Self::connect(url).await?;
        match store.backend {
            Backend::Sqlite => sqlite::migrate(&store.pool, url)
                .await
                .map_err(|e| store.err(e))?,
            Backend::Postgres => match postgres::check_schema_in_turn(&store.pool)
                .await
                .map_err(|e| store.err(e))?
            {
                postgres::SchemaCheck::Current => {}
                postgres::SchemaCheck::Empty => store.migrate().await?,
                postgres::SchemaCheck::Behind { database, folio } => {
                    return Err(store.err(format!(
                        "the database schema is version {database}, this folio needs {folio}: \
                         run `folio migrate` once (workers never change a shared schema by themselves)"
                    )));
                }
                postgres::SchemaCheck::Ahead { database, folio } => {
                    return Err(store.err(format!(
                        "the database schema is version {database}, newer than this folio's {folio}: \
                         install the same folio version as the other workstations"
                    )));
                }
            },
        }
        Ok(store)
    }

    /// Connects and applies every pending migration (`folio migrate`).
    pub async fn open_and_migrate(url: &str) -> Result<Store, FolioError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(url: &str) -> Result<Store, FolioError> {
        sqlx::any::install_default_drivers();
        let (backend, dialect) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, &sqlite::DIALECT)
        } else {
            (Backend::Postgres, &postgres::DIALECT)
        };
        let pool = match backend {
            Backend::Sqlite => sqlite::connect(url).await,
            Backend::Postgres => postgres::connect(url).await,
        }
        .map_err(|e| FolioError::Store {
            url: redact(url),
            reason: e.to_string(),
            transient: e.transient(),
        })?;
        Ok(Store {
            pool,
            backend,
            dialect,
            url: redact(url),
            raw_url: url.to_string(),
        })
    }

    async fn migrate(&self) -> Result<(), FolioError> {
        match self.backend {
            Backend::Sqlite => sqlite::migrate(&self.pool, &self.raw_url).await,
            Backend::Postgres => postgres::migrator().run(&self.pool).await,
        }
        .map_err(|e| self.err(e))
    }

    /// The newest schema version this build carries.
    pub fn schema_version(&self) -> i64 {
        let m = match self.backend {
            Backend::Sqlite => sqlite::migrator(),
            Backend::Postgres => postgres::migrator(),
        };
        m.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The database kind.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, e: impl Fault) -> FolioError {
        FolioError::Store {
            url: self.url.clone(),
            reason: e.to_string(),
            transient: e.transient(),
        }
    }

    fn sql(&self, template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.dialect.render(template))
    }

    async fn begin(&self) -> Result<Tx, FolioError> {
        self.pool
            .begin_with(self.dialect.begin)
            .await
            .map_err(|e| self.err(e))
    }

    /// Runs a query and maps every row, with the store's error.
    async fn fetch_map<T>(
        &self,
        query: AnyQuery<'_>,
        map: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, FolioError> {
        let rows = query.fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(map)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Appends one state change to the history inside the caller's
    /// transaction, so the change and its record commit together.
    async fn event(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        (entity, entity_id): (&str, &str),
        (from, to): (Option<&str>, &str),
        reason: &str,
    ) -> Result<(), FolioError> {
        sqlx::query(self.sql(
            "INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason) \
             VALUES ({now}, $1, $2, $3, $4, $5, $6)",
        ))
        .bind(actor.as_str())
        .bind(entity)
        .bind(entity_id)
        .bind(from)
        .bind(to)
        .bind(reason)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    // ---- batches and files -------------------------------------------

    /// The batch last made from `source` (a canonical folder path).
    pub async fn batch_by_source(&self, source: &str) -> Result<Option<BatchRow>, FolioError> {
        self.one_batch("source = $1", source).await
    }

    /// A batch by id.
    pub async fn batch(&self, id: &str) -> Result<Option<BatchRow>, FolioError> {
        self.one_batch("id = $1", id).await
    }

    /// A batch by id, name or source folder (newest first), as commands
    /// that take a `<BATCH>` argument look it up.
    pub async fn find_batch(&self, key: &str) -> Result<Option<BatchRow>, FolioError> {
        if let Some(b) = self.batch(key).await? {
            return Ok(Some(b));
        }
        if let Some(b) = self.one_batch("name = $1", key).await? {
            return Ok(Some(b));
        }
        let path = std::path::Path::new(key)
            .canonicalize()
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_else(|_| key.to_string());
        self.batch_by_source(&path).await
    }

    async fn one_batch(&self, filter: &str, arg: &str) -> Result<Option<BatchRow>, FolioError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE {filter} ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(arg)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.map(|r| batch_row(&r))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Every batch, newest first.
    pub async fn batches(&self) -> Result<Vec<BatchRow>, FolioError> {
        self.fetch_map(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at DESC"
            ))),
            batch_row,
        )
        .await
    }

    /// What the store knows of a file by its SHA-256.
    pub async fn file(&self, sha256: &str) -> Result<Option<FileRow>, FolioError> {
        let row = sqlx::query(
            "SELECT sha256, batch_id, original_name, bytes, pages, state, reason, pixels FROM files WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.map(|r| file_row(&r))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Every file of a batch, in arrival order.
    pub async fn files(&self, batch_id: &str) -> Result<Vec<FileRow>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT sha256, batch_id, original_name, bytes, pages, state, reason, pixels FROM files \
             WHERE batch_id = $1 ORDER BY arrived_at, original_name",
            )
            .bind(batch_id),
            file_row,
        )
        .await
    }

    // ---- ingest ------------------------------------------------------

    /// Records a batch folder's files and queues their pages, in one
    /// transaction: the batch (found by source folder, or created), each
    /// file not yet known by SHA-256, the documents `planner` cuts from the
    /// new files (numbered from the batch's counter) and their pages, and
    /// an event for each. Two ingests of one folder at once serialise on
    /// the folder; the second finds the files known and queues nothing.
    pub async fn ingest(
        &self,
        req: &IngestRequest,
        planner: &dyn Planner,
        actor: &Actor,
    ) -> Result<IngestOutcome, FolioError> {
        let mut tx = self.begin().await?;
        if let Some(lock) = self.dialect.lock_source {
            sqlx::query(lock)
                .bind(&req.source)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE source = $1 ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(&req.source)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let (mut batch, created) = match existing {
            Some(r) => (batch_row(&r).map_err(|e| self.err(e))?, false),
            None => {
                let id = uuid::Uuid::now_v7().simple().to_string();
                sqlx::query(self.sql(
                    "INSERT INTO batches (id, name, source, class, state, out_dir, quarantine_dir, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, {now}, {now})",
                ))
                .bind(&id)
                .bind(&req.name)
                .bind(&req.source)
                .bind(&req.class)
                .bind(BatchState::Received.as_str())
                .bind(&req.out_dir)
                .bind(&req.quarantine_dir)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                let reason = format!("received from {}", req.source);
                self.event(&mut tx, actor, ("batch", &id), (None, "received"), &reason)
                    .await?;
                let batch = BatchRow {
                    id,
                    name: req.name.clone(),
                    source: req.source.clone(),
                    class: req.class.clone(),
                    state: BatchState::Received,
                    out_dir: req.out_dir.clone(),
                    quarantine_dir: req.quarantine_dir.clone(),
                };
                (batch, true)
            }
        };

        let mut new_files: Vec<FileRow> = Vec::new();
        let mut known = Vec::new();
        for (file, state) in req
            .files
            .iter()
            .map(|f| (f, FileState::Arrived))
            .chain(req.quarantined.iter().map(|f| (f, FileState::Quarantined)))
        {
            let found = sqlx::query("SELECT state FROM files WHERE sha256 = $1")
                .bind(&file.sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if let Some(row) = found {
                let state: String = row.try_get(0).map_err(|e| self.err(e))?;
                known.push((file.original_name.clone(), state));
                continue;
            }
            sqlx::query(self.sql(
                "INSERT INTO files (sha256, batch_id, original_name, bytes, pages, state, reason, pixels, arrived_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {now}, {now})",
            ))
            .bind(&file.sha256)
            .bind(&batch.id)
            .bind(&file.original_name)
            .bind(file.bytes)
            .bind(file.pages)
            .bind(state.as_str())
            .bind(&file.reason)
            .bind(file.pixels)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let reason = match &file.reason {
                Some(r) => format!("{}: {r}", file.original_name),
                None => format!(
                    "{} arrived, {} bytes, {} page(s)",
                    file.original_name, file.bytes, file.pages
                ),
            };
            self.event(
                &mut tx,
                actor,
                ("file", &file.sha256),
                (None, state.as_str()),
                &reason,
            )
            .await?;
            if state == FileState::Arrived {
                new_files.push(FileRow {
                    batch_id: batch.id.clone(),
                    ..file.clone()
                });
            }
        }

        let groups = planner.groups(&new_files);
        let mut documents = Vec::new();
        let n = groups.len() as i64;
        if n > 0 {
            let row = sqlx::query(
                "UPDATE batches SET next_doc_seq = next_doc_seq + $1, docs_left = docs_left + $1 \
                 WHERE id = $2 RETURNING next_doc_seq",
            )
            .bind(n)
            .bind(&batch.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let first: i64 = row.try_get::<i64, _>(0).map_err(|e| self.err(e))? - n;
            for (i, group) in groups.iter().enumerate() {
                let seq = first + i as i64;
                let id = planner.document_id(&batch, seq);
                sqlx::query(self.sql(
                    "INSERT INTO documents (id, batch_id, seq, class, state, pages, pages_left, created_at) \
                     VALUES ($1, $2, $3, $4, 'queued', $5, $5, {now})",
                ))
                .bind(&id)
                .bind(&batch.id)
                .bind(seq)
                .bind(&req.class)
                .bind(group.len() as i64)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                let reason = format!("{} page(s)", group.len());
                self.event(&mut tx, actor, ("document", &id), (None, "queued"), &reason)
                    .await?;
                for (k, page) in group.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO pages (document_id, seq, file_sha256, file_page, state) \
                         VALUES ($1, $2, $3, $4, 'queued')",
                    )
                    .bind(&id)
                    .bind(k as i64 + 1)
                    .bind(&new_files[page.file].sha256)
                    .bind(page.file_page as i64 + 1)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                }
                sqlx::query(self.sql(
                    "INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason) \
                     SELECT {now}, $1, 'page', CAST(id AS TEXT), NULL, 'queued', 'queued at ingest' \
                     FROM pages WHERE document_id = $2 ORDER BY seq",
                ))
                .bind(actor.as_str())
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                documents.push(QueuedDocument {
                    id,
                    seq,
                    pages: group.len(),
                });
            }
        }
        let pages: usize = documents.iter().map(|d| d.pages).sum();
        if n > 0 && batch.state != BatchState::Processing {
            let why = format!(
                "{} new file(s), {pages} page(s) queued in {n} document(s)",
                new_files.len()
            );
            self.move_batch(&mut tx, &mut batch, BatchState::Processing, actor, &why)
                .await?;
        } else if created {
            self.close_empty_batch(&mut tx, &mut batch, actor).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        if self.backend == Backend::Postgres && pages > 0 {
            // Fresh statistics keep the claim on its index after a large
            // ingest (a server may not have analysed the tables yet).
            if let Err(e) = sqlx::query("ANALYZE pages, documents")
                .execute(&self.pool)
                .await
            {
                tracing::warn!("analyzing after ingest: {e}");
            }
        }
        Ok(IngestOutcome {
            batch,
            created,
            new_files: new_files.into_iter().map(|f| f.sha256).collect(),
            known,
            documents,
        })
    }

    async fn move_batch(
        &self,
        tx: &mut Tx,
        batch: &mut BatchRow,
        to: BatchState,
        actor: &Actor,
        reason: &str,
    ) -> Result<(), FolioError> {
        let from = batch.state;
        if !from.can_move_to(to) {
            return Err(FolioError::IllegalTransition {
                batch: batch.id.clone(),
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        sqlx::query(self.sql("UPDATE batches SET state = $1, updated_at = {now} WHERE id = $2"))
            .bind(to.as_str())
            .bind(&batch.id)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        if to == BatchState::Packaged {
            // Owed its delivery from this commit on (`deliveries_due`).
            sqlx::query("UPDATE batches SET delivery_due = 1 WHERE id = $1")
                .bind(&batch.id)
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        self.event(
            tx,
            actor,
            ("batch", &batch.id),
            (Some(from.as_str()), to.as_str()),
            reason,
        )
        .await?;
        batch.state = to;
        Ok(())
    }

    /// Packaged batches still owed their delivery (the process that
    /// closed them stopped before writing it), oldest first; `batch`
    /// narrows to one.
    pub async fn deliveries_due(&self, batch: Option<&str>) -> Result<Vec<BatchRow>, FolioError> {
        self.fetch_map(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE delivery_due = 1 AND state = 'packaged' \
                 AND ($1 = '' OR id = $1) ORDER BY created_at"
            )))
            .bind(batch.unwrap_or("")),
            batch_row,
        )
        .await
    }

    /// Records that a packaged batch's delivery is written in `dir`; the
    /// first writer records the event (another worker may have written
    /// the same delivery at the same time: both wrote it whole).
    pub async fn delivered(
        &self,
        batch_id: &str,
        dir: &str,
        actor: &Actor,
    ) -> Result<(), FolioError> {
        let mut tx = self.begin().await?;
        let owed = sqlx::query(
            "UPDATE batches SET delivery_due = 0 WHERE id = $1 AND delivery_due = 1 AND state = 'packaged'",
        )
        .bind(batch_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if owed == 1 {
            // The batch stays packaged; the event records who delivered it.
            let packaged = BatchState::Packaged.as_str();
            self.event(
                &mut tx,
                actor,
                ("batch", batch_id),
                (Some(packaged), packaged),
                &format!("{DELIVERY_WRITTEN}: batch index and delivery.json in {dir}"),
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    // ---- page leases -------------------------------------------------

    /// Claims up to `limit` pages for `worker` (queued ones, or ones whose
    /// lease ran out), the dearest of the oldest [`CLAIM_WINDOW`] first
    /// (returned in page order), each with a fresh token and a
    /// lease of `lease_s` seconds on the database's clock. `batch`
    /// restricts the claim to one batch.
    pub async fn claim_pages(
        &self,
        worker: &Actor,
        limit: usize,
        lease_s: f64,
        batch: Option<&str>,
    ) -> Result<Vec<PageClaim>, FolioError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if self.backend == Backend::Postgres {
            return self
                .claim_pages_in_one_statement(worker, limit, lease_s, batch)
                .await;
        }
        let mut tx = self.begin().await?;
        let rows = sqlx::query(self.sql(
            "SELECT w.id, w.state, w.lease_owner, w.batch_id, w.class FROM ( \
               SELECT p.id, p.state, p.lease_owner, d.batch_id, d.class, {page_cost} AS cost FROM {claimable} \
               JOIN documents d ON d.id = p.document_id JOIN files f ON f.sha256 = p.file_sha256 \
               WHERE p.state IN ('queued', 'leased') AND (p.state = 'queued' OR (p.state = 'leased' AND p.lease_expires < {now})) \
               AND ($1 = '' OR d.batch_id = $1) ORDER BY p.id LIMIT $3 \
             ) w ORDER BY w.cost DESC, w.id LIMIT $2",
        ))
        .bind(batch.unwrap_or(""))
        .bind(limit as i64)
        .bind(CLAIM_WINDOW)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let base = uuid::Uuid::now_v7().simple().to_string();
        let mut claims = Vec::with_capacity(rows.len());
        for r in &rows {
            let (id, was, owner, batch_id, class): (i64, String, Option<String>, String, String) =
                (|| {
                    Ok::<_, sqlx::Error>((
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                    ))
                })()
                .map_err(|e| self.err(e))?;
            let token = format!("{base}-{id}");
            let row = sqlx::query(self.sql(
                "UPDATE pages SET state = 'leased', lease_owner = $1, lease_token = $2, \
                 lease_expires = {later:$3}, attempts = attempts + 1 WHERE id = $4 \
                 RETURNING document_id, seq, file_sha256, file_page, attempts",
            ))
            .bind(worker.as_str())
            .bind(&token)
            .bind(lease_s)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let reason = match &owner {
                Some(o) if was == "leased" => format!("lease of {o} ran out; taken over"),
                _ => "claimed".to_string(),
            };
            self.event(
                &mut tx,
                worker,
                ("page", &id.to_string()),
                (Some(&was), "leased"),
                &reason,
            )
            .await?;
            claims.push(PageClaim {
                page_id: id,
                document_id: row.try_get(0).map_err(|e| self.err(e))?,
                batch_id,
                class,
                seq: row.try_get(1).map_err(|e| self.err(e))?,
                file_sha256: row.try_get(2).map_err(|e| self.err(e))?,
                file_page: row.try_get(3).map_err(|e| self.err(e))?,
                attempts: row.try_get(4).map_err(|e| self.err(e))?,
                token,
            });
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        claims.sort_by_key(|c| c.page_id);
        Ok(claims)
    }

    /// Extends every lease `worker` holds (pages and documents) by
    /// `lease_s` seconds; returns how many it still holds.
    pub async fn renew(&self, worker: &Actor, lease_s: f64) -> Result<u64, FolioError> {
        let mut held = 0;
        for table in ["pages", "documents"] {
            let state = if table == "pages" {
                "leased"
            } else {
                "finishing"
            };
            held += sqlx::query(self.sql(&format!(
                "UPDATE {table} SET lease_expires = {{later:$1}} \
                 WHERE lease_owner = $2 AND state = '{state}' AND lease_token IS NOT NULL"
            )))
            .bind(lease_s)
            .bind(worker.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        }
        Ok(held)
    }

    /// Stores a page's results if `claim`'s token is still the page's,
    /// all in one transaction; when it was the document's last page, the
    /// same transaction gives this worker the document's lease.
    pub async fn complete_page(
        &self,
        claim: &PageClaim,
        result: &PageResult,
        worker: &Actor,
        lease_s: f64,
    ) -> Result<PageCommit, FolioError> {
        let state = if result.failure.is_some() {
            PageState::Failed
        } else {
            PageState::Done
        };
        if self.backend == Backend::Postgres {
            return self
                .complete_page_in_one_statement(claim, result, state, worker, lease_s)
                .await;
        }
        let mut tx = self.begin().await?;
        let updated = bind_page_result(
            sqlx::query(self.sql(COMPLETE_PAGE)),
            claim,
            result,
            state,
            worker,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(PageCommit::Stale);
        }
        let reason = result.failure.as_deref().unwrap_or("stages done");
        self.event(
            &mut tx,
            worker,
            ("page", &claim.page_id.to_string()),
            (Some("leased"), state.as_str()),
            reason,
        )
        .await?;
        let left: i64 = sqlx::query(
            "UPDATE documents SET pages_left = pages_left - 1 WHERE id = $1 RETURNING pages_left",
        )
        .bind(&claim.document_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))?;
        let commit = if left == 0 {
            let token = uuid::Uuid::now_v7().simple().to_string();
            sqlx::query(self.sql(
                "UPDATE documents SET state = 'finishing', lease_owner = $1, lease_token = $2, \
                 lease_expires = {later:$3} WHERE id = $4",
            ))
            .bind(worker.as_str())
            .bind(&token)
            .bind(lease_s)
            .bind(&claim.document_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                worker,
                ("document", &claim.document_id),
                (Some("queued"), "finishing"),
                "last page done",
            )
            .await?;
            PageCommit::DocumentReady(DocClaim {
                document_id: claim.document_id.clone(),
                token,
            })
        } else {
            PageCommit::Recorded
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(commit)
    }

    /// Gives back every lease `worker` holds (at shutdown): its pages go
    /// back to the queue, its documents stay `finishing` for any worker. A
    /// page given back was not tried, so its claim does not count towards
    /// `max_attempts`.
    pub async fn release(&self, worker: &Actor, reason: &str) -> Result<u64, FolioError> {
        let mut tx = self.begin().await?;
        let pages = sqlx::query(
            "UPDATE pages SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL, \
             attempts = attempts - 1 WHERE lease_owner = $1 AND state = 'leased' RETURNING id",
        )
        .bind(worker.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        for r in &pages {
            let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                worker,
                ("page", &id.to_string()),
                (Some("leased"), "queued"),
                reason,
            )
            .await?;
        }
        let docs = sqlx::query(
            "UPDATE documents SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
             WHERE lease_owner = $1 AND state = 'finishing' RETURNING id",
        )
        .bind(worker.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        for r in &docs {
            let id: String = r.try_get(0).map_err(|e| self.err(e))?;
            self.event(
                &mut tx,
                worker,
                ("document", &id),
                (Some("finishing"), "finishing"),
                reason,
            )
            .await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((pages.len() + docs.len()) as u64)
    }

    // ---- documents ---------------------------------------------------

    /// Claims one document whose pages are all done but that nobody is
    /// finishing (its worker died or let go).
    pub async fn claim_document(
        &self,
        worker: &Actor,
        lease_s: f64,
        batch: Option<&str>,
    ) -> Result<Option<DocClaim>, FolioError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(self.sql(
            "SELECT d.id, d.lease_owner FROM documents d WHERE d.state = 'finishing' \
             AND (d.lease_token IS NULL OR d.lease_expires < {now}) AND ($1 = '' OR d.batch_id = $1) \
             AND NOT d.review_pending \
             AND NOT EXISTS (SELECT 1 FROM batches hb WHERE hb.id = d.batch_id AND hb.held IS NOT NULL) \
             ORDER BY d.seq LIMIT 1 {lock:d}",
        ))
        .bind(batch.unwrap_or(""))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(None);
        };
        let id: String = row.try_get(0).map_err(|e| self.err(e))?;
        let owner: Option<String> = row.try_get(1).map_err(|e| self.err(e))?;
        let token = uuid::Uuid::now_v7().simple().to_string();
        sqlx::query(self.sql(
            "UPDATE documents SET lease_owner = $1, lease_token = $2, lease_expires = {later:$3} WHERE id = $4",
        ))
        .bind(worker.as_str())
        .bind(&token)
        .bind(lease_s)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let reason = match owner {
            Some(o) => format!("lease of {o} ran out; taken over"),
            None => "claimed".into(),
        };
        self.event(
            &mut tx,
            worker,
            ("document", &id),
            (Some("finishing"), "finishing"),
            &reason,
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Some(DocClaim {
            document_id: id,
            token,
        }))
    }

    /// A document with its batch, pages (results included) and files.
    pub async fn document_work(&self, document_id: &str) -> Result<DocumentWork, FolioError> {
        let doc = sqlx::query("SELECT id, seq, class, batch_id FROM documents WHERE id = $1")
            .bind(document_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let batch_id: String = doc.try_get(3).map_err(|e| self.err(e))?;
        let batch = self
            .batch(&batch_id)
            .await?
            .ok_or_else(|| self.err(format!("batch {batch_id} is missing")))?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT p.id, p.seq, p.file_sha256, p.file_page, p.state, {PAGE_RESULT_COLUMNS}, \
             p.decision, p.decided_by, p.decision_reason \
             FROM pages p WHERE p.document_id = $1 AND p.replaced_by IS NULL ORDER BY p.seq"
        )))
        .bind(document_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut pages = Vec::with_capacity(rows.len());
        let mut files: Vec<FileRow> = Vec::new();
        for r in &rows {
            let page = stored_page(r).map_err(|e| self.err(e))?;
            if !files.iter().any(|f| f.sha256 == page.file_sha256) {
                let file = self
                    .file(&page.file_sha256)
                    .await?
                    .ok_or_else(|| self.err(format!("file {} is missing", page.file_sha256)))?;
                files.push(file);
            }
            pages.push(page);
        }
        Ok(DocumentWork {
            id: doc.try_get(0).map_err(|e| self.err(e))?,
            seq: doc.try_get(1).map_err(|e| self.err(e))?,
            class: doc.try_get(2).map_err(|e| self.err(e))?,
            batch,
            pages,
            files,
            fields: self.fields(document_id).await?,
        })
    }

    /// Done, non-blank pages of other documents of the batch, newest
    /// first (at most `window`): what a new page may be a re-scan of.
    pub async fn rescan_candidates(
        &self,
        batch_id: &str,
        document_id: &str,
        window: usize,
    ) -> Result<Vec<RescanCandidate>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT p.id, p.document_id, p.seq, CAST(p.phash AS TEXT), p.ocr_text, d.state \
             FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE d.batch_id = $1 AND p.document_id <> $2 AND p.state = 'done' \
             AND p.blank = $3 AND p.replaced_by IS NULL ORDER BY p.id DESC LIMIT $4",
            )
            .bind(batch_id)
            .bind(document_id)
            .bind(false)
            .bind(window as i64),
            |r| {
                let doc: String = r.try_get(1)?;
                let seq: i64 = r.try_get(2)?;
                let state: String = r.try_get(5)?;
                Ok(RescanCandidate {
                    page_id: r.try_get(0)?,
                    label: format!("{doc}/p{seq:04}"),
                    phash: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                    text: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                    document_final: state
                        .parse::<DocState>()
                        .map(DocState::is_final)
                        .unwrap_or(false),
                })
            },
        )
        .await
    }

    /// Commits a finished document if `claim`'s token is still its own:
    /// final state, package path, fields, re-scan flags, its files marked
    /// processed, and — when it was the batch's last open document — the
    /// batch's final state. Returns false (and changes nothing) when the
    /// lease was lost.
    pub async fn finish_document(
        &self,
        claim: &DocClaim,
        outcome: &DocumentOutcome,
        worker: &Actor,
    ) -> Result<bool, FolioError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(self.sql(
            "UPDATE documents SET state = $1, package_path = $2, lease_owner = NULL, lease_token = NULL, \
             lease_expires = NULL, finished_at = {now} WHERE id = $3 AND lease_token = $4 AND state = 'finishing'",
        ))
        .bind(outcome.state.as_str())
        .bind(&outcome.package_path)
        .bind(&claim.document_id)
        .bind(&claim.token)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(false);
        }
        let doc = &claim.document_id;
        self.event(
            &mut tx,
            worker,
            ("document", doc),
            (Some("finishing"), outcome.state.as_str()),
            &outcome.package_path,
        )
        .await?;
        for f in &outcome.fields {
            sqlx::query(self.sql(
                "INSERT INTO fields (document_id, name, value, confidence, page, bbox, status, reason, \
                 final_value, outcome, source, qa_sample) VALUES ($1, $2, $3, $4, $5, {json:$6}, $7, $8, $9, $10, $11, $12)",
            ))
            .bind(doc)
            .bind(&f.name)
            .bind(&f.value)
            .bind(f.confidence)
            .bind(f.page)
            .bind(&f.bbox)
            .bind(&f.status)
            .bind(&f.reason)
            .bind(&f.final_value)
            .bind(&f.outcome)
            .bind(&f.source)
            .bind(f.qa_sample)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let reason = f
                .reason
                .clone()
                .unwrap_or_else(|| format!("confidence {:.2}", f.confidence));
            self.event(
                &mut tx,
                worker,
                ("field", &format!("{doc}/{}", f.name)),
                (None, &f.status),
                &reason,
            )
            .await?;
            if f.status == "awaiting_keying" {
                // Two blind passes, keyed by two different people.
                for pass in [1, 2] {
                    sqlx::query(
                        "INSERT INTO tasks (document_id, field, kind, pass, state) VALUES ($1, $2, 'key', $3, 'queued')",
                    )
                    .bind(doc)
                    .bind(&f.name)
                    .bind(pass as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                }
            }
        }
        for (seq, of) in &outcome.rescans {
            sqlx::query("UPDATE pages SET rescan_of = $1 WHERE document_id = $2 AND seq = $3")
                .bind(of)
                .bind(doc)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        let files = sqlx::query(self.sql(
            "UPDATE files SET state = 'processed', updated_at = {now} WHERE state = 'arrived' \
             AND sha256 IN (SELECT file_sha256 FROM pages WHERE document_id = $1) RETURNING sha256",
        ))
        .bind(doc)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        for r in &files {
            let sha: String = r.try_get(0).map_err(|e| self.err(e))?;
            let why = format!("in document {doc}");
            self.event(
                &mut tx,
                worker,
                ("file", &sha),
                (Some("arrived"), "processed"),
                &why,
            )
            .await?;
        }
        if outcome.rekeyed {
            self.close_keyed_batch(&mut tx, doc, worker).await?;
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok(true);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE batches SET docs_left = docs_left - 1 WHERE id = (SELECT batch_id FROM documents WHERE id = $1) \
             RETURNING docs_left, {BATCH_COLUMNS}"
        )))
        .bind(doc)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let left: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        if left == 0 {
            let mut batch = batch_row_at(&row, 1).map_err(|e| self.err(e))?;
            let counts = self.document_counts_in(&mut tx, &batch.id).await?;
            let (to, why) = if counts.awaiting_keying > 0 {
                (
                    BatchState::AwaitingKeying,
                    format!(
                        "{} document(s) have fields for keying",
                        counts.awaiting_keying
                    ),
                )
            } else {
                (
                    BatchState::Packaged,
                    format!(
                        "{} document(s) packaged, {} failed",
                        counts.packaged, counts.failed
                    ),
                )
            };
            if batch.state.can_move_to(to) {
                self.move_batch(&mut tx, &mut batch, to, worker, &why)
                    .await?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// A new batch with no good file: nothing to queue, nothing to
    /// package; its history says so.
    pub(crate) async fn close_empty_batch(
        &self,
        tx: &mut Tx,
        batch: &mut BatchRow,
        actor: &Actor,
    ) -> Result<(), FolioError> {
        self.move_batch(tx, batch, BatchState::Processing, actor, "no page to queue")
            .await?;
        self.move_batch(
            tx,
            batch,
            BatchState::Packaged,
            actor,
            "nothing to package: no good file in the folder",
        )
        .await
    }

    /// After a keyed document is packaged: its batch is packaged once no
    /// document of it waits for keying or is being finished.
    async fn close_keyed_batch(
        &self,
        tx: &mut Tx,
        doc: &str,
        worker: &Actor,
    ) -> Result<(), FolioError> {
        // The batch row is locked first, so two documents packaged at
        // once count each other's outcome (one of them closes the batch).
        let row = sqlx::query(self.sql(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = (SELECT batch_id FROM documents WHERE id = $1) {{for_update}}"
        )))
        .bind(doc)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        let mut batch = batch_row(&row).map_err(|e| self.err(e))?;
        let counts = self.document_counts_in(tx, &batch.id).await?;
        if batch.state == BatchState::AwaitingKeying
            && counts.awaiting_keying == 0
            && counts.finishing == 0
            && counts.queued == 0
        {
            let why = format!(
                "keying done: {} document(s) packaged, {} failed",
                counts.packaged, counts.failed
            );
            self.move_batch(tx, &mut batch, BatchState::Packaged, worker, &why)
                .await?;
        }
        Ok(())
    }

    async fn document_counts_in(
        &self,
        tx: &mut Tx,
        batch_id: &str,
    ) -> Result<DocumentCounts, FolioError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) FROM documents WHERE batch_id = $1 GROUP BY state")
                .bind(batch_id)
                .fetch_all(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
        let mut c = DocumentCounts::default();
        for r in &rows {
            let state: String = r.try_get(0).map_err(|e| self.err(e))?;
            let n: i64 = r.try_get(1).map_err(|e| self.err(e))?;
            match state.as_str() {
                "queued" => c.queued += n,
                "finishing" => c.finishing += n,
                "packaged" => c.packaged += n,
                "awaiting_keying" => c.awaiting_keying += n,
                "failed" => c.failed += n,
                _ => {}
            }
        }
        Ok(c)
    }

    // ---- progress and status ----------------------------------------

    /// Pages and documents of a batch per state.
    pub async fn batch_counts(
        &self,
        batch_id: &str,
    ) -> Result<(PageCounts, DocumentCounts), FolioError> {
        let rows = sqlx::query(
            "SELECT p.state, COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE d.batch_id = $1 GROUP BY p.state",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut pages = PageCounts::default();
        for r in &rows {
            let state: String = r.try_get(0).map_err(|e| self.err(e))?;
            let n: i64 = r.try_get(1).map_err(|e| self.err(e))?;
            match state.as_str() {
                "queued" => pages.queued += n,
                "leased" => pages.leased += n,
                "done" => pages.done += n,
                "failed" => pages.failed += n,
                _ => {}
            }
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let docs = self.document_counts_in(&mut tx, batch_id).await?;
        tx.rollback().await.map_err(|e| self.err(e))?;
        Ok((pages, docs))
    }

    /// True when nothing is left to work: no page queued or leased and no
    /// document waiting to be finished (in `batch`, or anywhere). A
    /// document held for a person's decision (review, or its batch's page
    /// count) is not work.
    pub async fn idle(&self, batch: Option<&str>) -> Result<bool, FolioError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id \
                     WHERE p.state IN ('queued', 'leased') AND ($1 = '' OR d.batch_id = $1)), \
                    (SELECT COUNT(*) FROM documents d WHERE d.state IN ('queued', 'finishing') \
                     AND ($1 = '' OR d.batch_id = $1) AND NOT (d.state = 'finishing' AND (d.review_pending OR EXISTS \
                     (SELECT 1 FROM batches hb WHERE hb.id = d.batch_id AND hb.held IS NOT NULL))))",
        )
        .bind(batch.unwrap_or(""))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let pages: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let docs: i64 = row.try_get(1).map_err(|e| self.err(e))?;
        Ok(pages == 0 && docs == 0)
    }

    /// `folio status`: every batch (or the one `key` names) with counts per
    /// state, the leases held and recent pages per minute.
    pub async fn status(&self, key: Option<&str>) -> Result<Vec<BatchStatus>, FolioError> {
        let batches = match key {
            Some(k) => self.find_batch(k).await?.into_iter().collect(),
            None => self.batches().await?,
        };
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            let (pages, documents) = self.batch_counts(&b.id).await?;
            let recent: i64 = sqlx::query(self.sql(
                "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id \
                 WHERE d.batch_id = $1 AND p.done_at > {later:$2}",
            ))
            .bind(&b.id)
            .bind(-300.0f64)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
            let rows = sqlx::query(self.sql(
                "SELECT owner, SUM(pages), SUM(docs), MIN(left_s) FROM ( \
                   SELECT p.lease_owner AS owner, 1 AS pages, 0 AS docs, {until:p.lease_expires} AS left_s \
                   FROM pages p JOIN documents d ON d.id = p.document_id \
                   WHERE d.batch_id = $1 AND p.state = 'leased' \
                   UNION ALL \
                   SELECT d.lease_owner, 0, 1, {until:d.lease_expires} FROM documents d \
                   WHERE d.batch_id = $1 AND d.state = 'finishing' AND d.lease_owner IS NOT NULL \
                 ) held GROUP BY owner ORDER BY owner",
            ))
            .bind(&b.id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            let leases = rows
                .iter()
                .map(|r| {
                    let worker: String = r.try_get(0)?;
                    Ok(LeaseHolder {
                        host: Actor(worker.clone()).host().to_string(),
                        worker,
                        pages: r.try_get(1)?,
                        documents: r.try_get(2)?,
                        expires_in_s: r.try_get(3)?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(|e| self.err(e))?;
            out.push(BatchStatus {
                id: b.id,
                name: b.name,
                source: b.source,
                class: b.class,
                state: b.state,
                out_dir: b.out_dir,
                pages,
                documents,
                pages_per_minute: recent as f64 / 5.0,
                leases,
            });
        }
        Ok(out)
    }

    /// The history of one thing (`entity` = batch, document, page, field,
    /// file), oldest first.
    pub async fn events(&self, entity: &str, entity_id: &str) -> Result<Vec<Event>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT CAST(at AS TEXT), actor, entity, entity_id, from_state, to_state, reason FROM events \
             WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        )
        .bind(entity)
        .bind(entity_id), event_row).await
    }

    /// A document's whole history for its package's `logs/events.json`:
    /// its own events, its files' arrival, its pages, fields and keying
    /// tasks, oldest first. People who keyed appear by pseudonym only.
    pub async fn document_history(&self, document_id: &str) -> Result<Vec<Event>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT CAST(e.at AS TEXT), COALESCE('keyer:' || u.pseudonym, e.actor), e.entity, e.entity_id, \
             e.from_state, e.to_state, e.reason FROM events e LEFT JOIN users u ON e.actor = 'user:' || u.name \
             WHERE (e.entity = 'document' AND e.entity_id = $1) \
             OR (e.entity = 'file' AND e.entity_id IN (SELECT file_sha256 FROM pages WHERE document_id = $1)) \
             OR (e.entity = 'page' AND e.entity_id IN (SELECT CAST(id AS TEXT) FROM pages WHERE document_id = $1)) \
             OR (e.entity = 'field' AND e.entity_id IN (SELECT document_id || '/' || name FROM fields WHERE document_id = $1)) \
             OR (e.entity = 'task' AND e.entity_id IN (SELECT CAST(id AS TEXT) FROM tasks WHERE document_id = $1)) \
             ORDER BY e.id",
        )
        .bind(document_id), event_row).await
    }

    /// How many times each page of a batch went from leased to done or
    /// failed: the count that proves no page was processed twice.
    pub async fn completions_per_page(
        &self,
        batch_id: &str,
    ) -> Result<Vec<(i64, i64)>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT p.id, (SELECT COUNT(*) FROM events e WHERE e.entity = 'page' \
               AND e.entity_id = CAST(p.id AS TEXT) AND e.from_state = 'leased' AND e.to_state IN ('done', 'failed')) \
             FROM pages p JOIN documents d ON d.id = p.document_id WHERE d.batch_id = $1 ORDER BY p.id",
        )
        .bind(batch_id), |r| Ok((r.try_get(0)?, r.try_get(1)?))).await
    }

    // ---- reports -----------------------------------------------------

    /// Every document of a batch, in order.
    pub async fn documents(&self, batch_id: &str) -> Result<Vec<DocumentRow>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT id, seq, class, state, pages, package_path FROM documents WHERE batch_id = $1 ORDER BY seq",
        )
        .bind(batch_id), |r| {
                Ok(DocumentRow {
                    id: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    class: r.try_get(2)?,
                    state: r.try_get(3)?,
                    pages: r.try_get(4)?,
                    package_path: r.try_get(5)?,
                })
            }).await
    }

    /// Every page of a batch with its image-stage results, in document
    /// order: the source of the QC report.
    pub async fn page_reports(&self, batch_id: &str) -> Result<Vec<PageReportRow>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT p.document_id, p.seq, f.original_name, p.file_page, p.dpi, COALESCE(p.color, 'unknown'), \
             COALESCE(p.skew_deg, 0.0), COALESCE(p.orientation_deg, 0), \
             CAST(CASE WHEN p.blank THEN 1 ELSE 0 END AS BIGINT), CAST(CASE WHEN p.qc_pass THEN 1 ELSE 0 END AS BIGINT), \
             COALESCE(CAST(p.qc_reasons AS TEXT), '[]'), p.rescan_of, p.state, p.failure \
             FROM pages p JOIN documents d ON d.id = p.document_id JOIN files f ON f.sha256 = p.file_sha256 \
             WHERE d.batch_id = $1 AND p.state IN ('done', 'failed') AND p.replaced_by IS NULL ORDER BY d.seq, p.seq",
        )
        .bind(batch_id), |r| {
                let state: String = r.try_get(12)?;
                Ok(PageReportRow {
                    document_id: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    original_name: r.try_get(2)?,
                    file_page: r.try_get(3)?,
                    dpi: r.try_get(4)?,
                    color: r.try_get(5)?,
                    skew_deg: r.try_get(6)?,
                    orientation_deg: r.try_get(7)?,
                    blank: r.try_get::<i64, _>(8)? != 0,
                    qc_pass: r.try_get::<i64, _>(9)? != 0,
                    qc_reasons: r.try_get(10)?,
                    rescan_of: r.try_get(11)?,
                    outcome: if state == "done" { "ok" } else { "failed" }.into(),
                    failure: r.try_get(13)?,
                })
            }).await
    }

    /// Fields of a document.
    pub async fn fields(&self, document_id: &str) -> Result<Vec<FieldRow>, FolioError> {
        self.fetch_map(sqlx::query(
            "SELECT name, value, confidence, page, CAST(bbox AS TEXT), status, reason, final_value, \
             outcome, source, keyers, CAST(CASE WHEN qa_sample THEN 1 ELSE 0 END AS BIGINT) \
             FROM fields WHERE document_id = $1 ORDER BY name",
        )
        .bind(document_id), |r| {
                Ok(FieldRow {
                    name: r.try_get(0)?,
                    value: r.try_get(1)?,
                    confidence: r.try_get(2)?,
                    page: r.try_get(3)?,
                    bbox: r.try_get(4)?,
                    status: r.try_get(5)?,
                    reason: r.try_get(6)?,
                    final_value: r.try_get(7)?,
                    outcome: r.try_get(8)?,
                    source: r.try_get(9)?,
                    keyers: r.try_get(10)?,
                    qa_sample: r.try_get::<i64, _>(11)? != 0,
                })
            }).await
    }

    /// Every extracted field with its document's class, for the accuracy
    /// report: what OCR read and how sure it was, its route, and the
    /// final value once keyed.
    pub async fn accuracy_fields(&self) -> Result<Vec<AccuracyFieldRow>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT d.class, f.name, f.value, f.confidence, f.status, f.final_value, f.outcome, \
                 CAST(CASE WHEN f.qa_sample THEN 1 ELSE 0 END AS BIGINT) \
                 FROM fields f JOIN documents d ON d.id = f.document_id ORDER BY d.class, f.name, f.document_id",
            ),
            |r| {
                Ok(AccuracyFieldRow {
                    class: r.try_get(0)?,
                    name: r.try_get(1)?,
                    value: r.try_get(2)?,
                    confidence: r.try_get(3)?,
                    status: r.try_get(4)?,
                    final_value: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                    qa_sample: r.try_get::<i64, _>(7)? != 0,
                })
            },
        )
        .await
    }

    /// Closes the pool, flushing SQLite's WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Stores a page's results when the lease token is still the page's
/// ($21 page id, $22 token); shared by both backends' commit paths.
const COMPLETE_PAGE: &str = "UPDATE pages SET state = $1, lease_owner = NULL, lease_token = NULL, \
     lease_expires = NULL, width = $2, height = $3, dpi = NULLIF($4, -1.0), color = $5, skew_deg = $6, \
     orientation_deg = $7, blank = $8, qc_pass = $9, qc_reasons = {json:$10}, phash = {json:$11}, \
     report = {json:$12}, ocr_text = $13, ocr_confidence = $14, words = {json:$15}, \
     derived_path = $16, failure = $17, image_ms = $18, ocr_ms = $19, done_by = $20, \
     done_at = {now} WHERE id = $21 AND lease_token = $22 AND state = 'leased'";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds $1..$22 of `COMPLETE_PAGE`.
fn bind_page_result<'q>(
    q: AnyQuery<'q>,
    claim: &'q PageClaim,
    result: &'q PageResult,
    state: PageState,
    worker: &'q Actor,
) -> AnyQuery<'q> {
    q.bind(state.as_str())
        .bind(result.width)
        .bind(result.height)
        // No dpi (a page that failed before decoding) is bound as -1 and
        // stored as NULL: sqlx's Any driver sends a null f64 as a null
        // float4, which PostgreSQL refuses for this float8 parameter
        // ("incorrect binary data format"), so a failed page could not be
        // recorded there.
        .bind(result.dpi.unwrap_or(-1.0))
        .bind(&result.color)
        .bind(result.skew_deg)
        .bind(result.orientation_deg)
        .bind(result.blank)
        .bind(result.qc_pass)
        .bind(json_or_null(&result.qc_reasons))
        .bind(json_or_null(&result.phash))
        .bind(json_or_null(&result.report))
        .bind(&result.ocr_text)
        .bind(result.ocr_confidence)
        .bind(json_or_null(&result.words))
        .bind(&result.derived_path)
        .bind(&result.failure)
        .bind(result.image_ms)
        .bind(result.ocr_ms)
        .bind(worker.as_str())
        .bind(claim.page_id)
        .bind(&claim.token)
}

fn json_or_null(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// An event from `at, actor, entity, entity_id, from_state, to_state,
/// reason` (in that order).
fn event_row(r: &AnyRow) -> Result<Event, sqlx::Error> {
    Ok(Event {
        at: r.try_get(0)?,
        actor: r.try_get(1)?,
        entity: r.try_get(2)?,
        entity_id: r.try_get(3)?,
        from: r.try_get(4)?,
        to: r.try_get(5)?,
        reason: r.try_get(6)?,
    })
}

fn batch_row(r: &AnyRow) -> Result<BatchRow, sqlx::Error> {
    batch_row_at(r, 0)
}

fn batch_row_at(r: &AnyRow, at: usize) -> Result<BatchRow, sqlx::Error> {
    let state: String = r.try_get(at + 4)?;
    Ok(BatchRow {
        id: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        source: r.try_get(at + 2)?,
        class: r.try_get(at + 3)?,
        state: state
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        out_dir: r.try_get(at + 5)?,
        quarantine_dir: r.try_get(at + 6)?,
    })
}

fn file_row(r: &AnyRow) -> Result<FileRow, sqlx::Error> {
    let state: String = r.try_get(5)?;
    Ok(FileRow {
        sha256: r.try_get(0)?,
        batch_id: r.try_get(1)?,
        original_name: r.try_get(2)?,
        bytes: r.try_get(3)?,
        pages: r.try_get(4)?,
        state: state
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        reason: r.try_get(6)?,
        pixels: r.try_get(7)?,
    })
}

fn stored_page(r: &AnyRow) -> Result<StoredPage, sqlx::Error> {
    let state: String = r.try_get(4)?;
    let text = |i: usize| -> Result<String, sqlx::Error> {
        Ok(r.try_get::<Option<String>, _>(i)?.unwrap_or_default())
    };
    let num = |i: usize| -> Result<f64, sqlx::Error> {
        Ok(r.try_get::<Option<f64>, _>(i)?.unwrap_or_default())
    };
    let int = |i: usize| -> Result<i64, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(i)?.unwrap_or_default())
    };
    Ok(StoredPage {
        page_id: r.try_get(0)?,
        seq: r.try_get(1)?,
        file_sha256: r.try_get(2)?,
        file_page: r.try_get(3)?,
        state: state
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        result: PageResult {
            width: int(5)?,
            height: int(6)?,
            dpi: r.try_get(7)?,
            color: text(8)?,
            skew_deg: num(9)?,
            orientation_deg: int(10)?,
            blank: int(11)? != 0,
            qc_pass: int(12)? != 0,
            qc_reasons: text(13)?,
            phash: text(14)?,
            report: text(15)?,
            ocr_text: text(16)?,
            ocr_confidence: num(17)?,
            words: text(18)?,
            derived_path: r.try_get(19)?,
            failure: r.try_get(20)?,
            image_ms: num(21)?,
            ocr_ms: num(22)?,
        },
        decision: match r.try_get::<Option<String>, _>(23)? {
            Some(d) => Some(
                d.parse()
                    .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            ),
            None => None,
        },
        decided_by: r.try_get(24)?,
        decision_reason: r.try_get(25)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fragments_render_in_each_dialect() {
        let pg = &super::postgres::DIALECT;
        let lite = &super::sqlite::DIALECT;
        let t = "SET x = {later:$3}, y = {json:$4}, z = {now}, w = {until:EXPIRES} {lock:p}";
        assert_eq!(
            pg.render(t),
            "SET x = (now() + make_interval(secs => $3)), y = CAST($4 AS jsonb), z = now(), \
             w = EXTRACT(EPOCH FROM (EXPIRES - now()))::float8 FOR UPDATE OF p SKIP LOCKED"
        );
        assert!(lite.render(t).contains("'+' || $3 || ' seconds'"));
        let lite = lite.render(t);
        assert!(lite.contains("z = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "));
        assert!(lite.ends_with("((julianday(EXPIRES) - julianday('now')) * 86400.0) "));
    }
}
