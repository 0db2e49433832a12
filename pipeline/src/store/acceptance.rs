//! Acceptance sampling in the store: a drawn plan is recorded once per
//! (batch, seed) with its sampled pages, so the client's inspector and
//! the bureau look at the same sample, and asking again with the seed
//! gives the recorded plan even after the batch changed. Every draw and
//! every inspection result is an event with its actor. Which pages are
//! drawn is the stages' `sampling` logic, handed in by the caller.

use super::{Store, Tx};
use crate::error::FolioError;
use crate::store::Actor;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// One page of a batch, as the lot of an acceptance plan lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LotPage {
    pub document: String,
    pub page: i64,
}

/// A recorded plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub batch_id: String,
    pub seed: String,
    pub aql: f64,
    pub lot_size: i64,
    pub code_letter: String,
    pub sample_size: i64,
    pub drawn_by: String,
    pub drawn_at: String,
}

/// A sampled page with the inspector's result, if any.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub document: String,
    pub page: i64,
    /// `pass` or `fail`; `None` until inspected.
    pub result: Option<String>,
    pub reason: Option<String>,
    pub inspector: Option<String>,
    pub inspected_at: Option<String>,
}

/// What a drawing function returns: letter, sample size, and the indices
/// into the lot it picked.
pub struct Drawn {
    pub code_letter: char,
    pub sample_size: u64,
    pub picks: Vec<u64>,
}

const PLAN_COLUMNS: &str = "batch_id, seed, aql, lot_size, code_letter, sample_size, drawn_by, \
     CAST(drawn_at AS TEXT)";

impl Store {
    /// Every delivered page of a batch in document then page order: the
    /// lot. A page an operator dropped, or one a re-scan replaced (kept
    /// in the store with a negative seq), is not in the delivery.
    pub async fn lot(&self, batch_id: &str) -> Result<Vec<LotPage>, FolioError> {
        self.fetch_map(
            sqlx::query(
                "SELECT p.document_id, p.seq FROM pages p JOIN documents d ON d.id = p.document_id \
                 WHERE d.batch_id = $1 AND p.seq > 0 AND (p.decision IS NULL OR p.decision <> 'drop') \
                 ORDER BY d.seq, p.seq",
            )
            .bind(batch_id),
            |r| {
                Ok(LotPage {
                    document: r.try_get(0)?,
                    page: r.try_get(1)?,
                })
            },
        )
        .await
    }

    /// The plan recorded for `(batch, seed)`, or — first time — the one
    /// `draw` makes from the batch's lot, recorded with its items and an
    /// event in one transaction. Two callers racing on one seed both get
    /// the plan the first one recorded. `aql` must match a recorded plan's.
    pub async fn acceptance_plan(
        &self,
        batch_id: &str,
        seed: &str,
        aql: Option<f64>,
        default_aql: f64,
        actor: &Actor,
        draw: impl FnOnce(u64) -> Result<Drawn, FolioError>,
    ) -> Result<(PlanRow, Vec<PlanItem>), FolioError> {
        if let Some(found) = self.recorded_plan(batch_id, seed).await? {
            return check_aql(found, aql);
        }
        let aql = aql.unwrap_or(default_aql);
        let mut tx = self.begin().await?;
        let lot: Vec<LotPage> = sqlx::query(
            "SELECT p.document_id, p.seq FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE d.batch_id = $1 ORDER BY d.seq, p.seq",
        )
        .bind(batch_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|r| {
            Ok(LotPage {
                document: r.try_get(0)?,
                page: r.try_get(1)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| self.err(e))?;
        let drawn = draw(lot.len() as u64)?;
        let inserted = sqlx::query(self.sql(
            "INSERT INTO acceptance_plans (batch_id, seed, aql, lot_size, code_letter, sample_size, drawn_by, drawn_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {now}) ON CONFLICT (batch_id, seed) DO NOTHING",
        ))
        .bind(batch_id)
        .bind(seed)
        .bind(aql)
        .bind(lot.len() as i64)
        .bind(drawn.code_letter.to_string())
        .bind(drawn.sample_size as i64)
        .bind(actor.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        if inserted == 0 {
            drop(tx);
            let found = self.recorded_plan(batch_id, seed).await?.ok_or_else(|| {
                self.err(format!("plan {batch_id}/{seed} vanished while drawing"))
            })?;
            return check_aql(found, Some(aql));
        }
        for (ord, pick) in drawn.picks.iter().enumerate() {
            let item = lot.get(*pick as usize).ok_or_else(|| {
                FolioError::Internal(format!("sample pick {pick} outside a lot of {}", lot.len()))
            })?;
            sqlx::query(
                "INSERT INTO acceptance_items (batch_id, seed, ord, document_id, page) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(batch_id)
            .bind(seed)
            .bind(ord as i64)
            .bind(&item.document)
            .bind(item.page)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        self.event(
            &mut tx,
            actor,
            ("batch", batch_id),
            (None, "sample_drawn"),
            &format!(
                "acceptance sample: seed {seed}, AQL {aql}, lot {} page(s), code letter {}, {} item(s) drawn",
                lot.len(),
                drawn.code_letter,
                drawn.picks.len()
            ),
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        self.recorded_plan(batch_id, seed)
            .await?
            .ok_or_else(|| self.err(format!("plan {batch_id}/{seed} not found after recording")))
    }

    /// A recorded plan with its items, if any.
    pub async fn recorded_plan(
        &self,
        batch_id: &str,
        seed: &str,
    ) -> Result<Option<(PlanRow, Vec<PlanItem>)>, FolioError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM acceptance_plans WHERE batch_id = $1 AND seed = $2"
        )))
        .bind(batch_id)
        .bind(seed)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let plan = plan_row(&row).map_err(|e| self.err(e))?;
        let items = self
            .fetch_map(
                sqlx::query(
                    "SELECT document_id, page, result, reason, inspector, CAST(inspected_at AS TEXT) \
                     FROM acceptance_items WHERE batch_id = $1 AND seed = $2 ORDER BY ord",
                )
                .bind(batch_id)
                .bind(seed),
                |r| {
                    Ok(PlanItem {
                        document: r.try_get(0)?,
                        page: r.try_get(1)?,
                        result: r.try_get(2)?,
                        reason: r.try_get(3)?,
                        inspector: r.try_get(4)?,
                        inspected_at: r.try_get(5)?,
                    })
                },
            )
            .await?;
        Ok(Some((plan, items)))
    }

    /// The seed of the batch's newest plan, if one was drawn.
    pub async fn latest_plan_seed(&self, batch_id: &str) -> Result<Option<String>, FolioError> {
        sqlx::query(
            "SELECT seed FROM acceptance_plans WHERE batch_id = $1 ORDER BY drawn_at DESC, seed LIMIT 1",
        )
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| self.err(e))
    }

    /// Every recorded plan (newest first), for the console and reports.
    pub async fn plans(&self) -> Result<Vec<PlanRow>, FolioError> {
        self.fetch_map(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PLAN_COLUMNS} FROM acceptance_plans ORDER BY drawn_at DESC"
            ))),
            plan_row,
        )
        .await
    }

    /// Records the inspector's result for one sampled page (a later
    /// result replaces an earlier one; both stay in the events). Refused
    /// when the page is not in the plan.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_inspection(
        &self,
        batch_id: &str,
        seed: &str,
        document: &str,
        page: i64,
        pass: bool,
        reason: &str,
        actor: &Actor,
    ) -> Result<bool, FolioError> {
        let mut tx: Tx = self.begin().await?;
        let result = if pass { "pass" } else { "fail" };
        let previous: Option<Option<String>> = sqlx::query(self.sql(
            "SELECT result FROM acceptance_items WHERE batch_id = $1 AND seed = $2 \
             AND document_id = $3 AND page = $4 {for_update}",
        ))
        .bind(batch_id)
        .bind(seed)
        .bind(document)
        .bind(page)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| self.err(e))?;
        let Some(previous) = previous else {
            return Ok(false);
        };
        sqlx::query(self.sql(
            "UPDATE acceptance_items SET result = $1, reason = $2, inspector = $3, inspected_at = {now} \
             WHERE batch_id = $4 AND seed = $5 AND document_id = $6 AND page = $7",
        ))
        .bind(result)
        .bind(reason)
        .bind(actor.as_str())
        .bind(batch_id)
        .bind(seed)
        .bind(document)
        .bind(page)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let page_id: Option<i64> =
            sqlx::query("SELECT id FROM pages WHERE document_id = $1 AND seq = $2")
                .bind(document)
                .bind(page)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(|e| self.err(e))?;
        let entity_id = page_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| format!("{document}/{page}"));
        self.event(
            &mut tx,
            actor,
            ("page", &entity_id),
            (previous.as_deref(), &format!("inspection_{result}")),
            format!("acceptance sample {batch_id} seed {seed}: {result} {reason}").trim_end(),
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }
}

fn check_aql(
    found: (PlanRow, Vec<PlanItem>),
    aql: Option<f64>,
) -> Result<(PlanRow, Vec<PlanItem>), FolioError> {
    match aql {
        Some(a) if (a - found.0.aql).abs() > 1e-9 => Err(FolioError::Usage(format!(
            "batch {} seed {} was drawn with AQL {}; its plan cannot change (draw with another seed for AQL {a})",
            found.0.batch_id, found.0.seed, found.0.aql
        ))),
        _ => Ok(found),
    }
}

fn plan_row(r: &AnyRow) -> Result<PlanRow, sqlx::Error> {
    Ok(PlanRow {
        batch_id: r.try_get(0)?,
        seed: r.try_get(1)?,
        aql: r.try_get(2)?,
        lot_size: r.try_get(3)?,
        code_letter: r.try_get(4)?,
        sample_size: r.try_get(5)?,
        drawn_by: r.try_get(6)?,
        drawn_at: r.try_get(7)?,
    })
}
