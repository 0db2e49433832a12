//! The store: every fact Folio keeps (batches and their history, files by
//! SHA-256, documents, pages, fields) behind one type. One set of queries
//! serves SQLite and PostgreSQL (sqlx `Any`, `$n` parameters, portable
//! SQL); each dialect has its own embedded migrations. Only the runner's
//! recorder thread writes during a run (SQLite has one writer).

mod records;

pub use records::*;

use crate::batch::BatchState;
use crate::error::FolioError;
use crate::settings::redact;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Which database is behind the pool; picked once from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Folio's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    url: String,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Connects (creating a SQLite file and its folder when needed) and
    /// brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store, FolioError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        let err = |e: &dyn std::fmt::Display| FolioError::Store {
            url: redact(url),
            reason: e.to_string(),
        };
        if dialect == Dialect::Sqlite
            && let Some(path) = sqlite_path(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 1 } else { 4 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| err(&e))?;
        let migrated = match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| err(&e))?;
        Ok(Store {
            pool,
            dialect,
            url: redact(url),
        })
    }

    /// The database kind.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The URL with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, e: impl std::fmt::Display) -> FolioError {
        FolioError::Store {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// The batch last made from `source` (a canonical folder path).
    pub async fn batch_by_source(&self, source: &str) -> Result<Option<BatchRow>, FolioError> {
        let row = sqlx::query(
            "SELECT id, name, source, class, state FROM batches WHERE source = $1 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.map(|r| batch_row(&r))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// A batch by id.
    pub async fn batch(&self, id: &str) -> Result<Option<BatchRow>, FolioError> {
        let row = sqlx::query("SELECT id, name, source, class, state FROM batches WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| batch_row(&r))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Every batch, newest first.
    pub async fn batches(&self) -> Result<Vec<BatchRow>, FolioError> {
        let rows = sqlx::query(
            "SELECT id, name, source, class, state FROM batches ORDER BY created_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(batch_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Records a new batch in `Received`.
    pub async fn create_batch(
        &self,
        id: &str,
        name: &str,
        source: &str,
        class: &str,
    ) -> Result<BatchRow, FolioError> {
        let at = now();
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query("INSERT INTO batches (id, name, source, class, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(id)
            .bind(name)
            .bind(source)
            .bind(class)
            .bind(BatchState::Received.as_str())
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        self.log_event(
            &mut tx,
            id,
            None,
            BatchState::Received,
            &format!("received from {source}"),
            &at,
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(BatchRow {
            id: id.into(),
            name: name.into(),
            source: source.into(),
            class: class.into(),
            state: BatchState::Received,
        })
    }

    /// Moves a batch to `to` if the state machine allows it from its
    /// current state; logs the move with `reason`.
    pub async fn transition(
        &self,
        batch_id: &str,
        to: BatchState,
        reason: &str,
    ) -> Result<(), FolioError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let row = sqlx::query("SELECT state FROM batches WHERE id = $1")
            .bind(batch_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let from: String = row.try_get(0).map_err(|e| self.err(e))?;
        let from: BatchState = from.parse().map_err(|e: String| self.err(e))?;
        if !from.can_move_to(to) {
            return Err(FolioError::IllegalTransition {
                batch: batch_id.into(),
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let at = now();
        sqlx::query("UPDATE batches SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
            .bind(to.as_str())
            .bind(&at)
            .bind(batch_id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        self.log_event(&mut tx, batch_id, Some(from), to, reason, &at)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Appends one move to a batch's history, inside the caller's
    /// transaction so the move and its record commit together.
    async fn log_event(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        batch_id: &str,
        from: Option<BatchState>,
        to: BatchState,
        reason: &str,
        at: &str,
    ) -> Result<(), FolioError> {
        sqlx::query("INSERT INTO batch_events (batch_id, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(batch_id)
            .bind(from.map(BatchState::as_str))
            .bind(to.as_str())
            .bind(reason)
            .bind(at)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A batch's history, oldest first.
    pub async fn events(&self, batch_id: &str) -> Result<Vec<BatchEvent>, FolioError> {
        let rows = sqlx::query("SELECT from_state, to_state, reason, at FROM batch_events WHERE batch_id = $1 ORDER BY id")
            .bind(batch_id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(BatchEvent {
                    from: r.try_get::<Option<String>, _>(0)?,
                    to: r.try_get(1)?,
                    reason: r.try_get(2)?,
                    at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// What the store knows of a file by its SHA-256.
    pub async fn file(&self, sha256: &str) -> Result<Option<FileRow>, FolioError> {
        let row = sqlx::query(
            "SELECT sha256, batch_id, original_name, bytes, pages, state, reason FROM files WHERE sha256 = $1",
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
        let rows = sqlx::query(
            "SELECT sha256, batch_id, original_name, bytes, pages, state, reason FROM files WHERE batch_id = $1 ORDER BY arrived_at, original_name",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(file_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Records a file's arrival (its fingerprint) in `state`; a file the
    /// store already knows is left as it is.
    pub async fn record_file(&self, file: &FileRow) -> Result<(), FolioError> {
        let at = now();
        sqlx::query(
            "INSERT INTO files (sha256, batch_id, original_name, bytes, pages, state, reason, arrived_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&file.sha256)
        .bind(&file.batch_id)
        .bind(&file.original_name)
        .bind(file.bytes)
        .bind(file.pages)
        .bind(file.state.as_str())
        .bind(&file.reason)
        .bind(&at)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The next free document number in a batch.
    pub async fn next_document_seq(&self, batch_id: &str) -> Result<i64, FolioError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM documents WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let max: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        Ok(max + 1)
    }

    /// Saves a finished document (its pages and fields) and marks its
    /// files processed, all in one transaction: a crash leaves either the
    /// whole document or none of it.
    pub async fn save_document(&self, doc: &DocumentRecord) -> Result<(), FolioError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let at = now();
        sqlx::query(
            "INSERT INTO documents (id, batch_id, seq, class, state, package_path, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&doc.id)
        .bind(&doc.batch_id)
        .bind(doc.seq)
        .bind(&doc.class)
        .bind(doc.state.as_str())
        .bind(&doc.package_path)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        for p in &doc.pages {
            sqlx::query(
                "INSERT INTO pages (document_id, seq, file_sha256, file_page, width, height, dpi, color, skew_deg, \
                 orientation_deg, blank, qc_pass, qc_reasons, phash, rescan_of, ocr_text, ocr_confidence, words, \
                 outcome, failure, image_ms, ocr_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
            )
            .bind(&doc.id)
            .bind(p.seq)
            .bind(&p.file_sha256)
            .bind(p.file_page)
            .bind(p.width)
            .bind(p.height)
            .bind(p.dpi)
            .bind(&p.color)
            .bind(p.skew_deg)
            .bind(p.orientation_deg)
            .bind(p.blank as i64)
            .bind(p.qc_pass as i64)
            .bind(&p.qc_reasons)
            .bind(&p.phash)
            .bind(&p.rescan_of)
            .bind(&p.ocr_text)
            .bind(p.ocr_confidence)
            .bind(&p.words)
            .bind(&p.outcome)
            .bind(&p.failure)
            .bind(p.image_ms)
            .bind(p.ocr_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for f in &doc.fields {
            sqlx::query(
                "INSERT INTO fields (document_id, name, value, confidence, page, bbox, status, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&doc.id)
            .bind(&f.name)
            .bind(&f.value)
            .bind(f.confidence)
            .bind(f.page)
            .bind(&f.bbox)
            .bind(&f.status)
            .bind(&f.reason)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let mut files: Vec<&str> = doc.pages.iter().map(|p| p.file_sha256.as_str()).collect();
        files.sort_unstable();
        files.dedup();
        for sha in files {
            sqlx::query("UPDATE files SET state = $1, updated_at = $2 WHERE sha256 = $3")
                .bind(FileState::Processed.as_str())
                .bind(&at)
                .bind(sha)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Every document of a batch, in order.
    pub async fn documents(&self, batch_id: &str) -> Result<Vec<DocumentRow>, FolioError> {
        let rows = sqlx::query("SELECT id, seq, class, state, package_path FROM documents WHERE batch_id = $1 ORDER BY seq")
            .bind(batch_id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(DocumentRow {
                    id: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    class: r.try_get(2)?,
                    state: r.try_get(3)?,
                    package_path: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Every page of a batch with its image-stage results, in document
    /// order: the source of the QC report.
    pub async fn page_reports(&self, batch_id: &str) -> Result<Vec<PageReportRow>, FolioError> {
        let rows = sqlx::query(
            "SELECT p.document_id, p.seq, f.original_name, p.file_page, p.dpi, p.color, p.skew_deg, p.orientation_deg, \
             p.blank, p.qc_pass, p.qc_reasons, p.rescan_of, p.outcome, p.failure \
             FROM pages p JOIN documents d ON d.id = p.document_id JOIN files f ON f.sha256 = p.file_sha256 \
             WHERE d.batch_id = $1 ORDER BY d.seq, p.seq",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(page_report_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Fields of a document.
    pub async fn fields(&self, document_id: &str) -> Result<Vec<FieldRow>, FolioError> {
        let rows = sqlx::query(
            "SELECT name, value, confidence, page, bbox, status, reason FROM fields WHERE document_id = $1 ORDER BY name",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(FieldRow {
                    name: r.try_get(0)?,
                    value: r.try_get(1)?,
                    confidence: r.try_get(2)?,
                    page: r.try_get(3)?,
                    bbox: r.try_get(4)?,
                    status: r.try_get(5)?,
                    reason: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Closes the pool, flushing SQLite's WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

fn batch_row(r: &AnyRow) -> Result<BatchRow, sqlx::Error> {
    let state: String = r.try_get(4)?;
    Ok(BatchRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        source: r.try_get(2)?,
        class: r.try_get(3)?,
        state: state
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
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
    })
}

fn page_report_row(r: &AnyRow) -> Result<PageReportRow, sqlx::Error> {
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
        outcome: r.try_get(12)?,
        failure: r.try_get(13)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_paths_from_urls() {
        assert_eq!(
            super::sqlite_path("sqlite:///tmp/x/f.db?mode=rwc").as_deref(),
            Some("/tmp/x/f.db")
        );
        assert_eq!(
            super::sqlite_path("sqlite://rel/f.db").as_deref(),
            Some("rel/f.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
    }
}
