//! The store's figures for a period, as the monthly service report needs
//! them: what was finished in the period (pages by `done_at`, documents
//! by `finished_at`), by whom (the batch's scanning operator, from its
//! intake), and the daily arrivals and completions a queue-depth curve is
//! drawn from. Periods are half-open: `[from, to)`, ISO dates or times.

use super::Store;
use crate::error::FolioError;
use serde::Serialize;
use sqlx::Row;

/// Counts of one scanning operator's pages finished in the period.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OperatorPages {
    /// The operator from the batch's manifest or watch folder; empty when
    /// the batch came in by `folio run`/`folio ingest` without one.
    pub operator: String,
    pub pages: i64,
    pub rescans: i64,
    pub qc_failed: i64,
    pub blank: i64,
}

/// Raw figures of a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeriodFigures {
    /// Pages finished (done or failed) in the period.
    pub pages: i64,
    /// Documents finished (packaged, waiting for keying or failed).
    pub documents: i64,
    pub documents_packaged: i64,
    /// Batches with at least one page finished in the period.
    pub batches: i64,
    pub pages_failed: i64,
    pub operators: Vec<OperatorPages>,
    /// (day, pages finished that day), days with work only.
    pub done_per_day: Vec<(String, i64)>,
    /// (day, pages that arrived that day), days with arrivals only.
    pub arrived_per_day: Vec<(String, i64)>,
    /// Pages that arrived before the period / finished before it.
    pub arrived_before: i64,
    pub done_before: i64,
}

const IN_PERIOD: &str =
    "p.done_at >= {ts:$1} AND p.done_at < {ts:$2} AND p.state IN ('done', 'failed')";

impl Store {
    /// The figures of `[from, to)`.
    pub async fn period_figures(&self, from: &str, to: &str) -> Result<PeriodFigures, FolioError> {
        let one = |sql: String| async move {
            sqlx::query(self.sql(&sql))
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .try_get::<i64, _>(0)
                .map_err(|e| self.err(e))
        };
        let pages = one(format!("SELECT COUNT(*) FROM pages p WHERE {IN_PERIOD}")).await?;
        let pages_failed = one(format!(
            "SELECT COUNT(*) FROM pages p WHERE {IN_PERIOD} AND p.state = 'failed'"
        ))
        .await?;
        let batches = one(format!(
            "SELECT COUNT(DISTINCT d.batch_id) FROM pages p JOIN documents d ON d.id = p.document_id WHERE {IN_PERIOD}"
        ))
        .await?;
        let documents = one(
            "SELECT COUNT(*) FROM documents WHERE finished_at >= {ts:$1} AND finished_at < {ts:$2} \
             AND state IN ('packaged', 'awaiting_keying', 'failed')"
                .into(),
        )
        .await?;
        let documents_packaged = one(
            "SELECT COUNT(*) FROM documents WHERE finished_at >= {ts:$1} AND finished_at < {ts:$2} \
             AND state = 'packaged'"
                .into(),
        )
        .await?;
        let before = |sql: &'static str| async move {
            sqlx::query(self.sql(sql))
                .bind(from)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .try_get::<i64, _>(0)
                .map_err(|e| self.err(e))
        };
        let arrived_before = before(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE d.created_at < {ts:$1}",
        )
        .await?;
        let done_before = before(
            "SELECT COUNT(*) FROM pages p WHERE p.done_at < {ts:$1} AND p.state IN ('done', 'failed')",
        )
        .await?;
        let operators = self
            .fetch_map(
                sqlx::query(self.sql(&format!(
                    "SELECT x.op, COUNT(*), \
                     CAST(SUM(CASE WHEN x.rescan_of IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN x.state = 'failed' OR NOT x.qc_pass THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN x.blank THEN 1 ELSE 0 END) AS BIGINT) \
                     FROM (SELECT COALESCE((SELECT MAX(i.operator) FROM intakes i WHERE i.batch_id = d.batch_id), '') AS op, \
                           p.rescan_of, p.state, p.qc_pass, p.blank \
                           FROM pages p JOIN documents d ON d.id = p.document_id WHERE {IN_PERIOD}) x \
                     GROUP BY x.op ORDER BY x.op"
                )))
                .bind(from)
                .bind(to),
                |r| {
                    Ok(OperatorPages {
                        operator: r.try_get(0)?,
                        pages: r.try_get(1)?,
                        rescans: r.try_get(2)?,
                        qc_failed: r.try_get(3)?,
                        blank: r.try_get(4)?,
                    })
                },
            )
            .await?;
        let per_day = |sql: String| async move {
            self.fetch_map(sqlx::query(self.sql(&sql)).bind(from).bind(to), |r| {
                Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?))
            })
            .await
        };
        let done_per_day = per_day(format!(
            "SELECT SUBSTR(CAST(p.done_at AS TEXT), 1, 10) AS day, COUNT(*) FROM pages p \
             WHERE {IN_PERIOD} GROUP BY day ORDER BY day"
        ))
        .await?;
        let arrived_per_day = per_day(
            "SELECT SUBSTR(CAST(d.created_at AS TEXT), 1, 10) AS day, COUNT(*) \
             FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE d.created_at >= {ts:$1} AND d.created_at < {ts:$2} GROUP BY day ORDER BY day"
                .into(),
        )
        .await?;
        Ok(PeriodFigures {
            pages,
            documents,
            documents_packaged,
            batches,
            pages_failed,
            operators,
            done_per_day,
            arrived_per_day,
            arrived_before,
            done_before,
        })
    }
}
