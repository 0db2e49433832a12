//! `folio batch retry`: an operator puts a batch's failed documents back
//! in the queue once the cause is fixed (a model installed, a decoder
//! limit raised, a disk freed), without ingesting anything again. The
//! originals are already in the object store under their fingerprints;
//! only the failed pages are read again, the done ones keep their
//! results. One transaction, every move an event with the operator as
//! actor, so a retry is either wholly recorded or not at all.

use super::{BATCH_COLUMNS, Store, Tx, batch_row};
use crate::batch::BatchState;
use crate::error::FolioError;
use crate::store::Actor;
use serde::Serialize;
use sqlx::Row;

/// What a retry queued again, and what it left alone and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Retried {
    pub batch_id: String,
    pub batch_name: String,
    /// Documents back in the queue (their failed pages) or back to be
    /// finished (a document that failed while being packaged).
    pub documents: Vec<String>,
    /// Pages queued to be read again.
    pub pages: usize,
    /// Failed documents not retried: `(document, why)`.
    pub kept: Vec<(String, String)>,
}

impl Store {
    /// Queues the failed documents of the batch `key` names again: their
    /// failed pages go back to `queued` with no attempts counted, a
    /// document none of whose pages failed goes back to `finishing` for
    /// any worker, and the fields and keying tasks of its failed finish
    /// are removed (the new finish reads them again). A document some
    /// keyer has already typed a field of is kept as it is: retrying it
    /// would discard keyed work. A finished batch reopens (`processing`).
    pub async fn retry_failed(
        &self,
        key: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<Retried, FolioError> {
        let found = self.operator_batch(key).await?;
        let mut tx: Tx = self.begin().await?;
        // The batch row first, as every document finish takes it.
        let row = sqlx::query(self.sql(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1 {{for_update}}"
        )))
        .bind(&found.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let mut batch = batch_row(&row).map_err(|e| self.err(e))?;
        let docs: Vec<String> = sqlx::query(
            "SELECT id FROM documents WHERE batch_id = $1 AND state = 'failed' ORDER BY seq",
        )
        .bind(&batch.id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))?;
        let mut out = Retried {
            batch_id: batch.id.clone(),
            batch_name: batch.name.clone(),
            ..Retried::default()
        };
        for doc in docs {
            let keyed = self
                .count(
                    &mut tx,
                    sqlx::query(
                        "SELECT COUNT(*) FROM tasks WHERE document_id = $1 AND state <> 'queued'",
                    )
                    .bind(&doc),
                )
                .await?;
            if keyed > 0 {
                out.kept.push((
                    doc,
                    format!("{keyed} keying task(s) taken or typed; retrying would discard them"),
                ));
                continue;
            }
            out.pages += self.requeue_document(&mut tx, &doc, actor, reason).await?;
            out.documents.push(doc);
        }
        if !out.documents.is_empty() {
            sqlx::query("UPDATE batches SET docs_left = docs_left + $1 WHERE id = $2")
                .bind(out.documents.len() as i64)
                .bind(&batch.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if batch.state.can_move_to(BatchState::Processing) {
                let why = format!(
                    "{} failed document(s) queued again by the operator: {reason}",
                    out.documents.len()
                );
                self.move_batch(&mut tx, &mut batch, BatchState::Processing, actor, &why)
                    .await?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// One failed document back to work; returns the pages queued.
    async fn requeue_document(
        &self,
        tx: &mut Tx,
        doc: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<usize, FolioError> {
        let pages = sqlx::query(
            "UPDATE pages SET state = 'queued', attempts = 0, failure = NULL, lease_owner = NULL, \
             lease_token = NULL, lease_expires = NULL WHERE document_id = $1 AND state = 'failed' \
             AND replaced_by IS NULL RETURNING id",
        )
        .bind(doc)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        for r in &pages {
            let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            self.event(
                tx,
                actor,
                ("page", &id.to_string()),
                (Some("failed"), "queued"),
                &format!("retry: {reason}"),
            )
            .await?;
        }
        for table in ["tasks", "fields"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE document_id = $1"
            )))
            .bind(doc)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        // With pages to read, the last one's commit hands the document
        // on as usual; with none (it failed while being packaged), any
        // worker may take it to finish.
        let to = if pages.is_empty() {
            "finishing"
        } else {
            "queued"
        };
        sqlx::query(
            "UPDATE documents SET state = $1, pages_left = $2, package_path = NULL, finished_at = NULL, \
             lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE id = $3",
        )
        .bind(to)
        .bind(pages.len() as i64)
        .bind(doc)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        self.event(
            tx,
            actor,
            ("document", doc),
            (Some("failed"), to),
            &format!(
                "retry of {} failed page(s): {reason}; its fields are read again",
                pages.len()
            ),
        )
        .await?;
        Ok(pages.len())
    }
}
